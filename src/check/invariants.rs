//! The mesh invariants of a rendered tree: one network per cluster, agreed on by every object
//! that names it; one meshID and trust domain; a cross-network Gateway each cluster can be
//! reached through; remote secrets for exactly the other clusters; the sample where described.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::report::{Finding, Report};
use super::tree::{BuiltObject, describe};

use crate::config::Workload;
use crate::vocabulary::{
    CLUSTER_ANNOTATION, NETWORK_GATEWAY_PORTS, NETWORK_LABEL, NETWORK_VIEW_ENV as NETWORK_VIEW,
    REMOTE_SECRET_PREFIX as REMOTE_PREFIX, REVIEWS_SERVICE,
};

/// The cross-network port, as JSON numbers read back are.
const CROSS_NETWORK_PORT: u64 = crate::vocabulary::CROSS_NETWORK_PORT as u64;

/// What the mesh description says, when `check` has one (`--against`), taken from its model:
/// the invariants that need more than the tree are checked against it.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// The sample workloads of each cluster (none when the sample is disabled).
    pub placement: BTreeMap<String, BTreeSet<String>>,
    /// The API server of each cluster whose description names one.
    pub servers: BTreeMap<String, String>,
    /// The clusters that declare credentials: their remote secrets cannot be pending.
    pub with_credentials: BTreeSet<String>,
    /// The tree's path in its Git repository, when it is wired for GitOps: what every Flux
    /// Kustomization's and Argo CD Application's path starts with.
    pub repository_path: Option<String>,
}

impl Expected {
    /// What the model of the description says.
    pub fn from_model(model: &crate::model::Model) -> Self {
        let mut e = Expected::default();
        for plan in &model.clusters {
            let name = plan.name.to_string();
            e.placement.insert(
                name.clone(),
                plan.workloads.iter().map(|w| w.name().to_owned()).collect(),
            );
            if plan.has_credentials {
                e.with_credentials.insert(name.clone());
            }
            if let Some(server) = &plan.api_server {
                e.servers.insert(name, server.clone());
            }
        }
        if model.gitops.target != crate::config::GitOpsTarget::None {
            e.repository_path = Some(model.gitops.path.clone());
        }
        e
    }
}

/// One document of a file outside the kustomize layers (values, istioctl, GitOps objects).
#[derive(Debug, Clone)]
pub struct Doc {
    pub file: String,
    pub value: Value,
}

/// One cluster's part of the tree, as `check` reads it (one cluster at a time).
pub struct ClusterView<'a> {
    pub name: &'a str,
    /// Every object its layers under `clusters/<name>/` build; `None` if it has no layer.
    pub layers: Option<&'a [&'a BuiltObject]>,
    /// The documents of `values/<name>/`, `istioctl/<name>/`, `flux/<name>/`, `argocd/<name>/`.
    pub config: &'a [Doc],
    /// Its decrypted SOPS files, by file, when an identity was at hand.
    pub plain: &'a BTreeMap<String, Vec<Value>>,
    /// The kubeconfigs parsed so far (each is in every other cluster's remote secret).
    pub memo: &'a crate::memo::Parsed,
}

/// What one cluster's files say that the invariants across clusters need: all `check` keeps
/// of a cluster once its files are checked.
#[derive(Debug, Default)]
pub struct ClusterSummary {
    has_layers: bool,
    /// The network its Istio namespace is labelled with, and the file that says so.
    network: Option<(String, String)>,
    /// (file, field, value) of every meshID and trust domain it sets.
    mesh_ids: Vec<(String, String, String)>,
    trust_domains: Vec<(String, String, String)>,
    /// The clusters it holds a remote secret for.
    remote_sources: BTreeSet<String>,
    /// (source, file, server) of each remote secret whose server could be read.
    servers: Vec<(String, String, String)>,
    /// The sample workloads it runs, and whether it has the `reviews` Service.
    placed: BTreeSet<String>,
    with_service: bool,
}

/// A gateway as its values or IstioOperator describe it.
#[derive(Debug)]
struct GatewayDecl {
    labels: BTreeMap<String, String>,
    /// The network it is the gateway of (`topology.istio.io/network`), if it is a network gateway.
    network: Option<String>,
    ports: BTreeSet<u64>,
}

