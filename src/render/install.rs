//! The by-hand install of one cluster, for a tree without a GitOps target:
//! `clusters/<cluster>/install.sh` runs the cluster's rollout steps (`gitops::steps`, the order
//! Flux and Argo CD use) with kubectl, helm and sops, waiting for what the next step needs, and
//! `uninstall.sh` undoes them in reverse. Which files a step decrypts, which it applies
//! server-side, what it waits for, where a first rollout with pending remote secrets stops, and
//! which objects outlive their step or belong to the cluster's own installation are decided here;
//! the scripts' shape is in `templates/scripts/`.

use minijinja::{Value, context};

use crate::config::Workload;
use crate::gitops::{self, StepSource};
use crate::model::{Base, ClusterPlan, Layer, Model};
use crate::vocabulary::ISTIO_NAMESPACE;

/// A layer's files: those rendered in clear, then the sealed ones.
pub(super) type LayerFiles = (Layer, Vec<String>, Vec<String>);

/// The path and context of `cluster`'s install script; `layers` holds each layer's files.
pub(super) fn install_script(
    model: &Model,
    cluster: &ClusterPlan,
    layers: &[LayerFiles],
) -> (String, Value) {
    let name = &cluster.name;
    let mut steps = Vec::new();
    for step in gitops::steps(model, cluster) {
        let s = match &step.source {
            StepSource::Release(release) => context! {
                name => step.name,
                kind => "release",
                release => release.name.clone(),
                chart => release.chart,
                values => format!("values/{name}/{}.yaml", release.values),
                // The same release as an IstioOperator, for `--istioctl`.
                istioctl_file => match release.chart {
                    "gateway" => format!("istioctl/{name}/{}.yaml", release.values),
                    _ => format!("istioctl/{name}/controlplane.yaml"),
                },
                skip_schema => release.skip_schema,
                version => release.version.clone(),
                // After the last istiod: istiod releases the tree no longer names are removed.
                prune_istiods => release.chart == "istiod"
                    && cluster.charts.control_planes.last().is_some_and(|cp| cp.release == release.name),
                // The last gateway: where a first rollout with pending remote secrets stops.
                pending_stop => release.chart == "gateway"
                    && cluster.gateways.last().is_some_and(|g| g.name == release.name),
                wait => "",
                verify => false,
            },
            StepSource::Base { dir } => {
                let wait = match *dir {
                    d if d == Base::GatewayApi.dir() => "crds",
                    d if d == Base::Metallb.dir() => "metallb",
                    d if d == Base::MetricsServer.dir() => "metrics-server",
                    _ => "",
                };
                context! {
                    name => step.name,
                    kind => "base",
                    dir => format!("base/{dir}"),
                    // CRDs and upstream manifests too large for client-side apply's annotation.
                    server_side => *dir != Base::MetricsServer.dir(),
                    force_conflicts => false,
                    sealed => Vec::<String>::new(),
                    wait,
                    verify => false,
                    pending_stop => false,
                }
            }
            StepSource::Layer { dir } => {
                let layer = [
                    Layer::IstioSystem,
                    Layer::Reader,
                    Layer::ProviderFixes,
                    Layer::Mesh,
                    Layer::Sample,
                ]
                .into_iter()
                .find(|l| l.dir() == *dir);
                let path = format!("clusters/{name}/{dir}");
                let (plain, sealed) = layers
                    .iter()
                    .find(|(l, _, _)| Some(*l) == layer)
                    .map(|(_, plain, sealed)| (plain.clone(), sealed.clone()))
                    .unwrap_or_default();
                let in_dir = |files: Vec<String>| -> Vec<String> {
                    files.into_iter().map(|f| format!("{path}/{f}")).collect()
                };
                let wait = match layer {
                    Some(Layer::Reader) => "reader-token",
                    Some(Layer::ProviderFixes) if cluster.fixes.cilium.is_some() => "cilium",
                    Some(Layer::Sample) => "sample",
                    _ => "",
                };
                // The provider fixes are partial objects of what the cluster's own installation
                // owns (Cilium's Helm release): applied server-side, taking the fields over.
                let fixes = layer == Some(Layer::ProviderFixes);
                let verify =
                    layer == Some(Layer::Sample) && cluster.workloads.contains(&Workload::Sleep);
                context! {
                    name => step.name,
                    kind => "layer",
                    dir => path.clone(),
                    plain => in_dir(plain),
                    sealed => in_dir(sealed),
                    server_side => fixes,
                    force_conflicts => fixes,
                    wait,
                    verify,
                    pending_stop => false,
                }
            }
        };
        steps.push(s);
    }
    // A first rollout: the remote secrets this cluster needs, or that need it, are pending.
    let others = || model.clusters.iter().filter(|other| other.name != *name);
    let pending: Vec<&str> = others()
        .filter(|other| !other.has_credentials || !cluster.has_credentials)
        .map(|other| other.name.as_str())
        .collect();
    let ctx = context! {
        cluster => name.as_str(),
        mesh_id => model.mesh_id.clone(),
        context => cluster.context.as_str(),
        namespace => ISTIO_NAMESPACE,
        chart_repository => model.gitops.chart_repository.clone(),
        sample_namespace => model.sample.as_ref().map(|s| s.namespace.clone()),
        verifies => cluster.workloads.contains(&Workload::Sleep) && model.sample.is_some(),
        steps,
        pending => !pending.is_empty(),
        istiod_releases => cluster
            .charts
            .control_planes
            .iter()
            .map(|cp| cp.release.clone())
            .collect::<Vec<_>>()
            .join(" "),
        upgrade_stage => cluster.charts.stage,
    };
    (format!("clusters/{name}/install.sh"), ctx)
}

