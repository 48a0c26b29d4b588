//! The rendered layers as kubectl builds them: every layer builds offline with `kubectl
//! kustomize`, and every object it builds passes the strict schemas of ../shared/schemas.

mod common;

use std::path::Path;
use std::process::Command;

use mesh_render::check::schema::{Mode, SchemaCatalog};
use serde_json::Value;

fn kubectl_kustomize(dir: &Path) -> String {
    let o = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        o.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 output")
}

/// Builds every layer under out/clusters and validates each object; returns (layer dir, objects).
fn build_all(out: &Path) -> Vec<(String, Vec<Value>)> {
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).expect("schemas");
    let mut layers = Vec::new();
    for file in common::files_under(&out.join("clusters")) {
        let Some(layer) = file.strip_suffix("/kustomization.yaml") else {
            continue;
        };
        let objects = mesh_render::check::schema::parse_documents(&kubectl_kustomize(
            &out.join("clusters").join(layer),
        ))
        .expect("kustomize output parses");
        assert!(!objects.is_empty(), "{layer} built no objects");
        for object in &objects {
            // Partial objects for server-side apply omit required fields on purpose.
            let partial =
                object["metadata"]["annotations"]["mesh-render.dev/partial"] == "server-side-apply";
            let mode = if partial {
                Mode::RelaxRequired
            } else {
                Mode::Strict
            };
            let object = &common::job_as_deployment(object);
            let violations = catalog
                .validate(object, mode)
                .unwrap_or_else(|e| panic!("{layer}: {e}"));
            assert!(
                violations.is_empty(),
                "{layer}:\n{}",
                violations
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        layers.push((layer.to_owned(), objects));
    }
    layers
}

fn render_into(dir: &Path, yaml: &str) -> std::path::PathBuf {
    let out = dir.join("out");
    mesh_render::output::write(
        &out,
        &common::render_text(yaml),
        &Default::default(),
        None,
        &common::FakeSealer,
        &mesh_render::output::Silent,
    )
    .expect("write");
    out
}

fn kinds(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn every_layer_of_the_example_builds_and_validates() {
    if !common::judge_available("kubectl", "it builds every rendered layer") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layers = build_all(&render_into(dir.path(), mesh_render::config::EXAMPLE_YAML));
    let names: Vec<&str> = layers.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        names,
        [
            "kt-k2p/10-istio-system",
            "kt-k2p/20-reader",
            "kt-k2p/30-provider-fixes",
            "kt-k2p/40-mesh",
            "kt-k2p/50-sample",
            "ncloud-nks/10-istio-system",
            "ncloud-nks/20-reader",
            "ncloud-nks/30-provider-fixes",
            "ncloud-nks/40-mesh",
            "ncloud-nks/50-sample",
            "nhn-nks/10-istio-system",
            "nhn-nks/20-reader",
            "nhn-nks/40-mesh",
            "nhn-nks/50-sample",
        ]
    );
    let sample = |c: &str| {
        kinds(
            &layers
                .iter()
                .find(|(l, _)| l == &format!("{c}/50-sample"))
                .unwrap()
                .1,
        )
    };
    assert_eq!(
        sample("kt-k2p"),
        [
            "Namespace/sample",
            "ServiceAccount/bookinfo-reviews",
            "Service/reviews",
            "Deployment/reviews-v1"
        ]
    );
    assert_eq!(
        sample("nhn-nks"),
        [
            "Namespace/sample",
            "ServiceAccount/bookinfo-reviews",
            "ServiceAccount/sleep",
            "Service/reviews",
            "Service/sleep",
            "Deployment/reviews-v3",
            "Deployment/sleep",
            "Job/verify-cross-cluster"
        ]
    );
}

#[test]
fn every_layer_of_a_five_cluster_mesh_builds_and_validates() {
    if !common::judge_available("kubectl", "it builds every rendered layer") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layers = build_all(&render_into(dir.path(), &common::five_cluster_mesh()));
    // 5 clusters x 4 layers, plus provider fixes on c2 and c5 (Cilium) and c4 (MetalLB).
    assert_eq!(layers.len(), 23);
}

#[test]
fn the_namespace_carries_the_network_and_the_gateway_selects_the_rendered_gateway() {
    if !common::judge_available("kubectl", "it builds every rendered layer") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = render_into(dir.path(), mesh_render::config::EXAMPLE_YAML);
    for (i, c) in ["kt-k2p", "ncloud-nks", "nhn-nks"].iter().enumerate() {
        let ns = mesh_render::check::schema::parse_documents(&kubectl_kustomize(
            &out.join(format!("clusters/{c}/10-istio-system")),
        ))
        .unwrap();
        assert_eq!(
            ns[0]["metadata"]["labels"]["topology.istio.io/network"],
            format!("network{}", i + 1)
        );
        let gw = mesh_render::check::schema::parse_documents(&kubectl_kustomize(
            &out.join(format!("clusters/{c}/40-mesh")),
        ))
        .unwrap();
        let values: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(out.join(format!("values/{c}/gateway.yaml"))).unwrap(),
        )
        .unwrap();
        assert_eq!(gw[0]["apiVersion"], "networking.istio.io/v1");
        assert_eq!(
            gw[0]["spec"]["selector"]["istio"],
            values["labels"]["istio"]
        );
        let server = &gw[0]["spec"]["servers"][0];
        assert_eq!(server["port"]["number"], 15443);
        assert_eq!(server["tls"]["mode"], "AUTO_PASSTHROUGH");
        assert_eq!(server["hosts"], serde_json::json!(["*.local"]));
        let exposed = values["service"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"] == 15443);
        assert!(exposed, "{c}: the selected gateway does not expose 15443");
    }
}

#[test]
fn gateway_api_base_references_the_pinned_release_and_builds_from_it() {
    if !common::judge_available("kubectl", "it builds the Gateway API base") {
        return;
    }
    let tree = common::render_example();
    let kustomization: Value =
        serde_saphyr::from_str(tree.get("base/gateway-api/kustomization.yaml").unwrap()).unwrap();
    let url = mesh_render::releases::LINES[0].gateway_api_crds();
    assert_eq!(kustomization["resources"], serde_json::json!([url]));
    assert!(url.contains("/v1.3.0/standard-install.yaml"));

    // Offline, the same kustomization built against the release file from ../shared: the CRDs
    // it references are what Istio 1.26 needs, and they validate.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::shared().join("upstream/gateway-api-v1.3.0/standard-install.yaml"),
        dir.path().join("standard-install.yaml"),
    )
    .unwrap();
    let local = tree
        .get("base/gateway-api/kustomization.yaml")
        .unwrap()
        .replace(url.as_str(), "standard-install.yaml");
    std::fs::write(dir.path().join("kustomization.yaml"), local).unwrap();
    let crds = mesh_render::check::schema::parse_documents(&kubectl_kustomize(dir.path())).unwrap();
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    let names: Vec<&str> = crds
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"gateways.gateway.networking.k8s.io")
            && names.contains(&"httproutes.gateway.networking.k8s.io"),
        "{names:?}"
    );
    for crd in &crds {
        assert!(catalog.validate(crd, Mode::Strict).unwrap().is_empty());
    }
}