/// Checks the invariants within one cluster; `clusters` are the mesh's clusters (those with
/// layers). Returns what the invariants across clusters need.
pub fn check_cluster(
    view: &ClusterView<'_>,
    clusters: &BTreeSet<String>,
    report: &mut Report,
) -> ClusterSummary {
    let cluster = view.name;
    let mut summary = ClusterSummary {
        has_layers: view.layers.is_some(),
        ..ClusterSummary::default()
    };
    if let Some(layers) = view.layers {
        summary.network = network(cluster, layers, report);
    }
    if !view.config.is_empty() {
        let network = summary.network.as_ref().map(|(_, n)| n.as_str());
        let gateways = check_config(
            cluster,
            network,
            view.config,
            &mut summary.mesh_ids,
            &mut summary.trust_domains,
            report,
        );
        check_cross_network_gateway(cluster, view.layers.unwrap_or(&[]), &gateways, report);
    } else if view.layers.is_some() {
        report.push(Finding::error(
            "invariant",
            format!("clusters/{cluster}"),
            format!("cluster {cluster} has layers but no control plane (no values/{cluster}/ or istioctl/{cluster}/)"),
            "render again: every cluster gets its istiod values",
        ));
    }
    if let Some(layers) = view.layers {
        remote_secrets_of(view, layers, clusters, &mut summary, report);
        for o in layers {
            let name = o.value["metadata"]["name"].as_str().unwrap_or("");
            if o.value["kind"] == "Deployment" && Workload::ALL.iter().any(|w| w.name() == name) {
                summary.placed.insert(name.to_owned());
            }
            if o.value["kind"] == "Service" && name == REVIEWS_SERVICE {
                summary.with_service = true;
            }
        }
    }
    summary
}

/// Checks the invariants across clusters from each cluster's summary; `strict` turns pending
/// remote secrets into errors.
pub fn check_mesh(
    summaries: &BTreeMap<String, ClusterSummary>,
    expected: Option<&Expected>,
    strict: bool,
    report: &mut Report,
) {
    let networks: BTreeMap<String, (String, String)> = summaries
        .iter()
        .filter_map(|(c, s)| Some((c.clone(), s.network.clone()?)))
        .collect();
    check_distinct_networks(&networks, report);
    let mesh_ids: Vec<_> = summaries
        .values()
        .flat_map(|s| s.mesh_ids.clone())
        .collect();
    let trust_domains: Vec<_> = summaries
        .values()
        .flat_map(|s| s.trust_domains.clone())
        .collect();
    agree("global.meshID", "meshID", &mesh_ids, report);
    agree(
        "meshConfig.trustDomain",
        "trustDomain",
        &trust_domains,
        report,
    );
    check_remote_secrets(summaries, expected, strict, report);
    check_sample(summaries, expected, report);
}

/// A cluster's network, from the label on its Istio namespace.
fn network(
    cluster: &str,
    objects: &[&BuiltObject],
    report: &mut Report,
) -> Option<(String, String)> {
    let labelled: Vec<&BuiltObject> = objects
        .iter()
        .copied()
        .filter(|o| {
            o.value["kind"] == "Namespace"
                && o.value["metadata"]["labels"].get(NETWORK_LABEL).is_some()
        })
        .collect();
    match labelled.as_slice() {
        [one] => match one.value["metadata"]["labels"][NETWORK_LABEL].as_str() {
            Some(network) if !network.is_empty() => {
                return Some((one.file.clone(), network.to_owned()));
            }
            _ => report.push(
                Finding::error("invariant", &one.file, "the network label is empty or not a string", "render again")
                    .object(describe(&one.value))
                    .field(format!("metadata.labels.{NETWORK_LABEL}")),
            ),
        },
        [] => report.push(Finding::error(
            "invariant",
            format!("clusters/{cluster}"),
            format!("no namespace of cluster {cluster} carries the {NETWORK_LABEL} label, so no istiod knows which network its endpoints are on"),
            "render again: the Istio namespace is labelled with the cluster's network",
        )),
        [first, ..] => report.push(Finding::error(
            "invariant",
            &first.file,
            format!("{} namespaces of cluster {cluster} carry the {NETWORK_LABEL} label", labelled.len()),
            "keep the label on the Istio namespace only",
        )),
    }
    None
}

