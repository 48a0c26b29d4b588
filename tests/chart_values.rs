//! The rendered Helm values against Istio 1.26.0's charts: every key path we set exists among the
//! chart's defaults (free-form maps aside), the profile exists, and the gateway's values satisfy
//! the chart's own values.schema.json.

mod common;

use serde_json::Value;

const CHARTS: &str = "upstream/istio-1.26.0/manifests/charts";

/// A chart's defaults (`_internal_defaults_do_not_set`), and the key paths under which it takes
/// any map (meshConfig, env, labels...).
fn chart(name: &str) -> (Value, &'static [&'static str]) {
    let (dir, free): (&str, &'static [&'static str]) = match name {
        "base" => ("base", &[]),
        "istiod" => ("istio-control/istio-discovery", &["meshConfig"]),
        "gateway" => (
            "gateway",
            &[
                "env",
                "labels",
                "annotations",
                "podAnnotations",
                "service.annotations",
            ],
        ),
        other => panic!("no chart {other}"),
    };
    let path = common::shared().join(CHARTS).join(dir).join("values.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let values: Value = serde_saphyr::from_str(&text).expect("chart values parse");
    (values["_internal_defaults_do_not_set"].clone(), free)
}

/// Key paths of `rendered` that the chart does not know, with type mismatches.
fn unknown_paths(rendered: &Value, defaults: &Value, free: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    walk("", rendered, defaults, free, &mut problems);
    problems
}

