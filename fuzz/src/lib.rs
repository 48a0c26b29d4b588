//! The calls each fuzz target makes, shared with `tests/fuzz_replay.rs` (which includes this file
//! with `#[path]`), so the replay runs exactly what was fuzzed. Keep it to `std` and `mesh_render`:
//! no libfuzzer or cargo-fuzz items here, since the replay builds it under plain `cargo test`.
//!
//! Every function only has to return: an `Err` is a fine answer to a bad input, a panic is a bug.
//! Errors are formatted too, because their messages are built from the input.

use std::path::Path;

use mesh_render::config::{self, Origin};
use mesh_render::kubeconfig::Kubeconfig;
use mesh_render::sops::{self, Identities};

/// The input as text: UTF-8 as is, anything else through lossy conversion.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Target `mesh_yaml`: one mesh description, parsed and validated.
pub fn mesh_yaml(data: &[u8]) {
    let text = text(data);
    match config::parse(&text, &Origin::File("mesh.yaml".into())) {
        Ok(mesh) => drop(std::hint::black_box(mesh)),
        Err(e) => drop(std::hint::black_box(e.to_string())),
    }
}

/// Target `kubeconfig`: one kubeconfig; when it parses, its contexts and, for each, the
/// credential a remote secret would carry.
pub fn kubeconfig(data: &[u8]) {
    let text = text(data);
    let kc = match Kubeconfig::parse(&text, Path::new("/tmp/fuzz.yaml")) {
        Ok(kc) => kc,
        Err(e) => {
            std::hint::black_box(e.to_string());
            return;
        }
    };
    let names: Vec<String> = kc
        .contexts()
        .iter()
        .map(|view| view.context.name.clone())
        .collect();
    for name in &names {
        match kc.reader_credential(name) {
            Ok(cred) => drop(std::hint::black_box(format!("{cred:?}"))),
            Err(e) => drop(std::hint::black_box(e.to_string())),
        }
    }
}

/// Target `sops_file`: keyless metadata, the documents without metadata, and a full decrypt (with
/// its YAML and JSON output when the MAC verifies) under `identities`.
pub fn sops_file(data: &[u8], identities: &Identities) {
    let text = text(data);
    match sops::metadata(&text) {
        Ok(meta) => drop(std::hint::black_box(format!("{meta:?}"))),
        Err(e) => drop(std::hint::black_box(e.to_string())),
    }
    match sops::without_metadata(&text) {
        Ok(docs) => drop(std::hint::black_box(docs)),
        Err(e) => drop(std::hint::black_box(e.to_string())),
    }
    match sops::decrypt(&text, identities) {
        Ok(decrypted) => {
            std::hint::black_box(decrypted.to_yaml());
            std::hint::black_box(decrypted.to_json());
        }
        Err(e) => drop(std::hint::black_box(e.to_string())),
    }
}
