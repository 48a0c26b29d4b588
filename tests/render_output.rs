//! Rendering and writing: the example tree as reviewers see it, determinism, and what a render
//! may and may not touch under out/.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use mesh_render::output;

fn write(out: &Path, yaml: &str) -> output::Summary {
    output::write(
        out,
        &common::render_text(yaml),
        &Default::default(),
        None,
        &common::FakeSealer,
        &mesh_render::output::Silent,
    )
    .expect("write succeeds")
}

/// (path, inode, mtime) of every file: a rewrite through rename changes the inode.
fn stamps(dir: &Path) -> Vec<(String, u64, i64, i64)> {
    common::files_under(dir)
        .into_iter()
        .map(|p| {
            let m = fs::metadata(dir.join(&p)).unwrap();
            (p, m.ino(), m.mtime(), m.mtime_nsec())
        })
        .collect()
}

fn example_without_nhn_nks() -> String {
    let example = mesh_render::config::EXAMPLE_YAML;
    let start = example.find("  - name: nhn-nks\n").unwrap();
    let end = example.find("sample:\n").unwrap();
    let text = format!("{}\n{}", &example[..start], &example[end..]);
    text.replace("    nhn-nks: [reviews-v3, sleep]\n", "")
}

#[test]
fn example_tree_matches_its_snapshot() {
    let tree = common::render_example();
    common::with_snapshots(|| insta::assert_snapshot!("example_tree", common::dump(&tree)));
}

#[test]
fn rendering_the_same_description_twice_gives_the_same_tree() {
    assert_eq!(common::render_example(), common::render_example());
}

#[test]
fn every_file_ends_with_exactly_one_newline_and_has_no_carriage_returns() {
    for (path, text) in common::render_example().texts() {
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{path}");
        assert!(!text.contains('\r'), "{path}");
    }
}

#[test]
fn a_second_render_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = write(&out, mesh_render::config::EXAMPLE_YAML);
    assert!(!first.written.is_empty());
    let before = stamps(&out);
    let bytes_before = common::read_all(&out);
    let second = write(&out, mesh_render::config::EXAMPLE_YAML);
    assert!(second.written.is_empty(), "rewrote {:?}", second.written);
    assert_eq!(second.unchanged, first.written.len());
    assert_eq!(stamps(&out), before, "inode or mtime changed");
    assert_eq!(common::read_all(&out), bytes_before);
}

#[test]
fn the_record_lists_every_written_file_with_its_digest_but_the_top_readme() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    write(&out, mesh_render::config::EXAMPLE_YAML);
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join(mesh_render::record::RECORD_FILE)).unwrap())
            .unwrap();
    let files = record["files"].as_object().unwrap();
    let on_disk: Vec<String> = common::files_under(&out)
        .into_iter()
        .filter(|p| p != mesh_render::record::RECORD_FILE)
        .collect();
    assert_eq!(files.keys().cloned().collect::<Vec<_>>(), on_disk);
    for (path, entry) in files {
        if path == "README.md" {
            // Every change rewrites the mesh's summary: a digest would make any two pull
            // requests conflict on its record line.
            assert_eq!(entry, &serde_json::json!({}), "{path}");
            continue;
        }
        let digest = mesh_render::digest::sha256_hex(&fs::read(out.join(path)).unwrap());
        assert_eq!(entry["sha256"], digest, "{path}");
    }
}

#[test]
fn a_top_readme_edited_by_hand_is_rendered_again() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    write(&out, mesh_render::config::EXAMPLE_YAML);
    let rendered = fs::read(out.join("README.md")).unwrap();
    fs::write(out.join("README.md"), "edited\n").unwrap();
    write(&out, mesh_render::config::EXAMPLE_YAML);
    assert_eq!(fs::read(out.join("README.md")).unwrap(), rendered);
}

