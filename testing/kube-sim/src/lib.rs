//! kube-sim: a Kubernetes-API-compatible test cluster whose pods run as Docker containers.
//! Test infrastructure only; never linked into `gantry`.
//!
//! Start one in-process with [`Cluster::start`]; the `kube-sim` binary wraps the same call.

pub mod apply;
pub mod auth;
pub mod cluster;
pub mod controllers;
pub mod defaults;
pub mod delete;
pub mod discovery;
pub mod gateway;
pub mod kubeconfig;
pub mod meta;
pub mod objects;
pub mod openapi;
pub mod patch;
pub mod podio;
pub mod portforward;
pub mod protobuf;
pub mod rbac;
pub mod resources;
pub mod reviews;
pub mod routes;
pub mod runtime;
pub mod scale;
pub mod selector;
pub mod server;
pub mod state;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod watch;

pub use cluster::{Cluster, ClusterError, ClusterOptions, RuntimeMode};
