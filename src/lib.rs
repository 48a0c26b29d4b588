//! mesh-render: renders one mesh description into per-cluster kustomize directories.
//! The library holds the pure pipeline (config -> model -> render) and the output layer.

pub mod check;
pub mod cli;
pub mod config;
pub mod gitops;
pub mod keys;
pub mod kubeconfig;
pub mod model;
pub mod output;
pub mod pki;
pub mod render;
pub mod sops;
