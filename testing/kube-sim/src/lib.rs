//! kube-sim: a Kubernetes-API-compatible test cluster whose pods run as Docker containers.
//! Test infrastructure only; never linked into `gantry`.

pub mod runtime;
