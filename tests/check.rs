//! `mesh-render check`: a clean render checks clean, and each invariant, secret rule and
//! structural rule broken on its own in a rendered tree is named with its file and a fix.

mod common;

use std::fs;
use std::path::PathBuf;

use common::Workspace;
use common::workspace::{CLUSTERS, example_with_admin, with_token_files};
use serde_json::Value;

struct Checked {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Checked {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    fn findings(&self) -> Vec<Value> {
        self.json()["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The finding about `file` whose problem contains `text`.
    fn named(&self, severity: &str, file: &str, text: &str) -> Value {
        self.findings()
            .into_iter()
            .find(|f| {
                f["severity"] == severity
                    && f["file"] == file
                    && f["problem"].as_str().unwrap().contains(text)
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {severity} about {file} saying {text:?} in:\n{}",
                    self.stdout
                )
            })
    }
}

/// In a clean rendered tree with `from` replaced by `to` in `file`, the error `check` reports in
/// that file whose problem contains `problem`.
fn error_after_edit(file: &str, from: &str, to: &str, problem: &str) -> Value {
    let ws = workspace();
    ws.edit(file, from, to);
    ws.check(&[]).named("error", file, problem)
}

/// The example with an admin and every cluster's credentials, rendered into `out/`.
fn workspace() -> Workspace {
    workspace_with(|mesh| mesh)
}

/// The same with the description edited before the first render.
fn workspace_with(edit: impl FnOnce(String) -> String) -> Workspace {
    let ws = Workspace::build(|admin, dir| {
        edit(with_token_files(
            &example_with_admin(admin),
            dir,
            &CLUSTERS,
            20,
        ))
    });
    ws.ok(true, &["out"]);
    ws
}

impl Workspace {
    /// A file under out/.
    fn out_file(&self, file: &str) -> PathBuf {
        self.out().join(file)
    }