fn check_distinct_networks(networks: &BTreeMap<String, (String, String)>, report: &mut Report) {
    let mut by_network: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (cluster, (_, network)) in networks {
        by_network.entry(network).or_default().push(cluster);
    }
    for (network, clusters) in by_network.iter().filter(|(_, c)| c.len() > 1) {
        for cluster in clusters {
            let (file, _) = &networks[*cluster];
            report.push(
                Finding::error(
                    "invariant",
                    file,
                    format!("network {network} is shared by clusters {}: each cluster of a multi-network mesh needs its own", clusters.join(", ")),
                    "give each cluster a distinct clusters[].network in mesh.yaml and render again",
                )
                .field(format!("metadata.labels.{NETWORK_LABEL}")),
            );
        }
    }
}

/// The values roots of one document: the document (a values file), `spec.values` (IstioOperator,
/// HelmRelease), `spec.source(s).helm.valuesObject` (Argo CD).
fn values_roots(doc: &Doc) -> Vec<(String, &Value)> {
    let v = &doc.value;
    let mut roots = Vec::new();
    if doc.file.starts_with("values/") {
        roots.push((String::new(), v));
    }
    if let Some(values) = v.pointer("/spec/values").filter(|x| x.is_object()) {
        roots.push(("spec.values.".to_owned(), values));
    }
    if let Some(values) = v
        .pointer("/spec/source/helm/valuesObject")
        .filter(|x| x.is_object())
    {
        roots.push(("spec.source.helm.valuesObject.".to_owned(), values));
    }
    for (i, source) in v
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(values) = source
            .pointer("/helm/valuesObject")
            .filter(|x| x.is_object())
        {
            roots.push((format!("spec.sources[{i}].helm.valuesObject."), values));
        }
    }
    roots
}

