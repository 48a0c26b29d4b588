//! Every known Istio release line, judged by its own charts: for each chart set in
//! `../shared/upstream/istio-charts/<version>/` (one or two patches per line), the example and a
//! dedicated-topology mesh with a revision are rendered at that version, and every values file
//! goes through that release's real chart with Helm 3 and Helm 4. Helm must render it; every
//! object it renders must validate against `../shared/schemas` (kinds without a schema there are
//! named in the output); istiod must carry the cluster ID, network and mesh ID; the network
//! gateway the network label, `ISTIO_META_REQUESTED_NETWORK_VIEW` and port 15443; the
//! cross-network Gateway must select the gateway pods Helm renders; the images must come from
//! the release's hub and tag. The Flux HelmReleases and Argo CD Applications must name the chart
//! version and skip schema validation exactly where the release needs it.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use mesh_render::check::schema::{Mode, SchemaCatalog, SchemaError, parse_documents};
use mesh_render::config::{self, IstioVersion, Origin};
use mesh_render::releases::{self, ReleaseLine};
use mesh_render::vocabulary::{NETWORK_LABEL, NETWORK_VIEW_ENV};
use serde_json::Value;

/// The chart sets upstream, oldest first.
fn chart_sets() -> Vec<IstioVersion> {
    let dir = common::shared().join("upstream/istio-charts");
    let mut found: Vec<IstioVersion> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let p: Vec<u32> = name.split('.').filter_map(|x| x.parse().ok()).collect();
            (p.len() == 3).then(|| IstioVersion {
                major: p[0],
                minor: p[1],
                patch: p[2],
            })
        })
        .collect();
    found.sort();
    found
}

/// The two meshes each release is rendered with: the example, and the dedicated topology (with
/// a separate ingress gateway) and a revision named after the version.
fn meshes(version: &IstioVersion) -> Vec<(&'static str, String)> {
    let revision = version.to_string().replace('.', "-");
    let dedicated = common::dedicated_mesh().replacen(
        "  # revision: 1-26-0\n",
        &format!("  revision: {revision}\n"),
        1,
    );
    vec![
        (
            "example",
            common::with_release_defaults(&version.to_string()),
        ),
        (
            "dedicated with a revision",
            common::with_release_defaults_of(&dedicated, &version.to_string()),
        ),
    ]
}

fn parse(text: &str) -> config::Mesh {
    config::parse(text, &Origin::File("mesh.yaml".into())).unwrap()
}

/// The objects `helm template` renders for one values file, or the failure.
fn helm_template(
    helm: &Path,
    chart_dir: &Path,
    release: &str,
    values: &Path,
    skip_schema: bool,
) -> Result<Vec<Value>, String> {
    let mut cmd = Command::new(helm);
    cmd.args(["template", release])
        .arg(chart_dir)
        .args(["-n", "istio-system", "-f"])
        .arg(values);
    if skip_schema {
        cmd.arg("--skip-schema-validation");
    }
    let o = cmd
        .output()
        .map_err(|e| format!("{}: {e}", helm.display()))?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&o.stdout);
    Ok(parse_documents(&text)
        .map_err(|e| format!("helm's output: {e}"))?
        .into_iter()
        .filter(|d| !d.is_null())
        .collect())
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among {} objects", objects.len()))
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

/// What one rendered values file must show, given its release.
struct Expect<'a> {
    what: String,
    version: &'a IstioVersion,
    row: &'a ReleaseLine,
    cluster: &'a str,
    network: &'a str,
    mesh_id: &'a str,
    revision: Option<&'a str>,
}

fn check_istiod(objects: &[Value], e: &Expect<'_>) {
    let istiod = match e.revision {
        Some(rev) => format!("istiod-{rev}"),
        None => "istiod".to_owned(),
    };
    let deployment = find(objects, "Deployment", &istiod);
    let discovery = container(deployment, "discovery");
    assert_eq!(env(discovery, "CLUSTER_ID"), Some(e.cluster), "{}", e.what);
    assert_eq!(
        discovery["image"],
        format!("{}/pilot:{}", e.row.default_hub, e.version),
        "{}: istiod's image comes from the release's hub and tag",
        e.what
    );
    let injector_name = match e.revision {
        Some(rev) => format!("istio-sidecar-injector-{rev}"),
        None => "istio-sidecar-injector".to_owned(),
    };
    let injector = find(objects, "ConfigMap", &injector_name);
    let values: Value = serde_json::from_str(injector["data"]["values"].as_str().unwrap())
        .unwrap_or_else(|err| panic!("{}: injector values: {err}", e.what));
    let global = &values["global"];
    assert_eq!(global["network"], e.network, "{}", e.what);
    assert_eq!(global["meshID"], e.mesh_id, "{}", e.what);
    assert_eq!(
        global["multiCluster"]["clusterName"], e.cluster,
        "{}",
        e.what
    );
    assert_eq!(
        global["hub"], e.row.default_hub,
        "{}: injected proxies' hub",
        e.what
    );
    assert_eq!(global["tag"], e.version.to_string(), "{}", e.what);
    let mesh_name = match e.revision {
        Some(rev) => format!("istio-{rev}"),
        None => "istio".to_owned(),
    };
    let mesh = find(objects, "ConfigMap", &mesh_name)["data"]["mesh"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        mesh.contains(&format!("meshId: \"{}\"", e.mesh_id))
            || mesh.contains(&format!("meshId: {}", e.mesh_id)),
        "{}: {mesh}",
        e.what
    );
}