    /// Runs mesh-render, for its exit code and output.
    fn checked(&self, with_key: bool, args: &[&str]) -> Checked {
        let o = self.run(with_key, args);
        Checked {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// `check out` with the shared schemas, the admin identity, JSON output, and `extra`.
    fn check(&self, extra: &[&str]) -> Checked {
        let schemas = schemas();
        let mut args = vec!["check", "out", "--format", "json", "--schemas", &schemas];
        args.extend_from_slice(extra);
        self.checked(true, &args)
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        self.edit_out(file, from, to);
    }
}

fn schemas() -> String {
    common::shared().join("schemas").display().to_string()
}

#[test]
fn a_clean_render_checks_clean() {
    let ws = workspace();
    let checked = ws.check(&["--against", "mesh.yaml", "--strict"]);
    assert_eq!(checked.code, 0, "{}{}", checked.stdout, checked.stderr);
    let report = checked.json();
    assert_eq!(report["errors"], 0, "{}", checked.stdout);
    assert_eq!(report["warnings"], 0, "{}", checked.stdout);
    let notes = report["notes"].to_string();
    assert!(!notes.contains("skipped"), "nothing skipped: {notes}");
    assert!(!notes.contains("no age identity"), "{notes}");
}

#[test]
fn a_clean_render_checks_clean_in_text() {
    let ws = workspace();
    let checked = ws.checked(true, &["check", "out", "--schemas", &schemas()]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    assert!(
        checked
            .stdout
            .starts_with("mesh-render check out: 0 errors, 0 warnings\n"),
        "{}",
        checked.stdout
    );
}

#[test]
fn without_schemas_check_says_schema_validation_was_skipped_and_how_to_get_it() {
    let ws = workspace();
    let checked = ws.checked(true, &["check", "out"]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    assert!(
        checked
            .stdout
            .contains("note: schema validation skipped: no schemas given. Pass --schemas DIR"),
        "{}",
        checked.stdout
    );
}

#[test]
fn schemas_come_from_the_environment_and_from_kubeconform_templates() {
    let ws = workspace();
    let root = schemas();
    // The CRDs-catalog layout for groups, a core catalogue for the core group.
    let templates = format!(
        "{root}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json,{root}/v1/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json"
    );
    let checked = ws
        .command(true)
        .env("MESH_RENDER_SCHEMAS", &templates)
        .args(["check", "out", "--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{report}");
    let notes = report["notes"].to_string();
    assert!(!notes.contains("skipped"), "{notes}");
    assert!(
        !notes.contains("no schema for v1 ") && !notes.contains("no schema for networking"),
        "{notes}"
    );
}

#[test]
fn a_schema_violation_is_named_with_object_and_field() {
    let ws = workspace();
    ws.edit(
        "clusters/kt-k2p/40-mesh/cross-network-gateway.yaml",
        "        number: 15443\n",
        "        number: 15443\n        nmae: typo\n",
    );
    let checked = ws.check(&[]);
    assert_eq!(checked.code, 1);
    let f = checked.named(
        "error",
        "clusters/kt-k2p/40-mesh/cross-network-gateway.yaml",
        "nmae",
    );
    assert_eq!(f["class"], "schema");
    assert_eq!(
        f["object"],
        "networking.istio.io/v1 Gateway istio-system/cross-network-gateway"
    );
    assert_eq!(f["field"], "spec.servers[0].port");
}

#[test]
fn two_clusters_on_one_network_are_named() {
    let ws = workspace();
    ws.edit(
        "clusters/ncloud-nks/10-istio-system/namespace.yaml",
        "topology.istio.io/network: network2",
        "topology.istio.io/network: network1",
    );
    let checked = ws.check(&[]);
    assert_eq!(checked.code, 1);
    checked.named(
        "error",
        "clusters/ncloud-nks/10-istio-system/namespace.yaml",
        "network network1 is shared by clusters kt-k2p, ncloud-nks",
    );
}

#[test]
fn istiod_on_another_network_than_its_namespace_is_named() {
    let f = error_after_edit(
        "values/kt-k2p/istiod.yaml",
        "network: network1",
        "network: network9",
        "istiod's network is \"network9\", but cluster kt-k2p is on network \"network1\"",
    );
    assert_eq!(f["field"], "global.network");
}

#[test]
fn a_gateway_labelled_with_another_network_is_named() {
    let f = error_after_edit(
        "values/nhn-nks/gateway.yaml",
        "  topology.istio.io/network: network3",
        "  topology.istio.io/network: network1",
        "the gateway's network label is \"network1\"",
    );
    assert_eq!(f["field"], "labels.topology.istio.io/network");
}

#[test]
fn a_gateway_whose_network_view_is_another_network_is_named() {
    let f = error_after_edit(
        "istioctl/nhn-nks/gateway.yaml",
        "              value: network3",
        "              value: network2",
        "the gateway's network view is \"network2\"",
    );
    assert_eq!(
        f["field"],
        "spec.components.ingressGateways[0].k8s.env.ISTIO_META_REQUESTED_NETWORK_VIEW"
    );
}

#[test]
fn a_mesh_id_that_disagrees_is_named() {
    let f = error_after_edit(
        "istioctl/ncloud-nks/controlplane.yaml",
        "meshID: usmesh",
        "meshID: othermesh",
        "meshID is \"othermesh\", but the rest of the mesh uses \"usmesh\"",
    );
    assert_eq!(f["field"], "spec.values.global.meshID");
}

#[test]
fn a_trust_domain_that_disagrees_is_named() {
    error_after_edit(
        "values/nhn-nks/istiod.yaml",
        "trustDomain: cluster.local",
        "trustDomain: other.local",
        "trustDomain is \"other.local\", but the rest of the mesh uses \"cluster.local\"",
    );
}

#[test]
fn a_cross_network_gateway_selecting_no_gateway_is_named() {
    let f = error_after_edit(
        "clusters/kt-k2p/40-mesh/cross-network-gateway.yaml",
        "istio: ingressgateway",
        "istio: eastwestgateway",
        "selects istio=eastwestgateway, but no gateway of cluster kt-k2p has those labels",
    );
    assert_eq!(f["field"], "spec.selector");
}

#[test]
fn a_cross_network_gateway_selecting_a_gateway_without_15443_is_named() {
    let ws = workspace();
    let port =
        "    - name: mtls\n      port: 15443\n      targetPort: 15443\n      protocol: TCP\n";
    ws.edit("values/kt-k2p/gateway.yaml", port, "");
    let port = "              - name: mtls\n                port: 15443\n                targetPort: 15443\n                protocol: TCP\n";
    ws.edit("istioctl/kt-k2p/gateway.yaml", port, "");
    ws.check(&[]).named(
        "error",
        "clusters/kt-k2p/40-mesh/cross-network-gateway.yaml",
        "selects istio=ingressgateway, whose Service does not expose port 15443",
    );
}

#[test]
fn a_cross_network_gateway_selecting_a_gateway_that_is_not_a_network_gateway_is_named() {
    let ws = workspace();
    ws.edit(
        "values/kt-k2p/gateway.yaml",
        "  topology.istio.io/network: network1\n",
        "",
    );
    ws.edit(
        "istioctl/kt-k2p/gateway.yaml",
        "          topology.istio.io/network: network1\n",
        "",
    );
    ws.check(&[]).named(
        "error",
        "clusters/kt-k2p/40-mesh/cross-network-gateway.yaml",
        "selects istio=ingressgateway, which is not a network gateway",
    );
}

#[test]
fn a_cluster_without_a_cross_network_gateway_is_named() {
    let ws = workspace();
    ws.edit(
        "clusters/ncloud-nks/40-mesh/kustomization.yaml",
        "  - cross-network-gateway.yaml\n",
        "",
    );
    ws.check(&[]).named(
        "error",
        "clusters/ncloud-nks",
        "cluster ncloud-nks has no cross-network Gateway",
    );
}

#[test]
fn a_missing_remote_secret_of_a_cluster_with_credentials_is_an_error() {
    let ws = workspace();
    ws.edit(
        "clusters/nhn-nks/40-mesh/kustomization.yaml",
        "  - istio-remote-secret-kt-k2p.sops.yaml\n",
        "",
    );
    fs::remove_file(ws.out_file("clusters/nhn-nks/40-mesh/istio-remote-secret-kt-k2p.sops.yaml"))
        .unwrap();
    ws.check(&["--against", "mesh.yaml"]).named(
        "error",
        "clusters/nhn-nks",
        "cluster nhn-nks has no remote secret for kt-k2p, although kt-k2p declares credentials",
    );
}

#[test]
fn pending_remote_secrets_are_warnings_and_errors_under_strict() {
    let ws = workspace_with(|mesh| {
        let start = mesh.find("    credentials:\n").unwrap();
        let end = mesh[start..].find("token: kt-k2p.token\n").unwrap() + start + 20;
        format!("{}{}", &mesh[..start], &mesh[end..])
    });
    let checked = ws.check(&[]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    checked.named(
        "warning",
        "clusters",
        "2 remote secrets are pending (kt-k2p for ncloud-nks, kt-k2p for nhn-nks)",
    );
    let strict = ws.check(&["--strict"]);
    assert_eq!(strict.code, 1);
    strict.named("error", "clusters", "2 remote secrets are pending");
}

#[test]
fn a_remote_secret_for_the_cluster_itself_is_named() {
    let ws = workspace();
    fs::copy(
        ws.out_file("clusters/kt-k2p/40-mesh/istio-remote-secret-ncloud-nks.sops.yaml"),
        ws.out_file("clusters/ncloud-nks/40-mesh/istio-remote-secret-ncloud-nks.sops.yaml"),
    )
    .unwrap();
    ws.edit(
        "clusters/ncloud-nks/40-mesh/kustomization.yaml",
        "  - istio-remote-secret-nhn-nks.sops.yaml\n",
        "  - istio-remote-secret-nhn-nks.sops.yaml\n  - istio-remote-secret-ncloud-nks.sops.yaml\n",
    );
    ws.check(&[]).named(
        "error",
        "clusters/ncloud-nks/40-mesh/istio-remote-secret-ncloud-nks.sops.yaml",
        "cluster ncloud-nks holds a remote secret for itself",
    );
}

#[test]
fn a_remote_secret_whose_server_is_not_the_described_one_is_named() {
    let ws = workspace();
    ws.edit_mesh(
        "server: https://203.0.113.21:6443",
        "server: https://203.0.113.99:6443",
    );
    let f = ws.check(&["--against", "mesh.yaml"]).named(
        "error",
        "clusters/kt-k2p/40-mesh/istio-remote-secret-ncloud-nks.sops.yaml",
        "points at https://203.0.113.21:6443, but the mesh description says ncloud-nks's API server is https://203.0.113.99:6443",
    );
    assert_eq!(
        f["field"],
        "stringData.ncloud-nks.clusters[0].cluster.server"
    );
}

#[test]
fn sample_placement_other_than_described_is_named() {
    let ws = workspace();
    ws.edit_mesh(
        "    kt-k2p: [reviews-v1]\n    ncloud-nks: [reviews-v2]\n",
        "    kt-k2p: [reviews-v2]\n    ncloud-nks: [reviews-v1]\n",
    );
    ws.check(&["--against", "mesh.yaml"]).named(
        "error",
        "clusters/kt-k2p",
        "cluster kt-k2p runs reviews-v1 of the sample, but the description places reviews-v2 there",
    );
}

#[test]
fn a_reviews_version_running_nowhere_is_named() {
    let ws = workspace();
    ws.edit(
        "clusters/ncloud-nks/50-sample/kustomization.yaml",
        "  - reviews-v2.yaml\n",
        "",
    );
    fs::remove_file(ws.out_file("clusters/ncloud-nks/50-sample/reviews-v2.yaml")).unwrap();
    ws.check(&[])
        .named("error", "clusters", "no cluster runs reviews-v2");
}

#[test]
fn a_listed_file_that_is_missing_is_named() {
    let ws = workspace();
    fs::remove_file(ws.out_file("clusters/kt-k2p/50-sample/reviews-v1.yaml")).unwrap();
    let f = ws.check(&[]).named(
        "error",
        "clusters/kt-k2p/50-sample/kustomization.yaml",
        "lists clusters/kt-k2p/50-sample/reviews-v1.yaml, which does not exist",
    );
    assert_eq!(f["class"], "structure");
}

#[test]
fn a_file_no_kustomization_lists_is_named() {
    let ws = workspace();
    fs::write(
        ws.out_file("clusters/kt-k2p/50-sample/extra.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: sample\n",
    )
    .unwrap();
    ws.check(&[]).named(
        "error",
        "clusters/kt-k2p/50-sample/extra.yaml",
        "no kustomization lists it",
    );
}

#[test]
fn an_object_applied_by_two_steps_is_named() {
    let ws = workspace();
    ws.edit(
        "clusters/kt-k2p/50-sample/kustomization.yaml",
        "  - namespace.yaml\n",
        "  - namespace.yaml\n  - ../40-mesh/cross-network-gateway.yaml\n",
    );
    ws.check(&[]).named(
        "error",
        "clusters/kt-k2p/50-sample/../40-mesh/cross-network-gateway.yaml"
            .replace("50-sample/../", "")
            .as_str(),
        "applied by two steps of cluster kt-k2p",
    );
}

#[test]
fn a_directory_applied_twice_by_a_flux_root_is_named() {
    let ws = workspace_with(|mesh| {
        format!(
            "{mesh}\ngitops:\n  target: flux\n  repository:\n    url: https://git.example.com/mesh.git\n    branch: main\n    path: out\n"
        )
    });
    assert_eq!(ws.check(&[]).code, 0, "{}", ws.check(&[]).stdout);
    ws.edit(
        "flux/kt-k2p/sync.yaml",
        "path: \"./out/clusters/kt-k2p/50-sample\"",
        "path: \"./out/clusters/kt-k2p/40-mesh\"",
    );
    ws.check(&[]).named(
        "error",
        "flux/kt-k2p/sync.yaml",
        "mesh-sample applies clusters/kt-k2p/40-mesh, which mesh-mesh (flux/kt-k2p/sync.yaml) already applies",
    );
}

#[test]
fn a_plaintext_secret_is_named() {
    let ws = workspace();
    fs::write(
        ws.out_file("clusters/kt-k2p/50-sample/token.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: sample\nstringData:\n  token: hunter2\n",
    )
    .unwrap();
    ws.edit(
        "clusters/kt-k2p/50-sample/kustomization.yaml",
        "  - namespace.yaml\n",
        "  - namespace.yaml\n  - token.yaml\n",
    );
    ws.check(&[]).named(
        "error",
        "clusters/kt-k2p/50-sample/token.yaml",
        "a Secret with data is not SOPS-encrypted",
    );
}

#[test]
fn a_plaintext_private_key_or_age_identity_anywhere_is_named() {
    let ws = workspace();
    let key = fs::read_to_string(&ws.admin_key).unwrap();
    fs::write(ws.out_file("notes.txt"), format!("backup: {key}")).unwrap();
    fs::write(
        ws.out_file("values/kt-k2p/key.pem"),
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n",
    )
    .unwrap();
    let checked = ws.check(&[]);
    checked.named("error", "notes.txt", "holds an age identity in plaintext");
    checked.named(
        "error",
        "values/kt-k2p/key.pem",
        "holds a plaintext private key",
    );
}

#[test]
fn a_decrypted_cacerts_is_named() {
    let ws = workspace();
    let path = ws.out_file("clusters/kt-k2p/10-istio-system/cacerts.sops.yaml");
    let identities = common::identities(&ws.admin_key);
    let plain = mesh_render::sops::decrypt(&fs::read_to_string(&path).unwrap(), &identities)
        .unwrap()
        .to_yaml();
    fs::write(&path, plain).unwrap();
    let checked = ws.check(&[]);
    checked.named(
        "error",
        "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml",
        "must be SOPS-encrypted, but is not a SOPS file (sops exit 1",
    );
    checked.named(
        "error",
        "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml",
        "holds a plaintext private key",
    );
}

#[test]
fn cacerts_under_another_root_is_named() {
    let ws = workspace();
    let other = workspace();
    let file = "clusters/ncloud-nks/10-istio-system/cacerts.sops.yaml";
    fs::copy(other.out_file(file), ws.out_file(file)).unwrap();
    // Both admin identities at hand, so both files decrypt.
    let keys = format!(
        "{}{}",
        fs::read_to_string(&ws.admin_key).unwrap(),
        fs::read_to_string(&other.admin_key).unwrap()
    );
    fs::write(&ws.admin_key, keys).unwrap();
    ws.check(&[]).named(
        "error",
        "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml",
        "the clusters do not trust the same root bundle (2 different bundles across 3 cacerts)",
    );
}

#[test]
fn a_ca_expiring_within_the_warning_window_is_a_warning() {
    let ws = workspace();
    ws.edit_mesh("  expiryWarningDays: 90\n", "  expiryWarningDays: 4000\n");
    let checked = ws.check(&["--against", "mesh.yaml"]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    checked.named(
        "warning",
        "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml",
        "the intermediate CA expires on",
    );
}

#[test]
fn without_an_identity_check_says_what_it_did_not_verify() {
    let ws = workspace();
    let schemas = schemas();
    let checked = ws.checked(false, &["check", "out", "--schemas", &schemas]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    assert!(
        checked
            .stdout
            .contains("note: no age identity at hand (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or sops's keys.txt): SOPS files were not decrypted"),
        "{}",
        checked.stdout
    );
}

/// `negative-results.txt`: `== <file>: sops decrypt exit <code>` per fixture.
fn negative_fixtures() -> Vec<(String, i32)> {
    let text =
        fs::read_to_string(common::shared().join("fixtures/sops/negative-results.txt")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("== "))
        .map(|l| {
            let (file, code) = l.split_once(": sops decrypt exit ").unwrap();
            (file.to_owned(), code.trim().parse().unwrap())
        })
        .collect()
}

#[test]
fn every_negative_sops_fixture_is_reported_in_the_class_sops_reports_it() {
    let fixtures = negative_fixtures();
    assert!(fixtures.len() >= 8, "{fixtures:?}");
    let ws = workspace();
    let file = "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml";
    let original = fs::read(ws.out_file(file)).unwrap();
    // The fixtures' identity and ours.
    let keys = format!(
        "{}{}",
        fs::read_to_string(&ws.admin_key).unwrap(),
        fs::read_to_string(common::shared().join("fixtures/sops/keys/admin.agekey")).unwrap()
    );
    fs::write(ws.path().join("both.agekey"), keys).unwrap();
    for (fixture, code) in fixtures {
        fs::copy(
            common::shared().join("fixtures/sops").join(&fixture),
            ws.out_file(file),
        )
        .unwrap();
        let o = ws
            .command(false)
            .env("SOPS_AGE_KEY_FILE", ws.path().join("both.agekey"))
            .args(["check", "out", "--format", "json"])
            .output()
            .unwrap();
        let checked = Checked {
            code: o.status.code().unwrap(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::new(),
        };
        let f = checked.named(
            if code == 128 { "warning" } else { "error" },
            file,
            &format!("(sops exit {code}:"),
        );
        assert_eq!(f["class"], "secret", "{fixture}");
        fs::write(ws.out_file(file), &original).unwrap();
    }
}

#[test]
fn check_against_passes_on_a_fresh_render() {
    let ws = workspace();
    let checked = ws.check(&["--against", "mesh.yaml"]);
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    assert!(
        !checked.findings().iter().any(|f| f["class"] == "drift"),
        "{}",
        checked.stdout
    );
}

#[test]
fn check_against_flags_an_edited_file() {
    let ws = workspace();
    ws.edit(
        "values/kt-k2p/istiod.yaml",
        "profile: demo",
        "profile: default",
    );
    let f = ws.check(&["--against", "mesh.yaml"]).named(
        "error",
        "values/kt-k2p/istiod.yaml",
        "differs from a render of mesh.yaml",
    );
    assert_eq!(f["class"], "drift");
}

#[test]
fn check_against_flags_a_stale_render() {
    let ws = workspace();
    ws.edit_mesh("profile: demo", "profile: default");
    let checked = ws.check(&["--against", "mesh.yaml"]);
    assert_eq!(checked.code, 1);
    for c in CLUSTERS {
        checked.named(
            "error",
            &format!("values/{c}/istiod.yaml"),
            "differs from a render of mesh.yaml",
        );
    }
}

#[test]
fn check_against_flags_a_hand_edited_encrypted_file_without_a_private_key() {
    let ws = workspace();
    ws.edit(
        "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml",
        "type: Opaque\n",
        "type: Opaque\n# reviewed\n",
    );
    let schemas = schemas();
    let checked = ws.checked(
        false,
        &[
            "check",
            "out",
            "--format",
            "json",
            "--schemas",
            &schemas,
            "--against",
            "mesh.yaml",
        ],
    );
    let f = checked.named(
        "error",
        "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml",
        "edited by hand since mesh-render wrote it",
    );
    assert_eq!(f["class"], "drift");
    assert_eq!(
        checked
            .findings()
            .iter()
            .filter(|f| f["class"] == "drift")
            .count(),
        1
    );
}

#[test]
fn check_against_flags_a_missing_file() {
    let ws = workspace();
    fs::remove_file(ws.out_file("istioctl/nhn-nks/gateway.yaml")).unwrap();
    ws.check(&["--against", "mesh.yaml"]).named(
        "error",
        "istioctl/nhn-nks/gateway.yaml",
        "missing: a render of mesh.yaml writes it",
    );
}

#[test]
fn check_against_names_the_files_of_a_cluster_the_tree_lacks_entirely() {
    // Read one cluster at a time, a cluster with no file on disk is still compared.
    let ws = workspace();
    fs::remove_dir_all(ws.out_file("clusters/nhn-nks")).unwrap();
    fs::remove_dir_all(ws.out_file("values/nhn-nks")).unwrap();
    fs::remove_dir_all(ws.out_file("istioctl/nhn-nks")).unwrap();
    let checked = ws.check(&["--against", "mesh.yaml"]);
    for file in [
        "clusters/nhn-nks/10-istio-system/cacerts.sops.yaml",
        "values/nhn-nks/istiod.yaml",
        "istioctl/nhn-nks/gateway.yaml",
    ] {
        checked.named("error", file, "missing: a render of mesh.yaml writes it");
    }
    assert_eq!(checked.code, 1);
}

#[test]
fn check_against_flags_an_extra_file() {
    let ws = workspace();
    fs::write(ws.out_file("values/kt-k2p/extra.yaml"), "replicas: 3\n").unwrap();
    ws.check(&["--against", "mesh.yaml"]).named(
        "error",
        "values/kt-k2p/extra.yaml",
        "not part of a render of mesh.yaml",
    );
}

#[test]
fn check_against_never_creates_identities_or_issues_certificates() {
    let ws = workspace();
    fs::remove_dir_all(ws.path().join("pki")).unwrap();
    let before = common::files_under(ws.path());
    let checked = ws.check(&["--against", "mesh.yaml"]);
    checked.named("error", "pki", "a render refuses to issue a new root");
    assert_eq!(common::files_under(ws.path()), before);
}

#[test]
fn diff_prints_a_unified_diff_and_writes_nothing() {
    let ws = workspace();
    ws.edit_mesh("profile: demo", "profile: default");
    let before = common::read_all(&ws.path().join("out"));
    let diff = ws.checked(false, &["diff", "out"]);
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert!(
        diff.stdout.contains(
            "--- a/istioctl/kt-k2p/controlplane.yaml\n+++ b/istioctl/kt-k2p/controlplane.yaml\n"
        ),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains("\n spec:\n-  profile: demo\n+  profile: default\n"),
        "{}",
        diff.stdout
    );
    assert_eq!(common::read_all(&ws.path().join("out")), before);
}

#[test]
fn diff_shows_encrypted_files_as_changed_never_their_content() {
    let ws = workspace();
    ws.edit(
        "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml",
        "type: Opaque\n",
        "type: Opaque\n# reviewed\n",
    );
    let diff = ws.checked(true, &["diff", "--exit-code", "out"]);
    assert_eq!(diff.code, 1);
    assert_eq!(
        diff.stdout,
        "encrypted file clusters/kt-k2p/10-istio-system/cacerts.sops.yaml: changed (edited by hand since mesh-render wrote it)\n"
    );
}

#[test]
fn diff_of_a_current_tree_is_empty() {
    let ws = workspace();
    let diff = ws.checked(false, &["diff", "out"]);
    assert_eq!(
        (diff.code, diff.stdout.as_str()),
        (0, ""),
        "{}",
        diff.stderr
    );
    let json = ws.checked(false, &["diff", "out", "--format", "json"]);
    let value: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["changes"], serde_json::json!([]));
}

#[test]
fn a_file_given_as_the_tree_is_not_a_rendered_tree() {
    let ws = workspace();
    fs::write(ws.path().join("afile"), "not a tree\n").unwrap();
    let checked = ws.checked(false, &["check", "afile"]);
    assert_eq!(checked.code, 2);
    assert!(
        checked
            .stderr
            .contains("afile is not a rendered tree: it has no .render-record.json"),
        "{}",
        checked.stderr
    );
}

#[test]
fn a_directory_that_is_not_a_rendered_tree_is_an_input_error() {
    let ws = workspace();
    fs::create_dir(ws.path().join("elsewhere")).unwrap();
    let checked = ws.checked(false, &["check", "elsewhere"]);
    assert_eq!(checked.code, 2);
    assert!(
        checked
            .stderr
            .contains("elsewhere is not a rendered tree: it has no .render-record.json"),
        "{}",
        checked.stderr
    );
}

#[test]
fn a_truncated_yaml_file_is_named() {
    let ws = workspace();
    fs::write(
        ws.out_file("clusters/kt-k2p/40-mesh/cross-network-gateway.yaml"),
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: [cross",
    )
    .unwrap();
    let checked = ws.check(&[]);
    assert_eq!(checked.code, 1);
    checked.named(
        "error",
        "clusters/kt-k2p/40-mesh/cross-network-gateway.yaml",
        "not valid YAML",
    );
}

#[test]
fn a_mesh_description_with_wrong_types_is_an_input_error() {
    let ws = workspace();
    ws.edit_mesh("  expiryWarningDays: 90\n", "  expiryWarningDays: soon\n");
    let checked = ws.checked(false, &["check", "out", "--against", "mesh.yaml"]);
    assert_eq!(checked.code, 2, "{}", checked.stdout);
    assert!(checked.stderr.contains("mesh.yaml"), "{}", checked.stderr);
    assert!(
        checked.stderr.contains("expiryWarningDays"),
        "{}",
        checked.stderr
    );
}

#[test]
fn a_schema_location_that_does_not_exist_is_an_input_error() {
    let ws = workspace();
    let checked = ws.checked(false, &["check", "out", "--schemas", "no-such-dir"]);
    assert_eq!(checked.code, 2);
    assert!(checked.stderr.contains("no-such-dir"), "{}", checked.stderr);
}

/// Renders `mesh` with the binary (local admin identity) and checks it against itself.
fn render_and_check(mesh: &str, target: &[&str]) -> Checked {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mesh.yaml"), mesh).unwrap();
    let home = dir.path().join("home");
    let mut render = vec!["out"];
    render.extend_from_slice(target);
    let o = common::binary(dir.path(), &home)
        .args(&render)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let schemas = schemas();
    let mut args = vec![
        "check",
        "out",
        "--format",
        "json",
        "--schemas",
        &schemas,
        "--against",
        "mesh.yaml",
    ];
    args.extend_from_slice(target);
    let o = common::binary(dir.path(), &home)
        .args(&args)
        .output()
        .unwrap();
    Checked {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn assert_no_errors(checked: &Checked, what: &str) {
    assert_eq!(
        checked.code, 0,
        "{what}: {}{}",
        checked.stdout, checked.stderr
    );
    assert_eq!(checked.json()["errors"], 0, "{what}: {}", checked.stdout);
}

#[test]
fn every_topology_renders_a_tree_that_checks_clean() {
    for (what, mesh) in [
        ("dedicated", common::dedicated_mesh()),
        ("revisioned", common::revisioned_mesh()),
        ("five clusters", common::five_cluster_mesh()),
    ] {
        assert_no_errors(&render_and_check(&mesh, &[]), what);
    }
}

#[test]
fn both_gitops_targets_render_trees_that_check_clean() {
    let mesh = format!(
        "{}\ngitops:\n  repository:\n    url: https://git.example.com/mesh.git\n    branch: main\n    path: deploy/mesh\n",
        mesh_render::config::EXAMPLE_YAML
    );
    for target in ["flux", "argocd"] {
        assert_no_errors(&render_and_check(&mesh, &["--target", target]), target);
    }
}

#[test]
fn remote_secrets_through_external_secrets_check_clean() {
    let mut mesh = mesh_render::config::EXAMPLE_YAML.to_owned();
    for (i, c) in CLUSTERS.iter().enumerate() {
        let line = format!("  - name: {c}\n");
        mesh = mesh.replacen(
            &line,
            &format!(
                "{line}    credentials:\n      externalSecrets:\n        server: https://203.0.113.{}:6443\n        store: {{name: mesh-vault}}\n",
                20 + i
            ),
            1,
        );
    }
    let checked = render_and_check(&mesh, &[]);
    assert_no_errors(&checked, "external secrets");
    assert_eq!(checked.json()["warnings"], 0, "{}", checked.stdout);
}

#[test]
fn diff_after_adding_a_cluster_lists_its_cacerts_and_its_sops_rule() {
    let ws = workspace();
    ws.edit_mesh(
        "\nsample:\n",
        "  - name: fourth\n    network: network4\n    cni: calico\n\nsample:\n",
    );
    ws.edit_mesh(
        "    nhn-nks: [reviews-v3, sleep]\n",
        "    nhn-nks: [reviews-v3, sleep]\n    fourth: []\n",
    );
    let diff = ws.checked(false, &["diff", "--exit-code", "out"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(
        diff.stdout.contains(
            "encrypted file clusters/fourth/10-istio-system/cacerts.sops.yaml: added (it is new: its intermediate CA will be issued)\n"
        ),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains("+  - path_regex: \"^clusters/fourth/.*\\\\.sops\\\\.yaml$\"\n"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains("+  - namespace.yaml\n+  - cacerts.sops.yaml\n"),
        "{}",
        diff.stdout
    );
    // What diff showed is what a render writes.
    ws.checked(true, &["out"]);
    let after = ws.checked(false, &["diff", "--exit-code", "out"]);
    assert_eq!(
        (after.code, after.stdout.as_str()),
        (0, ""),
        "{}",
        after.stderr
    );
}

#[test]
fn diff_with_a_gitops_target_and_no_repository_fails_like_render() {
    let ws = workspace();
    let render = ws.checked(false, &["--target", "flux", "out"]);
    let diff = ws.checked(false, &["diff", "--target", "flux", "out"]);
    assert_eq!((render.code, diff.code), (2, 2), "{}", diff.stderr);
    assert!(
        diff.stderr.contains("--target needs the Git repository"),
        "{}",
        diff.stderr
    );
}