/// Checks the control-plane and gateway configuration of one cluster against its network, and
/// collects meshID and trust domain; returns the gateways it declares.
fn check_config(
    cluster: &str,
    network: Option<&str>,
    docs: &[Doc],
    mesh_ids: &mut Vec<(String, String, String)>,
    trust_domains: &mut Vec<(String, String, String)>,
    report: &mut Report,
) -> Vec<GatewayDecl> {
    let mut gateways = Vec::new();
    let mut names_network = false;
    let wrong = |file: &str, field: String, what: &str, found: &str, report: &mut Report| {
        report.push(
            Finding::error(
                "invariant",
                file,
                format!("{what} is {found:?}, but cluster {cluster} is on network {:?} (its namespace label)", network.unwrap_or("")),
                "render again from one mesh description; never edit the rendered files",
            )
            .field(field),
        );
    };
    for doc in docs {
        let file = doc.file.as_str();
        if let Some(td) = doc
            .value
            .pointer("/spec/meshConfig/trustDomain")
            .and_then(Value::as_str)
        {
            trust_domains.push((
                file.to_owned(),
                "spec.meshConfig.trustDomain".to_owned(),
                td.to_owned(),
            ));
        }
        for (prefix, root) in values_roots(doc) {
            let s = |p: &str| root.pointer(p).and_then(Value::as_str);
            if let Some(found) = s("/global/network") {
                names_network = true;
                if Some(found) != network {
                    wrong(
                        file,
                        format!("{prefix}global.network"),
                        "istiod's network",
                        found,
                        report,
                    );
                }
            }
            if let Some(id) = s("/global/meshID") {
                mesh_ids.push((
                    file.to_owned(),
                    format!("{prefix}global.meshID"),
                    id.to_owned(),
                ));
            }
            if let Some(td) = s("/meshConfig/trustDomain") {
                trust_domains.push((
                    file.to_owned(),
                    format!("{prefix}meshConfig.trustDomain"),
                    td.to_owned(),
                ));
            }
            if let Some(name) = s("/global/multiCluster/clusterName")
                && name != cluster
            {
                report.push(
                    Finding::error(
                        "invariant",
                        file,
                        format!("clusterName is {name:?} in the files of cluster {cluster}"),
                        "render again",
                    )
                    .field(format!("{prefix}global.multiCluster.clusterName")),
                );
            }
            // The gateway chart's values: a `name` and `labels`.
            if let (Some(name), Some(labels)) =
                (s("/name"), root.get("labels").and_then(Value::as_object))
            {
                let mut labels: BTreeMap<String, String> = labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect();
                // The chart's selector labels (`_helpers.tpl`), unless `labels` overrides them.
                labels
                    .entry("app".to_owned())
                    .or_insert_with(|| name.to_owned());
                labels
                    .entry("istio".to_owned())
                    .or_insert_with(|| name.strip_prefix("istio-").unwrap_or(name).to_owned());
                let network_gateway = s("/networkGateway").filter(|n| !n.is_empty());
                if let Some(found) = network_gateway
                    && Some(found) != network
                {
                    wrong(
                        file,
                        format!("{prefix}networkGateway"),
                        "the gateway's network",
                        found,
                        report,
                    );
                }
                if let Some(found) = labels.get(NETWORK_LABEL)
                    && Some(found.as_str()) != network
                {
                    wrong(
                        file,
                        format!("{prefix}labels.{NETWORK_LABEL}"),
                        "the gateway's network label",
                        found,
                        report,
                    );
                }
                if let Some(view) = s(&format!("/env/{NETWORK_VIEW}"))
                    && Some(view) != network
                {
                    wrong(
                        file,
                        format!("{prefix}env.{NETWORK_VIEW}"),
                        "the gateway's network view",
                        view,
                        report,
                    );
                }
                let ports: BTreeSet<u64> = match network_gateway {
                    Some(_) => NETWORK_GATEWAY_PORTS.into_iter().map(u64::from).collect(),
                    None => root
                        .pointer("/service/ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p["port"].as_u64())
                        .collect(),
                };
                let network = network_gateway
                    .map(str::to_owned)
                    .or_else(|| labels.get(NETWORK_LABEL).cloned());
                gateways.push(GatewayDecl {
                    labels,
                    network,
                    ports,
                });
            }
        }
        // IstioOperator gateways.
        for (i, gw) in doc
            .value
            .pointer("/spec/components/ingressGateways")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if gw["enabled"] != true {
                continue;
            }
            let field = format!("spec.components.ingressGateways[{i}]");
            let labels: BTreeMap<String, String> = gw["label"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect();
            if let Some(found) = labels.get(NETWORK_LABEL)
                && Some(found.as_str()) != network
            {
                wrong(
                    file,
                    format!("{field}.label.{NETWORK_LABEL}"),
                    "the gateway's network label",
                    found,
                    report,
                );
            }
            for env in gw
                .pointer("/k8s/env")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if env["name"] == NETWORK_VIEW
                    && let Some(view) = env["value"].as_str()
                    && Some(view) != network
                {
                    wrong(
                        file,
                        format!("{field}.k8s.env.{NETWORK_VIEW}"),
                        "the gateway's network view",
                        view,
                        report,
                    );
                }
            }
            let ports = gw
                .pointer("/k8s/service/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p["port"].as_u64())
                .collect();
            let network = labels.get(NETWORK_LABEL).cloned();
            gateways.push(GatewayDecl {
                labels,
                network,
                ports,
            });
        }
    }
    if !names_network && network.is_some() {
        report.push(Finding::error(
            "invariant",
            format!("values/{cluster}"),
            format!("no istiod configuration of cluster {cluster} sets global.network"),
            "render again: istiod must know its cluster's network",
        ));
    }
    gateways
}

/// One value (meshID, trust domain) must be the same everywhere; the most common one is taken as
/// the mesh's and every other occurrence is reported.
fn agree(what: &str, name: &str, seen: &[(String, String, String)], report: &mut Report) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, value) in seen {
        *counts.entry(value).or_default() += 1;
    }
    let Some((mesh_value, _)) = counts.iter().max_by_key(|(_, n)| **n) else {
        return;
    };
    if counts.len() < 2 {
        return;
    }
    for (file, field, value) in seen.iter().filter(|(_, _, v)| v != mesh_value) {
        report.push(
            Finding::error(
                "invariant",
                file,
                format!("{name} is {value:?}, but the rest of the mesh uses {mesh_value:?}: {what} must agree everywhere or clusters do not trust or find each other"),
                "render again from one mesh description",
            )
            .field(field.clone()),
        );
    }
}

