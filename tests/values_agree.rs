//! One decision, every form: for each gateway topology and GitOps target, a cluster's chart
//! values file, its IstioOperator file, Flux's HelmRelease `values` and Argo CD's `valuesObject`
//! say the same thing — the same documents where they carry the same values, and for the
//! gateways the same labels, network-view env and ports once the chart's `networkGateway` is
//! taken into account.

mod common;

use std::collections::BTreeMap;

use mesh_render::render::Tree;
use mesh_render::vocabulary::{NETWORK_GATEWAY_PORTS, NETWORK_LABEL, NETWORK_VIEW_ENV};
use serde_json::Value;

/// Every topology a mesh can choose, with and without the separate ingress gateway.
fn topologies() -> Vec<(&'static str, String)> {
    vec![
        ("combined", mesh_render::config::EXAMPLE_YAML.to_owned()),
        (
            "dedicated",
            common::example_with("  topology: combined\n", "  topology: dedicated\n"),
        ),
        ("dedicated with ingress", common::dedicated_mesh()),
    ]
}

fn with_target(mesh: &str, target: &str) -> String {
    mesh.replacen(
        "\npki:\n",
        &format!(
            "\ngitops:\n  target: {target}\n  repository:\n    url: https://git.example.com/platform/mesh.git\n    branch: main\n    path: out\n\npki:\n"
        ),
        1,
    )
}

fn doc(tree: &Tree, path: &str) -> Value {
    let text = tree
        .get(path)
        .unwrap_or_else(|| panic!("{path} is rendered"));
    let mut docs = mesh_render::check::schema::parse_documents(text).unwrap();
    assert_eq!(docs.len(), 1, "{path}");
    docs.remove(0)
}

/// The values each GitOps object installs a release with, by release name.
fn gitops_values(tree: &Tree, cluster: &str) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    for (path, text) in tree.texts() {
        let p = path.as_str();
        if p.starts_with(&format!("flux/{cluster}/releases/")) && p.ends_with("/helmrelease.yaml") {
            let d = &mesh_render::check::schema::parse_documents(text).unwrap()[0];
            found.insert(
                d["spec"]["releaseName"].as_str().unwrap().to_owned(),
                d["spec"]["values"].clone(),
            );
        }
        if p.starts_with(&format!("argocd/{cluster}/apps/")) && p.ends_with(".yaml") {
            let d = &mesh_render::check::schema::parse_documents(text).unwrap()[0];
            let helm = &d["spec"]["source"]["helm"];
            if let Some(name) = helm["releaseName"].as_str() {
                found.insert(name.to_owned(), helm["valuesObject"].clone());
            }
        }
    }
    found
}

/// A gateway's labels, env and ports as the gateway chart makes them from its values.
fn chart_gateway(values: &Value) -> (Value, Value, Vec<u64>) {
    let mut labels = values["labels"].clone();
    let mut env = values
        .get("env")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let ports: Vec<u64> = match values.get("networkGateway").and_then(Value::as_str) {
        Some(network) => {
            labels[NETWORK_LABEL] = Value::from(network);
            env[NETWORK_VIEW_ENV] = Value::from(network);
            NETWORK_GATEWAY_PORTS
                .iter()
                .map(|p| u64::from(*p))
                .collect()
        }
        None => values["service"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_u64().unwrap())
            .collect(),
    };
    (labels, env, ports)
}

/// The same, as an IstioOperator's gateway component makes it.
fn operator_gateway(operator: &Value) -> (Value, Value, Vec<u64>) {
    let component = &operator["spec"]["components"]["ingressGateways"][0];
    let mut env = serde_json::Map::new();
    for e in component["k8s"]["env"].as_array().into_iter().flatten() {
        env.insert(e["name"].as_str().unwrap().to_owned(), e["value"].clone());
    }
    let ports = component["k8s"]["service"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    (component["label"].clone(), Value::Object(env), ports)
}

#[test]
fn every_form_of_a_clusters_chart_values_agrees_for_every_topology_and_target() {
    for (topology, mesh) in topologies() {
        for target in ["flux", "argocd"] {
            let tree = common::render_text(&with_target(&mesh, target));
            for cluster in ["kt-k2p", "ncloud-nks", "nhn-nks"] {
                let installed = gitops_values(&tree, cluster);
                let at = format!("{topology}, {target}, {cluster}");
                // istiod: the values file is what GitOps installs; the IstioOperator carries the
                // same meshConfig and global values.
                let istiod = doc(&tree, &format!("values/{cluster}/istiod.yaml"));
                assert_eq!(installed.get("istiod"), Some(&istiod), "{at}");
                assert_eq!(
                    installed.get("istio-base"),
                    Some(&doc(&tree, &format!("values/{cluster}/base.yaml"))),
                    "{at}"
                );
                let control = doc(&tree, &format!("istioctl/{cluster}/controlplane.yaml"));
                assert_eq!(control["spec"]["meshConfig"], istiod["meshConfig"], "{at}");
                assert_eq!(
                    control["spec"]["values"]["global"], istiod["global"],
                    "{at}"
                );
                // Every gateway: the same labels, env and ports in all forms.
                let mut gateways = 0;
                for stem in ["gateway", "ingress-gateway"] {
                    let Some(_) = tree.get(&format!("values/{cluster}/{stem}.yaml")) else {
                        continue;
                    };
                    gateways += 1;
                    let values = doc(&tree, &format!("values/{cluster}/{stem}.yaml"));
                    let name = values["name"].as_str().unwrap().to_owned();
                    assert_eq!(installed.get(&name), Some(&values), "{at}: {name}");
                    let operator = doc(&tree, &format!("istioctl/{cluster}/{stem}.yaml"));
                    assert_eq!(
                        chart_gateway(&values),
                        operator_gateway(&operator),
                        "{at}: {name}"
                    );
                }
                assert_eq!(
                    gateways,
                    if topology == "dedicated with ingress" {
                        2
                    } else {
                        1
                    },
                    "{at}"
                );
            }
        }
    }
}
