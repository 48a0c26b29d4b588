//! The gateway topologies, revisions, istioctl files and provider fixes as a reviewer sees them:
//! which cluster receives what, and that the istioctl files say what the Helm values say.

mod common;

use serde_json::Value;

fn yaml(tree: &mesh_render::render::Tree, path: &str) -> Value {
    let text = tree
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not rendered"));
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn paths_under<'a>(tree: &'a mesh_render::render::Tree, prefix: &str) -> Vec<&'a str> {
    tree.paths()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with(prefix))
        .collect()
}

#[test]
fn dedicated_tree_matches_its_snapshot() {
    let tree = common::render_text(&common::dedicated_mesh());
    common::with_snapshots(|| insta::assert_snapshot!("dedicated_tree", common::dump(&tree)));
}

#[test]
fn revisioned_tree_matches_its_snapshot() {
    let tree = common::render_text(&common::revisioned_mesh());
    common::with_snapshots(|| insta::assert_snapshot!("revisioned_tree", common::dump(&tree)));
}

#[test]
fn dedicated_east_west_gateway_is_the_charts_network_gateway() {
    let tree = common::render_text(&common::dedicated_mesh());
    let gw = yaml(&tree, "values/ncloud-nks/gateway.yaml");
    assert_eq!(gw["name"], "istio-eastwestgateway");
    assert_eq!(gw["networkGateway"], "network2");
    assert_eq!(gw["labels"]["istio"], "eastwestgateway");
    assert!(
        gw["service"].get("ports").is_none(),
        "the chart sets the network gateway's ports"
    );
    let ingress = yaml(&tree, "values/ncloud-nks/ingress-gateway.yaml");
    assert_eq!(ingress["labels"]["istio"], "ingressgateway");
    assert!(
        ingress["labels"].get("topology.istio.io/network").is_none(),
        "an ingress gateway must not claim the network"
    );
    assert!(ingress.get("networkGateway").is_none());
}

#[test]
fn the_separate_ingress_gateway_is_off_by_default() {
    let tree = common::render_text(&common::example_with(
        "  topology: combined\n",
        "  topology: dedicated\n",
    ));
    assert!(tree.get("values/ncloud-nks/ingress-gateway.yaml").is_none());
    assert!(
        tree.get("istioctl/ncloud-nks/ingress-gateway.yaml")
            .is_none()
    );
    assert!(tree.get("values/ncloud-nks/gateway.yaml").is_some());
}

#[test]
fn each_metallb_gateway_is_pinned_to_its_own_address_by_annotation() {
    let tree = common::render_text(&common::dedicated_mesh());
    let east_west = yaml(&tree, "values/kt-k2p/gateway.yaml");
    let ingress = yaml(&tree, "values/kt-k2p/ingress-gateway.yaml");
    assert_eq!(
        east_west["service"]["annotations"]["metallb.universe.tf/loadBalancerIPs"],
        "203.0.113.10"
    );
    assert_eq!(
        ingress["service"]["annotations"]["metallb.universe.tf/loadBalancerIPs"],
        "203.0.113.11"
    );
    assert!(
        east_west["service"].get("loadBalancerIP").is_none(),
        "spec.loadBalancerIP is deprecated"
    );
    let pool = tree
        .get("clusters/kt-k2p/30-provider-fixes/metallb-pool.yaml")
        .unwrap();
    assert!(pool.contains("    - 203.0.113.10/32\n    - 203.0.113.11/32\n"));
}