/// The cross-network Gateway exists, passes 15443 through, and selects a gateway that exists and
/// exposes 15443.
fn check_cross_network_gateway(
    cluster: &str,
    objects: &[&BuiltObject],
    gateways: &[GatewayDecl],
    report: &mut Report,
) {
    let cross: Vec<&BuiltObject> = objects
        .iter()
        .copied()
        .filter(|o| {
            o.value["kind"] == "Gateway"
                && o.value["apiVersion"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("networking.istio.io/"))
                && o.value
                    .pointer("/spec/servers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|s| s["tls"]["mode"] == "AUTO_PASSTHROUGH")
        })
        .collect();
    if cross.is_empty() {
        report.push(Finding::error(
            "invariant",
            format!("clusters/{cluster}"),
            format!("cluster {cluster} has no cross-network Gateway (AUTO_PASSTHROUGH on {CROSS_NETWORK_PORT}): no other network can reach its services"),
            "render again: every cluster gets cross-network-gateway.yaml",
        ));
    }
    for gw in cross {
        let object = describe(&gw.value);
        let servers = gw
            .value
            .pointer("/spec/servers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, server) in servers
            .iter()
            .enumerate()
            .filter(|(_, s)| s["tls"]["mode"] == "AUTO_PASSTHROUGH")
        {
            if server["port"]["number"].as_u64() != Some(CROSS_NETWORK_PORT) {
                report.push(
                    Finding::error("invariant", &gw.file, format!("AUTO_PASSTHROUGH is on port {}, but the other clusters send cross-network traffic to {CROSS_NETWORK_PORT}", server["port"]["number"]), "render again")
                        .object(object.clone())
                        .field(format!("spec.servers[{i}].port.number")),
                );
            }
        }
        let selector: BTreeMap<String, String> = gw
            .value
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        let shown: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let selected: Vec<&GatewayDecl> = gateways
            .iter()
            .filter(|g| {
                !selector.is_empty() && selector.iter().all(|(k, v)| g.labels.get(k) == Some(v))
            })
            .collect();
        if selected.is_empty() {
            report.push(
                Finding::error(
                    "invariant",
                    &gw.file,
                    format!("selects {}, but no gateway of cluster {cluster} has those labels: cross-network traffic has nowhere to land", shown.join(",")),
                    "render again: the selector must match the gateway's labels",
                )
                .object(object)
                .field("spec.selector"),
            );
        } else if !selected.iter().any(|g| g.network.is_some()) {
            report.push(
                Finding::error(
                    "invariant",
                    &gw.file,
                    format!("selects {}, which is not a network gateway (no {NETWORK_LABEL} label): istiod never sends other networks' traffic to it", shown.join(",")),
                    "render again: select the gateway that carries cross-network traffic",
                )
                .object(object)
                .field("spec.selector"),
            );
        } else if !selected
            .iter()
            .any(|g| g.ports.contains(&CROSS_NETWORK_PORT))
        {
            report.push(
                Finding::error(
                    "invariant",
                    &gw.file,
                    format!(
                        "selects {}, whose Service does not expose port {CROSS_NETWORK_PORT}",
                        shown.join(",")
                    ),
                    format!("render again: the gateway that carries cross-network traffic exposes {CROSS_NETWORK_PORT}"),
                )
                .object(object)
                .field("spec.selector"),
            );
        }
    }
}

/// A remote secret found in a cluster's layers.
struct RemoteSecret<'a> {
    object: &'a BuiltObject,
    source: String,
}

/// The remote secrets one cluster holds: each names its cluster consistently, is for another
/// cluster of the mesh, and (decrypted) points at an API server, noted in `summary`.
fn remote_secrets_of(
    view: &ClusterView<'_>,
    objects: &[&BuiltObject],
    clusters: &BTreeSet<String>,
    summary: &mut ClusterSummary,
    report: &mut Report,
) {
    let holder = view.name;
    let mut found: BTreeMap<String, RemoteSecret<'_>> = BTreeMap::new();
    for object in objects {
        let v = &object.value;
        let name = v["metadata"]["name"].as_str().unwrap_or("");
        let Some(source) = name.strip_prefix(REMOTE_PREFIX) else {
            continue;
        };
        if !matches!(v["kind"].as_str(), Some("Secret" | "ExternalSecret")) {
            continue;
        }
        let annotation = match v["kind"].as_str() {
            Some("ExternalSecret") => v
                .pointer("/spec/target/template/metadata/annotations")
                .and_then(|a| a.get(CLUSTER_ANNOTATION)),
            _ => v
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(CLUSTER_ANNOTATION)),
        };
        if annotation.and_then(Value::as_str) != Some(source) {
            report.push(
                Finding::error(
                    "invariant",
                    &object.file,
                    format!("remote secret {name} is not annotated {CLUSTER_ANNOTATION}: {source}, so istiod names the cluster wrongly"),
                    "render again",
                )
                .object(describe(v))
                .field(format!("metadata.annotations.{CLUSTER_ANNOTATION}")),
            );
        }
        if source == holder {
            report.push(
                Finding::error(
                    "invariant",
                    &object.file,
                    format!("cluster {holder} holds a remote secret for itself: its istiod would watch its own API server twice"),
                    "delete it and render again",
                )
                .object(describe(v)),
            );
        } else if !clusters.contains(source) {
            report.push(
                Finding::error(
                    "invariant",
                    &object.file,
                    format!("remote secret for {source}, which is not a cluster of this mesh"),
                    "delete it and render again",
                )
                .object(describe(v)),
            );
        }
        found.insert(
            source.to_owned(),
            RemoteSecret {
                object,
                source: source.to_owned(),
            },
        );
    }
    for secret in found.values() {
        summary.remote_sources.insert(secret.source.clone());
        if let Some(server) = remote_server(view.plain, view.memo, secret, report) {
            summary
                .servers
                .push((secret.source.clone(), secret.object.file.clone(), server));
        }
    }
}

