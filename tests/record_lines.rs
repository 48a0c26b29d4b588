//! The render record changes where the mesh changes: one line per file and per cluster, so a
//! change touches the lines of what it changed, and two pull requests that change different
//! clusters merge without conflict (the real `git merge-file` judges). Prints the lines changed,
//! in this format and in the previous (pretty JSON) one, for three everyday changes.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::workspace::Workspace;
use mesh_render::record::Record;

const CLUSTERS: usize = 50;

fn mesh(admin: &str, dir: &Path, clusters: usize) -> String {
    let mut doc = format!(
        "apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nmeshID: lines\nistio:\n  version: 1.26.3\nsecrets:\n  admins:\n    - {admin}\nclusters:\n"
    );
    let names: Vec<String> = (1..=clusters).map(|i| format!("c{i}")).collect();
    for name in &names {
        doc.push_str(&format!("  - name: {name}\n    network: net-{name}\n"));
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    common::workspace::with_token_files(&doc, dir, &refs, 10)
}

fn record(ws: &Workspace) -> Vec<u8> {
    fs::read(ws.out().join(".render-record.json")).unwrap()
}

/// The record in the previous layout (serde's pretty JSON), for the before/after counts.
fn pretty(bytes: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    serde_json::to_string_pretty(&value).unwrap()
}

/// Lines removed plus lines added between two texts.
fn changed(a: &str, b: &str) -> usize {
    similar::TextDiff::from_lines(a, b)
        .iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Equal)
        .count()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Changes cluster `n`'s API server in mesh.yaml.
fn move_api_server(ws: &Workspace, n: usize) {
    ws.edit_mesh(
        &format!("server: https://203.0.113.{}:6443\n", 10 + n - 1),
        &format!("server: https://198.51.100.{n}:6443\n"),
    );
}

/// `ws`'s directory copied: the other branch of a pull request from the same rendered base.
fn branch(ws: &Workspace) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let o = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", ws.path().display()))
        .arg(copy.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    copy
}

#[test]
fn everyday_changes_touch_the_lines_of_what_they_change_and_two_of_them_merge() {
    let ws = Workspace::build(|admin, dir| mesh(admin, dir, CLUSTERS));
    ws.ok(true, &["--quiet", "out"]);
    let base = record(&ws);
    let mesh_before = fs::read_to_string(ws.path().join("mesh.yaml")).unwrap();
    let other = branch(&ws);

    move_api_server(&ws, 7);
    ws.ok(true, &["--quiet", "out"]);
    let server7 = record(&ws);

    // The other pull request, from the same base: another cluster's API server.
    let edited = mesh_before.replace(
        &format!("server: https://203.0.113.{}:6443\n", 10 + 20 - 1),
        "server: https://198.51.100.20:6443\n",
    );
    fs::write(other.path().join("mesh.yaml"), edited).unwrap();
    let o = common::binary(other.path(), &other.path().join("home"))
        .env("SOPS_AGE_KEY_FILE", &ws.admin_key)
        .args(["--quiet", "out"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let server20 = fs::read(other.path().join("out/.render-record.json")).unwrap();

    // Adding a cluster.
    let admin = mesh_before
        .lines()
        .find_map(|l| l.trim().strip_prefix("- age1"))
        .map(|rest| format!("age1{rest}"))
        .unwrap();
    let before_add = server7.clone();
    let grown = mesh(&admin, ws.path(), CLUSTERS + 1).replace(
        "server: https://203.0.113.16:6443\n",
        "server: https://198.51.100.7:6443\n",
    );
    fs::write(ws.path().join("mesh.yaml"), grown).unwrap();
    ws.ok(true, &["--quiet", "out"]);
    let added = record(&ws);

    // Rotating one intermediate.
    ws.ok(true, &["pki", "renew", "--cluster", "c7"]);
    ws.ok(true, &["--quiet", "out"]);
    let renewed = record(&ws);

    let cases = [
        ("change one API server", &base, &server7),
        ("add one cluster", &before_add, &added),
        ("rotate one intermediate", &added, &renewed),
    ];
    for (name, a, b) in cases {
        let now = changed(&text(a), &text(b));
        let was = changed(&pretty(a), &pretty(b));
        println!(
            "record lines changed by \"{name}\" ({CLUSTERS} clusters): {was} before (pretty JSON), {now} now"
        );
        assert!(now <= was, "{name}: {now} > {was}");
    }
    // One API server moved: its remote secret in each other cluster (a line and the blank line
    // beside it), and its trust line.
    let now = changed(&text(&base), &text(&server7));
    assert!(now <= 2 * CLUSTERS + 2, "{now}");

    // The two pull requests merge.
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [("base", &base), ("ours", &server7), ("theirs", &server20)] {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let merged = Command::new("git")
        .args(["merge-file", "-p", "ours", "base", "theirs"])
        .current_dir(dir.path())
        .output();
    let Ok(merged) = merged else {
        assert!(!common::in_ci(), "git is required in CI");
        eprintln!("SKIPPED outside CI: git is not installed");
        return;
    };
    let conflicts: String = String::from_utf8_lossy(&merged.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .scan(false, |inside, l| {
            if l.starts_with("<<<<<<<") {
                *inside = true;
            }
            let shown = inside.then(|| format!("{}\n", &l[..l.len().min(160)]));
            if l.starts_with(">>>>>>>") {
                *inside = false;
            }
            Some(shown.unwrap_or_default())
        })
        .collect();
    assert_eq!(
        merged.status.code(),
        Some(0),
        "git merge-file found conflicts:\n{conflicts}"
    );
    let merged = Record::parse(&merged.stdout).expect("the merge is a record");
    let (base, ours, theirs) = (
        Record::parse(&base).unwrap(),
        Record::parse(&server7).unwrap(),
        Record::parse(&server20).unwrap(),
    );
    let paths: std::collections::BTreeSet<&String> =
        ours.files.keys().chain(theirs.files.keys()).collect();
    assert_eq!(merged.files.len(), paths.len());
    for path in paths {
        let expected = if ours.files.get(path) != base.files.get(path) {
            ours.files.get(path)
        } else {
            theirs.files.get(path)
        };
        assert!(merged.files.get(path) == expected, "{path}");
    }
    let trust = merged.trust.unwrap();
    assert_eq!(
        trust.clusters["c7"].api_server.as_deref(),
        Some("https://198.51.100.7:6443")
    );
    assert_eq!(
        trust.clusters["c20"].api_server.as_deref(),
        Some("https://198.51.100.20:6443")
    );
}