#[test]
fn revisioned_values_carry_the_revision_everywhere() {
    let tree = common::render_text(&common::revisioned_mesh());
    assert_eq!(
        yaml(&tree, "values/kt-k2p/istiod.yaml")["revision"],
        "1-26-0"
    );
    assert_eq!(
        yaml(&tree, "values/kt-k2p/gateway.yaml")["revision"],
        "1-26-0"
    );
    assert_eq!(
        yaml(&tree, "values/kt-k2p/base.yaml")["defaultRevision"],
        "1-26-0"
    );
    assert_eq!(
        yaml(&tree, "istioctl/kt-k2p/controlplane.yaml")["spec"]["revision"],
        "1-26-0"
    );
    // The revision holds the tag `default`, which the sample namespace's
    // `istio-injection: enabled` follows (an upgrade moves the tag, never the label).
    assert_eq!(
        yaml(&tree, "values/kt-k2p/istiod.yaml")["revisionTags"][0],
        "default"
    );
    assert_eq!(
        yaml(&tree, "clusters/kt-k2p/50-sample/namespace.yaml")["metadata"]["labels"]["istio-injection"],
        "enabled"
    );
}

#[test]
fn without_a_revision_namespaces_use_istio_injection() {
    let tree = common::render_example();
    let labels = &yaml(&tree, "clusters/kt-k2p/50-sample/namespace.yaml")["metadata"]["labels"];
    assert_eq!(labels["istio-injection"], "enabled");
    assert!(
        yaml(&tree, "values/kt-k2p/istiod.yaml")
            .get("revision")
            .is_none()
    );
}

/// The ports a gateway's Service gets from its values: explicit, or the chart's network-gateway set.
fn service_ports(values: &Value) -> Vec<u64> {
    match values["service"].get("ports") {
        Some(ports) => ports
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_u64().unwrap())
            .collect(),
        None => {
            assert!(values["networkGateway"].is_string());
            vec![15021, 15443, 15012, 15017]
        }
    }
}

fn assert_istioctl_matches_values(yaml_text: &str) {
    let tree = common::render_text(yaml_text);
    for c in ["kt-k2p", "ncloud-nks", "nhn-nks"] {
        let istiod = yaml(&tree, &format!("values/{c}/istiod.yaml"));
        let iop = yaml(&tree, &format!("istioctl/{c}/controlplane.yaml"));
        assert_eq!(iop["kind"], "IstioOperator");
        assert_eq!(
            iop["spec"]["values"]["global"], istiod["global"],
            "{c}: meshID, clusterName, network"
        );
        assert_eq!(iop["spec"]["meshConfig"], istiod["meshConfig"], "{c}");
        assert_eq!(iop["spec"]["profile"], istiod["profile"], "{c}");
        assert_eq!(
            iop["spec"]["values"]["sidecarInjectorWebhook"],
            istiod["sidecarInjectorWebhook"]
        );
        for file in ["gateway", "ingress-gateway"] {
            let Some(_) = tree.get(&format!("values/{c}/{file}.yaml")) else {
                continue;
            };
            let values = yaml(&tree, &format!("values/{c}/{file}.yaml"));
            let iop = yaml(&tree, &format!("istioctl/{c}/{file}.yaml"));
            let gateway = &iop["spec"]["components"]["ingressGateways"][0];
            assert_eq!(gateway["name"], values["name"], "{c}/{file}");
            assert_eq!(
                gateway["label"]["istio"], values["labels"]["istio"],
                "{c}/{file}"
            );
            let iop_ports: Vec<u64> = gateway["k8s"]["service"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["port"].as_u64().unwrap())
                .collect();
            assert_eq!(iop_ports, service_ports(&values), "{c}/{file}");
            assert_eq!(
                iop["spec"]["values"]["global"], istiod["global"],
                "{c}/{file}"
            );
            let network_label = &gateway["label"]["topology.istio.io/network"];
            if file == "gateway" {
                assert_eq!(network_label, &istiod["global"]["network"], "{c}");
            } else {
                assert!(
                    network_label.is_null(),
                    "{c}: an ingress gateway must not claim the network"
                );
            }
            assert_eq!(
                gateway["k8s"]["serviceAnnotations"], values["service"]["annotations"],
                "{c}/{file}"
            );
        }
    }
}