/// Each cluster has remote secrets for exactly the others, and every remote secret for one
/// cluster points at its API server.
fn check_remote_secrets(
    summaries: &BTreeMap<String, ClusterSummary>,
    expected: Option<&Expected>,
    strict: bool,
    report: &mut Report,
) {
    let clusters: Vec<&String> = summaries
        .iter()
        .filter(|(_, s)| s.has_layers)
        .map(|(c, _)| c)
        .collect();
    let mut servers: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut pending = Vec::new();
    for holder in &clusters {
        let summary = &summaries[*holder];
        for other in clusters
            .iter()
            .filter(|c| **c != *holder && !summary.remote_sources.contains(c.as_str()))
        {
            let credentialed =
                expected.is_some_and(|e| e.with_credentials.contains(other.as_str()));
            if credentialed {
                report.push(Finding::error(
                    "invariant",
                    format!("clusters/{holder}"),
                    format!("cluster {holder} has no remote secret for {other}, although {other} declares credentials: its istiod cannot see {other}'s endpoints"),
                    "render again",
                ));
            } else {
                pending.push(format!("{other} for {holder}"));
            }
        }
        for (source, file, server) in &summary.servers {
            servers
                .entry(source.clone())
                .or_default()
                .push((file.clone(), server.clone()));
        }
    }
    if !pending.is_empty() {
        let text = format!(
            "{} remote secrets are pending ({}): until then those istiods cannot see the clusters' endpoints",
            pending.len(),
            pending.join(", ")
        );
        let fix =
            "give each of those clusters credentials (clusters[].credentials) and render again";
        report.push(if strict {
            Finding::error("invariant", "clusters", text, fix)
        } else {
            Finding::warning("invariant", "clusters", text, fix)
        });
    }
    for (source, seen) in &servers {
        let wanted = expected.and_then(|e| e.servers.get(source));
        let distinct: BTreeSet<&String> = seen.iter().map(|(_, s)| s).collect();
        for (file, server) in seen {
            if let Some(wanted) = wanted {
                if server != wanted {
                    report.push(
                        Finding::error(
                            "invariant",
                            file,
                            format!("the remote secret for {source} points at {server}, but the mesh description says {source}'s API server is {wanted}"),
                            "render again with the current credentials",
                        )
                        .field(format!("stringData.{source}.clusters[0].cluster.server")),
                    );
                }
            } else if distinct.len() > 1 {
                report.push(
                    Finding::error(
                        "invariant",
                        file,
                        format!(
                            "the remote secrets for {source} disagree on its API server ({})",
                            distinct
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        "render again with the current credentials",
                    )
                    .field(format!("stringData.{source}.clusters[0].cluster.server")),
                );
            }
        }
    }
}

/// The API server a remote secret points at, from its decrypted (or templated) kubeconfig.
fn remote_server(
    plain: &BTreeMap<String, Vec<Value>>,
    memo: &crate::memo::Parsed,
    secret: &RemoteSecret<'_>,
    report: &mut Report,
) -> Option<String> {
    let v = &secret.object.value;
    let source = &secret.source;
    let (data, field) = match v["kind"].as_str() {
        Some("ExternalSecret") => (
            v.pointer("/spec/target/template/data").cloned()?,
            "spec.target.template.data",
        ),
        _ => {
            let docs = plain.get(&secret.object.file)?;
            let doc = docs
                .iter()
                .find(|d| d["metadata"]["name"] == v["metadata"]["name"])?;
            (
                doc.get("stringData").cloned().unwrap_or(Value::Null),
                "stringData",
            )
        }
    };
    let keys: Vec<&String> = data
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    if keys != [source] {
        report.push(
            Finding::error("invariant", &secret.object.file, format!("the remote secret for {source} holds {keys:?}: istiod expects exactly one kubeconfig, under the key {source}"), "render again")
                .object(describe(v))
                .field(field),
        );
        return None;
    }
    // An ExternalSecret's template holds `{{ .token }}`-style expressions, filled in the cluster.
    let text = data[source].as_str().unwrap_or("");
    static TEMPLATE_EXPRESSION: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\{\{[^}]*\}\}").ok());
    let text = match TEMPLATE_EXPRESSION.as_ref() {
        Some(re) if text.contains("{{") => re.replace_all(text, "templated").into_owned(),
        _ => text.to_owned(),
    };
    let Some(kubeconfig) = memo.yaml(&text) else {
        let e = serde_saphyr::from_str::<Value>(&text)
            .err()
            .map_or_else(|| "not one document".to_owned(), |e| e.to_string());
        report.push(
            Finding::error(
                "invariant",
                &secret.object.file,
                format!("the kubeconfig for {source} does not parse: {e}"),
                "render again",
            )
            .object(describe(v))
            .field(format!("{field}.{source}")),
        );
        return None;
    };
    match kubeconfig
        .pointer("/clusters/0/cluster/server")
        .and_then(Value::as_str)
    {
        Some(server) => Some(server.to_owned()),
        None => {
            report.push(
                Finding::error(
                    "invariant",
                    &secret.object.file,
                    format!("the kubeconfig for {source} names no server"),
                    "render again",
                )
                .object(describe(v))
                .field(format!("{field}.{source}.clusters[0].cluster.server")),
            );
            None
        }
    }
}