fn walk(path: &str, rendered: &Value, defaults: &Value, free: &[&str], problems: &mut Vec<String>) {
    if free.contains(&path) {
        return;
    }
    match (rendered, defaults) {
        (Value::Object(r), Value::Object(d)) => {
            for (key, value) in r {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if path.is_empty() && key == "profile" {
                    continue; // checked against helm-profiles by its own test
                }
                match d.get(key) {
                    Some(default) => walk(&sub, value, default, free, problems),
                    None => problems.push(format!("{sub}: not a value of this chart")),
                }
            }
        }
        (Value::Array(items), Value::Array(default_items)) => {
            let known: Vec<&String> = default_items
                .iter()
                .filter_map(Value::as_object)
                .flat_map(|o| o.keys())
                .collect();
            for (i, item) in items.iter().enumerate() {
                for key in item
                    .as_object()
                    .map(|o| o.keys().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if !known.contains(&key) {
                        problems.push(format!(
                            "{path}[{i}].{key}: not a field of this list's items"
                        ));
                    }
                }
            }
        }
        (Value::Bool(_), Value::Bool(_))
        | (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (_, Value::Null) => {}
        (r, d) => problems.push(format!("{path}: {r} has another type than the default {d}")),
    }
}

fn rendered_values(tree: &mesh_render::render::Tree, chart: &str) -> Vec<(String, Value)> {
    tree.texts()
        .filter(|(p, _)| {
            p.as_str().starts_with("values/") && p.file_name() == format!("{chart}.yaml")
        })
        .map(|(p, text)| {
            (
                p.to_string(),
                serde_saphyr::from_str(text).expect("values parse"),
            )
        })
        .collect()
}

fn assert_known_keys(yaml: &str) {
    let tree = common::render_text(yaml);
    for name in ["base", "istiod", "gateway"] {
        let (defaults, free) = chart(name);
        let files = rendered_values(&tree, name);
        assert!(!files.is_empty(), "no {name} values rendered");
        for (path, values) in files {
            let problems = unknown_paths(&values, &defaults, free);
            assert!(problems.is_empty(), "{path}:\n{}", problems.join("\n"));
        }
    }
}

#[test]
fn every_key_of_the_example_values_is_a_chart_value() {
    assert_known_keys(mesh_render::config::EXAMPLE_YAML);
}

#[test]
fn every_key_of_the_five_cluster_values_is_a_chart_value() {
    assert_known_keys(&common::five_cluster_mesh());
}

#[test]
fn every_key_of_the_dedicated_values_is_a_chart_value() {
    assert_known_keys(&common::dedicated_mesh());
}

#[test]
fn every_key_of_the_revisioned_values_is_a_chart_value() {
    assert_known_keys(&common::revisioned_mesh());
}

#[test]
fn the_key_check_catches_a_misspelled_key() {
    let (defaults, free) = chart("istiod");
    let bad: Value = serde_json::json!({"global": {"meshId": "usmesh", "network": "n1"}});
    assert_eq!(
        unknown_paths(&bad, &defaults, free),
        ["global.meshId: not a value of this chart"]
    );
    let wrong_type: Value =
        serde_json::json!({"sidecarInjectorWebhook": {"rewriteAppHTTPProbe": "no"}});
    assert_eq!(unknown_paths(&wrong_type, &defaults, free).len(), 1);
}

#[test]
fn every_profile_a_mesh_can_name_is_an_istio_helm_profile() {
    let dir = common::shared().join("upstream/istio-1.26.0/manifests/helm-profiles");
    for profile in mesh_render::config::Profile::ALL.map(|p| p.name()) {
        let yaml = common::example_with("profile: demo", &format!("profile: {profile}"));
        let tree = common::render_text(&yaml);
        let istiod = tree.get("values/kt-k2p/istiod.yaml").unwrap();
        if profile == "default" {
            // The chart's own default: left unset.
            assert!(!istiod.contains("profile:"), "{istiod}");
        } else {
            assert!(dir.join(format!("{profile}.yaml")).is_file(), "{profile}");
            assert!(istiod.contains(&format!("\nprofile: {profile}\n")));
        }
    }
}

fn gateway_schema() -> jsonschema::Validator {
    let path = common::shared()
        .join(CHARTS)
        .join("gateway/values.schema.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    jsonschema::draft7::new(&schema).expect("the gateway chart's schema compiles")
}

#[test]
fn gateway_values_satisfy_the_charts_values_schema() {
    let schema = gateway_schema();
    for yaml in [
        mesh_render::config::EXAMPLE_YAML.to_owned(),
        common::five_cluster_mesh(),
    ] {
        for (path, values) in rendered_values(&common::render_text(&yaml), "gateway") {
            let errors: Vec<String> = schema
                .iter_errors(&values)
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{path}:\n{}", errors.join("\n"));
        }
    }
}

#[test]
fn the_gateway_schema_rejects_a_wrongly_typed_port() {
    let bad = serde_json::json!({"service": {"ports": [{"name": "x", "port": "15443"}]}});
    assert!(!gateway_schema().is_valid(&bad));
}

#[test]
fn values_carry_the_clusters_identity() {
    let tree = common::render_example();
    for (i, c) in ["kt-k2p", "ncloud-nks", "nhn-nks"].iter().enumerate() {
        let istiod: Value =
            serde_saphyr::from_str(tree.get(&format!("values/{c}/istiod.yaml")).unwrap()).unwrap();
        assert_eq!(istiod["global"]["meshID"], "usmesh");
        assert_eq!(istiod["global"]["multiCluster"]["clusterName"], *c);
        assert_eq!(istiod["global"]["network"], format!("network{}", i + 1));
        assert_eq!(
            istiod["meshConfig"]["defaultConfig"]["proxyMetadata"]["ISTIO_META_DNS_CAPTURE"],
            "true"
        );
        assert_eq!(
            istiod["sidecarInjectorWebhook"]["rewriteAppHTTPProbe"],
            false
        );
        let gw: Value =
            serde_saphyr::from_str(tree.get(&format!("values/{c}/gateway.yaml")).unwrap()).unwrap();
        assert_eq!(
            gw["labels"]["topology.istio.io/network"],
            format!("network{}", i + 1)
        );
        assert_eq!(gw["labels"]["istio"], "ingressgateway");
        assert_eq!(
            gw["env"]["ISTIO_META_REQUESTED_NETWORK_VIEW"],
            format!("network{}", i + 1)
        );
        let ports: Vec<(u64, u64)> = gw["service"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["port"].as_u64().unwrap(),
                    p["targetPort"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ports,
            [
                (15021, 15021),
                (80, 8080),
                (443, 8443),
                (31400, 31400),
                (15443, 15443),
                (15012, 15012),
                (15017, 15017)
            ]
        );
        assert_eq!(
            gw["autoscaling"],
            serde_json::json!({"enabled": true, "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80})
        );
    }
}
