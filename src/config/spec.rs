//! The mesh description as written in mesh.yaml: serde shapes with unknown fields denied.
//! Values are kept as written (with their source spans); `super::validate` turns them into types.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// A string as written, with where it was written.
pub type Text = Spanned<String>;

/// Read first, leniently, so a wrong `apiVersion` or `kind` is reported before anything else.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub api_version: Option<Text>,
    pub kind: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MeshSpec {
    pub api_version: Text,
    pub kind: Text,
    #[serde(rename = "meshID")]
    pub mesh_id: Text,
    #[serde(default)]
    pub trust_domain: Option<Text>,
    pub istio: IstioSpec,
    #[serde(default)]
    pub gateway: GatewaySpec,
    #[serde(default)]
    pub upstream: UpstreamSpec,
    #[serde(default)]
    pub secrets: SecretsSpec,
    #[serde(default)]
    pub gitops: GitOpsSpec,
    #[serde(default)]
    pub pki: PkiSpec,
    pub clusters: Vec<ClusterSpec>,
    #[serde(default)]
    pub sample: SampleSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IstioSpec {
    pub version: Text,
    #[serde(default)]
    pub profile: Profile,
    #[serde(default = "yes")]
    pub dns_capture: bool,
    #[serde(default, rename = "rewriteAppHTTPProbe")]
    pub rewrite_app_http_probe: bool,
    #[serde(default)]
    pub revision: Option<Text>,
    /// Image registry for Istio's images (`global.hub`), for mirrors; default the charts' own.
    #[serde(default)]
    pub hub: Option<Text>,
    /// Render a line newer than the release table knows, with the newest known line's facts.
    #[serde(default)]
    pub allow_unknown_version: bool,
    /// A canary upgrade in progress, as `mesh-render upgrade` records it.
    #[serde(default)]
    pub upgrade: Option<UpgradeSpec>,
}

/// `istio.upgrade`: the version a canary upgrade goes to, its stage, and for a stage that goes
/// cluster by cluster, the clusters already at it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpgradeSpec {
    pub to: Text,
    pub stage: Text,
    #[serde(default)]
    pub clusters: Vec<Text>,
}

/// The istiod chart's `profile` value (`manifests/helm-profiles/<profile>.yaml`); `default`
/// sets no profile. `remote` and `ambient` are left out on purpose: every cluster of a
/// multi-primary sidecar mesh runs a full istiod.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Default,
    #[default]
    Demo,
    Preview,
    Stable,
}

impl Profile {
    /// Every profile a mesh can name.
    pub const ALL: [Profile; 4] = [
        Profile::Default,
        Profile::Demo,
        Profile::Preview,
        Profile::Stable,
    ];

    /// Its name in mesh.yaml, and in Istio's `manifests/helm-profiles/<name>.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Demo => "demo",
            Profile::Preview => "preview",
            Profile::Stable => "stable",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GatewaySpec {
    #[serde(default)]
    pub topology: Topology,
    /// With `dedicated`: also render a separate ingress gateway.
    #[serde(default)]
    pub ingress: Option<Spanned<bool>>,
}

/// How cross-network traffic reaches a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// The seed's single `istio-ingressgateway` carrying ingress and east-west ports.
    #[default]
    Combined,
    /// Istio's own layout: an `istio-eastwestgateway` carrying only the east-west ports (the
    /// gateway chart's `networkGateway`), optionally beside a separate ingress gateway.
    Dedicated,
}

/// Where upstream artefacts are fetched from when a base is built; override for mirrors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpstreamSpec {
    #[serde(default, rename = "gatewayAPICRDs")]
    pub gateway_api_crds: Option<Text>,
    #[serde(default)]
    pub metallb: Option<Text>,
    #[serde(default)]
    pub metrics_server: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    pub name: Text,
    pub network: Text,
    #[serde(default)]
    pub context: Option<Text>,
    #[serde(default)]
    pub cni: Cni,
    #[serde(default)]
    pub load_balancer: LoadBalancerSpec,
    #[serde(default)]
    pub metrics_server: bool,
    /// The age recipient of this cluster's GitOps controller (Flux or KSOPS).
    #[serde(default)]
    pub gitops_recipient: Option<Text>,
    /// Where the credentials of this cluster's reader come from, for the remote secrets that
    /// let the other clusters' istiods read it.
    #[serde(default)]
    pub credentials: Option<CredentialsSpec>,
}

/// One credential source (exactly one field set).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialsSpec {
    #[serde(default)]
    pub token_file: Option<TokenFileSpec>,
    #[serde(default)]
    pub kubeconfig: Option<KubeconfigCredentialsSpec>,
    #[serde(default)]
    pub external_secrets: Option<ExternalSecretsSpec>,
}

/// The External Secrets Operator carries the reader token: a PushSecret in this cluster
/// publishes it to a store every cluster can read, an ExternalSecret in each other cluster pulls
/// it into the remote secret. No credential passes through mesh-render or git.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExternalSecretsSpec {
    pub server: Text,
    pub store: StoreRefSpec,
    #[serde(default)]
    pub remote_key: Option<Text>,
    #[serde(default)]
    pub tls_server_name: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StoreRefSpec {
    pub name: Text,
    #[serde(default)]
    pub kind: StoreKind,
}

/// The kind of an External Secrets store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum StoreKind {
    #[default]
    ClusterSecretStore,
    SecretStore,
}

/// The API server, its CA, and the reader token in a file (plain, or SOPS-encrypted).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenFileSpec {
    pub server: Text,
    pub ca_data: Text,
    pub token: Text,
    #[serde(default)]
    pub tls_server_name: Option<Text>,
}

