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