#[test]
fn istioctl_files_match_the_values_in_the_combined_topology() {
    assert_istioctl_matches_values(mesh_render::config::EXAMPLE_YAML);
}

#[test]
fn istioctl_files_match_the_values_in_the_dedicated_topology() {
    assert_istioctl_matches_values(&common::dedicated_mesh());
}

#[test]
fn istioctl_files_are_outside_every_kustomization() {
    let tree = common::render_example();
    for (path, text) in tree.texts() {
        if path.file_name() == "kustomization.yaml" {
            assert!(!text.contains("istioctl"), "{path} lists istioctl files");
        }
    }
    assert!(
        paths_under(&tree, "istioctl/")
            .iter()
            .all(|p| !p.ends_with("kustomization.yaml"))
    );
}

#[test]
fn in_the_example_cilium_fixes_land_only_on_ncloud_nks() {
    let tree = common::render_example();
    let with: Vec<&str> = tree
        .paths()
        .map(|p| p.as_str())
        .filter(|p| p.ends_with("/cilium-config.yaml"))
        .collect();
    assert_eq!(
        with,
        ["clusters/ncloud-nks/30-provider-fixes/cilium-config.yaml"]
    );
}

#[test]
fn in_the_example_the_metallb_pool_lands_only_on_kt_k2p() {
    let tree = common::render_example();
    let with: Vec<&str> = tree
        .paths()
        .map(|p| p.as_str())
        .filter(|p| p.ends_with("/metallb-pool.yaml"))
        .collect();
    assert_eq!(
        with,
        ["clusters/kt-k2p/30-provider-fixes/metallb-pool.yaml"]
    );
    assert!(paths_under(&tree, "clusters/nhn-nks/30-provider-fixes").is_empty());
}

#[test]
fn cluster_owned_objects_are_never_pruned_or_deleted() {
    let tree = common::render_example();
    for file in ["cilium-config.yaml", "cilium-restart.yaml"] {
        let object = yaml(
            &tree,
            &format!("clusters/ncloud-nks/30-provider-fixes/{file}"),
        );
        let annotations = &object["metadata"]["annotations"];
        assert_eq!(
            annotations["kustomize.toolkit.fluxcd.io/prune"], "disabled",
            "{file}"
        );
        let argo = annotations["argocd.argoproj.io/sync-options"]
            .as_str()
            .unwrap();
        assert!(
            argo.split(',').any(|o| o == "Prune=false")
                && argo.split(',').any(|o| o == "Delete=false"),
            "{file}"
        );
    }
}

#[test]
fn the_cilium_restart_digest_changes_only_with_the_settings() {
    let a = common::render_example();
    let b = common::render_text(&common::example_with("meshID: usmesh", "meshID: othermesh"));
    let digest = |t: &mesh_render::render::Tree| {
        yaml(
            t,
            "clusters/ncloud-nks/30-provider-fixes/cilium-restart.yaml",
        )["spec"]["template"]["metadata"]["annotations"]["mesh-render.dev/cilium-config-digest"]
            .clone()
    };
    assert_eq!(
        digest(&a),
        digest(&b),
        "unrelated changes must not restart Cilium"
    );
    assert!(digest(&a).as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn each_cluster_install_script_installs_metallb_and_metrics_server_only_where_the_model_sends_them()
{
    let tree = common::render_example();
    let script = |c: &str| {
        tree.get(&format!("clusters/{c}/install.sh"))
            .unwrap()
            .to_owned()
    };
    assert!(
        script("kt-k2p").contains("-k base/metallb")
            && script("kt-k2p").contains("-k base/metrics-server")
    );
    for c in ["ncloud-nks", "nhn-nks"] {
        assert!(
            !script(c).contains("base/metallb") && !script(c).contains("base/metrics-server"),
            "{c}"
        );
    }
    assert!(script("ncloud-nks").contains(
        "apply --server-side --force-conflicts --field-manager=mesh-render -k clusters/ncloud-nks/30-provider-fixes"
    ));
}