/// The pod labels of the network gateway Helm renders, after checking its network facts.
fn check_network_gateway(objects: &[Value], name: &str, e: &Expect<'_>) -> Value {
    let deployment = find(objects, "Deployment", name);
    let labels = deployment["spec"]["template"]["metadata"]["labels"].clone();
    assert_eq!(labels[NETWORK_LABEL], e.network, "{}: pod labels", e.what);
    let proxy = container(deployment, "istio-proxy");
    assert_eq!(env(proxy, NETWORK_VIEW_ENV), Some(e.network), "{}", e.what);
    assert_eq!(
        proxy["image"], "auto",
        "{}: injected with the control plane's proxy",
        e.what
    );
    let service = find(objects, "Service", name);
    assert_eq!(service["metadata"]["labels"][NETWORK_LABEL], e.network);
    let ports: Vec<u64> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["port"].as_u64())
        .collect();
    assert!(ports.contains(&15443), "{}: ports {ports:?}", e.what);
    labels
}

/// Validates every object; returns the kinds there is no schema for.
fn validate_all(catalog: &SchemaCatalog, objects: &[Value], what: &str) -> BTreeSet<String> {
    let mut without = BTreeSet::new();
    for object in objects {
        match catalog.validate(object, Mode::Strict) {
            Ok(violations) => assert!(
                violations.is_empty(),
                "{what}: {} {}: {violations:#?}",
                object["kind"],
                object["metadata"]["name"]
            ),
            Err(SchemaError::NoSchema {
                api_version, kind, ..
            }) => {
                without.insert(format!("{api_version} {kind}"));
            }
            Err(err) => panic!("{what}: {err}"),
        }
    }
    without
}

#[test]
fn every_known_line_has_a_chart_set_to_be_judged_by() {
    let sets = chart_sets();
    for row in releases::LINES {
        assert!(
            sets.iter().any(|v| (v.major, v.minor) == row.line),
            "no charts of {} in ../shared",
            row.name()
        );
    }
}