/// The sample runs where the description places it; without a description, every reviews version
/// and sleep run somewhere, and each cluster running the sample has the `reviews` Service.
fn check_sample(
    summaries: &BTreeMap<String, ClusterSummary>,
    expected: Option<&Expected>,
    report: &mut Report,
) {
    let placed: BTreeMap<&str, &BTreeSet<String>> = summaries
        .iter()
        .filter(|(_, s)| s.has_layers)
        .map(|(c, s)| (c.as_str(), &s.placed))
        .collect();
    let with_service: BTreeSet<&str> = summaries
        .iter()
        .filter(|(_, s)| s.with_service)
        .map(|(c, _)| c.as_str())
        .collect();
    match expected {
        Some(expected) => {
            for (cluster, running) in &placed {
                let wanted = expected
                    .placement
                    .get(*cluster)
                    .cloned()
                    .unwrap_or_default();
                if **running != wanted {
                    let show = |s: &BTreeSet<String>| {
                        if s.is_empty() {
                            "nothing".to_owned()
                        } else {
                            s.iter().cloned().collect::<Vec<_>>().join(", ")
                        }
                    };
                    report.push(Finding::error(
                        "invariant",
                        format!("clusters/{cluster}"),
                        format!("cluster {cluster} runs {} of the sample, but the description places {} there", show(running), show(&wanted)),
                        "render again from the mesh description",
                    ));
                }
            }
        }
        None => {
            let all: BTreeSet<&String> = placed.values().flat_map(|p| p.iter()).collect();
            if all.is_empty() {
                return;
            }
            for workload in Workload::ALL
                .iter()
                .map(|w| w.name())
                .filter(|w| !all.iter().any(|a| a == w))
            {
                report.push(Finding::error(
                    "invariant",
                    "clusters",
                    format!("no cluster runs {workload}: the sample cannot show traffic answered from every reviews version"),
                    "render again; check sample.placement in mesh.yaml",
                ));
            }
        }
    }
    for (cluster, running) in &placed {
        if !running.is_empty() && !with_service.contains(cluster) {
            report.push(Finding::error(
                "invariant",
                format!("clusters/{cluster}"),
                format!("cluster {cluster} runs the sample but has no `reviews` Service: its callers cannot resolve reviews"),
                "render again",
            ));
        }
    }
}
