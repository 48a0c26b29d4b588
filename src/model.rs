//! The derived topology: from a validated mesh description, what each cluster receives — its
//! layers and bases in apply order, its gateways with their ports and labels, its provider fixes
//! and the sample workloads it runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::config::{
    self, AgeRecipient, ClusterName, Cni, ContextName, LoadBalancer, Mesh, NetworkName, Topology,
    Workload,
};
use crate::digest;
use crate::pki::rotation::Stage;
use crate::pki::state::PkiState;
use crate::upgrade::Charts;
use crate::values::{BaseValues, GatewayValues, IstiodValues, Port};
use crate::vocabulary::{
    CROSS_NETWORK_PORT, ISTIO_NAMESPACE, ISTIOD_PORT, STATUS_PORT, WEBHOOK_PORT,
};

/// One layer of a cluster: a kustomize directory applied on its own, in this order; the Helm
/// releases and bases go between layers (see the cluster's README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Layer {
    /// The `istio-system` namespace, labelled with the cluster's network.
    IstioSystem,
    /// The reader token: a long-lived token of `istio-reader-service-account` (which Istio's
    /// `base` chart creates), for the other clusters' istiods to read this one.
    Reader,
    /// Fixes for the cluster's provider: Cilium settings, the MetalLB address pool.
    ProviderFixes,
    /// The cross-network Gateway (and, later, the remote secrets).
    Mesh,
    /// The sample that proves cross-cluster traffic.
    Sample,
}

impl Layer {
    pub fn dir(self) -> &'static str {
        match self {
            Layer::IstioSystem => "10-istio-system",
            Layer::Reader => "20-reader",
            Layer::ProviderFixes => "30-provider-fixes",
            Layer::Mesh => "40-mesh",
            Layer::Sample => "50-sample",
        }
    }
}

/// A shared kustomization under out/base/ referencing an upstream release by pinned URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Base {
    GatewayApi,
    Metallb,
    MetricsServer,
}

impl Base {
    pub fn dir(self) -> &'static str {
        match self {
            Base::GatewayApi => "gateway-api",
            Base::Metallb => "metallb",
            Base::MetricsServer => "metrics-server",
        }
    }
}

/// A Helm chart of Istio's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Chart {
    Base,
    Istiod,
    Gateway,
}

impl Chart {
    /// The chart's name in Istio's Helm repository.
    pub fn name(self) -> &'static str {
        match self {
            Chart::Base => "base",
            Chart::Istiod => "istiod",
            Chart::Gateway => "gateway",
        }
    }
}

/// Everything the renderer needs, derived once.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    pub mesh_id: String,
    pub trust_domain: String,
    pub istio: IstioPlan,
    pub topology: Topology,
    pub clusters: Vec<ClusterPlan>,
    /// The bases any cluster needs, each with the URL it references.
    pub bases: Vec<BasePlan>,
    pub sample: Option<SamplePlan>,
    /// Things the user should know about this mesh; printed in the summary.
    pub warnings: Vec<Warning>,
    pub gitops: GitOpsPlan,
}