#[test]
fn every_values_file_of_every_release_renders_through_its_charts_with_helm_3_and_4() {
    let Some(helms) = common::helms() else { return };
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    let mut without_schema = BTreeSet::new();
    for version in chart_sets() {
        let row = releases::line_of(&version).unwrap();
        let charts = common::shared().join(format!("upstream/istio-charts/{version}"));
        for (name, text) in meshes(&version) {
            let mesh = parse(&text);
            let tree = common::render_text(&text);
            let model = mesh_render::model::Model::from_mesh(
                &mesh,
                &mesh_render::model::SecretPlans::none(),
            );
            let dir = tempfile::tempdir().unwrap();
            for cluster in &model.clusters {
                let c = cluster.name.as_str();
                let network = cluster.network.as_str();
                let gateway_file = |stem: &str| dir.path().join(format!("{c}-{stem}.yaml"));
                let mut releases_of: Vec<(String, &str, String)> = vec![
                    ("base".into(), "base", "istio-base".into()),
                    ("istiod".into(), "istiod", "istiod".into()),
                ];
                for gw in &cluster.gateways {
                    releases_of.push((gw.values_file.into(), "gateway", gw.name.into()));
                }
                for (stem, chart, release) in &releases_of {
                    let path = format!("values/{c}/{stem}.yaml");
                    let values = tree
                        .get(&path)
                        .unwrap_or_else(|| panic!("{version} {name}: {path}"));
                    std::fs::write(gateway_file(stem), values).unwrap();
                    let skip = *chart == "gateway" && row.skips_gateway_schema(version.patch);
                    for helm in &helms {
                        let what = format!(
                            "{version} {name} {path} with {}",
                            helm.file_name().unwrap().to_string_lossy()
                        );
                        let objects = helm_template(
                            helm,
                            &charts.join(chart),
                            release,
                            &gateway_file(stem),
                            skip,
                        )
                        .unwrap_or_else(|err| panic!("{what}: helm failed:\n{err}"));
                        assert!(!objects.is_empty(), "{what}: nothing rendered");
                        without_schema.extend(validate_all(&catalog, &objects, &what));
                        let expect = Expect {
                            what: what.clone(),
                            version: &version,
                            row,
                            cluster: c,
                            network,
                            mesh_id: mesh.mesh_id.as_str(),
                            revision: mesh.istio.revision.as_ref().map(|r| r.as_str()),
                        };
                        if *chart == "istiod" {
                            check_istiod(&objects, &expect);
                        }
                        if *chart == "gateway"
                            && cluster.cross_network_gateway().values_file == stem
                        {
                            let labels = check_network_gateway(&objects, release, &expect);
                            let gateway = tree
                                .get(&format!("clusters/{c}/40-mesh/cross-network-gateway.yaml"))
                                .unwrap();
                            let gateway = &parse_documents(gateway).unwrap()[0];
                            let selector = gateway["spec"]["selector"].as_object().unwrap();
                            assert!(!selector.is_empty());
                            for (key, value) in selector {
                                assert_eq!(
                                    &labels[key], value,
                                    "{what}: the cross-network Gateway selects {key}={value}; the pods have {labels}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "kinds helm rendered that ../shared/schemas has no schema for (not validated): {}",
        if without_schema.is_empty() {
            "none".to_owned()
        } else {
            without_schema.into_iter().collect::<Vec<_>>().join(", ")
        }
    );
}

#[test]
fn the_sample_runs_the_images_of_each_release() {
    for version in chart_sets() {
        let row = releases::line_of(&version).unwrap();
        let tree = common::render_text(&common::with_release_defaults(&version.to_string()));
        let mut images = BTreeSet::new();
        for (path, text) in tree.texts() {
            if path.as_str().contains("/50-sample/") {
                for doc in parse_documents(text).unwrap() {
                    for c in doc["spec"]["template"]["spec"]["containers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        images.insert(c["image"].as_str().unwrap().to_owned());
                    }
                }
            }
        }
        for v in ["v1", "v2", "v3"] {
            let image = format!(
                "{}/examples-bookinfo-reviews-{v}:1.20.3",
                row.sample_reviews_hub
            );
            assert!(images.contains(&image), "{version}: {image} in {images:?}");
        }
        assert!(
            images.contains(row.sample_curl_image),
            "{version}: {images:?}"
        );
    }
}

#[test]
fn the_gitops_objects_name_the_chart_version_and_skip_schemas_exactly_where_needed() {
    for version in chart_sets() {
        let row = releases::line_of(&version).unwrap();
        let skip_gateway = row.skips_gateway_schema(version.patch);
        for target in ["flux", "argocd"] {
            let text = common::with_release_defaults_of(
                &common::gitops_mesh(target),
                &version.to_string(),
            );
            let tree = common::render_text(&text);
            let mut seen = 0;
            for (path, text) in tree.texts() {
                let p = path.as_str();
                let doc = if (p.starts_with("flux/") && p.ends_with("/helmrelease.yaml"))
                    || (p.starts_with("argocd/") && p.contains("/apps/"))
                {
                    parse_documents(text).unwrap().remove(0)
                } else {
                    continue;
                };
                let (chart, chart_version, skips) = if target == "flux" {
                    let spec = &doc["spec"];
                    (
                        spec["chart"]["spec"]["chart"].clone(),
                        spec["chart"]["spec"]["version"].clone(),
                        spec["install"]["disableSchemaValidation"] == true
                            && spec["upgrade"]["disableSchemaValidation"] == true,
                    )
                } else {
                    let source = &doc["spec"]["source"];
                    if source["chart"].is_null() {
                        continue; // an Application of a kustomize directory
                    }
                    (
                        source["chart"].clone(),
                        source["targetRevision"].clone(),
                        source["helm"]["skipSchemaValidation"] == true,
                    )
                };
                seen += 1;
                assert_eq!(chart_version, version.to_string(), "{version} {p}");
                let needs = chart == "gateway" && skip_gateway;
                assert_eq!(skips, needs, "{version} {p}: chart {chart}");
                let any_skip = text.contains("disableSchemaValidation")
                    || text.contains("skipSchemaValidation");
                assert_eq!(any_skip, needs, "{version} {p}");
            }
            assert!(seen >= 9, "{version} {target}: {seen} chart objects");
        }
    }
}
