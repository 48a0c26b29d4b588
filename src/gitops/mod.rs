//! GitOps wiring: the order in which a cluster receives its parts, as one plan that both targets
//! render (Flux Kustomizations chained by dependsOn, Argo CD Applications in sync waves).

pub mod argocd;
pub mod flux;

use serde::Serialize;

/// The Secret that holds a cluster's age identity for its GitOps controller (Flux's
/// kustomize-controller in `flux-system`, KSOPS in Argo CD's repo-server), and the key it is
/// under: Flux takes only keys ending in `.agekey` as age identities.
pub const IDENTITY_SECRET: &str = "sops-age";
pub const IDENTITY_KEY: &str = "age.agekey";

use crate::config::Workload;
use crate::model::{Base, ClusterPlan, Layer, Model};

/// A release whose chart values the cluster does not have (a renderer defect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cluster {cluster} has no values for the release {release} (values/{cluster}/{values}.yaml)"
)]
pub struct NoValues {
    pub cluster: String,
    pub release: String,
    pub values: String,
}

/// The values document of `release` for `cluster`, for a template's `yaml_block`.
fn release_values(cluster: &ClusterPlan, release: &Release) -> Result<minijinja::Value, NoValues> {
    cluster
        .chart_values(&release.values)
        .map(minijinja::Value::from_object)
        .ok_or_else(|| NoValues {
            cluster: cluster.name.to_string(),
            release: release.name.clone(),
            values: release.values.clone(),
        })
}

/// One step of a cluster's rollout: a directory a GitOps tool applies as a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Unique within the cluster, e.g. `istio-system`, `istiod`.
    pub name: String,
    pub source: StepSource,
    /// Holds SOPS-encrypted files the tool must decrypt.
    pub decrypt: bool,
    /// Holds objects that must never be pruned or deleted by the tool (CRDs, cacerts...): the
    /// objects carry their own annotations too; this keeps the unit's deletion from removing them.
    pub protect: bool,
    /// Holds an immutable object that changes (the verification Job): recreated, not patched.
    pub force: bool,
}

/// Where a step's objects come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StepSource {
    /// A layer directory under clusters/<cluster>/.
    Layer { dir: &'static str },
    /// A base under base/.
    Base { dir: &'static str },
    /// One of Istio's Helm charts, installed with the cluster's values.
    Release(Release),
}

/// A Helm release of one of Istio's charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    /// The release name (also the Service/Deployment name for gateways).
    pub name: String,
    /// The chart in Istio's repository: base, istiod or gateway.
    pub chart: &'static str,
    /// The values file under values/<cluster>/, without `.yaml`.
    pub values: String,
    /// The chart's version (during a canary upgrade, the cluster's stage decides it).
    pub version: String,
    /// The chart fails the schema validation of Helm 3.18.5 and later: installed without it.
    pub skip_schema: bool,
}

/// The steps of a cluster, in the order it must receive them: the namespace and `cacerts` (before
/// istiod, or istiod starts with a self-signed CA), Gateway API CRDs and Istio's `base` chart, the
/// reader token (after the account the base chart creates), istiod, MetalLB, metrics-server and the
/// provider fixes, the gateways (the injection webhook must run: they use `image: auto`), the
/// cross-network Gateway and remote secrets, the sample.
pub fn steps(_model: &Model, cluster: &ClusterPlan) -> Vec<Step> {
    let has = |layer: Layer| cluster.layers.contains(&layer);
    let mut steps = Vec::new();
    let layer = |name: &str, layer: Layer, decrypt: bool, protect: bool| Step {
        name: name.to_owned(),
        source: StepSource::Layer { dir: layer.dir() },
        decrypt,
        protect,
        force: false,
    };
    let release =
        |name: &str, chart: &'static str, values: &str, version: &str, protect: bool| Step {
            name: name.to_owned(),
            source: StepSource::Release(Release {
                name: name.to_owned(),
                chart,
                values: values.to_owned(),
                version: version.to_owned(),
                skip_schema: chart == "gateway" && gateway_schema_validation_breaks(version),
            }),
            decrypt: false,
            protect,
            force: false,
        };
    let base = |name: &str, base: Base, protect: bool| Step {
        name: name.to_owned(),
        source: StepSource::Base { dir: base.dir() },
        decrypt: false,
        protect,
        force: false,
    };
    steps.push(layer(
        "istio-system",
        Layer::IstioSystem,
        cluster.cacerts.is_some(),
        true,
    ));
    steps.push(base("gateway-api", Base::GatewayApi, true));
    let charts = &cluster.charts;
    steps.push(release(
        "istio-base",
        "base",
        "base",
        &charts.base_version,
        true,
    ));
    steps.push(layer("reader", Layer::Reader, false, true));
    // The old control plane first: it gives up the `default` tag before the new one takes it.
    for cp in &charts.control_planes {
        steps.push(release(
            &cp.release,
            "istiod",
            &cp.values_file,
            &cp.version,
            false,
        ));
    }
    if cluster.bases.contains(&Base::Metallb) {
        steps.push(base("metallb", Base::Metallb, false));
    }
    if cluster.bases.contains(&Base::MetricsServer) {
        steps.push(base("metrics-server", Base::MetricsServer, false));
    }
    if has(Layer::ProviderFixes) {
        steps.push(layer("provider-fixes", Layer::ProviderFixes, false, true));
    }
    for gw in &cluster.gateways {
        steps.push(release(
            gw.name,
            "gateway",
            gw.values_file,
            &charts.gateway_version,
            false,
        ));
    }
    steps.push(layer(
        "mesh",
        Layer::Mesh,
        !cluster.remote_secrets.is_empty(),
        false,
    ));
    if has(Layer::Sample) {
        let mut sample = layer("sample", Layer::Sample, false, false);
        sample.force = cluster.workloads.contains(&Workload::Sleep);
        steps.push(sample);
    }
    steps
}

/// Whether the release's gateway chart fails the schema validation of Helm 3.18.5 and later
/// (Istio 1.26.0 to 1.26.3, istio/istio#57354, as the release table says): those releases are
/// installed with schema validation off.
pub fn gateway_schema_validation_breaks(istio_version: &str) -> bool {
    crate::releases::IstioVersion::parse(istio_version).is_some_and(|version| {
        crate::releases::line_of(&version).is_some_and(|l| l.skips_gateway_schema(version.patch))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_skip_covers_exactly_1_26_0_to_1_26_3() {
        for v in ["1.26.0", "1.26.3"] {
            assert!(gateway_schema_validation_breaks(v), "{v}");
        }
        for v in ["1.26.4", "1.27.0"] {
            assert!(!gateway_schema_validation_breaks(v), "{v}");
        }
    }
}
