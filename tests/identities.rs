//! Identity files are written whole or not at all: a full disk leaves no empty `admin.agekey`
//! behind, it is an output error (exit 1), and the next run creates the identity as a first run
//! does. An empty or unreadable local admin identity that nothing was encrypted to is replaced
//! with a note; one the PKI depends on is never replaced.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

fn identity(home: &Path) -> PathBuf {
    home.join("data/mesh-render/usmesh/admin.agekey")
}

fn render(dir: &Path, fault: Option<&str>) -> Output {
    let mut cmd = common::binary(dir, &dir.join("home"));
    if let Some(fault) = fault {
        cmd.env("MESH_RENDER_FAULT", fault);
    }
    cmd.arg("out").output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_full_disk_while_writing_the_admin_identity_leaves_nothing_and_the_next_run_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let o = render(dir.path(), Some("enospc@admin.agekey"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("No space left on device"), "{}", text(&o));
    let state = identity(&dir.path().join("home"));
    assert!(!state.exists(), "no empty identity is left");
    let leftovers: Vec<_> = fs::read_dir(state.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let again = render(dir.path(), None);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("created a local admin identity"),
        "{}",
        text(&again)
    );
}

#[test]
fn an_empty_local_admin_identity_with_no_pki_yet_is_replaced_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let state = identity(&dir.path().join("home"));
    fs::create_dir_all(state.parent().unwrap()).unwrap();
    fs::write(&state, "").unwrap();
    let o = render(dir.path(), None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("held no identity"), "{}", text(&o));
    assert!(common::identities(&state).len() == 1);
}

#[test]
fn an_unreadable_local_admin_identity_the_pki_depends_on_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    assert!(render(dir.path(), None).status.success());
    let state = identity(&dir.path().join("home"));
    fs::write(&state, "not an identity\n").unwrap();
    let o = render(dir.path(), None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("holds no usable age identity"),
        "{}",
        text(&o)
    );
    assert_eq!(fs::read_to_string(&state).unwrap(), "not an identity\n");
}