/// A kubeconfig file and context on the operator's disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeconfigCredentialsSpec {
    pub file: Text,
    #[serde(default)]
    pub context: Option<Text>,
}

/// The cluster's CNI, which decides the provider fixes it needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cni {
    Calico,
    Cilium,
    #[default]
    Other,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadBalancerSpec {
    #[serde(default)]
    pub provider: LoadBalancerProvider,
    #[serde(default)]
    pub addresses: Vec<Text>,
}

/// Who gives the gateway's LoadBalancer Service its external address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadBalancerProvider {
    /// The cloud's load balancer controller (an IP or, like Ncloud, a hostname).
    #[default]
    Cloud,
    /// MetalLB announcing addresses from a pool (clusters without a cloud load balancer).
    Metallb,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SampleSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub namespace: Option<Text>,
    #[serde(default)]
    pub reviews: ReviewsSpec,
    #[serde(default)]
    pub sleep: SleepSpec,
    /// Cluster name to the workloads it runs; absent means the seed's placement.
    #[serde(default)]
    pub placement: Option<BTreeMap<String, Vec<Workload>>>,
}

impl Default for SampleSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            namespace: None,
            reviews: ReviewsSpec::default(),
            sleep: SleepSpec::default(),
            placement: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReviewsSpec {
    #[serde(default)]
    pub hub: Option<Text>,
    #[serde(default)]
    pub tag: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SleepSpec {
    #[serde(default)]
    pub image: Option<Text>,
}

/// A sample workload that can be placed on a cluster.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
pub enum Workload {
    #[serde(rename = "reviews-v1")]
    ReviewsV1,
    #[serde(rename = "reviews-v2")]
    ReviewsV2,
    #[serde(rename = "reviews-v3")]
    ReviewsV3,
    #[serde(rename = "sleep")]
    Sleep,
}

impl Workload {
    /// Every workload of the sample.
    pub const ALL: [Workload; 4] = [
        Workload::ReviewsV1,
        Workload::ReviewsV2,
        Workload::ReviewsV3,
        Workload::Sleep,
    ];

    /// The reviews versions, in the order the default placement cycles through them.
    pub const REVIEWS: [Workload; 3] = [
        Workload::ReviewsV1,
        Workload::ReviewsV2,
        Workload::ReviewsV3,
    ];

    /// The seed's placement for cluster `index` of `count`: reviews v1, v2, v3 in turn (cycling),
    /// and sleep in the last cluster.
    pub fn default_placement(index: usize, count: usize) -> Vec<Workload> {
        let mut w = vec![Workload::REVIEWS[index % Workload::REVIEWS.len()]];
        if index + 1 == count {
            w.push(Workload::Sleep);
        }
        w
    }

    pub fn name(self) -> &'static str {
        match self {
            Workload::ReviewsV1 => "reviews-v1",
            Workload::ReviewsV2 => "reviews-v2",
            Workload::ReviewsV3 => "reviews-v3",
            Workload::Sleep => "sleep",
        }
    }

    /// The bookinfo version label (`v1`..`v3`) of a reviews workload.
    pub fn reviews_version(self) -> Option<&'static str> {
        match self {
            Workload::ReviewsV1 => Some("v1"),
            Workload::ReviewsV2 => Some("v2"),
            Workload::ReviewsV3 => Some("v3"),
            Workload::Sleep => None,
        }
    }
}

fn yes() -> bool {
    true
}

/// Who can decrypt the mesh's secrets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretsSpec {
    /// age recipients of the mesh's administrators.
    #[serde(default)]
    pub admins: Vec<Text>,
}

/// How new CAs are issued.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PkiSpec {
    #[serde(default)]
    pub algorithm: Algorithm,
    #[serde(default)]
    pub root_validity_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub intermediate_validity_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub expiry_warning_days: Option<Spanned<u32>>,
    /// The SHA-256 fingerprint of the root certificate, written by the render that issues it.
    #[serde(default)]
    pub root_fingerprint: Option<Text>,
}

/// How the rendered tree is synced.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitOpsSpec {
    #[serde(default)]
    pub target: GitOpsTarget,
    #[serde(default)]
    pub repository: Option<RepositorySpec>,
    #[serde(default)]
    pub chart_repository: Option<Text>,
    /// With the Argo CD target: `per-cluster` (each cluster runs its own Argo CD and holds only
    /// its own key, the default) or `hub` (one Argo CD manages every cluster).
    #[serde(default)]
    pub argocd_mode: ArgoCdMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArgoCdMode {
    #[default]
    PerCluster,
    Hub,
}

/// Which GitOps tool applies the tree (one per rendered tree).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GitOpsTarget {
    /// No GitOps wiring: the layers and values only, applied by hand or by another tool.
    #[default]
    None,
    Flux,
    Argocd,
}

impl GitOpsTarget {
    /// The name mesh.yaml and `--target` use.
    pub fn name(self) -> &'static str {
        match self {
            GitOpsTarget::None => "none",
            GitOpsTarget::Flux => "flux",
            GitOpsTarget::Argocd => "argocd",
        }
    }
}

/// The Git repository the rendered tree is committed to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RepositorySpec {
    pub url: Text,
    #[serde(default)]
    pub branch: Option<Text>,
    /// Where the rendered tree sits in the repository (default `out`).
    #[serde(default)]
    pub path: Option<Text>,
}

/// The key algorithm of a CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256: istiod accepts it (`security/pkg/pki/util/crypto.go`) and it is
    /// quick to issue and to verify.
    #[default]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// RSA 4096 with SHA-256, as Istio's Makefile issues.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}
