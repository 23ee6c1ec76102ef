//! kube-sim library.
