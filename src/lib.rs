//! gantry: reads GitLab CI YAML, checks it, plans it and runs it locally.
//!
//! Data flows one way: [`load`] → [`model`] → [`lint`] → (plan → run → executor) → [`report`].
//! See `ARCHITECTURE.md` for what each module may not touch.

/// Loading builds many small maps and strings; mimalloc makes that markedly cheaper than glibc
/// malloc (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod alloc;
pub mod cli;
pub mod cmd;
pub mod diagnostic;
pub mod environment;
pub mod executor;
pub mod expr;
pub mod files;
pub mod lint;
pub mod load;
pub mod model;
pub mod plan;
pub mod process;
pub mod project;
pub mod render;
pub mod report;
pub mod reuse;
pub mod run;
pub mod runner;
pub mod schema;
pub mod serve;
pub mod source;
