//! Offline checks of rendered objects.
//! For now: strict JSON-Schema validation of Kubernetes objects.

pub mod schema;
