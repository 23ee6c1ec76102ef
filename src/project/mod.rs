//! The project layer, one floor under the front doors `cmd` (CLI) and `serve` (server): what a
//! project is configured to do (`config.rs`: `.gantry/config.toml` read once), how its pipeline
//! becomes a plan ready to run (`prepare.rs`), and which executors run it (`executors.rs`);
//! under `gantry serve`, a commit's config within what the operator allows (`narrow.rs`).
//! Both front doors go through here, so `gantry serve` runs exactly what `gantry run` runs.

pub mod config;
pub mod executors;
pub mod narrow;
pub mod prepare;
