//! Changes to `pki/` are transactions: a command that fails leaves `pki/` as it was, a render
//! commits it only once its output is staged, a rotation stage that cannot complete changes
//! nothing, a root is never issued over an existing mesh's state, and what a render issues it
//! seals from memory.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::Workspace;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every path under `dir` (files and directories), with each file's bytes.
fn snapshot(dir: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(at) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&at) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                found.push((rel, None));
                dirs.push(path);
            } else {
                found.push((rel, Some(fs::read(&path).unwrap())));
            }
        }
    }
    found.sort();
    found
}

/// Renames cluster `from` to `to` everywhere in mesh.yaml (a mistake, say).
fn rename_cluster(ws: &Workspace, from: &str, to: &str) {
    let path = ws.path().join("mesh.yaml");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from));
    fs::write(&path, text.replace(from, to)).unwrap();
}

/// The example with the admin listed, rendered once with the admin key.
fn rendered() -> Workspace {
    let ws = Workspace::example();
    ws.ok(true, &["out"]);
    ws
}

#[test]
fn a_done_stage_without_the_next_root_changes_nothing() {
    let ws = rendered();
    for stage in ["prepare", "trust-both", "switch", "finish"] {
        ws.ok(true, &["pki", "rotate-root", "--stage", stage]);
        ws.ok(true, &["out"]);
    }
    fs::remove_file(ws.path().join("pki/root-next.yaml")).unwrap();
    let pki = snapshot(&ws.path().join("pki"));
    let o = ws.run(true, &["pki", "rotate-root", "--stage", "done"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("root-next.yaml is missing, so the rotation cannot complete")
            && text(&o).contains("restore"),
        "{}",
        text(&o)
    );
    assert_eq!(snapshot(&ws.path().join("pki")), pki, "pki/ is as it was");
    assert!(ws.path().join("pki/root.yaml").is_file());
}

#[test]
fn a_render_whose_root_is_gone_refuses_to_issue_one_and_changes_nothing() {
    let ws = rendered();
    fs::rename(ws.path().join("pki/root.yaml"), ws.path().join("root.bak")).unwrap();
    let (pki, out) = (snapshot(&ws.path().join("pki")), snapshot(&ws.out()));
    let o = ws.run(true, &["out"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("pki/root.yaml is missing, but the mesh has PKI state (intermediate CAs in pki/intermediates/)")
            && text(&o).contains("fix: restore ./pki/root.yaml from git; to start a new mesh on purpose, remove pki/ and the output directory together"),
        "{}",
        text(&o)
    );
    assert_eq!(snapshot(&ws.path().join("pki")), pki);
    assert_eq!(snapshot(&ws.out()), out);
}

#[test]
fn a_render_whose_pki_is_gone_while_the_output_records_cacerts_refuses() {
    let ws = rendered();
    fs::remove_dir_all(ws.path().join("pki")).unwrap();
    let out = snapshot(&ws.out());
    let o = ws.run(true, &["out"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("cacerts sealed under it are recorded in the output directory"),
        "{}",
        text(&o)
    );
    assert!(!ws.path().join("pki").exists(), "no new root");
    assert_eq!(snapshot(&ws.out()), out);
    let check = ws.run(true, &["check", "out", "--against", "mesh.yaml"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        text(&check).contains("a render refuses to issue a new root"),
        "{}",
        text(&check)
    );
}

#[test]
fn a_render_refused_by_the_plan_leaves_the_pki_as_it_was() {
    let ws = rendered();
    let pki = snapshot(&ws.path().join("pki"));
    rename_cluster(&ws, "kt-k2p", "kt-k2q");
    // A file mesh-render did not write, where the renamed cluster's README goes.
    fs::create_dir_all(ws.out().join("clusters/kt-k2q")).unwrap();
    fs::write(ws.out().join("clusters/kt-k2q/README.md"), "mine\n").unwrap();
    let o = ws.run(true, &["out"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        snapshot(&ws.path().join("pki")),
        pki,
        "nothing issued or retired"
    );
    // Reverted, the mesh renders as before: kt-k2p keeps its intermediate.
    rename_cluster(&ws, "kt-k2q", "kt-k2p");
    fs::remove_dir_all(ws.out().join("clusters/kt-k2q")).unwrap();
    let again = ws.ok(true, &["out"]);
    assert!(!again.contains("issued"), "{again}");
    assert!(again.contains("0 written"), "{again}");
    assert_eq!(snapshot(&ws.path().join("pki")), pki);
}

#[test]
fn a_render_that_fails_while_sealing_leaves_no_new_directory_and_the_pki_as_it_was() {
    let ws = rendered();
    let (pki, out) = (snapshot(&ws.path().join("pki")), snapshot(&ws.out()));
    rename_cluster(&ws, "kt-k2p", "kt-k2q");
    let o = ws
        .command(true)
        .env("MESH_RENDER_FAULT", "enospc@cacerts.sops.yaml")
        .arg("out")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("No space left on device"), "{}", text(&o));
    assert_eq!(
        snapshot(&ws.out()),
        out,
        "no new directory, no temporary file"
    );
    assert_eq!(snapshot(&ws.path().join("pki")), pki);
}

#[test]
fn a_full_disk_at_the_pki_commit_leaves_both_trees_as_they_were() {
    let ws = rendered();
    let (pki, out) = (snapshot(&ws.path().join("pki")), snapshot(&ws.out()));
    rename_cluster(&ws, "kt-k2p", "kt-k2q");
    let o = ws
        .command(true)
        .env("MESH_RENDER_FAULT", "enospc@.pki-journal.json")
        .arg("out")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(snapshot(&ws.path().join("pki")), pki, "staged CAs removed");
    assert_eq!(snapshot(&ws.out()), out);
    let again = ws.ok(true, &["out"]);
    assert!(
        again.contains("issued the intermediate CA of kt-k2q")
            && again.contains("retired the intermediate CA of removed cluster kt-k2p"),
        "{again}"
    );
}

#[test]
fn the_first_render_with_listed_admins_and_no_identity_at_hand_seals_what_it_issued() {
    let ws = Workspace::example();
    let o = ws.run(false, &["out"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(ws.path().join("pki/root.yaml").is_file());
    for cluster in common::workspace::CLUSTERS {
        let doc = ws.decrypt(&format!(
            "clusters/{cluster}/10-istio-system/cacerts.sops.yaml"
        ));
        let chain = doc.to_json()[0]["stringData"]["cert-chain.pem"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "{chain}");
    }
    // Without the key, a re-render changes nothing.
    let again = ws.ok(false, &["out"]);
    assert!(again.contains("0 written"), "{again}");
}

#[test]
fn renew_commits_the_new_intermediate_and_the_retired_one_together() {
    let ws = rendered();
    let before = fs::read(ws.path().join("pki/intermediates/kt-k2p.yaml")).unwrap();
    let o = ws
        .command(true)
        .env("MESH_RENDER_FAULT", "enospc@.pki-journal.json")
        .args(["pki", "renew", "--cluster", "kt-k2p"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        fs::read(ws.path().join("pki/intermediates/kt-k2p.yaml")).unwrap(),
        before
    );
    assert!(!ws.path().join("pki/retired").exists(), "{}", text(&o));
    ws.ok(true, &["pki", "renew", "--cluster", "kt-k2p"]);
    assert_ne!(
        fs::read(ws.path().join("pki/intermediates/kt-k2p.yaml")).unwrap(),
        before
    );
    assert_eq!(
        fs::read_dir(ws.path().join("pki/retired")).unwrap().count(),
        1
    );
}
