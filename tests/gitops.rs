//! The GitOps wiring of both targets: the trees as reviewers see them, every Flux and Argo CD
//! object valid, the rollout order proven from dependsOn and sync waves, and the Argo CD tree
//! built for real through a KSOPS-style plugin that runs the real sops.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use mesh_render::check::schema::{Mode, SchemaCatalog};
use serde_json::Value;

use common::gitops_mesh;

/// The objects of every YAML file under `prefix` (kustomization.yaml files are kustomize's, not
/// Kubernetes objects).
fn objects(tree: &mesh_render::render::Tree, prefix: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, text) in tree.texts() {
        if !path.as_str().starts_with(prefix)
            || path.file_name() == "kustomization.yaml"
            || !path.as_str().ends_with(".yaml")
        {
            continue;
        }
        for doc in mesh_render::check::schema::parse_documents(text).unwrap() {
            out.push((path.to_string(), doc));
        }
    }
    out
}

/// The steps in the order the required rollout lists them.
const ORDER: [&str; 11] = [
    "istio-system",
    "gateway-api",
    "istio-base",
    "reader",
    "istiod",
    "metallb",
    "metrics-server",
    "provider-fixes",
    "istio-ingressgateway",
    "mesh",
    "sample",
];

fn assert_in_required_order(cluster: &str, steps: &[String]) {
    let position = |s: &str| {
        ORDER
            .iter()
            .position(|o| *o == s)
            .unwrap_or_else(|| panic!("{cluster}: unknown step {s}"))
    };
    for pair in steps.windows(2) {
        assert!(
            position(&pair[0]) < position(&pair[1]),
            "{cluster}: {} comes before {}",
            pair[1],
            pair[0]
        );
    }
    for must in [
        "istio-system",
        "gateway-api",
        "istio-base",
        "reader",
        "istiod",
        "istio-ingressgateway",
        "mesh",
        "sample",
    ] {
        assert!(steps.iter().any(|s| s == must), "{cluster}: {must} missing");
    }
}

#[test]
fn flux_tree_matches_its_snapshot() {
    let tree = common::render_text(&gitops_mesh("flux"));
    common::with_snapshots(|| insta::assert_snapshot!("flux_tree", common::dump(&tree)));
}

#[test]
fn argocd_tree_matches_its_snapshot() {
    let tree = common::render_text(&gitops_mesh("argocd"));
    common::with_snapshots(|| insta::assert_snapshot!("argocd_tree", common::dump(&tree)));
}

#[test]
fn every_flux_and_argocd_object_validates_against_its_schema() {
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    for (target, prefix) in [("flux", "flux/"), ("argocd", "argocd/")] {
        let tree = common::render_text(&gitops_mesh(target));
        let objects = objects(&tree, prefix);
        assert!(objects.len() > 10, "{target}");
        for (path, object) in objects {
            // Strict, except for a patch (as `check` validates it).
            let violations = catalog
                .validate(&object, mesh_render::check::schema_mode(&object))
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(violations.is_empty(), "{path}: {violations:?}");
        }
    }
}

#[test]
fn flux_dependson_chains_every_cluster_in_the_required_order() {
    let tree = common::render_text(&gitops_mesh("flux"));
    for cluster in ["kt-k2p", "ncloud-nks", "nhn-nks"] {
        let kustomizations: Vec<Value> = objects(&tree, &format!("flux/{cluster}/sync.yaml"))
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        let name = |o: &Value| {
            o["metadata"]["name"]
                .as_str()
                .unwrap()
                .trim_start_matches("mesh-")
                .to_owned()
        };
        let after: BTreeMap<String, Option<String>> = kustomizations
            .iter()
            .map(|k| {
                (
                    name(k),
                    k["spec"]["dependsOn"][0]["name"]
                        .as_str()
                        .map(|d| d.trim_start_matches("mesh-").to_owned()),
                )
            })
            .collect();
        // Walk the chain from the one step that depends on nothing.
        let first = after
            .iter()
            .find(|(_, d)| d.is_none())
            .map(|(n, _)| n.clone())
            .expect("a first step");
        let mut walked = vec![first];
        while let Some(next) = after
            .iter()
            .find(|(_, d)| d.as_deref() == walked.last().map(String::as_str))
            .map(|(n, _)| n.clone())
        {
            walked.push(next);
        }
        assert_eq!(
            walked.len(),
            kustomizations.len(),
            "{cluster}: one chain through every step"
        );
        assert_in_required_order(cluster, &walked);
        for k in &kustomizations {
            assert_eq!(
                k["spec"]["wait"], true,
                "{cluster}: later steps need readiness"
            );
            let path = k["spec"]["path"].as_str().unwrap();
            assert!(path.starts_with("./out/"), "{path}");
        }
        let decrypting: Vec<String> = kustomizations
            .iter()
            .filter(|k| k["spec"]["decryption"]["provider"] == "sops")
            .map(name)
            .collect();
        assert_eq!(
            decrypting,
            ["istio-system"],
            "{cluster}: only the layers with encrypted files decrypt"
        );
    }
}

