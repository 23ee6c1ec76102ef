//! gantry's integration tests: one binary (as casey/just's), so gantry is linked once rather
//! than once per test file, and every file shares one [`support`] module and its [`Test`]
//! builder.
//!
//! Each module was a test binary of its own once; they now share a process, so nothing here may
//! change the process's environment or current directory, take a fixed port, or count objects
//! on a shared engine without its lock ([`support::gate::DOCKER`], [`support::gate::CLUSTER`]).
//!
//! A new test file `tests/NAME.rs` becomes a module by adding `mod NAME;` below; it reaches the
//! shared helpers as `crate::support::…` (where a stand-alone file had `mod common;`).
//!
//! [`Test`]: support::Test

mod support;

mod cli;
mod conformance_behaviours;
mod conformance_table;
mod docker;
mod docs;
mod environments;
mod expressions;
mod fault_injection;
mod faults;
mod forge_gitea;
mod founding_scenario;
mod includes_remote;
mod kube_environments;
mod kube_executor;
mod kube_netpol;
mod lint_fixtures;
mod load_semantics;
mod malformed;
mod mutation;
mod plan;
mod registry_auth;
mod render;
mod reuse;
mod run;
mod runner;
mod runner_serve;
mod schema_conformance;
mod serve;
mod serve_browser;
mod serve_docker;
mod serve_project;
mod serve_runners;
mod serve_schedule;
mod serve_statuses;
mod serve_token;
mod serve_trust;
mod shell;
mod trigger;
mod workspace;