#[test]
fn a_mirror_url_replaces_the_gateway_api_source() {
    let yaml = common::example_with(
        "gatewayAPICRDs: https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.3.0/standard-install.yaml",
        "gatewayAPICRDs: https://mirror.example.com/gateway-api/v1.3.0/standard-install.yaml",
    );
    let tree = common::render_text(&yaml);
    assert!(
        tree.get("base/gateway-api/kustomization.yaml")
            .unwrap()
            .contains("  - https://mirror.example.com/gateway-api/v1.3.0/standard-install.yaml\n")
    );
}

#[test]
fn every_layer_of_the_dedicated_topology_builds_and_validates() {
    if !common::judge_available("kubectl", "it builds every rendered layer") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = render_into(dir.path(), &common::dedicated_mesh());
    let layers = build_all(&out);
    for c in ["kt-k2p", "ncloud-nks", "nhn-nks"] {
        let mesh = &layers
            .iter()
            .find(|(l, _)| l == &format!("{c}/40-mesh"))
            .unwrap()
            .1;
        assert_eq!(
            mesh[0]["spec"]["selector"]["istio"], "eastwestgateway",
            "{c}"
        );
    }
}

#[test]
fn every_layer_of_a_revisioned_mesh_builds_and_validates() {
    if !common::judge_available("kubectl", "it builds every rendered layer") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layers = build_all(&render_into(dir.path(), &common::revisioned_mesh()));
    let sample = &layers
        .iter()
        .find(|(l, _)| l == "nhn-nks/50-sample")
        .unwrap()
        .1;
    let labels = &sample[0]["metadata"]["labels"];
    // Namespaces are never relabelled: the revision holds the tag `default`.
    assert_eq!(labels["istio-injection"], "enabled");
    assert!(labels.get("istio.io/rev").is_none());
}

