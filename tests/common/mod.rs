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

/// A five-cluster mesh with no explicit sample placement: the default placement cycles reviews
/// v1..v3 over the clusters and puts sleep in the last one.
pub fn five_cluster_mesh() -> String {
    let mut doc = String::from(
        "apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nmeshID: fleet\nistio:\n  version: 1.26.3\nclusters:\n",
    );
    let cnis = ["calico", "cilium", "other", "calico", "cilium"];
    for (i, cni) in cnis.iter().enumerate() {
        let n = i + 1;
        doc.push_str(&format!(
            "  - name: c{n}\n    network: net{n}\n    context: ctx-{n}\n    cni: {cni}\n"
        ));
        if n == 4 {
            doc.push_str("    loadBalancer:\n      provider: metallb\n      addresses: [198.51.100.4, 2001:db8::4]\n    metricsServer: true\n");
        }
    }
    doc
}

/// Renders a mesh description (YAML text) into a tree, panicking on invalid input.
pub fn render_text(yaml: &str) -> mesh_render::render::Tree {
    let mesh =
        mesh_render::config::parse(yaml, &mesh_render::config::Origin::File("mesh.yaml".into()))
            .unwrap_or_else(|e| panic!("test mesh is invalid: {e}"));
    mesh_render::render::render(&mesh_render::model::Model::from_mesh(&mesh)).expect("renders")
}

/// Renders the built-in example into a tree.
pub fn render_example() -> mesh_render::render::Tree {
    render_text(mesh_render::config::EXAMPLE_YAML)
}

/// Every file of a tree, concatenated under path headers: one reviewable snapshot.
pub fn dump(tree: &mesh_render::render::Tree) -> String {
    let mut out = String::new();
    for (path, text) in tree.iter() {
        out.push_str(&format!("=== {path}\n{text}"));
    }
    out
}

/// Every file under `dir` with its bytes.
pub fn read_all(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(dir.join(&p)).unwrap();
            (p, b)
        })
        .collect()
}

/// The example with Istio's dedicated east-west gateways plus a separate ingress gateway; the
/// MetalLB cluster then needs two addresses.
pub fn dedicated_mesh() -> String {
    example_with(
        "  topology: combined\n",
        "  topology: dedicated\n  ingress: true\n",
    )
    .replace(
        "        - 203.0.113.10 # a documentation address: replace it with your public IP\n",
        "        - 203.0.113.10\n        - 203.0.113.11\n",
    )
}

/// The example with a revisioned control plane.
pub fn revisioned_mesh() -> String {
    example_with("  # revision: 1-26-0\n", "  revision: 1-26-0\n")
}
