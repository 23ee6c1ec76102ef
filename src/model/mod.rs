//! `model`: the typed pipeline. Decodes the resolved YAML tree into Rust types, keeping spans,
//! and reports every value of the wrong type or outside its allowed range.
//! May not touch: files (that is `load`), cross-job checks (that is `lint`), execution.

pub mod artifacts;
mod decode;
pub mod duration;
pub mod environment;
pub mod image;
pub mod job;
pub mod keywords;
pub mod matrix;
pub mod pipeline;
pub mod rules;
pub mod secrets;
pub mod steps;
pub mod variables;

pub use job::Job;
pub use pipeline::{Downstream, Pipeline, decode};
pub use rules::When;
