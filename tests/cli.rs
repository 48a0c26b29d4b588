//! The binary as a user runs it: which mesh it renders, what it prints, how it fails.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

fn mesh_render(cwd: &Path, args: &[&str]) -> Output {
    common::binary(cwd, cwd)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn without_a_mesh_yaml_it_renders_the_built_in_example_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let o = mesh_render(dir.path(), &["out/"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("Rendered mesh usmesh (3 clusters: kt-k2p, ncloud-nks, nhn-nks)"),
        "{text}"
    );
    assert!(text.contains("built-in example"), "{text}");
    assert!(
        dir.path()
            .join("out/clusters/kt-k2p/10-istio-system/namespace.yaml")
            .exists()
    );
}

#[test]
fn a_mesh_yaml_in_the_current_directory_is_rendered() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mesh.yaml"), common::five_cluster_mesh()).unwrap();
    let o = mesh_render(dir.path(), &["out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Rendered mesh fleet (5 clusters"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("built-in example"));
}

#[test]
fn config_flag_wins_over_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mesh.yaml"), "not: a mesh\n").unwrap();
    fs::write(dir.path().join("fleet.yaml"), common::five_cluster_mesh()).unwrap();
    let o = mesh_render(dir.path(), &["--config", "fleet.yaml", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("fleet.yaml"));
}

#[test]
fn the_summary_counts_written_unchanged_and_removed_files() {
    let dir = tempfile::tempdir().unwrap();
    let first = stdout(&mesh_render(dir.path(), &["out"]));
    let files = common::files_under(&dir.path().join("out")).len() - 1; // all but the record
    assert!(
        first.contains(&format!("{files} written, 0 unchanged, 0 removed")),
        "{first}"
    );
    let second = stdout(&mesh_render(dir.path(), &["out"]));
    assert!(
        second.contains(&format!("0 written, {files} unchanged, 0 removed")),
        "{second}"
    );
}

#[test]
fn the_summary_warns_that_combined_exposes_15012_and_15017() {
    let dir = tempfile::tempdir().unwrap();
    let text = stdout(&mesh_render(dir.path(), &["out"]));
    assert!(
        text.contains("warning: gateway topology `combined` exposes ports 15012 and 15017"),
        "{text}"
    );
}

#[test]
fn quiet_prints_nothing_on_success() {
    let dir = tempfile::tempdir().unwrap();
    let o = mesh_render(dir.path(), &["--quiet", "out"]);
    assert!(o.status.success());
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
}

#[test]
fn a_missing_config_file_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = mesh_render(dir.path(), &["--config", "nope.yaml", "out"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope.yaml"), "{}", stderr(&o));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn every_bad_input_exits_2_names_its_field_and_leaves_out_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    assert!(mesh_render(dir.path(), &["out"]).status.success());
    let out = dir.path().join("out");
    let before = common::read_all(&out);
    for (case, text, field) in common::bad_inputs::cases() {
        fs::write(dir.path().join("bad.yaml"), &text).unwrap();
        let o = mesh_render(dir.path(), &["--config", "bad.yaml", "out"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{case}: {err}");
        assert!(
            err.starts_with("error: bad.yaml is not a valid mesh description"),
            "{case}: {err}"
        );
        assert!(
            err.contains(&format!(": {field}: ")) || field.is_empty(),
            "{case}: {err}"
        );
        assert!(err.contains("fix: "), "{case}: {err}");
        assert!(o.stdout.is_empty(), "{case}");
        assert_eq!(common::read_all(&out), before, "{case} changed out/");
    }
}

#[test]
fn check_decrypts_with_the_local_admin_identity_when_that_is_all_there_is() {
    let dir = tempfile::tempdir().unwrap();
    assert!(mesh_render(dir.path(), &["out"]).status.success());
    let identity = dir.path().join("data/mesh-render/usmesh/admin.agekey");
    assert!(identity.is_file());
    // A value changed in an encrypted file: only a check that decrypts can notice.
    let cacerts = dir
        .path()
        .join("out/clusters/nhn-nks/10-istio-system/cacerts.sops.yaml");
    let text = fs::read_to_string(&cacerts).unwrap();
    let at = text.find("ca-cert.pem: ENC[AES256_GCM,data:").unwrap() + 33;
    let mut tampered = text.clone();
    let flipped = if &text[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, flipped);
    fs::write(&cacerts, tampered).unwrap();
    let o = mesh_render(dir.path(), &["check", "out"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "note: SOPS files decrypted with the identities of {}",
            identity.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("error[secret]: clusters/nhn-nks/10-istio-system/cacerts.sops.yaml"),
        "{out}"
    );
    assert!(!out.contains("no age identity at hand"), "{out}");
}

#[test]
fn advice_about_the_mesh_shape_is_shown_when_the_tree_is_created_and_with_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let advice = "gateway topology `combined`";
    let first = stdout(&mesh_render(dir.path(), &["out"]));
    assert!(first.contains(advice), "{first}");
    let again = stdout(&mesh_render(dir.path(), &["out"]));
    assert!(!again.contains(advice), "{again}");
    // Advice about the state repeats: it asks for something to be done.
    assert!(again.contains("remote secrets pending"), "{again}");
    let verbose = stdout(&mesh_render(dir.path(), &["--verbose", "out"]));
    assert!(verbose.contains(advice), "{verbose}");
    fs::write(
        dir.path().join("mesh.yaml"),
        mesh_render::config::EXAMPLE_YAML,
    )
    .unwrap();
    let checked = stdout(&mesh_render(
        dir.path(),
        &["check", "out", "--against", "mesh.yaml"],
    ));
    assert!(
        checked.contains(&format!("note: mesh shape: {advice}")),
        "{checked}"
    );
}

#[test]
fn a_mistyped_subcommand_is_refused_instead_of_rendered_into_a_directory_of_that_name() {
    let dir = tempfile::tempdir().unwrap();
    for (typo, meant) in [
        ("chek", "check"),
        ("dif", "diff"),
        ("inti", "init"),
        ("kyes", "keys"),
    ] {
        let o = common::binary(dir.path(), &dir.path().join("home"))
            .arg(typo)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{typo}: {err}");
        assert!(
            err.contains(&format!("did you mean `mesh-render {meant}`? To render into a directory of that name, write ./{typo}")),
            "{typo}: {err}"
        );
        assert!(!dir.path().join(typo).exists(), "{typo}");
    }
}

#[test]
fn ordinary_directory_names_and_explicit_paths_still_render() {
    for name in ["dist", "api", "pkg", "./chek"] {
        let dir = tempfile::tempdir().unwrap();
        let o = common::binary(dir.path(), &dir.path().join("home"))
            .args(["--quiet", name])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            dir.path().join(name).join(".render-record.json").is_file(),
            "{name}"
        );
    }
}

#[test]
fn a_new_fleet_says_in_one_line_which_intermediates_it_issued() {
    let dir = tempfile::tempdir().unwrap();
    let mut mesh = String::from(
        "apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nmeshID: fleet\nistio:\n  version: 1.26.3\nclusters:\n",
    );
    for i in 1..=12 {
        mesh.push_str(&format!("  - name: c{i}\n    network: net{i}\n"));
    }
    fs::write(dir.path().join("mesh.yaml"), mesh).unwrap();
    let o = mesh_render(dir.path(), &["out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("intermediate CA"))
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("note: issued the intermediate CAs of 12 clusters: c1, c2,"),
        "{out}"
    );
}

#[test]
fn check_and_diff_take_o_as_the_output_format() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        mesh_render(dir.path(), &["--quiet", "out"])
            .status
            .success()
    );
    for args in [
        &["check", "out", "-o", "json"][..],
        &["diff", "out", "-o", "json"],
    ] {
        let o = mesh_render(dir.path(), args);
        let value: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)));
        assert_eq!(value["tree"], "out", "{args:?}");
    }
}

