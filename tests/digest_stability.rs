//! The inputs digests a release recorded stay valid for every later release: trees rendered by
//! the main of commit c989b01 (tests/fixtures/digest-stability, made by its make.sh), re-rendered
//! with public keys only, are left byte for byte as they are. A digest that changed would make
//! every keyless render fail, and every keyed one re-encrypt every secret of every cluster. What a
//! later release renders in clear (a README, an install script) may change; every sealed file and
//! its record entry may not.

mod common;

use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    common::repo_root()
        .join("tests/fixtures/digest-stability")
        .join(name)
}

/// A copy of the fixture in a temporary directory (the repository's copy is never written).
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(name), &dir.path().join("mesh"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Renders the copy without any key and returns its summary line.
fn render_without_key(work: &Path) -> String {
    let out = common::binary(&work.join("mesh"), &work.join("home"))
        .args(["--config", "mesh.yaml", "out"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "keyless re-render failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn assert_left_alone(name: &str) {
    let work = copy_of(name);
    let before = common::read_all(&work.path().join("mesh"));
    let stdout = render_without_key(work.path());
    assert!(stdout.contains(", 0 removed\n"), "{stdout}");
    let after = common::read_all(&work.path().join("mesh"));
    // Every sealed file byte for byte, and its record entry (digest and inputs digest) as it
    // was; a newer release rewrites the record in its own format.
    let sealed = |files: &[(String, Vec<u8>)]| -> Vec<(String, Vec<u8>)> {
        files
            .iter()
            .filter(|(p, _)| p.ends_with(".sops.yaml") && !p.ends_with("/.sops.yaml"))
            .cloned()
            .collect()
    };
    assert!(!sealed(&before).is_empty());
    assert!(
        sealed(&before) == sealed(&after),
        "a keyless re-render changed sealed files of {name}"
    );
    let record = "out/.render-record.json";
    let entries = |files: &[(String, Vec<u8>)]| {
        let (_, bytes) = files.iter().find(|(p, _)| p == record).unwrap();
        mesh_render::record::Record::parse(bytes)
            .unwrap()
            .files
            .into_iter()
            .filter(|(_, entry)| entry.inputs.is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        entries(&before),
        entries(&after),
        "{name}: sealed files' record entries"
    );
}

#[test]
fn a_tree_rendered_by_an_earlier_release_keeps_every_sealed_file_byte_for_byte() {
    assert_left_alone("steady");
}

#[test]
fn a_tree_rendered_mid_rotation_by_an_earlier_release_keeps_every_sealed_file_byte_for_byte() {
    assert_left_alone("rotation");
}

#[test]
fn a_tree_rendered_by_an_earlier_release_checks_clean_with_its_admin_key() {
    for name in ["steady", "rotation"] {
        let work = copy_of(name);
        let mesh = work.path().join("mesh");
        // What this release renders in clear is brought up to date without a key first.
        render_without_key(work.path());
        let out = common::binary(&mesh, &work.path().join("home"))
            .env("SOPS_AGE_KEY_FILE", mesh.join("admin.agekey"))
            .args(["check", "out", "--against", "mesh.yaml"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}:\n{stdout}");
        assert!(stdout.contains(": 0 errors"), "{name}:\n{stdout}");
    }
}
