//! `report`: how results are shown — console text and JSON.
//! May not touch: pipeline semantics; it only formats what other stages produced.

pub mod lint;
pub mod mask;
pub mod plan;
pub mod run;
