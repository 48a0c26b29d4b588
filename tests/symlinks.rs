//! Symlinks below the output directory and `pki/` are never followed, whatever planted them (git
//! stores symlinks, so a pull request can): a render refuses them, `diff` never shows what they
//! point at, `check` reports each, and the victim outside the tree is left byte for byte. The
//! path up to and including the output directory may be a symlink.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::Workspace;

/// A victim outside the tree: a directory with a file whose content must never leak or change.
struct Victim {
    dir: tempfile::TempDir,
}

const SECRET: &str = "AGE-SECRET-KEY-NOT-REALLY-BUT-PRIVATE\n";

impl Victim {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keep.txt"), SECRET).unwrap();
        Victim { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self) -> std::path::PathBuf {
        self.path().join("keep.txt")
    }

    /// The victim is exactly as it was made.
    fn assert_untouched(&self) {
        assert_eq!(common::files_under(self.path()), ["keep.txt"]);
        assert_eq!(fs::read_to_string(self.file()).unwrap(), SECRET);
    }
}

fn rendered() -> Workspace {
    let ws = Workspace::example();
    ws.ok(true, &["out"]);
    ws
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_cluster_directory_that_is_a_symlink_is_refused_and_nothing_is_written_through_it() {
    let ws = rendered();
    let victim = Victim::new();
    let cluster = ws.out().join("clusters/kt-k2p");
    fs::remove_dir_all(&cluster).unwrap();
    symlink(victim.path(), &cluster).unwrap();
    let o = ws.run(true, &["out"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("refusing to follow symlinks")
            && stderr(&o).contains("clusters/kt-k2p"),
        "{}",
        stderr(&o)
    );
    victim.assert_untouched();
}

#[test]
fn a_recorded_path_through_a_symlink_is_never_removed() {
    let ws = rendered();
    let victim = Victim::new();
    symlink(victim.path(), ws.out().join("evil")).unwrap();
    let record_path = ws.out().join(mesh_render::record::RECORD_FILE);
    let mut record: serde_json::Value =
        serde_json::from_slice(&fs::read(&record_path).unwrap()).unwrap();
    record["files"]["evil/keep.txt"] = serde_json::json!({
        "sha256": mesh_render::digest::sha256_hex(SECRET.as_bytes())
    });
    fs::write(&record_path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    let o = ws.run(true, &["out"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("evil"), "{}", stderr(&o));
    victim.assert_untouched();
}

#[test]
fn diff_never_shows_what_a_symlink_points_at_and_check_reports_it() {
    let ws = rendered();
    let victim = Victim::new();
    let namespace = ws
        .out()
        .join("clusters/kt-k2p/10-istio-system/namespace.yaml");
    fs::remove_file(&namespace).unwrap();
    symlink(victim.file(), &namespace).unwrap();
    let diff = ws.run(false, &["diff", "out"]);
    let shown = String::from_utf8_lossy(&diff.stdout);
    assert!(!shown.contains("AGE-SECRET-KEY"), "{shown}");
    assert!(
        shown.contains("clusters/kt-k2p/10-istio-system/namespace.yaml"),
        "{shown}"
    );
    let check = ws.run(false, &["check", "out"]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}");
    assert!(
        report.contains(
            "error[structure]: clusters/kt-k2p/10-istio-system/namespace.yaml: a symlink"
        ),
        "{report}"
    );
    assert!(!report.contains("AGE-SECRET-KEY"), "{report}");
    victim.assert_untouched();
}

/// Replaces the tree's render record with a symlink to the victim's file.
fn record_linked_to(ws: &Workspace, victim: &Victim) {
    let record = ws.out().join(mesh_render::record::RECORD_FILE);
    fs::remove_file(&record).unwrap();
    symlink(victim.file(), &record).unwrap();
}

#[test]
fn check_refuses_a_render_record_that_is_a_symlink_without_reading_it() {
    let ws = rendered();
    let victim = Victim::new();
    record_linked_to(&ws, &victim);
    let check = ws.run(false, &["check", "out"]);
    assert_eq!(check.status.code(), Some(2), "{}", stderr(&check));
    assert!(
        stderr(&check).contains(".render-record.json is not a render record: it is a symlink"),
        "{}",
        stderr(&check)
    );
    assert!(
        !stderr(&check).contains("AGE-SECRET-KEY"),
        "{}",
        stderr(&check)
    );
    victim.assert_untouched();
}

#[test]
fn a_render_refuses_a_render_record_that_is_a_symlink_and_leaves_its_target() {
    let ws = rendered();
    let victim = Victim::new();
    record_linked_to(&ws, &victim);
    let o = ws.run(true, &["out"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("refusing to follow symlinks")
            && stderr(&o).contains(".render-record.json"),
        "{}",
        stderr(&o)
    );
    victim.assert_untouched();
}

#[test]
fn a_symlink_loop_is_a_finding_not_a_failure_of_check() {
    let ws = rendered();
    symlink(".", ws.out().join("loop")).unwrap();
    let check = ws.run(false, &["check", "out"]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}{}", stderr(&check));
    assert!(
        report.contains("error[structure]: loop: a symlink"),
        "{report}"
    );
}

#[test]
fn a_symlink_inside_the_pki_is_refused() {
    let ws = rendered();
    let victim = Victim::new();
    let intermediates = ws.path().join("pki/intermediates");
    let moved = ws.path().join("moved-intermediates");
    fs::rename(&intermediates, &moved).unwrap();
    symlink(&moved, &intermediates).unwrap();
    let o = ws.run(true, &["out"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is a symlink inside the PKI directory"),
        "{}",
        stderr(&o)
    );
    // Renewing writes nothing through it either.
    fs::remove_file(&intermediates).unwrap();
    symlink(victim.path(), &intermediates).unwrap();
    let o = ws.run(true, &["pki", "renew", "--cluster", "kt-k2p"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    victim.assert_untouched();
}

#[test]
fn the_output_directory_itself_may_be_reached_through_a_symlink() {
    let ws = Workspace::example();
    let real = ws.path().join("real-out");
    fs::create_dir(&real).unwrap();
    symlink(&real, ws.path().join("out")).unwrap();
    ws.ok(true, &["out"]);
    assert!(
        real.join("clusters/kt-k2p/10-istio-system/namespace.yaml")
            .is_file()
    );
    let again = ws.ok(false, &["out"]);
    assert!(again.contains(" 0 written,"), "{again}");
}
