//! The mesh's PKI: one root CA and an intermediate per cluster, kept as reviewed, encrypted state
//! (certificates in clear, keys sealed to the admins), and each cluster's `cacerts` bundle.

pub mod ca;
pub mod rotation;
pub mod store;

pub use ca::{Algorithm, Ca, CaCerts, CaError, Validity, cacerts, issue_intermediate, issue_root};