#[test]
fn the_metrics_server_patch_adds_kubelet_insecure_tls_to_the_release_deployment() {
    if !common::judge_available("kubectl", "it builds the metrics-server base") {
        return;
    }
    // A stand-in for the release manifest, shaped as metrics-server v0.9.0's facts describe its
    // Deployment (../shared/upstream/metrics-server-v0.9.0/facts.md); the release URL itself is
    // not reachable here.
    let stand_in = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: metrics-server
  namespace: kube-system
  labels: {k8s-app: metrics-server}
spec:
  selector:
    matchLabels: {k8s-app: metrics-server}
  template:
    metadata:
      labels: {k8s-app: metrics-server}
    spec:
      containers:
        - name: metrics-server
          image: registry.k8s.io/metrics-server/metrics-server:v0.9.0
          args:
            - --cert-dir=/tmp
            - --secure-port=10250
            - --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname
            - --kubelet-use-node-status-port
            - --metric-resolution=15s
"#;
    let tree = common::render_example();
    let url = mesh_render::config::Upstream::METRICS_SERVER;
    let kustomization = tree.get("base/metrics-server/kustomization.yaml").unwrap();
    assert!(kustomization.contains(&format!("  - {url}\n")));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("components.yaml"), stand_in).unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        kustomization.replace(url, "components.yaml"),
    )
    .unwrap();
    let built =
        mesh_render::check::schema::parse_documents(&kubectl_kustomize(dir.path())).unwrap();
    let args = built[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap();
    assert_eq!(args.len(), 6);
    assert_eq!(args.last().unwrap(), "--kubelet-insecure-tls");
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    assert!(
        catalog
            .validate(&built[0], Mode::Strict)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_metallb_base_references_the_pinned_release_or_its_mirror() {
    let tree = common::render_example();
    let kustomization: Value =
        serde_saphyr::from_str(tree.get("base/metallb/kustomization.yaml").unwrap()).unwrap();
    assert_eq!(
        kustomization["resources"],
        serde_json::json!([mesh_render::config::Upstream::METALLB])
    );
    assert!(mesh_render::config::Upstream::METALLB.contains("/v0.14.8/"));
    let mirrored = common::render_text(&common::example_with(
        "metallb: https://raw.githubusercontent.com/metallb/metallb/v0.14.8/config/manifests/metallb-native.yaml",
        "metallb: https://mirror.example.com/metallb/v0.14.8/metallb-native.yaml",
    ));
    assert!(
        mirrored
            .get("base/metallb/kustomization.yaml")
            .unwrap()
            .contains("  - https://mirror.example.com/metallb/v0.14.8/metallb-native.yaml\n")
    );
}

/// Every kustomization under `tops` that builds offline: `check`'s in-process build and
/// `kubectl kustomize` yield the same objects.
fn assert_check_builds_as_kubectl_does(out: &Path, tops: &[&str]) -> usize {
    use mesh_render::check::{RenderedTree, Report};
    let tree = RenderedTree::open(out).expect("a rendered tree");
    let mut compared = 0;
    for dir in tree.kustomization_dirs(tops) {
        let text = std::fs::read_to_string(out.join(&dir).join("kustomization.yaml")).unwrap();
        if text.contains("://") {
            continue; // an upstream release by URL: kubectl would need the network
        }
        let mut report = Report::default();
        let mut ours: Vec<String> = tree
            .build(
                &dir,
                &Default::default(),
                &mut report,
                &mut Default::default(),
            )
            .into_iter()
            .map(|o| o.value.to_string())
            .collect();
        assert!(report.findings.is_empty(), "{dir}: {:?}", report.findings);
        let mut theirs: Vec<String> =
            mesh_render::check::schema::parse_documents(&kubectl_kustomize(&out.join(&dir)))
                .unwrap()
                .into_iter()
                .map(|v| v.to_string())
                .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{dir}");
        compared += 1;
    }
    compared
}

#[test]
fn check_resolves_every_kustomization_as_kubectl_kustomize_does() {
    if !common::judge_available("kubectl", "it is the reference kustomize build") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = render_into(dir.path(), &common::five_cluster_mesh());
    assert!(assert_check_builds_as_kubectl_does(&out, &["clusters", "base"]) >= 20);
}

#[test]
fn check_resolves_the_flux_wiring_as_kubectl_kustomize_does() {
    if !common::judge_available("kubectl", "it is the reference kustomize build") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mesh = format!(
        "{}\ngitops:\n  target: flux\n  repository:\n    url: https://git.example.com/mesh.git\n    branch: main\n    path: out\n",
        mesh_render::config::EXAMPLE_YAML
    );
    let out = render_into(dir.path(), &mesh);
    assert!(assert_check_builds_as_kubectl_does(&out, &["clusters", "flux"]) >= 20);
}
