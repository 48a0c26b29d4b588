//! The mesh description: reads mesh.yaml's text (or the built-in example), rejects bad input
//! with the file, field path, problem and fix, and yields a typed, validated `Mesh`. It is handed
//! the bytes; reading the file is the caller's.

pub mod edit;
mod error;
mod mesh;
pub mod names;
mod parse;
pub mod spec;
mod validate;

pub use error::{ConfigError, Problem};
pub use mesh::*;
pub use parse::{example, parse, parse_bytes};
