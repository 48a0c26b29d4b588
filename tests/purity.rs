//! The pure core at run time: rendering the example — mesh.yaml's bytes through config, the seal
//! layer's plans (over a stand-in PKI), the model and render — gives the same tree in a process
//! with no HOME, no XDG_* and no SOPS_* variables (no environment at all), started in an empty
//! working directory it may not write to, as in this one. The source scan in
//! `tests/architecture.rs` says the core reads nothing; this shows it.

mod common;

use std::process::Command;

/// Set in the child process this test starts.
const CHILD: &str = "MESH_RENDER_PURITY_CHILD";

/// The example's tree, as one reviewable text (sealed files show recipients and inputs).
fn rendered_example() -> String {
    common::dump(&common::render_example())
}

/// Runs in the child: prints the tree, so the parent compares it with its own.
#[test]
fn child_prints_the_example_tree() {
    if std::env::var_os(CHILD).is_none() {
        return; // only meaningful in the process the other test starts
    }
    print!("\n<<<TREE\n{}TREE>>>\n", rendered_example());
}

#[test]
fn rendering_reads_nothing_from_the_environment_or_the_working_directory() {
    let empty = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(empty.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_prints_the_example_tree", "--nocapture"])
        .args(["--test-threads", "1"])
        .env_clear()
        .env(CHILD, "1")
        .current_dir(empty.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let start = stdout
        .find("<<<TREE\n")
        .expect("the child printed its tree")
        + 8;
    let end = stdout.find("TREE>>>").expect("the child finished its tree");
    let theirs = &stdout[start..end];
    assert!(theirs.contains("=== clusters/kt-k2p/10-istio-system/cacerts.sops.yaml (sealed)"));
    assert!(theirs == rendered_example(), "the trees differ");
    // Nothing was written where it ran.
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}
