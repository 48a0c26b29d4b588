//! Canary upgrades, judged by the real charts: for every stage of an upgrade from the seed's
//! 1.26.0 (to 1.28.10, then on to 1.30.3) and from a revisioned 1.28.10 to 1.30.3, every values
//! file a cluster's releases name goes through that release's own chart
//! (`../shared/upstream/istio-charts/<version>/`) with Helm 3 and Helm 4; the
//! MutatingWebhookConfigurations Helm renders are then evaluated, label selector by label
//! selector, against the sample namespace and its pods and against the gateways' pods in
//! `istio-system`: exactly one istiod injects each, the one the stage calls for. Skipping a stage
//! and starting an upgrade during a root rotation (and the reverse) are refused.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use mesh_render::check::schema::parse_documents;
use mesh_render::config::{self, Origin};
use mesh_render::gitops::{self, StepSource};
use mesh_render::model::{Model, SecretPlans};
use serde_json::Value;

fn helm_template(
    helm: &Path,
    chart: &Path,
    release: &str,
    values: &Path,
    skip_schema: bool,
) -> Vec<Value> {
    let mut cmd = Command::new(helm);
    cmd.args(["template", release])
        .arg(chart)
        .args(["-n", "istio-system", "-f"])
        .arg(values);
    if skip_schema {
        cmd.arg("--skip-schema-validation");
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{} template {release} {} -f {}:\n{}",
        helm.display(),
        chart.display(),
        values.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    parse_documents(&String::from_utf8_lossy(&o.stdout))
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

type Labels = BTreeMap<String, String>;

fn labels(v: &Value) -> Labels {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A Kubernetes label selector (`matchLabels`, `matchExpressions`) against `labels`; an absent
/// selector matches everything.
fn selects(selector: &Value, labels: &Labels) -> bool {
    if selector.is_null() {
        return true;
    }
    let by_labels = selector["matchLabels"].as_object().is_none_or(|m| {
        m.iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
    });
    let by_expressions = selector["matchExpressions"].as_array().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let key = e["key"].as_str().unwrap();
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|vs| vs.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let value = labels.get(key).map(String::as_str);
            match e["operator"].as_str().unwrap() {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                other => panic!("unknown selector operator {other}"),
            }
        })
    });
    by_labels && by_expressions
}

