//! Helpers shared by the integration tests: the example mesh with edits, the bad-input table,
//! insta settings that keep snapshots under snapshots/, and the external judges (kubectl).
#![allow(dead_code)]

pub mod bad_inputs;

use std::path::{Path, PathBuf};

/// The built-in example with `from` replaced by `to`; panics if `from` is not in it exactly once,
/// so a test never silently edits nothing.
pub fn example_with(from: &str, to: &str) -> String {
    let example = mesh_render::config::EXAMPLE_YAML;
    assert_eq!(
        example.matches(from).count(),
        1,
        "{from:?} must occur once in the example"
    );
    example.replacen(from, to, 1)
}

/// Runs `f` with insta writing to the repository's snapshots/ directory.
pub fn with_snapshots<R>(f: impl FnOnce() -> R) -> R {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(repo_root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(f)
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the repository: upstream data and schemas, read-only.
pub fn shared() -> PathBuf {
    repo_root().join("../shared")
}

/// True when running under CI (`.ci/run` sets CI=true); judges must then be present.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether `tool` runs; outside CI a missing judge skips the test with a reason, in CI it fails.
pub fn judge_available(tool: &str, why: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg(if tool == "kubectl" {
            "version"
        } else {
            "--version"
        })
        .args(if tool == "kubectl" {
            &["--client"][..]
        } else {
            &[][..]
        })
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !in_ci(),
            "{tool} is required in CI ({why}) but is not installed"
        );
        eprintln!("SKIPPED outside CI: {tool} is not installed ({why}); .ci/run installs it");
    }
    ok
}

/// Every file under `dir`, as sorted relative paths.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(
                p.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}