/// How the tree is wired for GitOps.
#[derive(Debug, Clone, Serialize)]
pub struct GitOpsPlan {
    pub target: config::GitOpsTarget,
    pub repository_url: Option<String>,
    pub branch: String,
    /// The rendered tree's path in the repository.
    pub path: String,
    pub chart_repository: String,
    /// Argo CD: one hub for every cluster instead of one Argo CD per cluster.
    pub argocd_hub: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct IstioPlan {
    pub version: String,
    /// The version's release line, as `1.26`.
    pub line: String,
    /// The Gateway API release the version's line is built against, as `v1.3` (the release
    /// table's pin without its patch).
    pub gateway_api_minor: String,
    /// The istiod chart's (and istioctl's) `profile`; `None` for the default.
    pub profile: Option<&'static str>,
    pub dns_capture: bool,
    pub rewrite_app_http_probe: bool,
    pub namespace: &'static str,
    pub revision: Option<String>,
    /// The label that turns on sidecar injection in a namespace: `istio-injection: enabled`,
    /// which the revision holding the `default` tag (or the control plane without a revision)
    /// answers.
    pub injection_label: (&'static str, String),
    /// A root rotation is in progress: istiod accepts a root bundle that contains the old one
    /// (ISTIO_MULTIROOT_MESH), and proxies take their config over XDS (PROXY_CONFIG_XDS_AGENT).
    pub multiroot: bool,
    /// The rotation's stage, for the README.
    pub rotation_stage: Option<&'static str>,
    /// The image registry (`global.hub`), when not the charts' default.
    pub hub: Option<String>,
    /// A canary upgrade in progress, for the README.
    pub upgrade: Option<UpgradePlan>,
}

/// A canary upgrade in progress, as the READMEs tell it.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradePlan {
    pub to: String,
    pub stage: &'static str,
    /// The stage after it.
    pub next: Option<&'static str>,
    /// What to check on every cluster before the next stage.
    pub verify: &'static str,
    /// Whether every cluster is at `stage` (a move stage may go cluster by cluster).
    pub everywhere: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BasePlan {
    pub base: Base,
    pub dir: &'static str,
    pub url: String,
}

/// What a gateway is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GatewayRole {
    /// Carries cross-network traffic (and, in the combined topology, ingress too).
    CrossNetwork,
    /// Ingress only (the dedicated topology's optional second gateway).
    Ingress,
}

/// A gateway installed with Istio's `gateway` chart.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayPlan {
    /// Release, Deployment and Service name.
    pub name: &'static str,
    /// The `istio:` label selecting its pods.
    pub istio_label: &'static str,
    pub role: GatewayRole,
    /// Whether the chart's `networkGateway` value shapes it (the dedicated east-west gateway):
    /// the chart then sets the ports, the network label and the network-view env itself.
    pub network_gateway: bool,
    pub ports: Vec<ServicePort>,
    pub autoscaling: Autoscaling,
    /// The stem of its values file under values/<cluster>/.
    pub values_file: &'static str,
    /// Annotations of its Service (MetalLB's address pinning).
    pub service_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePort {
    pub name: &'static str,
    pub port: u16,
    pub target_port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct Autoscaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target_cpu_percent: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlan {
    pub name: ClusterName,
    pub network: NetworkName,
    pub context: ContextName,
    pub cni: Cni,
    pub layers: Vec<Layer>,
    /// The bases this cluster applies, in order.
    pub bases: Vec<Base>,
    /// Its gateways; the first carries cross-network traffic.
    pub gateways: Vec<GatewayPlan>,
    pub fixes: ProviderFixes,
    /// Sample workloads this cluster runs, in a fixed order.
    pub workloads: Vec<Workload>,
    /// The cluster's encrypted `cacerts`, when the PKI has its intermediate.
    #[serde(skip)]
    pub cacerts: Option<SealedPlan>,
    /// The remote secrets this cluster's istiod reads the others with: one per other cluster
    /// that has a credential source, in mesh order.
    #[serde(skip)]
    pub remote_secrets: Vec<(ClusterName, SealedPlan)>,
    /// The remote secrets the External Secrets Operator makes here, from other clusters' tokens.
    pub external_remote_secrets: Vec<ExternalRemoteSecret>,
    /// Where this cluster's PushSecret publishes its reader token, if ESO carries it.
    pub push_secret: Option<StoreRef>,
    /// Whether the description gives its reader credentials (its remote secrets are then not
    /// pending), and the API server it names, if it names one.
    pub has_credentials: bool,
    pub api_server: Option<String>,
    /// The age recipient of the cluster's GitOps identity, if it has one.
    pub gitops_recipient: Option<String>,
    /// The Istio charts this cluster runs, with their versions and revisions (during a canary
    /// upgrade, the cluster's stage decides them).
    pub charts: Charts,
    /// The values of Istio's charts for this cluster, as data (every form that installs them
    /// serializes these).
    #[serde(skip)]
    pub values: ClusterValues,
}

/// The chart values of one cluster.
#[derive(Debug, Clone)]
pub struct ClusterValues {
    pub base: BaseValues,
    /// One per control plane, in the order of `Charts::control_planes`.
    pub istiod: Vec<IstiodValues>,
    /// One per gateway, in the order of `ClusterPlan::gateways`.
    pub gateways: Vec<GatewayValues>,
}

/// The chart values of cluster `plan` with its `gateways` and `charts`, from the mesh and its
/// Istio plan.
fn chart_values(
    mesh: &Mesh,
    istio: &IstioPlan,
    plan: &config::Cluster,
    gateways: &[GatewayPlan],
    charts: &Charts,
) -> ClusterValues {
    let base = BaseValues {
        istio_namespace: istio.namespace.to_owned(),
        default_revision: charts.default_revision.clone(),
    };
    let istiod = charts
        .control_planes
        .iter()
        .map(|cp| IstiodValues {
            profile: istio.profile,
            revision: cp.revision.clone(),
            revision_tags: cp.tags.clone(),
            hands_over_injector: cp.hands_over_injector,
            hub: istio.hub.clone(),
            mesh_id: mesh.mesh_id.to_string(),
            cluster: plan.name.clone(),
            network: plan.network.clone(),
            trust_domain: mesh.trust_domain.to_string(),
            dns_capture: istio.dns_capture,
            rewrite_app_http_probe: istio.rewrite_app_http_probe,
            rotation_stage: if istio.multiroot {
                istio.rotation_stage
            } else {
                None
            },
        })
        .collect();
    let gateways = gateways
        .iter()
        .map(|gw| GatewayValues {
            name: gw.name.to_owned(),
            istio_label: gw.istio_label.to_owned(),
            revision: charts.gateway_revision.clone(),
            network: (gw.role == GatewayRole::CrossNetwork).then(|| plan.network.clone()),
            network_gateway: gw.network_gateway,
            ports: gw
                .ports
                .iter()
                .map(|p| Port {
                    name: p.name,
                    port: p.port,
                    target_port: p.target_port,
                })
                .collect(),
            service_annotations: gw
                .service_annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            min_replicas: gw.autoscaling.min_replicas,
            max_replicas: gw.autoscaling.max_replicas,
            target_cpu_percent: gw.autoscaling.target_cpu_percent,
            mesh_id: mesh.mesh_id.to_string(),
            cluster: plan.name.clone(),
            cluster_network: plan.network.clone(),
        })
        .collect();
    ClusterValues {
        base,
        istiod,
        gateways,
    }
}

/// An External Secrets store and the key this cluster's reader token lives under.
#[derive(Debug, Clone, Serialize)]
pub struct StoreRef {
    pub kind: config::spec::StoreKind,
    pub name: String,
    pub remote_key: String,
}

/// A remote secret the External Secrets Operator assembles from `source`'s pushed token.
#[derive(Debug, Clone, Serialize)]
pub struct ExternalRemoteSecret {
    pub source: ClusterName,
    pub server: String,
    pub tls_server_name: Option<String>,
    pub store: StoreRef,
}

/// The store of a cluster whose reader token ESO carries.
fn store_ref<'c>(
    mesh: &Mesh,
    cluster: &'c config::Cluster,
) -> Option<(StoreRef, &'c str, Option<&'c str>)> {
    match cluster.credentials.as_ref()? {
        config::Credentials::ExternalSecrets {
            server,
            tls_server_name,
            store_kind,
            store_name,
            remote_key,
        } => {
            let remote_key = remote_key
                .clone()
                .unwrap_or_else(|| format!("mesh-render-{}-{}-reader", mesh.mesh_id, cluster.name));
            Some((
                StoreRef {
                    kind: *store_kind,
                    name: store_name.clone(),
                    remote_key,
                },
                server,
                tls_server_name.as_deref(),
            ))
        }
        _ => None,
    }
}

/// A secret to seal: for whom, and the digest of its inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPlan {
    /// Shared by every secret of one cluster (a fleet's cluster holds hundreds).
    pub recipients: Arc<[AgeRecipient]>,
    /// `None`: not known yet, its intermediate CA is to be issued (planned while inspecting).
    pub inputs: Option<String>,
    /// Seal it again even if its inputs are unchanged.
    pub force: bool,
}

