//! One writer at a time, with real processes: two first renders of a mesh, two re-renders of a
//! tree, a render and a check, two `keys` at once. Each trial ends with one root, a tree that
//! `check --against` finds clean with the admin key, and the waiting command saying whom it waited
//! for. `CONCURRENCY_TRIALS=N` runs more trials (default 4).

mod common;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use common::Workspace;

fn trials() -> usize {
    std::env::var("CONCURRENCY_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4)
}

/// A mesh of `n` clusters; the admins listed, or none (the local admin identity).
fn mesh(n: usize, admin: Option<&str>) -> String {
    let mut doc = String::from(
        "apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nmeshID: race\nistio:\n  version: 1.26.3\n",
    );
    if let Some(admin) = admin {
        doc.push_str(&format!("secrets:\n  admins:\n    - {admin}\n"));
    }
    doc.push_str("clusters:\n");
    for i in 1..=n {
        doc.push_str(&format!("  - name: c{i}\n    network: net{i}\n"));
    }
    doc
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn both(a: Child, b: Child) -> (Output, Output) {
    (a.wait_with_output().unwrap(), b.wait_with_output().unwrap())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `check --against mesh.yaml` with the admin key finds nothing.
fn assert_clean(ws: &Workspace, at: &str) {
    let o = ws.run(
        true,
        &["check", "out", "--against", "mesh.yaml", "--format", "json"],
    );
    let report: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{at}: {e}: {}", stderr(&o)));
    assert_eq!(report["errors"], 0, "{at}: {report:#}");
}

/// Every intermediate chains to the one root in pki/ (the check verifies each cacerts against
/// its bundle; this checks the PKI itself).
fn assert_one_root(dir: &Path, at: &str) {
    let root = fs::read_to_string(dir.join("pki/root.yaml")).unwrap();
    let root = mesh_render::sops::without_metadata(&root).unwrap()[0]["certificate"]
        .as_str()
        .unwrap()
        .to_owned();
    let work = tempfile::tempdir().unwrap();
    fs::write(work.path().join("root.pem"), &root).unwrap();
    for entry in fs::read_dir(dir.join("pki/intermediates")).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        let cert = mesh_render::sops::without_metadata(&text).unwrap()[0]["certificate"]
            .as_str()
            .unwrap()
            .to_owned();
        fs::write(work.path().join("leaf.pem"), cert).unwrap();
        let verified = Command::new("openssl")
            .current_dir(work.path())
            .args(["verify", "-CAfile", "root.pem", "leaf.pem"])
            .output()
            .unwrap();
        assert!(verified.status.success(), "{at}: {}", stderr(&verified));
    }
}

#[test]
fn two_first_renders_at_once_make_one_pki_and_one_tree() {
    if !common::judge_available("openssl", "verifies the intermediates against the root") {
        return;
    }
    let mut waited = 0;
    for trial in 0..trials() {
        let ws = Workspace::build(|admin, _| mesh(20, Some(admin)));
        let (a, b) = both(
            spawn(ws.command(true).arg("out")),
            spawn(ws.command(true).arg("out")),
        );
        let at = format!("trial {trial}");
        assert!(a.status.success(), "{at}: {}", stderr(&a));
        assert!(b.status.success(), "{at}: {}", stderr(&b));
        waited += [&a, &b]
            .iter()
            .filter(|o| stderr(o).contains("waiting for"))
            .count();
        assert_one_root(ws.path(), &at);
        assert_clean(&ws, &at);
    }
    assert!(waited > 0, "in no trial did one render wait for the other");
}

#[test]
fn two_first_renders_with_the_local_admin_identity_share_one_identity() {
    for trial in 0..trials() {
        let ws = Workspace::build(|_, _| mesh(20, None));
        let (a, b) = both(
            spawn(ws.command(false).arg("out")),
            spawn(ws.command(false).arg("out")),
        );
        let at = format!("trial {trial}");
        assert!(a.status.success(), "{at}: {}", stderr(&a));
        assert!(b.status.success(), "{at}: {}", stderr(&b));
        let created = [&a, &b]
            .iter()
            .filter(|o| {
                String::from_utf8_lossy(&o.stdout).contains("created a local admin identity")
            })
            .count();
        assert_eq!(created, 1, "{at}");
        let o = ws.run(
            false,
            &["check", "out", "--against", "mesh.yaml", "--format", "json"],
        );
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["errors"], 0, "{at}: {report:#}");
    }
}

#[test]
fn two_re_renders_at_once_leave_the_record_in_step_with_the_files() {
    for trial in 0..trials() {
        let ws = Workspace::build(|admin, _| mesh(20, Some(admin)));
        ws.ok(true, &["out"]);
        // Both seal every remote secret again: the longest write there is.
        ws.edit_mesh("istio:\n  version: 1.26.3\n", "istio:\n  version: 1.26.4\n");
        let (a, b) = both(
            spawn(ws.command(true).arg("out")),
            spawn(ws.command(true).arg("out")),
        );
        let at = format!("trial {trial}");
        assert!(
            a.status.success() && b.status.success(),
            "{at}: {}{}",
            stderr(&a),
            stderr(&b)
        );
        assert_clean(&ws, &at);
    }
}

#[test]
fn a_check_during_a_render_reads_the_tree_before_or_after_it() {
    for trial in 0..trials() {
        let ws = Workspace::build(|admin, _| mesh(20, Some(admin)));
        ws.ok(true, &["out"]);
        ws.edit_mesh("istio:\n  version: 1.26.3\n", "istio:\n  version: 1.26.4\n");
        let render = spawn(ws.command(true).arg("out"));
        let check = spawn(ws.command(true).args(["check", "out", "--format", "json"]));
        let (render, check) = both(render, check);
        let at = format!("trial {trial}");
        assert!(render.status.success(), "{at}: {}", stderr(&render));
        let report: serde_json::Value = serde_json::from_slice(&check.stdout)
            .unwrap_or_else(|e| panic!("{at}: {e}: {}", stderr(&check)));
        assert_eq!(report["errors"], 0, "{at}: {report:#}");
    }
}

#[test]
fn two_keys_at_once_give_each_cluster_one_identity() {
    for trial in 0..trials() {
        let ws = Workspace::example();
        let (a, b) = both(
            spawn(ws.command(false).arg("keys")),
            spawn(ws.command(false).arg("keys")),
        );
        let at = format!("trial {trial}");
        assert!(a.status.success(), "{at}: {}", stderr(&a));
        assert!(b.status.success(), "{at}: {}", stderr(&b));
        let mesh = fs::read_to_string(ws.path().join("mesh.yaml")).unwrap();
        for cluster in common::workspace::CLUSTERS {
            let identity = ws.path().join(format!(
                "home/data/mesh-render/usmesh/clusters/{cluster}.agekey"
            ));
            let recipient = common::identities(&identity).recipients()[0].to_string();
            assert_eq!(mesh.matches(&recipient).count(), 1, "{at}: {cluster}");
        }
        assert_eq!(mesh.matches("gitopsRecipient:").count(), 3, "{at}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_writer_that_cannot_get_the_lock_in_time_fails_naming_the_holder() {
    use std::os::fd::AsRawFd;
    let ws = Workspace::example();
    ws.ok(true, &["out"]);
    let dir = fs::File::open(ws.out()).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) }, 0);
    let o = ws.run(true, &["--wait", "0", "out"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("locked by process {}", std::process::id())),
        "{}",
        stderr(&o)
    );
    let checked = ws.run(true, &["check", "out", "--wait", "0"]);
    assert_eq!(
        checked.status.code(),
        Some(3),
        "readers wait for writers too"
    );
    drop(dir);
    ws.ok(true, &["--wait", "0", "out"]);
}
