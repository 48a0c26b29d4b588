//! The version rules of `istio.version`: any patch of a line in the release table renders with
//! that line's facts; a line outside the table is refused with the list; a newer line renders
//! with the newest known line's facts under `istio.allowUnknownVersion: true`, and says so; a line
//! past its end of life is advised against (advice that repeats: shown when a render creates the
//! tree, by `check` and with `--verbose`), except in the built-in example.

mod common;

use common::workspace::Workspace;
use mesh_render::config::{self, Origin};
use mesh_render::releases;

fn parse(text: &str) -> Result<config::Mesh, config::ConfigError> {
    config::parse(text, &Origin::File("mesh.yaml".into()))
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What a run printed: the render summary (stdout, where warnings go) and its notes (stderr).
fn printed(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn any_patch_of_a_known_line_is_accepted_with_its_lines_facts() {
    for (version, line) in [
        ("1.26.5", (1, 26)),
        ("1.28.0", (1, 28)),
        ("1.29.9", (1, 29)),
        ("1.30.7", (1, 30)),
    ] {
        let mesh =
            parse(&common::with_version(version)).unwrap_or_else(|e| panic!("{version}: {e}"));
        assert_eq!(mesh.istio.version.to_string(), version);
        assert_eq!(mesh.istio.release.line, line, "{version}");
        assert!(!mesh.istio.unknown_line, "{version}");
    }
}

#[test]
fn a_version_outside_the_table_is_refused_with_the_list() {
    for version in ["1.27.3", "1.25.0", "2.0.0", "1.31.0"] {
        let err = parse(&common::with_version(version)).expect_err(version);
        let text = err.to_string();
        assert!(text.contains("istio.version"), "{text}");
        assert!(text.contains("1.26, 1.28, 1.29, 1.30"), "{text}");
        assert!(text.contains("e.g. 1.30.3"), "{text}");
    }
}

#[test]
fn only_a_newer_line_is_told_about_allow_unknown_version() {
    let newer = parse(&common::with_version("1.31.0"))
        .unwrap_err()
        .to_string();
    assert!(newer.contains("istio.allowUnknownVersion: true"), "{newer}");
    let older = parse(&common::with_version("1.27.3"))
        .unwrap_err()
        .to_string();
    assert!(!older.contains("allowUnknownVersion"), "{older}");
}

#[test]
fn allow_unknown_version_does_not_admit_a_line_older_than_the_newest() {
    let text = common::with_version("1.27.3").replace(
        "  version: 1.27.3\n",
        "  version: 1.27.3\n  allowUnknownVersion: true\n",
    );
    assert!(parse(&text).is_err());
}

#[test]
fn a_newer_line_allowed_renders_with_the_newest_lines_facts_and_warns_naming_them() {
    let text = common::with_release_defaults("1.31.0").replace(
        "  version: 1.31.0\n",
        "  version: 1.31.0\n  allowUnknownVersion: true\n",
    );
    let mesh = parse(&text).unwrap();
    assert!(mesh.istio.unknown_line);
    assert_eq!(mesh.istio.release.line, (1, 30));
    let tree = common::render_text(&text);
    let values = tree.get("values/kt-k2p/istiod.yaml").unwrap();
    assert!(!values.contains("hub:"), "the charts' own hub: {values}");
    let base = tree.get("base/gateway-api/kustomization.yaml").unwrap();
    assert!(base.contains("/v1.5.1/standard-install.yaml"), "{base}");

    let ws = Workspace::build(|admin, _| {
        text.replace("  admins: []\n", &format!("  admins:\n    - {admin}\n"))
    });
    let o = ws.run(true, &["out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = printed(&o);
    for fact in [
        "1.31.0 is newer than the release lines mesh-render knows (1.26, 1.28, 1.29, 1.30)",
        "rendered with 1.30's facts",
        "registry.istio.io/release",
        "Gateway API v1.5.1",
    ] {
        assert!(err.contains(fact), "{fact}: {err}");
    }
}

#[test]
fn each_line_defaults_to_its_own_gateway_api_and_sample_images() {
    for row in releases::LINES {
        let version = row.newest().to_string();
        let mesh = parse(&common::with_release_defaults(&version)).unwrap();
        assert_eq!(mesh.upstream.gateway_api_crds, row.gateway_api_crds());
        assert_eq!(
            mesh.sample.reviews_hub.to_string(),
            row.sample_reviews_hub,
            "{version}"
        );
        assert_eq!(
            mesh.sample.sleep_image.to_string(),
            row.sample_curl_image,
            "{version}"
        );
    }
}

#[test]
fn a_render_on_an_ended_line_advises_the_newest_supported_patch_as_advice_that_repeats() {
    let ws = Workspace::build(|admin, _| {
        common::with_version("1.28.10")
            .replace("  admins: []\n", &format!("  admins:\n    - {admin}\n"))
    });
    let advice = "Istio 1.28 reached its end of life on 2026-07-01";
    let first = ws.run(true, &["out"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(printed(&first).contains(advice), "{}", stderr(&first));
    assert!(
        printed(&first).contains("Move to 1.30.3"),
        "{}",
        stderr(&first)
    );
    // A re-render of the same description repeats it only when asked.
    let again = ws.run(true, &["out"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(!printed(&again).contains(advice), "{}", stderr(&again));
    let verbose = ws.run(true, &["--verbose", "out"]);
    assert!(printed(&verbose).contains(advice), "{}", stderr(&verbose));
    let check = ws.run(true, &["check", "out", "--against", "mesh.yaml"]);
    let all = printed(&check);
    assert!(all.contains(advice), "{all}");
}

#[test]
fn a_supported_line_gets_no_end_of_life_advice() {
    let ws = Workspace::build(|admin, _| {
        common::with_version("1.29.6")
            .replace("  admins: []\n", &format!("  admins:\n    - {admin}\n"))
    });
    let o = ws.run(true, &["out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!printed(&o).contains("end of life"), "{}", printed(&o));
}

#[test]
fn the_built_in_example_keeps_the_seeds_1_26_0_without_advice() {
    let dir = tempfile::tempdir().unwrap();
    let o = common::binary(dir.path(), &dir.path().join("home"))
        .arg("out")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!printed(&o).contains("end of life"), "{}", printed(&o));
    let mesh = config::example().unwrap();
    assert_eq!(mesh.istio.version.to_string(), "1.26.0");
    // The same text read as a user's mesh.yaml is advised against.
    assert!(
        parse(config::EXAMPLE_YAML)
            .unwrap()
            .istio
            .end_of_life_advice
    );
}