/// The istiod Services whose webhooks inject a pod with `pod` labels in a namespace with
/// `namespace` labels, among `webhooks` (MutatingWebhookConfigurations).
fn injected_by(webhooks: &[Value], namespace: &Labels, pod: &Labels) -> BTreeSet<String> {
    let mut by = BTreeSet::new();
    for config in webhooks {
        for hook in config["webhooks"].as_array().into_iter().flatten() {
            if selects(&hook["namespaceSelector"], namespace)
                && selects(&hook["objectSelector"], pod)
            {
                by.insert(
                    hook["clientConfig"]["service"]["name"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    by
}

/// The namespace labels a file of the tree declares, with the one Kubernetes adds.
fn namespace_labels(tree: &mesh_render::render::Tree, path: &str) -> Labels {
    let doc = &parse_documents(tree.get(path).unwrap()).unwrap()[0];
    let mut l = labels(&doc["metadata"]["labels"]);
    l.insert(
        "kubernetes.io/metadata.name".into(),
        doc["metadata"]["name"].as_str().unwrap().into(),
    );
    l
}

/// The pod labels of every Deployment in one of the tree's layers.
fn layer_pods(tree: &mesh_render::render::Tree, dir: &str) -> Vec<(String, Labels)> {
    let mut pods = Vec::new();
    for (path, text) in tree.texts() {
        let path = path.to_string();
        if !path.starts_with(dir) || !path.ends_with(".yaml") {
            continue;
        }
        for doc in parse_documents(text).unwrap() {
            if doc["kind"] == "Deployment" || doc["kind"] == "Job" {
                pods.push((
                    format!("{path} {}", doc["metadata"]["name"]),
                    labels(&doc["spec"]["template"]["metadata"]["labels"]),
                ));
            }
        }
    }
    pods
}

/// Which istiod (its Service) workloads and gateways must be injected by.
struct Expect {
    workloads: String,
    gateways: String,
}

/// Renders `text`, runs every release of every cluster through its chart with each Helm, and
/// checks who injects what.
fn judge(text: &str, expect: &(dyn Fn(&str) -> Expect + Sync), helms: &[PathBuf], what: &str) {
    let mesh = config::parse(text, &Origin::File("mesh.yaml".into()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let model = Model::from_mesh(&mesh, &SecretPlans::none());
    let tree = common::render_text(text);
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|scope| {
        for cluster in &model.clusters {
            let (tree, model, dir) = (&tree, &model, dir.path());
            scope.spawn(move || {
                let c = cluster.name.as_str();
                let mut webhooks = Vec::new();
                let mut gateway_pods = Vec::new();
                let mut reader_roles = BTreeSet::new();
                for step in gitops::steps(model, cluster) {
                    let StepSource::Release(release) = &step.source else {
                        continue;
                    };
                    let path = format!("values/{c}/{}.yaml", release.values);
                    let file = dir.join(format!("{c}-{}.yaml", release.values));
                    std::fs::write(&file, tree.get(&path).unwrap_or_else(|| panic!("{what}: {path}")))
                        .unwrap();
                    let chart = common::shared().join(format!(
                        "upstream/istio-charts/{}/{}",
                        release.version, release.chart
                    ));
                    for helm in helms {
                        let objects =
                            helm_template(helm, &chart, &release.name, &file, release.skip_schema);
                        if helm != &helms[0] {
                            continue;
                        }
                        for o in objects {
                            if o["kind"] == "ClusterRoleBinding"
                                && o["roleRef"]["name"]
                                    .as_str()
                                    .is_some_and(|n| n.starts_with("istio-reader-clusterrole"))
                                && o["subjects"][0]["name"] == "istio-reader-service-account"
                            {
                                reader_roles.insert(o["roleRef"]["name"].as_str().unwrap().to_owned());
                            }
                            if o["kind"] == "MutatingWebhookConfiguration" {
                                webhooks.push(o);
                            } else if release.chart == "gateway" && o["kind"] == "Deployment" {
                                gateway_pods.push((
                                    release.name.clone(),
                                    labels(&o["spec"]["template"]["metadata"]["labels"]),
                                ));
                            }
                        }
                    }
                }
                // Every istiod release brings its reader role, bound to the reader account the
                // other clusters' istiods use: the new one's arrives with install-new.
                for cp in &cluster.charts.control_planes {
                    let role = match &cp.revision {
                        Some(rev) => format!("istio-reader-clusterrole-{rev}-istio-system"),
                        None => "istio-reader-clusterrole-istio-system".to_owned(),
                    };
                    assert!(
                        reader_roles.contains(&role),
                        "{what} {c}: {} renders no {role} bound to the reader account ({reader_roles:?})",
                        cp.release
                    );
                }
                let want = expect(c);
                let system =
                    namespace_labels(tree, &format!("clusters/{c}/10-istio-system/namespace.yaml"));
                assert!(!gateway_pods.is_empty(), "{what} {c}: no gateway rendered");
                for (name, pod) in &gateway_pods {
                    let by = injected_by(&webhooks, &system, pod);
                    assert_eq!(
                        by,
                        BTreeSet::from([want.gateways.clone()]),
                        "{what} {c}: gateway {name} (pod labels {pod:?}) is injected by {by:?}"
                    );
                }
                let sample_dir = format!("clusters/{c}/50-sample/");
                let sample = namespace_labels(tree, &format!("{sample_dir}namespace.yaml"));
                let pods = layer_pods(tree, &sample_dir);
                assert!(!pods.is_empty(), "{what} {c}: no sample workloads");
                for (name, pod) in &pods {
                    let by = injected_by(&webhooks, &sample, pod);
                    assert_eq!(
                        by,
                        BTreeSet::from([want.workloads.clone()]),
                        "{what} {c}: {name} in namespace {sample:?} is injected by {by:?}"
                    );
                }
            });
        }
    });
}

const STAGES: [&str; 3] = ["install-new", "move-default", "move-gateways"];

/// Every stage of the upgrade of `from` (on `old`, whose istiod Service is `old`) to `to`, and
/// the finished upgrade; returns the finished description.
fn every_stage(from: &str, to: &str, old: &str, helms: &[PathBuf]) -> String {
    let new = format!("istiod-{}", to.replace('.', "-"));
    judge(
        from,
        &|_| Expect {
            workloads: old.to_owned(),
            gateways: old.to_owned(),
        },
        helms,
        &format!("before {to}"),
    );
    for (i, stage) in STAGES.iter().enumerate() {
        let text = config::edit::set_upgrade(from, to, stage, &[], "test").unwrap();
        let pick = |moved: bool| if moved { new.clone() } else { old.to_owned() };
        judge(
            &text,
            &|_| Expect {
                workloads: pick(i >= 1),
                gateways: pick(i >= 2),
            },
            helms,
            &format!("{to} stage {stage}"),
        );
    }
    let done = config::edit::finish_upgrade(from, to, &to.replace('.', "-"), "test").unwrap();
    judge(
        &done,
        &|_| Expect {
            workloads: new.clone(),
            gateways: new.clone(),
        },
        helms,
        &format!("{to} finished"),
    );
    done
}

#[test]
fn the_seeds_1_26_0_moves_to_1_28_10_then_1_30_3_stage_by_stage_through_the_real_charts() {
    let Some(helms) = common::helms() else { return };
    let seed = common::with_release_defaults("1.26.0");
    let on_1_28 = every_stage(&seed, "1.28.10", "istiod", &helms);
    every_stage(&on_1_28, "1.30.3", "istiod-1-28-10", &helms);
}

#[test]
fn a_revisioned_dedicated_1_28_10_moves_to_1_30_3_stage_by_stage_through_the_real_charts() {
    let Some(helms) = common::helms() else { return };
    let dedicated =
        common::dedicated_mesh().replacen("  # revision: 1-26-0\n", "  revision: 1-28-10\n", 1);
    let from = common::with_release_defaults_of(&dedicated, "1.28.10");
    every_stage(&from, "1.30.3", "istiod-1-28-10", &helms);
}

#[test]
fn a_move_stage_goes_cluster_by_cluster() {
    let Some(helms) = common::helms() else { return };
    let seed = common::with_release_defaults("1.26.0");
    let text =
        config::edit::set_upgrade(&seed, "1.28.10", "move-default", &["kt-k2p"], "test").unwrap();
    judge(
        &text,
        &|c| Expect {
            workloads: if c == "kt-k2p" {
                "istiod-1-28-10".into()
            } else {
                "istiod".into()
            },
            gateways: "istiod".into(),
        },
        &helms,
        "move-default on kt-k2p only",
    );
}

/// A mesh.yaml in a temporary directory, with the binary run there.
struct Workspace {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Workspace {
    fn new(text: &str) -> Self {
        let ws = Workspace {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        };
        std::fs::write(ws.dir.path().join("mesh.yaml"), text).unwrap();
        ws
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        common::binary(self.dir.path(), self.home.path())
            .args(args)
            .output()
            .unwrap()
    }

    fn mesh(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mesh.yaml")).unwrap()
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn skipping_a_stage_is_refused_and_leaves_mesh_yaml_alone() {
    let ws = Workspace::new(config::EXAMPLE_YAML);
    let o = ws.run(&["upgrade", "--to", "1.28.10", "--stage", "install-new"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let recorded = ws.mesh();
    assert!(recorded.contains("upgrade: {to: 1.28.10, stage: install-new}"));
    let o = ws.run(&["upgrade", "--stage", "move-gateways"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("would skip stage move-default"),
        "{}",
        stderr(&o)
    );
    assert_eq!(ws.mesh(), recorded);
}

#[test]
fn the_next_stage_waits_for_every_cluster() {
    let ws = Workspace::new(config::EXAMPLE_YAML);
    for args in [
        &["upgrade", "--to", "1.28.10", "--stage", "install-new"][..],
        &["upgrade", "--stage", "move-default", "--clusters", "kt-k2p"],
    ] {
        let o = ws.run(args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = ws.run(&["upgrade", "--stage", "move-gateways"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("ncloud-nks, nhn-nks"), "{}", stderr(&o));
}

#[test]
fn the_last_stage_records_the_new_version_and_revision_and_keeps_comments() {
    let ws = Workspace::new(config::EXAMPLE_YAML);
    for stage in ["install-new", "move-default", "move-gateways", "remove-old"] {
        let o = ws.run(&["upgrade", "--to", "1.28.10", "--stage", stage]);
        assert!(o.status.success(), "{stage}: {}", stderr(&o));
    }
    let text = ws.mesh();
    let mesh = config::parse(&text, &Origin::File("mesh.yaml".into())).unwrap();
    assert_eq!(mesh.istio.version.to_string(), "1.28.10");
    assert_eq!(mesh.istio.revision.unwrap().as_str(), "1-28-10");
    assert!(mesh.istio.upgrade.is_none());
    assert!(text.contains("# The istiod chart's profile"));
}

#[test]
fn an_upgrade_does_not_start_during_a_root_rotation() {
    let ws = Workspace::new(config::EXAMPLE_YAML);
    let o = ws.run(&["out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ws.run(&["pki", "rotate-root", "--stage", "prepare"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = ws.mesh();
    let o = ws.run(&["upgrade", "--to", "1.28.10", "--stage", "install-new"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a root rotation is in progress (stage prepare)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(ws.mesh(), before);
}

#[test]
fn a_root_rotation_does_not_start_during_an_upgrade() {
    let ws = Workspace::new(config::EXAMPLE_YAML);
    let o = ws.run(&["out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ws.run(&["upgrade", "--to", "1.28.10", "--stage", "install-new"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ws.run(&["pki", "rotate-root", "--stage", "prepare"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("an Istio upgrade to 1.28.10 is in progress"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_upgrade_and_a_root_rotation_started_at_once_never_both_start() {
    // Both take the mesh's lock and read mesh.yaml and pki/ again under it: whichever runs
    // second sees the other in progress and is refused, whatever the interleaving.
    let spawn = |ws: &Workspace, args: &[&str]| {
        common::binary(ws.dir.path(), ws.home.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    for trial in 0..6 {
        let ws = Workspace::new(config::EXAMPLE_YAML);
        let o = ws.run(&["out"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let (first, second): (&[&str], &[&str]) = (
            &["upgrade", "--to", "1.28.10", "--stage", "install-new"],
            &["pki", "rotate-root", "--stage", "prepare"],
        );
        let (a, b) = if trial % 2 == 0 {
            (spawn(&ws, first), spawn(&ws, second))
        } else {
            let b = spawn(&ws, second);
            (spawn(&ws, first), b)
        };
        let (upgrade, rotation) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let at = format!("trial {trial}");
        let codes = (upgrade.status.code(), rotation.status.code());
        let upgrading = config::parse(&ws.mesh(), &Origin::File("mesh.yaml".into()))
            .unwrap()
            .istio
            .upgrade
            .is_some();
        let rotating = ws.dir.path().join("pki/rotation.yaml").exists();
        // The one refused, what it must say, and whether the one that started left its state and
        // the refused one none.
        let (refused, says, started, left) = match codes {
            (Some(0), Some(2)) => (
                &rotation,
                "an Istio upgrade to 1.28.10 is in progress",
                upgrading,
                rotating,
            ),
            (Some(2), Some(0)) => (
                &upgrade,
                "a root rotation is in progress",
                rotating,
                upgrading,
            ),
            _ => panic!(
                "{at}: exactly one must start, got {codes:?}:\n{}\n{}",
                stderr(&upgrade),
                stderr(&rotation)
            ),
        };
        assert!(stderr(refused).contains(says), "{at}: {}", stderr(refused));
        assert!(started && !left, "{at}: the refused command left state");
    }
}

#[test]
fn the_reader_roles_of_the_upgrade_paths_differ_only_as_known() {
    // A new istiod reads the other clusters with their reader account, bound to their old
    // reader ClusterRole until their own install-new is synced (which brings the new role, see
    // `judge`): only then does move-default let the new istiod serve proxies. The differences
    // are known; any other is new and must be looked at.
    let Some(helms) = common::helms() else { return };
    let rules = |version: &str| -> Vec<Value> {
        let dir = tempfile::tempdir().unwrap();
        let values = dir.path().join("v.yaml");
        std::fs::write(&values, "revision: r\n").unwrap();
        let chart = common::shared().join(format!("upstream/istio-charts/{version}/istiod"));
        let objects = helm_template(&helms[0], &chart, "istiod-r", &values, false);
        objects
            .into_iter()
            .find(|o| {
                o["kind"] == "ClusterRole"
                    && o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("istio-reader-clusterrole"))
            })
            .unwrap_or_else(|| panic!("{version}: no reader ClusterRole"))["rules"]
            .as_array()
            .unwrap()
            .clone()
    };
    let grants = |rules: &[Value]| -> BTreeSet<(String, String, String)> {
        let mut set = BTreeSet::new();
        for r in rules {
            let list = |k: &str| -> Vec<String> {
                r[k].as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            };
            for g in list("apiGroups") {
                for res in list("resources") {
                    for verb in list("verbs") {
                        set.insert((g.clone(), res.clone(), verb));
                    }
                }
            }
        }
        set
    };
    let configmaps: BTreeSet<(String, String, String)> = ["get", "list", "watch"]
        .iter()
        .map(|v| (String::new(), "configmaps".to_owned(), (*v).to_owned()))
        .collect();
    // 1.28 dropped configmaps from the role (`reader-clusterrole.yaml`), 1.30 brought them back.
    for (old, new, added_known, dropped_known) in [
        ("1.26.0", "1.28.10", BTreeSet::new(), configmaps.clone()),
        ("1.28.10", "1.30.3", configmaps, BTreeSet::new()),
    ] {
        let (o, n) = (grants(&rules(old)), grants(&rules(new)));
        let added: BTreeSet<_> = n.difference(&o).cloned().collect();
        let dropped: BTreeSet<_> = o.difference(&n).cloned().collect();
        assert_eq!(
            added, added_known,
            "what {new}'s reader role adds to {old}'s"
        );
        assert_eq!(
            dropped, dropped_known,
            "what {new}'s reader role drops from {old}'s"
        );
    }
}

/// The chart version of each Helm release of kt-k2p, as the GitOps tree `tree` wires it, in
/// rollout order.
fn gitops_releases(tree: &mesh_render::render::Tree, target: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, text) in tree.texts() {
        let path = path.to_string();
        let wanted = match target {
            "flux" => {
                path.starts_with("flux/kt-k2p/releases/") && path.ends_with("helmrelease.yaml")
            }
            _ => path.starts_with("argocd/kt-k2p/apps/") && path.ends_with(".yaml"),
        };
        if !wanted {
            continue;
        }
        for doc in parse_documents(text).unwrap() {
            match target {
                "flux" if doc["kind"] == "HelmRelease" => found.push((
                    path.clone(),
                    doc["spec"]["releaseName"].as_str().unwrap().to_owned(),
                    doc["spec"]["chart"]["spec"]["version"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )),
                "argocd" if doc["spec"]["source"]["chart"].is_string() => found.push((
                    path.clone(),
                    doc["spec"]["source"]["helm"]["releaseName"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    doc["spec"]["source"]["targetRevision"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )),
                _ => {}
            }
        }
    }
    if target == "flux" {
        // In the order the Kustomizations chain them.
        let sync = tree.get("flux/kt-k2p/sync.yaml").unwrap();
        let order: Vec<String> = parse_documents(sync)
            .unwrap()
            .iter()
            .map(|d| {
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        found.sort_by_key(|(_, release, _)| {
            order
                .iter()
                .position(|n| n.ends_with(&format!("-{release}")) || n == release)
        });
    }
    found.into_iter().map(|(_, r, v)| (r, v)).collect()
}

#[test]
fn flux_and_argo_cd_install_each_release_at_its_stages_version_old_istiod_first() {
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    for target in ["flux", "argocd"] {
        let mesh = common::gitops_mesh(target);
        let at = |stage: &str| {
            let text = config::edit::set_upgrade(&mesh, "1.28.10", stage, &[], "test").unwrap();
            gitops_releases(&common::render_text(&text), target)
        };
        assert_eq!(
            at("install-new"),
            pairs(&[
                ("istio-base", "1.28.10"),
                ("istiod", "1.26.0"),
                ("istiod-1-28-10", "1.28.10"),
                ("istio-ingressgateway", "1.26.0"),
            ]),
            "{target}"
        );
        assert_eq!(
            at("move-gateways"),
            pairs(&[
                ("istio-base", "1.28.10"),
                ("istiod", "1.26.0"),
                ("istiod-1-28-10", "1.28.10"),
                ("istio-ingressgateway", "1.28.10"),
            ]),
            "{target}"
        );
        let done = config::edit::finish_upgrade(&mesh, "1.28.10", "1-28-10", "test").unwrap();
        assert_eq!(
            gitops_releases(&common::render_text(&done), target),
            pairs(&[
                ("istio-base", "1.28.10"),
                ("istiod-1-28-10", "1.28.10"),
                ("istio-ingressgateway", "1.28.10"),
            ]),
            "{target}: the old istiod's release is gone (and so pruned)"
        );
    }
}

#[test]
fn the_readmes_of_an_upgrade_going_cluster_by_cluster_match_their_snapshot() {
    let text = config::edit::set_upgrade(
        config::EXAMPLE_YAML,
        "1.28.10",
        "move-default",
        &["kt-k2p"],
        "test",
    )
    .unwrap();
    let tree = common::render_text(&text);
    let section = |path: &str, from: &str, to: &str| -> String {
        let text = tree.get(path).unwrap();
        let start = text.find(from).unwrap_or_else(|| panic!("{path}: {from}"));
        let end = start + text[start..].find(to).unwrap_or(text.len() - start);
        text[start..end].to_owned()
    };
    let readmes = format!(
        "{}\n{}\n{}",
        section("README.md", "**In progress", "## Remote secrets"),
        section(
            "clusters/kt-k2p/README.md",
            "## Istio upgrade",
            "## Check that"
        ),
        section(
            "clusters/nhn-nks/README.md",
            "## Istio upgrade",
            "## Check that"
        ),
    );
    common::with_snapshots(|| insta::assert_snapshot!("upgrade_readmes", readmes));
}
