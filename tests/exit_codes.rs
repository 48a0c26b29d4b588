//! The exit-code table (README, "Exit codes"), one test per row and cause: 0 success or clean,
//! 1 findings or output that could not be written, 2 bad input.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

fn run(cwd: &Path, args: &[&str]) -> Output {
    common::binary(cwd, &cwd.join("home"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A directory holding the built-in example rendered into out/.
fn rendered() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["out"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    dir
}

#[test]
fn zero_a_render_that_succeeds() {
    rendered();
}

#[test]
fn zero_a_check_that_finds_nothing() {
    let dir = rendered();
    assert_eq!(code(&run(dir.path(), &["check", "out"])), Some(0));
}

#[test]
fn zero_a_diff_even_when_it_shows_changes() {
    let dir = rendered();
    fs::write(dir.path().join("out/README.md"), "edited\n").unwrap();
    let o = run(dir.path(), &["diff", "out"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--- a/README.md"));
}

#[test]
fn one_a_check_that_finds_an_error() {
    let dir = rendered();
    let ns = dir
        .path()
        .join("out/clusters/kt-k2p/10-istio-system/namespace.yaml");
    let text = fs::read_to_string(&ns).unwrap();
    fs::write(&ns, text.replace("network1", "network9")).unwrap();
    assert_eq!(code(&run(dir.path(), &["check", "out"])), Some(1));
}

#[test]
fn one_a_diff_with_exit_code_that_finds_changes() {
    let dir = rendered();
    assert_eq!(
        code(&run(dir.path(), &["diff", "--exit-code", "out"])),
        Some(0),
        "nothing changed yet"
    );
    fs::write(dir.path().join("out/README.md"), "edited\n").unwrap();
    assert_eq!(
        code(&run(dir.path(), &["diff", "--exit-code", "out"])),
        Some(1)
    );
}

#[test]
fn one_strict_with_pending_remote_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["--strict", "out"]);
    assert_eq!(code(&o), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--strict:"), "{}", stderr(&o));
}

#[test]
fn one_an_output_directory_that_is_a_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("out"), "a file\n").unwrap();
    let o = run(dir.path(), &["out"]);
    assert_eq!(code(&o), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not a directory"), "{}", stderr(&o));
}

#[test]
fn one_pki_state_that_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("mesh.yaml"),
        mesh_render::config::EXAMPLE_YAML,
    )
    .unwrap();
    assert_eq!(code(&run(dir.path(), &["out"])), Some(0));
    // Where renew retires the old intermediate, a file stands: the state cannot be written.
    fs::write(dir.path().join("pki/retired"), "in the way\n").unwrap();
    let o = run(dir.path(), &["pki", "renew", "--cluster", "kt-k2p"]);
    assert_eq!(code(&o), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("pki/retired"), "{}", stderr(&o));
}

#[test]
fn two_a_mesh_description_that_does_not_validate() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mesh.yaml"), "kind: Mesh\n").unwrap();
    assert_eq!(code(&run(dir.path(), &["out"])), Some(2));
}

#[test]
fn two_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(code(&run(dir.path(), &["--no-such-flag"])), Some(2));
    assert_eq!(
        code(&run(dir.path(), &["pki", "renew", "--cluster", "nowhere"])),
        Some(2)
    );
}

#[test]
fn two_a_token_file_that_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = common::example_with(
        "    metricsServer: true\n",
        &format!(
            "    metricsServer: true\n    credentials:\n      tokenFile:\n        server: https://198.51.100.1:6443\n        caData: {}\n        token: kt-k2p.token\n",
            common::ca_data()
        ),
    );
    fs::write(dir.path().join("mesh.yaml"), mesh).unwrap();
    let o = run(dir.path(), &["out"]);
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("kt-k2p.token"), "{}", stderr(&o));
}

#[test]
fn two_an_identity_file_that_is_named_and_missing() {
    let dir = rendered();
    let o = common::binary(dir.path(), &dir.path().join("home"))
        .env("SOPS_AGE_KEY_FILE", dir.path().join("no-such.agekey"))
        .args(["check", "out"])
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("SOPS_AGE_KEY_FILE"), "{}", stderr(&o));
}

#[test]
fn two_an_admin_recipient_that_is_not_an_age_key() {
    let dir = tempfile::tempdir().unwrap();
    // The shape of a recipient, with a checksum that does not hold.
    let bad = "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
    let mesh = common::example_with("  admins: []\n", &format!("  admins: [{bad}]\n"));
    fs::write(dir.path().join("mesh.yaml"), mesh).unwrap();
    for args in [&["out"][..], &["diff", "out"][..]] {
        let o = run(dir.path(), args);
        assert_eq!(code(&o), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("secrets.admins[0]"), "{}", stderr(&o));
    }
}
