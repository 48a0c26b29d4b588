//! The fuzz corpora kept in `tests/fuzz_corpus/<target>/` replayed as ordinary tests: every input
//! goes through the same calls as the cargo-fuzz target of that name (`fuzz/`, not built here),
//! and each call must return, `Ok` or `Err`, without panicking. The corpora hold seeds, inputs
//! the fuzzer found reaching distinct paths, and every input that once crashed (after its fix).
//! `fuzz/README.md` says how to run the fuzzers themselves; `.ci/run` does not.

/// The calls the fuzz targets make, from the fuzz crate itself so the two never drift apart.
#[path = "../fuzz/src/lib.rs"]
mod fuzz_calls;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use mesh_render::sops::Identities;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus files", dir.display());
    files
}

/// Runs `call` on every corpus file of `target` and fails naming each input that panicked.
fn replay(target: &str, call: impl Fn(&[u8])) {
    let files = corpus(target);
    let mut panicked = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| call(&data))).is_err() {
            panicked.push(path.display().to_string());
        }
    }
    assert!(
        panicked.is_empty(),
        "{} of {} {target} corpus inputs panicked (message above each):\n  {}",
        panicked.len(),
        files.len(),
        panicked.join("\n  ")
    );
}

/// The identity the `sops_file` target decrypts with: the shared fixtures' admin key, so corpus
/// files derived from the fixtures reach value decryption and the MAC check.
fn admin_identity() -> Identities {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/sops/keys/admin.agekey");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (../shared must sit beside the repository)",
            path.display()
        )
    });
    Identities::parse(&text).expect("the fixtures' admin.agekey parses")
}

#[test]
fn every_mesh_yaml_corpus_input_is_rejected_or_accepted_without_panicking() {
    replay("mesh_yaml", fuzz_calls::mesh_yaml);
}

#[test]
fn every_kubeconfig_corpus_input_is_rejected_or_read_with_its_credentials_without_panicking() {
    replay("kubeconfig", fuzz_calls::kubeconfig);
}

#[test]
fn every_sops_file_corpus_input_is_rejected_or_read_and_decrypted_without_panicking() {
    let identities = admin_identity();
    replay("sops_file", |data| fuzz_calls::sops_file(data, &identities));
}
