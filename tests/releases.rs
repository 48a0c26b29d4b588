//! The release table agrees with upstream: for every chart set in
//! `../shared/upstream/istio-charts/<version>/`, its line is known, the three charts are that
//! version, istiod's default hub is the row's, each line's newest known patch is there, and the
//! real Helm 4 (which enforces chart schemas) renders the gateway chart's own defaults exactly
//! where the row says schema validation is not needed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use mesh_render::config::IstioVersion;
use mesh_render::releases;

fn charts() -> Vec<(IstioVersion, PathBuf)> {
    let dir = common::shared().join("upstream/istio-charts");
    let mut found: Vec<(IstioVersion, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let p: Vec<u32> = name.split('.').map(|x| x.parse().unwrap()).collect();
            let version = IstioVersion {
                major: p[0],
                minor: p[1],
                patch: p[2],
            };
            (version, e.path())
        })
        .collect();
    found.sort();
    assert!(found.len() >= 5, "{found:?}");
    found
}

fn yaml(path: &Path) -> serde_json::Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_chart_set_upstream_is_a_known_line_with_the_rows_version_and_hub() {
    for (version, dir) in charts() {
        let row = releases::line_of(&version)
            .unwrap_or_else(|| panic!("{version}: its line is not in the table"));
        for chart in ["base", "istiod", "gateway"] {
            let meta = yaml(&dir.join(chart).join("Chart.yaml"));
            assert_eq!(meta["version"], version.to_string(), "{version} {chart}");
        }
        let values = yaml(&dir.join("istiod/values.yaml"));
        assert_eq!(
            values["_internal_defaults_do_not_set"]["global"]["hub"], row.default_hub,
            "{version}"
        );
    }
}

#[test]
fn each_lines_newest_known_patch_is_the_chart_set_upstream() {
    let versions: Vec<String> = charts().iter().map(|(v, _)| v.to_string()).collect();
    for row in releases::LINES {
        assert!(
            versions.contains(&row.newest().to_string()),
            "{} is not in ../shared: {versions:?}",
            row.newest()
        );
    }
}

#[test]
fn helm_4_renders_the_gateway_charts_defaults_exactly_where_no_schema_skip_is_needed() {
    let dir = std::env::var_os("MESH_RENDER_HELM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("target/test-tools/helm"));
    let helm4 = dir.join("helm4");
    if !helm4.is_file() {
        assert!(
            !common::in_ci(),
            "Helm 4 is required in CI at {}",
            dir.display()
        );
        eprintln!("SKIPPED outside CI: no Helm 4 at {}", dir.display());
        return;
    }
    for (version, charts) in charts() {
        let row = releases::line_of(&version).unwrap();
        let o = Command::new(&helm4)
            .args(["template", "gw"])
            .arg(charts.join("gateway"))
            .args(["-n", "istio-system"])
            .output()
            .unwrap();
        assert_eq!(
            o.status.success(),
            !row.skips_gateway_schema(version.patch),
            "{version}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn the_readmes_supported_releases_table_is_the_release_table() {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    let table = releases::readme_table();
    assert!(
        readme.contains(&table),
        "README.md's \"Supported Istio releases\" table differs from src/releases.rs; it should read:\n{table}"
    );
}