#[test]
fn argocd_sync_waves_order_every_cluster_as_required() {
    let tree = common::render_text(&gitops_mesh("argocd"));
    for cluster in ["kt-k2p", "ncloud-nks", "nhn-nks"] {
        let mut apps: Vec<(i64, String)> = objects(&tree, &format!("argocd/{cluster}/apps/"))
            .into_iter()
            .map(|(_, a)| {
                let wave = a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                (
                    wave,
                    a["metadata"]["name"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("mesh-")
                        .to_owned(),
                )
            })
            .collect();
        apps.sort();
        assert!(
            apps.windows(2).all(|w| w[0].0 < w[1].0),
            "{cluster}: one step per wave"
        );
        assert_in_required_order(
            cluster,
            &apps.into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
        );
    }
}

#[test]
fn the_istio_1_26_0_gateway_skips_schema_validation_with_the_reason_and_1_26_4_does_not() {
    for (target, file, key) in [
        (
            "flux",
            "flux/kt-k2p/releases/istio-ingressgateway/helmrelease.yaml",
            "disableSchemaValidation: true",
        ),
        (
            "argocd",
            "argocd/kt-k2p/apps/08-istio-ingressgateway.yaml",
            "skipSchemaValidation: true",
        ),
    ] {
        let tree = common::render_text(&gitops_mesh(target));
        let text = tree.get(file).unwrap();
        assert!(
            text.contains(key) && text.contains("istio/istio#57354"),
            "{target}"
        );
        let patched =
            common::render_text(&gitops_mesh(target).replace("version: 1.26.0", "version: 1.26.4"));
        assert!(!patched.get(file).unwrap().contains(key), "{target}");
    }
}

#[test]
fn what_must_outlive_its_step_is_never_pruned() {
    let tree = common::render_text(&gitops_mesh("flux"));
    let annotated = |path: &str| {
        let text = tree.get(path).unwrap();
        text.contains("kustomize.toolkit.fluxcd.io/prune: disabled")
            && text.contains("Prune=false,Delete=false")
    };
    assert!(annotated("clusters/kt-k2p/10-istio-system/namespace.yaml"));
    assert!(annotated("clusters/kt-k2p/20-reader/reader-token.yaml"));
    assert!(annotated(
        "clusters/ncloud-nks/30-provider-fixes/cilium-config.yaml"
    ));
    assert!(
        annotated("base/gateway-api/kustomization.yaml"),
        "CRDs via commonAnnotations"
    );
    let cacerts_template = include_str!("../templates/secrets/cacerts.yaml");
    assert!(
        cacerts_template.contains("kustomize.toolkit.fluxcd.io/prune: disabled")
            && cacerts_template.contains("Prune=false,Delete=false")
    );
    assert!(
        tree.get("flux/kt-k2p/releases/istio-base/helmrelease.yaml")
            .unwrap()
            .contains("kustomize.toolkit.fluxcd.io/prune: disabled")
    );
}

#[test]
fn within_a_cluster_every_step_directory_is_applied_by_exactly_one_unit() {
    for target in ["flux", "argocd"] {
        let tree = common::render_text(&gitops_mesh(target));
        for cluster in ["kt-k2p", "ncloud-nks", "nhn-nks"] {
            let root = format!("{target}/{cluster}/");
            let mut applied: Vec<String> = objects(&tree, &root)
                .into_iter()
                .filter_map(|(_, o)| {
                    o["spec"]["path"]
                        .as_str()
                        .or_else(|| o["spec"]["source"]["path"].as_str())
                        .map(str::to_owned)
                        .or_else(|| {
                            o["spec"]["source"]["chart"]
                                .as_str()
                                .map(|_| format!("chart {}", o["metadata"]["name"]))
                        })
                        .or_else(|| {
                            o["spec"]["chart"]["spec"]["chart"]
                                .as_str()
                                .map(|_| format!("release {}", o["metadata"]["name"]))
                        })
                })
                .collect();
            let count = applied.len();
            applied.sort();
            applied.dedup();
            assert_eq!(
                applied.len(),
                count,
                "{target}/{cluster}: a directory is applied twice"
            );
            assert!(applied.iter().all(|p| !p.contains(&format!(
                "/clusters/{}",
                if cluster == "kt-k2p" {
                    "nhn-nks"
                } else {
                    "kt-k2p"
                }
            ))));
            let kustomization = if target == "flux" {
                "kustomization.yaml"
            } else {
                "apps/kustomization.yaml"
            };
            assert!(
                !tree
                    .get(&format!("{root}{kustomization}"))
                    .unwrap()
                    .contains(".."),
                "{target}/{cluster}: the root reaches outside itself"
            );
        }
    }
}

fn render_into(dir: &Path, yaml: &str) -> PathBuf {
    let out = dir.join("out");
    mesh_render::output::write(
        &out,
        &common::render_text(yaml),
        &Default::default(),
        None,
        &common::FakeSealer,
        &mesh_render::output::Silent,
    )
    .unwrap();
    out
}

fn kubectl_kustomize(dir: &Path, env: &[(&str, &Path)], extra: &[&str]) -> String {
    let mut cmd = Command::new("kubectl");
    cmd.arg("kustomize").args(extra).arg(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{}: {}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn every_flux_directory_builds_with_kubectl_kustomize() {
    if !common::judge_available("kubectl", "it builds the Flux tree") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = render_into(dir.path(), &gitops_mesh("flux"));
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    for file in common::files_under(&out) {
        let Some(kdir) = file.strip_suffix("/kustomization.yaml") else {
            continue;
        };
        if kdir.starts_with("base/") {
            continue; // references upstream URLs: checked by shape
        }
        let built = kubectl_kustomize(&out.join(kdir), &[], &[]);
        for doc in mesh_render::check::schema::parse_documents(&built).unwrap() {
            let partial =
                doc["metadata"]["annotations"]["mesh-render.dev/partial"] == "server-side-apply";
            let mode = if partial {
                Mode::RelaxRequired
            } else {
                Mode::Strict
            };
            let violations = catalog
                .validate(&common::job_as_deployment(&doc), mode)
                .unwrap();
            assert!(violations.is_empty(), "{kdir}: {violations:?}");
        }
    }
}

/// Installs a stand-in for KSOPS at the legacy exec-plugin path: it runs the real `sops -d` on
/// every file its generator lists, as KSOPS does. Returns the XDG_CONFIG_HOME to build with.
fn install_ksops_stand_in(dir: &Path) -> PathBuf {
    let config = dir.join("xdg-config");
    let plugin_dir = config.join("kustomize/plugin/viaduct.ai/v1/ksops");
    fs::create_dir_all(&plugin_dir).unwrap();
    let plugin = plugin_dir.join("ksops");
    // Legacy exec plugins get the generator's config file as their first argument and run in
    // the kustomization's directory; they print the generated objects.
    fs::write(
        &plugin,
        "#!/bin/sh\nset -e\nsed -n '/^files:/,/^[a-z]/s/^ *- //p' \"$1\" | while read -r file; do\n  echo '---'\n  sops decrypt \"$file\"\ndone\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&plugin, fs::Permissions::from_mode(0o755)).unwrap();
    config
}

#[test]
fn the_argocd_tree_builds_for_real_through_ksops_with_the_real_sops() {
    if !(common::judge_available("kubectl", "it builds the Argo CD tree")
        && common::judge_available("sops", "the KSOPS stand-in runs it"))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (secret, recipient) = mesh_render::sops::generate_identity();
    let key = dir.path().join("admin.agekey");
    fs::write(&key, format!("{}\n", secret.expose())).unwrap();
    let mesh = gitops_mesh("argocd").replacen(
        "  admins: []\n",
        &format!("  admins:\n    - {recipient}\n"),
        1,
    );
    fs::write(dir.path().join("mesh.yaml"), mesh).unwrap();
    let o = common::binary(dir.path(), &dir.path().join("home"))
        .env("SOPS_AGE_KEY_FILE", &key)
        .arg("out")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = install_ksops_stand_in(dir.path());
    let layer = dir.path().join("out/clusters/kt-k2p/10-istio-system");
    let built = kubectl_kustomize(
        &layer,
        &[
            ("XDG_CONFIG_HOME", &config),
            ("SOPS_AGE_KEY_FILE", &key),
            ("SOPS_DISABLE_VERSION_CHECK", Path::new("1")),
        ],
        &["--enable-alpha-plugins"],
    );
    let docs = mesh_render::check::schema::parse_documents(&built).unwrap();
    let cacerts = docs
        .iter()
        .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == "cacerts")
        .expect("the decrypted cacerts is in the build");
    assert!(
        cacerts.get("sops").is_none(),
        "decrypted, not passed through"
    );
    assert!(
        cacerts["stringData"]["ca-cert.pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    for doc in &docs {
        assert!(
            catalog.validate(doc, Mode::Strict).unwrap().is_empty(),
            "{doc}"
        );
    }
    // Without the plugin flag the generator cannot run: the build fails rather than pass ENC values.
    let o = Command::new("kubectl")
        .arg("kustomize")
        .arg(&layer)
        .env("XDG_CONFIG_HOME", &config)
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn hub_mode_generates_every_root_from_one_applicationset_and_warns_about_the_keys() {
    let yaml =
        gitops_mesh("argocd").replacen("  repository:\n", "  argocdMode: hub\n  repository:\n", 1);
    let tree = common::render_text(&yaml);
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    let set = mesh_render::check::schema::parse_documents(
        tree.get("argocd/applicationset.yaml").unwrap(),
    )
    .unwrap()
    .remove(0);
    assert!(catalog.validate(&set, Mode::Strict).unwrap().is_empty());
    let elements: Vec<&str> = set["spec"]["generators"][0]["list"]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(elements, ["kt-k2p", "ncloud-nks", "nhn-nks"]);
    assert!(
        tree.get("argocd/kt-k2p/root.yaml").is_none(),
        "the ApplicationSet makes the roots"
    );
    let child = mesh_render::check::schema::parse_documents(
        tree.get("argocd/ncloud-nks/apps/04-istiod.yaml").unwrap(),
    )
    .unwrap()
    .remove(0);
    assert_eq!(child["spec"]["destination"]["name"], "ncloud-nks");
    assert_eq!(
        child["metadata"]["name"], "mesh-ncloud-nks-istiod",
        "names are unique in the hub"
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mesh.yaml"), &yaml).unwrap();
    let o = common::binary(dir.path(), &dir.path().join("home"))
        .arg("out")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("holds every cluster's credentials and every cluster's age identity")
    );
}

#[test]
fn an_image_hub_override_reaches_istiod_and_the_istioctl_files() {
    let tree = common::render_text(&common::example_with(
        "  version: 1.26.0\n",
        "  version: 1.26.0\n  hub: registry.example.com/istio\n",
    ));
    let values: Value =
        serde_saphyr::from_str(tree.get("values/kt-k2p/istiod.yaml").unwrap()).unwrap();
    assert_eq!(values["global"]["hub"], "registry.example.com/istio");
    assert!(
        tree.get("istioctl/kt-k2p/controlplane.yaml")
            .unwrap()
            .contains("hub: registry.example.com/istio")
    );
}