/// The sealed files of the mesh as the seal layer planned them (for whom, and the digest of
/// their inputs), with the PKI's public state they were planned from.
#[derive(Debug, Clone)]
pub struct SecretPlans<'a> {
    /// The PKI's public state: rotation stage and expiry dates. Without it no secret is rendered.
    pub pki: Option<&'a PkiState>,
    /// Now, for expiry warnings.
    pub now: time::OffsetDateTime,
    /// Each cluster's `cacerts`, for the clusters whose intermediate the PKI holds.
    pub cacerts: BTreeMap<ClusterName, SealedPlan>,
    /// The remote secrets each cluster holds, by holding cluster: (source, plan) in mesh order.
    pub remote_secrets: BTreeMap<ClusterName, Vec<(ClusterName, SealedPlan)>>,
}

impl SecretPlans<'_> {
    /// No secrets at all.
    pub fn none() -> Self {
        SecretPlans {
            pki: None,
            now: time::OffsetDateTime::UNIX_EPOCH,
            cacerts: BTreeMap::new(),
            remote_secrets: BTreeMap::new(),
        }
    }
}

/// A warning for the user, with what kind of advice it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub text: String,
}

/// Whether a warning repeats on every render of the same description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// About the mesh's shape, a choice the description makes (the combined gateway topology,
    /// an Argo CD hub, API servers on private addresses): it stays true on every render, so it is
    /// shown when a render creates a tree, by `check`, and otherwise only with `--verbose`.
    Shape,
    /// About its state, something to act on (pending remote secrets, an expiring CA, a rotation
    /// stage to finish, clusters without a GitOps identity): shown on every render.
    State,
}

impl Warning {
    fn shape(text: impl Into<String>) -> Self {
        Warning {
            kind: WarningKind::Shape,
            text: text.into(),
        }
    }