#[test]
fn removing_a_cluster_removes_exactly_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    write(&out, mesh_render::config::EXAMPLE_YAML);
    let before = common::read_all(&out);
    let summary = write(&out, &example_without_nhn_nks());
    let after = common::read_all(&out);

    let ours = |p: &str| {
        p.starts_with("clusters/nhn-nks/")
            || p.starts_with("values/nhn-nks/")
            || p.starts_with("istioctl/nhn-nks/")
    };
    let expected_removed: Vec<String> = before
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| ours(p))
        .collect();
    assert!(!expected_removed.is_empty());
    assert_eq!(summary.removed, expected_removed);
    assert!(
        !out.join("clusters/nhn-nks").exists(),
        "emptied directories are removed"
    );
    assert!(!out.join("values/nhn-nks").exists());
    assert!(!out.join("istioctl/nhn-nks").exists());
    // Everything else is byte-identical, except the sops rules (one per cluster), the record and
    // the top README's overview (a row and a node per cluster).
    for (path, bytes) in &after {
        if [".sops.yaml", mesh_render::record::RECORD_FILE, "README.md"].contains(&path.as_str()) {
            continue;
        }
        let old = before.iter().find(|(p, _)| p == path).map(|(_, b)| b);
        assert!(old == Some(bytes), "{path} changed");
    }
    let readme = String::from_utf8(
        after
            .iter()
            .find(|(p, _)| p == "README.md")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(
        !readme.contains("nhn-nks"),
        "the overview still names nhn-nks"
    );
}

#[test]
fn files_a_user_added_under_out_survive_renders_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    write(&out, mesh_render::config::EXAMPLE_YAML);
    fs::write(out.join("clusters/nhn-nks/NOTES.md"), "mine\n").unwrap();
    fs::write(out.join("kustomization.yaml"), "mine\n").unwrap();
    write(&out, &example_without_nhn_nks());
    assert_eq!(
        fs::read_to_string(out.join("clusters/nhn-nks/NOTES.md")).unwrap(),
        "mine\n"
    );
    assert_eq!(
        fs::read_to_string(out.join("kustomization.yaml")).unwrap(),
        "mine\n"
    );
    assert!(!out.join("clusters/nhn-nks/10-istio-system").exists());
}

/// Renders the example into `out`, expects it refused for `README.md` alone, and `out` to hold
/// exactly `files` afterwards.
fn assert_refused_for_readme(out: &Path, files: &[&str]) {
    let err = output::write(
        out,
        &common::render_example(),
        &Default::default(),
        None,
        &common::FakeSealer,
        &mesh_render::output::Silent,
    )
    .unwrap_err();
    assert!(
        matches!(err, output::OutputError::NotOurs(ref p) if p == &[out.join("README.md")]),
        "{err}"
    );
    assert_eq!(common::files_under(out), files);
}

#[test]
fn a_file_in_the_way_that_we_did_not_write_stops_the_render_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("README.md"), "the team's own readme\n").unwrap();
    assert_refused_for_readme(&out, &["README.md"]);
}

#[test]
fn a_directory_where_a_file_goes_stops_the_render_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    fs::create_dir_all(out.join("README.md")).unwrap();
    fs::write(out.join("README.md/notes.txt"), "the team's notes\n").unwrap();
    assert_refused_for_readme(&out, &["README.md/notes.txt"]);
}

#[test]
fn an_edited_file_that_is_no_longer_rendered_is_kept_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    write(&out, mesh_render::config::EXAMPLE_YAML);
    let edited = "clusters/nhn-nks/50-sample/sleep.yaml";
    fs::write(out.join(edited), "# my change\n").unwrap();
    let summary = write(&out, &example_without_nhn_nks());
    assert_eq!(summary.kept_edited, [edited]);
    assert!(out.join(edited).exists());
}

#[test]
fn a_corrupt_record_is_an_error_naming_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join(mesh_render::record::RECORD_FILE), "{not json").unwrap();
    let err = output::write(
        &out,
        &common::render_example(),
        &Default::default(),
        None,
        &common::FakeSealer,
        &mesh_render::output::Silent,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(mesh_render::record::RECORD_FILE),
        "{err}"
    );
    assert_eq!(
        common::files_under(&out),
        [mesh_render::record::RECORD_FILE]
    );
}

#[test]
fn five_clusters_cycle_reviews_and_put_sleep_last() {
    let tree = common::render_text(&common::five_cluster_mesh());
    let placed: Vec<Vec<&str>> = (1..=5)
        .map(|n| {
            tree.paths()
                .filter(|p| p.as_str().starts_with(&format!("clusters/c{n}/50-sample/")))
                .map(|p| p.file_name())
                .filter(|f| f.starts_with("reviews-") || *f == "sleep.yaml")
                .collect()
        })
        .collect();
    assert_eq!(
        placed,
        [
            vec!["reviews-v1.yaml"],
            vec!["reviews-v2.yaml"],
            vec!["reviews-v3.yaml"],
            vec!["reviews-v1.yaml"],
            vec!["reviews-v2.yaml", "sleep.yaml"],
        ]
    );
}