/// An object a layer applies, as `uninstall.sh` deletes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct LayerObject {
    pub api_version: String,
    pub kind: String,
    /// The kind as kubectl names it unambiguously (`Kind.version.group`: two `Gateway` kinds).
    pub resource: String,
    pub name: String,
    pub namespace: String,
    /// A partial object of what the cluster's own installation owns (server-side apply).
    pub owned_by_cluster: bool,
}

/// The objects of every layer, in the order the layer applies them.
pub(super) type LayerObjects = Vec<(Layer, Vec<LayerObject>)>;

/// The path and context of `cluster`'s uninstall script: its steps in reverse.
pub(super) fn uninstall_script(
    model: &Model,
    cluster: &ClusterPlan,
    objects: &LayerObjects,
) -> (String, Value) {
    let name = &cluster.name;
    let mut steps = Vec::new();
    for step in gitops::steps(model, cluster).into_iter().rev() {
        let s = match &step.source {
            StepSource::Release(release) => context! {
                name => step.name,
                kind => "release",
                release => release.name.clone(),
                chart => release.chart,
            },
            StepSource::Base { dir } => context! {
                name => step.name,
                kind => "base",
                dir => format!("base/{dir}"),
            },
            StepSource::Layer { dir } => {
                let layer = objects.iter().find(|(l, _)| l.dir() == *dir);
                let mut objects: Vec<LayerObject> =
                    layer.map(|(_, o)| o.clone()).unwrap_or_default();
                objects.reverse();
                let outlives = matches!(
                    layer.map(|(l, _)| *l),
                    Some(Layer::IstioSystem | Layer::Reader)
                );
                context! {
                    name => step.name,
                    kind => "layer",
                    outlives,
                    objects => minijinja::value::Serde(&objects),
                }
            }
        };
        steps.push(s);
    }
    let ctx = context! {
        cluster => name.as_str(),
        mesh_id => model.mesh_id.clone(),
        context => cluster.context.as_str(),
        namespace => ISTIO_NAMESPACE,
        steps,
    };
    (format!("clusters/{name}/uninstall.sh"), ctx)
}