    fn state(text: impl Into<String>) -> Self {
        Warning {
            kind: WarningKind::State,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl ClusterPlan {
    /// The chart values kept in `values/<cluster>/<stem>.yaml`: `base`, `istiod`, or a gateway's
    /// values file.
    pub fn chart_values(&self, stem: &str) -> Option<crate::yaml::Yaml> {
        match stem {
            "base" => Some(self.values.base.chart()),
            _ if stem.starts_with("istiod") => self
                .charts
                .control_planes
                .iter()
                .zip(&self.values.istiod)
                .find(|(cp, _)| cp.values_file == stem)
                .map(|(_, values)| values.chart()),
            _ => self
                .gateways
                .iter()
                .zip(&self.values.gateways)
                .find(|(gw, _)| gw.values_file == stem)
                .map(|(_, values)| values.chart()),
        }
    }

    /// The gateway the cross-network Gateway selects.
    pub fn cross_network_gateway(&self) -> &GatewayPlan {
        &self.gateways[0]
    }
}

/// What the provider-fixes layer holds for a cluster.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProviderFixes {
    pub cilium: Option<CiliumFix>,
    pub metallb: Option<MetallbPool>,
}

impl ProviderFixes {
    pub fn is_empty(&self) -> bool {
        self.cilium.is_none() && self.metallb.is_none()
    }
}

/// The seed's Cilium settings for Istio (section 6.3), applied as a partial `cilium-config`, and
/// the digest that restarts the agents when — and only when — they change.
#[derive(Debug, Clone, Serialize)]
pub struct CiliumFix {
    pub settings: Vec<(&'static str, &'static str)>,
    pub digest: String,
}

/// The seed's MetalLB pool for the gateway address (section 7.1.3).
#[derive(Debug, Clone, Serialize)]
pub struct MetallbPool {
    pub name: &'static str,
    /// Host prefixes (`/32`, `/128`) of the gateway addresses.
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SamplePlan {
    pub namespace: String,
    pub reviews_hub: String,
    pub reviews_tag: String,
    pub sleep_image: String,
}

/// The `cilium-config` keys Istio needs beside Cilium: socket LB kept out of pods (so sidecar
/// redirection works), other CNIs' config left alone, Cilium's own L7 proxy off.
const CILIUM_SETTINGS: [(&str, &str); 3] = [
    ("bpf-lb-sock-hostns-only", "true"),
    ("cni-exclusive", "false"),
    ("enable-l7-proxy", "false"),
];

/// MetalLB 0.14's Service annotations (`metallb/metallb@v0.14.8:controller/service.go`).
const METALLB_POOL_ANNOTATION: &str = "metallb.universe.tf/address-pool";
const METALLB_IPS_ANNOTATION: &str = "metallb.universe.tf/loadBalancerIPs";
const METALLB_POOL: &str = "istio-ingressgateway";

impl Model {
    pub fn from_mesh(mesh: &Mesh, secrets: &SecretPlans<'_>) -> Self {
        let sample_enabled = mesh.sample.enabled;
        let revision = mesh.istio.revision.as_ref().map(ToString::to_string);
        // Namespaces are never relabelled: a revisioned control plane holds the `default` tag,
        // which an upgrade moves to the next revision.
        let injection_label = ("istio-injection", "enabled".to_owned());
        let istio = IstioPlan {
            version: mesh.istio.version.to_string(),
            line: format!("{}.{}", mesh.istio.version.major, mesh.istio.version.minor),
            gateway_api_minor: gateway_api_minor(
                mesh.istio
                    .upgrade
                    .as_ref()
                    .map_or(mesh.istio.release, |u| u.release)
                    .gateway_api,
            ),
            profile: profile_value(mesh.istio.profile),
            dns_capture: mesh.istio.dns_capture,
            rewrite_app_http_probe: mesh.istio.rewrite_app_http_probe,
            namespace: ISTIO_NAMESPACE,
            revision,
            injection_label,
            multiroot: secrets.pki.is_some_and(|p| p.rotation.is_some()),
            rotation_stage: secrets
                .pki
                .and_then(|p| p.rotation.as_ref())
                .map(|r| r.stage.name()),
            hub: mesh.istio.hub.as_ref().map(ToString::to_string),
            upgrade: mesh.istio.upgrade.as_ref().map(|u| UpgradePlan {
                to: u.to.to_string(),
                stage: u.stage.name(),
                next: u.stage.next().map(crate::upgrade::Stage::name),
                verify: u.stage.verify_before_next(),
                everywhere: u.clusters.is_empty(),
            }),
        };
        let clusters: Vec<ClusterPlan> = mesh
            .clusters
            .iter()
            .map(|c| {
                let mut plan = cluster_plan(mesh, &istio, c, sample_enabled);
                plan.cacerts = secrets.cacerts.get(&c.name).cloned();
                plan.remote_secrets = secrets
                    .remote_secrets
                    .get(&c.name)
                    .cloned()
                    .unwrap_or_default();
                plan.push_secret = store_ref(mesh, c).map(|(store, _, _)| store);
                plan.external_remote_secrets = mesh
                    .clusters
                    .iter()
                    .filter(|source| source.name != c.name)
                    .filter_map(|source| {
                        let (store, server, tls) = store_ref(mesh, source)?;
                        Some(ExternalRemoteSecret {
                            source: source.name.clone(),
                            server: server.to_owned(),
                            tls_server_name: tls.map(str::to_owned),
                            store,
                        })
                    })
                    .collect();
                plan
            })
            .collect();
        let mut needed: Vec<Base> = clusters
            .iter()
            .flat_map(|c| c.bases.iter().copied())
            .collect();
        needed.sort();
        needed.dedup();
        let bases = needed
            .into_iter()
            .map(|base| BasePlan {
                base,
                dir: base.dir(),
                url: match base {
                    Base::GatewayApi => mesh.upstream.gateway_api_crds.clone(),
                    Base::Metallb => mesh.upstream.metallb.clone(),
                    Base::MetricsServer => mesh.upstream.metrics_server.clone(),
                },
            })
            .collect();
        Model {
            mesh_id: mesh.mesh_id.to_string(),
            trust_domain: mesh.trust_domain.to_string(),
            istio,
            topology: mesh.topology,
            clusters,
            bases,
            sample: sample_enabled.then(|| SamplePlan {
                namespace: mesh.sample.namespace.clone(),
                reviews_hub: mesh.sample.reviews_hub.to_string(),
                reviews_tag: mesh.sample.reviews_tag.clone(),
                sleep_image: mesh.sample.sleep_image.to_string(),
            }),
            warnings: warnings(mesh, secrets),
            gitops: GitOpsPlan {
                target: mesh.gitops.target,
                repository_url: mesh.gitops.repository_url.clone(),
                branch: mesh.gitops.branch.clone(),
                path: mesh.gitops.path.clone(),
                chart_repository: mesh.gitops.chart_repository.clone(),
                argocd_hub: mesh.gitops.argocd_mode == config::spec::ArgoCdMode::Hub,
            },
        }
    }
}

/// The remote secrets that cannot be rendered yet: (source without credentials, target).
pub fn pending_remote_secrets(mesh: &Mesh) -> Vec<(ClusterName, ClusterName)> {
    let mut pending = Vec::new();
    for source in mesh.clusters.iter().filter(|c| c.credentials.is_none()) {
        for target in mesh.clusters.iter().filter(|t| t.name != source.name) {
            pending.push((source.name.clone(), target.name.clone()));
        }
    }
    pending
}

fn cluster_plan(
    mesh: &Mesh,
    istio: &IstioPlan,
    c: &config::Cluster,
    sample_enabled: bool,
) -> ClusterPlan {
    let mut gateways = gateway_plans(mesh.topology, mesh.ingress_gateway);
    let mut fixes = ProviderFixes::default();
    if c.cni == Cni::Cilium {
        fixes.cilium = Some(cilium_fix());
    }
    if let LoadBalancer::Metallb { addresses } = &c.load_balancer {
        // Each gateway is pinned to its own address: the cross-network one takes the first.
        for (gateway, ip) in gateways.iter_mut().zip(addresses) {
            gateway
                .service_annotations
                .insert(METALLB_POOL_ANNOTATION.to_owned(), METALLB_POOL.to_owned());
            gateway
                .service_annotations
                .insert(METALLB_IPS_ANNOTATION.to_owned(), ip.to_string());
        }
        fixes.metallb = Some(MetallbPool {
            name: METALLB_POOL,
            addresses: addresses
                .iter()
                .map(|ip| match ip {
                    std::net::IpAddr::V4(v4) => format!("{v4}/32"),
                    std::net::IpAddr::V6(v6) => format!("{v6}/128"),
                })
                .collect(),
        });
    }
    let mut bases = vec![Base::GatewayApi];
    if fixes.metallb.is_some() {
        bases.push(Base::Metallb);
    }
    if c.metrics_server {
        bases.push(Base::MetricsServer);
    }
    let mut layers = vec![Layer::IstioSystem, Layer::Reader];
    if !fixes.is_empty() {
        layers.push(Layer::ProviderFixes);
    }
    layers.push(Layer::Mesh);
    if sample_enabled {
        layers.push(Layer::Sample);
    }
    let upgrade = mesh
        .istio
        .upgrade
        .as_ref()
        .map(|u| (u, u.stage_of(&c.name)));
    let charts = crate::upgrade::charts(
        &mesh.istio.version,
        mesh.istio.release,
        mesh.istio.revision.as_ref().map(|r| r.as_str()),
        upgrade,
    );
    let values = chart_values(mesh, istio, c, &gateways, &charts);
    ClusterPlan {
        name: c.name.clone(),
        network: c.network.clone(),
        context: c.context.clone(),
        cni: c.cni,
        layers,
        bases,
        gateways,
        fixes,
        workloads: if sample_enabled {
            placed_workloads(&mesh.sample, &c.name)
        } else {
            Vec::new()
        },
        cacerts: None,
        remote_secrets: Vec::new(),
        external_remote_secrets: Vec::new(),
        push_secret: None,
        charts,
        values,
        has_credentials: c.credentials.is_some(),
        api_server: c
            .credentials
            .as_ref()
            .and_then(|cr| cr.server())
            .map(str::to_owned),
        gitops_recipient: c.gitops_recipient.as_ref().map(|r| r.to_string()),
    }
}

fn cilium_fix() -> CiliumFix {
    CiliumFix {
        settings: CILIUM_SETTINGS.to_vec(),
        digest: digest::settings(&CILIUM_SETTINGS),
    }
}

/// Names joined by commas; past ten, the first eight, an ellipsis and the last.
pub fn short_list(names: &[&str]) -> String {
    match names {
        [first @ .., last] if names.len() > 10 => {
            format!("{}, …, {last}", first[..8].join(", "))
        }
        _ => names.join(", "),
    }
}

/// `v1.3.0` -> `v1.3`.
fn gateway_api_minor(release: &str) -> String {
    release
        .rsplit_once('.')
        .map_or(release, |(minor, _)| minor)
        .to_owned()
}

/// Advice about the Istio release: a line newer than the release table (rendered with the
/// newest known line's facts, named), or a line past its end of life (not for the built-in
/// example). Both stay true on every render: advice about the mesh's shape.
fn release_warnings(istio: &config::Istio) -> Vec<Warning> {
    let release = istio.release;
    let version = istio.version;
    if istio.unknown_line {
        return vec![Warning::shape(format!(
            "istio.version {version} is newer than the release lines mesh-render knows ({}); \
             rendered with {}'s facts (chart values as {} sets them, image hub {}, Gateway API {}, \
             sample images {}/examples-bookinfo-reviews-vN and {}): check them against {}.{}'s \
             charts and release notes before syncing",
            crate::releases::known_lines(),
            release.name(),
            release.newest(),
            release.default_hub,
            release.gateway_api,
            release.sample_reviews_hub,
            release.sample_curl_image,
            version.major,
            version.minor,
        ))];
    }
    match release.end_of_life {
        Some(date) if istio.end_of_life_advice && istio.upgrade.is_none() => {
            vec![Warning::shape(format!(
                "Istio {} reached its end of life on {date}: it gets no more security fixes. Move to {}, \
             the newest supported patch (istio.version)",
                release.name(),
                crate::releases::newest_supported()
            ))]
        }
        _ => Vec::new(),
    }
}

/// An upgrade in progress: where it stands and what comes next, on every render.
fn upgrade_warning(mesh: &Mesh) -> Option<Warning> {
    let upgrade = mesh.istio.upgrade.as_ref()?;
    let stage = upgrade.stage;
    let names: Vec<&str> = upgrade.clusters.iter().map(|c| c.as_str()).collect();
    let behind: Vec<&str> = mesh
        .clusters
        .iter()
        .filter(|c| upgrade.stage_of(&c.name) != stage)
        .map(|c| c.name.as_str())
        .collect();
    let next = match stage.next() {
        Some(next) if behind.is_empty() => format!(
            "once synced, check that {}; then `mesh-render upgrade --stage {next}`",
            stage.verify_before_next()
        ),
        _ => format!(
            "still at {}: {}; `mesh-render upgrade --stage {stage} --clusters …` moves them",
            stage.previous().map_or("", |s| s.name()),
            short_list(&behind)
        ),
    };
    let at = if names.is_empty() {
        "every cluster".to_owned()
    } else {
        short_list(&names)
    };
    Some(Warning::state(format!(
        "Istio upgrade {} -> {} in progress: stage {stage} on {at}; {next} (out/README.md, \"Istio upgrade\")",
        mesh.istio.version, upgrade.to
    )))
}

fn warnings(mesh: &Mesh, secrets: &SecretPlans<'_>) -> Vec<Warning> {
    let mut warnings = release_warnings(&mesh.istio);
    warnings.extend(upgrade_warning(mesh));
    if mesh.gitops.target == config::GitOpsTarget::Argocd
        && mesh.gitops.argocd_mode == config::spec::ArgoCdMode::Hub
    {
        warnings.push(Warning::shape(
            "gitops.argocdMode `hub`: one Argo CD syncs every cluster, so it holds every cluster's credentials and every cluster's age identity; one compromise opens the whole mesh. The default (`per-cluster`) keeps each key in its own cluster.",
        ));
    }
    // One warning per reason: a fleet on private addresses gets one line, not one per cluster.
    let mut unreachable: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for c in &mesh.clusters {
        if let Some(server) = c.credentials.as_ref().and_then(|cr| cr.server())
            && let Some(why) = unreachable_server(server)
        {
            unreachable
                .entry(why)
                .or_default()
                .push((c.name.as_str(), server));
        }
    }
    for (why, clusters) in unreachable {
        warnings.push(Warning::shape(match clusters.as_slice() {
            [(name, server)] => format!("the API server of {name} ({server}) {why}"),
            _ => {
                let names: Vec<&str> = clusters.iter().map(|(name, _)| *name).collect();
                format!(
                    "the API server of each of {} clusters ({}) {why}",
                    names.len(),
                    short_list(&names)
                )
            }
        }));
    }
    let pending = pending_remote_secrets(mesh);
    if !pending.is_empty() {
        let mut sources: Vec<&str> = pending.iter().map(|(s, _)| s.as_str()).collect();
        sources.dedup();
        warnings.push(Warning::state(format!(
            "{} remote secrets pending: {} {} no credentials (clusters[].credentials). Next: apply each cluster's 20-reader layer, read its reader token once (clusters/<cluster>/README.md shows the command), set credentials.tokenFile, render again",
            pending.len(),
            short_list(&sources),
            if sources.len() == 1 { "declares" } else { "declare" }
        )));
    }
    if let Some(pki) = secrets.pki {
        let window = time::Duration::days(mesh.pki.expiry_warning_days);
        let mut check = |what: String, not_after: time::OffsetDateTime| {
            if not_after - secrets.now <= window {
                let days = (not_after - secrets.now).whole_days();
                let date = not_after.date();
                warnings.push(Warning::state(if days < 0 {
                    format!("{what} expired on {date}: istiod rejects it; renew it now")
                } else {
                    format!("{what} expires on {date}, in {days} days")
                }));
            }
        };
        check("the mesh's root CA".to_owned(), pki.root.not_after);
        for (cluster, record) in &pki.intermediates {
            check(
                format!(
                    "the intermediate CA of {cluster} (renew: mesh-render pki renew --cluster {cluster})"
                ),
                record.not_after,
            );
        }
    }
    if let Some(rotation) = secrets.pki.and_then(|p| p.rotation.as_ref()) {
        let next = match rotation.stage {
            crate::pki::rotation::Stage::Finish => "done".to_owned(),
            s => Stage::ALL
                .iter()
                .skip_while(|x| **x != s)
                .nth(1)
                .map_or("done", |n| n.name())
                .to_owned(),
        };
        warnings.push(Warning::state(format!(
            "root rotation in progress, stage `{}`: sync it to every cluster, check that {}, then run `mesh-render pki rotate-root --stage {next}`",
            rotation.stage.name(),
            rotation.stage.verify_before_next()
        )));
    }
    if secrets.pki.is_some() {
        let without: Vec<&str> = mesh
            .clusters
            .iter()
            .filter(|c| c.gitops_recipient.is_none())
            .map(|c| c.name.as_str())
            .collect();
        if !without.is_empty() {
            warnings.push(Warning::state(format!(
                "no gitopsRecipient for {}: their secrets are encrypted to the admins only, so their GitOps \
                 controller cannot decrypt them. `mesh-render keys` creates an identity per cluster and records it.",
                short_list(&without)
            )));
        }
    }
    if mesh.topology == Topology::Combined {
        warnings.push(Warning::shape(
            "gateway topology `combined` exposes ports 15012 and 15017 on every cluster's public \
             load balancer with nothing behind them: they serve only primary-remote meshes \
             (istiod exposed through the gateway). Use `topology: dedicated` to keep ingress \
             and east-west traffic on separate load balancers.",
        ));
    }
    warnings
}

fn placed_workloads(sample: &config::Sample, cluster: &ClusterName) -> Vec<Workload> {
    sample
        .placement
        .iter()
        .find(|(name, _)| name == cluster)
        .map(|(_, w)| w.clone())
        .unwrap_or_default()
}

/// The istiod chart's `profile`: none for the chart's default.
fn profile_value(profile: config::Profile) -> Option<&'static str> {
    (profile != config::Profile::Default).then(|| profile.name())
}

/// The gateway chart's default autoscaling, which the seed's gateways show (1-5 at 80% CPU).
fn autoscaling() -> Autoscaling {
    Autoscaling {
        min_replicas: 1,
        max_replicas: 5,
        target_cpu_percent: 80,
    }
}

fn gateway_plans(topology: Topology, ingress: bool) -> Vec<GatewayPlan> {
    match topology {
        // The seed's ingressgateway.yaml: one gateway for ingress and east-west, with the port
        // names the seed gives them.
        Topology::Combined => vec![GatewayPlan {
            name: "istio-ingressgateway",
            istio_label: "ingressgateway",
            role: GatewayRole::CrossNetwork,
            network_gateway: false,
            ports: vec![
                port("status-port", STATUS_PORT, STATUS_PORT),
                port("http2", 80, 8080),
                port("https", 443, 8443),
                port("tcp", 31400, 31400),
                port("mtls", CROSS_NETWORK_PORT, CROSS_NETWORK_PORT),
                port("tcp-istiod", ISTIOD_PORT, ISTIOD_PORT),
                port("tcp-webhook", WEBHOOK_PORT, WEBHOOK_PORT),
            ],
            autoscaling: autoscaling(),
            values_file: "gateway",
            service_annotations: BTreeMap::new(),
        }],
        // Istio's layout: what `gen-eastwest-gateway.sh` and the chart's `networkGateway` make.
        Topology::Dedicated => {
            let mut plans = vec![GatewayPlan {
                name: "istio-eastwestgateway",
                istio_label: "eastwestgateway",
                role: GatewayRole::CrossNetwork,
                network_gateway: true,
                ports: vec![
                    port("status-port", STATUS_PORT, STATUS_PORT),
                    port("tls", CROSS_NETWORK_PORT, CROSS_NETWORK_PORT),
                    port("tls-istiod", ISTIOD_PORT, ISTIOD_PORT),
                    port("tls-webhook", WEBHOOK_PORT, WEBHOOK_PORT),
                ],
                autoscaling: autoscaling(),
                values_file: "gateway",
                service_annotations: BTreeMap::new(),
            }];
            if ingress {
                plans.push(GatewayPlan {
                    name: "istio-ingressgateway",
                    istio_label: "ingressgateway",
                    role: GatewayRole::Ingress,
                    network_gateway: false,
                    ports: vec![
                        port("status-port", STATUS_PORT, STATUS_PORT),
                        port("http2", 80, 8080),
                        port("https", 443, 8443),
                    ],
                    autoscaling: autoscaling(),
                    values_file: "ingress-gateway",
                    service_annotations: BTreeMap::new(),
                });
            }
            plans
        }
    }
}

fn port(name: &'static str, port: u16, target_port: u16) -> ServicePort {
    ServicePort {
        name,
        port,
        target_port,
    }
}

/// Why other networks may not reach `server`, if they may not: loopback, link-local and private
/// addresses only work inside the cluster's own network.
pub fn unreachable_server(server: &str) -> Option<&'static str> {
    let host = server.strip_prefix("https://").unwrap_or(server);
    let host = host.split('/').next().unwrap_or(host);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    if host == "localhost" || host.ends_with(".localhost") {
        return Some("is a loopback name: the other clusters cannot reach it");
    }
    match host.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(ip) if ip.is_loopback() => {
            Some("is a loopback address: the other clusters cannot reach it")
        }
        std::net::IpAddr::V4(ip) if ip.is_link_local() => {
            Some("is a link-local address: the other clusters cannot reach it")
        }
        std::net::IpAddr::V4(ip) if ip.is_private() => Some(
            "is a private address: reachable from other networks only through a VPN or peering",
        ),
        std::net::IpAddr::V6(ip) if ip.is_loopback() => {
            Some("is a loopback address: the other clusters cannot reach it")
        }
        std::net::IpAddr::V6(ip) if (ip.segments()[0] & 0xffc0) == 0xfe80 => {
            Some("is a link-local address: the other clusters cannot reach it")
        }
        std::net::IpAddr::V6(ip) if (ip.segments()[0] & 0xfe00) == 0xfc00 => Some(
            "is a private address: reachable from other networks only through a VPN or peering",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_name_lists_show_the_first_eight_and_the_last() {
        let names: Vec<String> = (0..11).map(|i| format!("c{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(short_list(&names), "c0, c1, c2, c3, c4, c5, c6, c7, …, c10");
        assert_eq!(short_list(&names[..10]), names[..10].join(", "));
    }

    fn example() -> Model {
        Model::from_mesh(
            &config::example().expect("example parses"),
            &SecretPlans::none(),
        )
    }

    fn cluster<'a>(m: &'a Model, name: &str) -> &'a ClusterPlan {
        m.clusters
            .iter()
            .find(|c| c.name.as_str() == name)
            .expect("cluster exists")
    }

    #[test]
    fn combined_gateway_exposes_the_cross_network_port() {
        let m = example();
        for c in &m.clusters {
            let gw = c.cross_network_gateway();
            assert!(gw.ports.iter().any(|p| p.port == CROSS_NETWORK_PORT));
            assert_eq!(gw.istio_label, "ingressgateway");
        }
    }

    #[test]
    fn example_places_reviews_in_order_and_sleep_last() {
        let m = example();
        let placed: Vec<Vec<Workload>> = m.clusters.iter().map(|c| c.workloads.clone()).collect();
        assert_eq!(
            placed,
            [
                vec![Workload::ReviewsV1],
                vec![Workload::ReviewsV2],
                vec![Workload::ReviewsV3, Workload::Sleep]
            ]
        );
    }

    #[test]
    fn disabled_sample_drops_the_sample_layer() {
        let mut mesh = config::example().expect("example parses");
        mesh.sample.enabled = false;
        let m = Model::from_mesh(&mesh, &SecretPlans::none());
        assert!(m.sample.is_none());
        assert!(
            m.clusters
                .iter()
                .all(|c| !c.layers.contains(&Layer::Sample))
        );
    }

    #[test]
    fn cilium_fixes_go_only_to_cilium_clusters() {
        let m = example();
        let with: Vec<&str> = m
            .clusters
            .iter()
            .filter(|c| c.fixes.cilium.is_some())
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(with, ["ncloud-nks"]);
    }

    #[test]
    fn metallb_goes_only_where_the_load_balancer_is_metallb() {
        let m = example();
        let with: Vec<&str> = m
            .clusters
            .iter()
            .filter(|c| c.bases.contains(&Base::Metallb))
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(with, ["kt-k2p"]);
        let pool = cluster(&m, "kt-k2p").fixes.metallb.as_ref().expect("pool");
        assert_eq!(pool.addresses, ["203.0.113.10/32"]);
        let gw = cluster(&m, "kt-k2p").cross_network_gateway();
        assert_eq!(
            gw.service_annotations
                .get(METALLB_IPS_ANNOTATION)
                .map(String::as_str),
            Some("203.0.113.10")
        );
        assert!(
            cluster(&m, "ncloud-nks")
                .cross_network_gateway()
                .service_annotations
                .is_empty()
        );
    }

    #[test]
    fn metrics_server_goes_only_where_asked() {
        let m = example();
        let with: Vec<&str> = m
            .clusters
            .iter()
            .filter(|c| c.bases.contains(&Base::MetricsServer))
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(with, ["kt-k2p"]);
        let bases: Vec<Base> = m.bases.iter().map(|b| b.base).collect();
        assert_eq!(
            bases,
            [Base::GatewayApi, Base::Metallb, Base::MetricsServer]
        );
    }

    #[test]
    fn the_provider_fixes_layer_exists_only_where_there_is_a_fix() {
        let m = example();
        assert!(cluster(&m, "kt-k2p").layers.contains(&Layer::ProviderFixes));
        assert!(
            cluster(&m, "ncloud-nks")
                .layers
                .contains(&Layer::ProviderFixes)
        );
        assert!(
            !cluster(&m, "nhn-nks")
                .layers
                .contains(&Layer::ProviderFixes)
        );
    }

    #[test]
    fn the_cilium_digest_is_the_one_every_rendered_tree_holds() {
        // Recorded in every Cilium cluster's restart annotation: a change restarts its agents.
        assert_eq!(cilium_fix().digest, "sha256:09a8a6ee6c4d50c1");
    }

    #[test]
    fn combined_topology_warns_about_15012_and_15017() {
        assert!(
            example()
                .warnings
                .iter()
                .any(|w| w.kind == WarningKind::Shape
                    && w.text.contains("15012")
                    && w.text.contains("15017"))
        );
    }
}