#[test]
fn a_gitops_target_for_the_built_in_example_says_to_write_a_mesh_yaml_first() {
    let dir = tempfile::tempdir().unwrap();
    let o = mesh_render(dir.path(), &["--target", "flux", "out"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("write a mesh.yaml first (`mesh-render init`)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn keys_names_the_identity_secret_and_key_the_readme_commands_use() {
    // tests/bootstrap_commands.rs runs the README's commands; `keys` must say the same.
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("mesh.yaml"),
        mesh_render::config::EXAMPLE_YAML,
    )
    .unwrap();
    let o = mesh_render(dir.path(), &["keys"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(
            "kubectl -n flux-system create secret generic sops-age --from-file=age.agekey="
        ),
        "{text}"
    );
}

#[test]
fn output_dir_names_the_output_directory_as_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let o = mesh_render(dir.path(), &["--quiet", "--output-dir", "rendered"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("rendered/.render-record.json").is_file());
    assert!(!dir.path().join("out").exists());
    let both = mesh_render(dir.path(), &["--output-dir", "a", "b"]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn a_read_only_output_directory_gets_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
        .arg(&ro)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        assert!(!common::in_ci(), "CI must allow a read-only tmpfs mount");
        eprintln!("skipped: mounting a tmpfs is not allowed here; CI runs it");
        return;
    }
    let o = mesh_render(dir.path(), &["ro"]);
    let _ = std::process::Command::new("umount").arg(&ro).status();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Read-only file system")
            && stderr(&o)
                .contains("fix: the file system is read-only: render into a writable directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let dir = tempfile::tempdir().unwrap();
    let o = mesh_render(dir.path(), &["--version"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with(&format!("mesh-render {} (", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success());
    match head {
        // Built from a work tree (CI builds a fresh clone): its commit.
        Some(head) => {
            let hash = String::from_utf8_lossy(&head.stdout).trim().to_owned();
            assert!(
                text.contains(&format!("(commit {hash}")),
                "{text} vs {hash}"
            );
        }
        None => {
            assert!(!common::in_ci(), "CI builds from a git clone");
            assert!(text.contains("(unknown commit)"), "{text}");
        }
    }
}

#[test]
fn check_config_finds_the_identities_of_a_mesh_description_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("fleet")).unwrap();
    fs::write(
        dir.path().join("fleet/mesh.yaml"),
        common::five_cluster_mesh(),
    )
    .unwrap();
    let o = mesh_render(dir.path(), &["--config", "fleet/mesh.yaml", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Here the built-in example is the description: its identity opens nothing of this mesh.
    let without = stdout(&mesh_render(dir.path(), &["check", "out"]));
    assert!(!without.contains("SOPS files decrypted"), "{without}");
    let o = mesh_render(dir.path(), &["check", "out", "--config", "fleet/mesh.yaml"]);
    let with = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{with}{}", stderr(&o));
    assert!(
        with.contains("note: SOPS files decrypted with the identities of"),
        "{with}"
    );
    // It is no drift check: that needs --against, and the two name one description.
    assert!(!with.contains("drift"), "{with}");
    let both = mesh_render(
        dir.path(),
        &[
            "check",
            "out",
            "--config",
            "fleet/mesh.yaml",
            "--against",
            "fleet/mesh.yaml",
        ],
    );
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
}

#[test]
fn check_config_that_does_not_load_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    assert!(mesh_render(dir.path(), &["out"]).status.success());
    let o = mesh_render(dir.path(), &["check", "out", "--config", "nope.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope.yaml"), "{}", stderr(&o));
}
