//! The mesh's PKI: one root CA and an intermediate per cluster, kept as reviewed, encrypted state
//! (certificates in clear, keys sealed to the admins), and each cluster's `cacerts` bundle.
//! `ca` issues (pure crypto), `rotation` stages a root rotation, `state` is the PKI's records and
//! the text of its files, `store` reads and changes them in `pki/`, `txn` makes each command's
//! change one transaction (in memory until committed, one journal, completed after a crash).

pub mod ca;
pub mod proof;
pub mod rotation;
pub mod state;
pub mod store;
pub mod txn;

pub use ca::{Ca, CaCerts, CaError, cacerts, issue_intermediate, issue_root};
