//! The validated mesh description: the types a parsed and validated mesh.yaml becomes, with
//! the defaults and the upstream releases they pin. Nothing here reads a file.

use std::net::IpAddr;
use std::path::PathBuf;

pub use super::names::{
    AgeRecipient, ClusterName, ContextName, ImageRef, MeshId, NetworkName, Revision,
    RootFingerprint, TrustDomain,
};
use super::spec;
pub use super::spec::{Algorithm, Cni, GitOpsTarget, Profile, Topology, Workload};
pub use crate::releases::IstioVersion;
use crate::releases::ReleaseLine;

/// The `apiVersion` this release reads.
pub const API_VERSION: &str = "mesh-render.dev/v1alpha1";
/// The `kind` of a mesh description.
pub const KIND: &str = "Mesh";
/// The built-in example: the seed's three-cluster mesh, every field commented.
pub const EXAMPLE_YAML: &str = include_str!("example-mesh.yaml");
/// The file read when no `--config` is given.
pub const DEFAULT_FILE: &str = "mesh.yaml";
/// A mesh description is small; anything larger is refused before parsing.
pub const MAX_FILE_BYTES: usize = 4 << 20;

/// A validated mesh description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mesh {
    pub mesh_id: MeshId,
    pub trust_domain: TrustDomain,
    pub istio: Istio,
    pub topology: Topology,
    /// With the dedicated topology: a separate ingress gateway beside the east-west one.
    pub ingress_gateway: bool,
    pub upstream: Upstream,
    pub secrets: Secrets,
    pub pki: PkiSettings,
    pub gitops: GitOps,
    /// In the order written: the order that numbers networks and places the sample.
    pub clusters: Vec<Cluster>,
    pub sample: Sample,
}

impl Mesh {
    /// The most clusters one mesh may have: far above what one multi-primary mesh runs (every
    /// istiod watches every other API server, and N clusters hold N×(N−1) remote secrets).
    pub const MAX_CLUSTERS: usize = 1000;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Istio {
    pub version: IstioVersion,
    /// The release-table row whose facts the render uses: the version's own line, or, for a
    /// newer line allowed by `istio.allowUnknownVersion`, the newest line known.
    pub release: &'static ReleaseLine,
    /// The version's line is newer than the table (`istio.allowUnknownVersion: true`).
    pub unknown_line: bool,
    /// Whether a render advises moving off an end-of-life line: not for the built-in example,
    /// which reproduces the seed's 1.26.0 on purpose.
    pub end_of_life_advice: bool,
    pub profile: Profile,
    pub dns_capture: bool,
    pub rewrite_app_http_probe: bool,
    /// The control-plane revision, if the mesh installs a revisioned istiod.
    pub revision: Option<Revision>,
    /// The image registry of Istio's images, when not the charts' default.
    pub hub: Option<ImageRef>,
    /// A canary upgrade in progress (`istio.upgrade`).
    pub upgrade: Option<crate::upgrade::Upgrade>,
}

/// Release URLs of the upstream manifests that out/base/ references (never copies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub gateway_api_crds: String,
    pub metallb: String,
    pub metrics_server: String,
}

impl Upstream {
    // The Gateway API standard CRDs default to the release Istio's line is built against:
    // `crate::releases::ReleaseLine::gateway_api_crds`.
    /// MetalLB v0.14.8, as the seed installs it (`metallb/metallb@v0.14.8:config/manifests/metallb-native.yaml`).
    pub const METALLB: &str = "https://raw.githubusercontent.com/metallb/metallb/v0.14.8/config/manifests/metallb-native.yaml";
    /// metrics-server v0.9.0's release asset (`kubectl kustomize manifests/overlays/release` at the tag).
    pub const METRICS_SERVER: &str = "https://github.com/kubernetes-sigs/metrics-server/releases/download/v0.9.0/components.yaml";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub name: ClusterName,
    pub network: NetworkName,
    pub context: ContextName,
    pub cni: Cni,
    pub load_balancer: LoadBalancer,
    pub metrics_server: bool,
    /// The recipient of the cluster's GitOps controller: its secrets are encrypted to it too.
    pub gitops_recipient: Option<AgeRecipient>,
    /// Where its reader's credentials come from; without, its remote secrets are pending.
    pub credentials: Option<Credentials>,
}

/// Where a cluster's reader credentials come from. Paths are as written in mesh.yaml (relative
/// ones are resolved against its directory when read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    TokenFile {
        server: String,
        /// Base64 of the API server's CA bundle (PEM), as a kubeconfig's certificate-authority-data.
        ca_data: String,
        token: PathBuf,
        tls_server_name: Option<String>,
    },
    Kubeconfig {
        file: PathBuf,
        context: ContextName,
    },
    ExternalSecrets {
        server: String,
        tls_server_name: Option<String>,
        store_kind: spec::StoreKind,
        store_name: String,
        /// The key under which the cluster's reader token and CA live in the store; `None`
        /// means the default, `mesh-render-<meshID>-<cluster>-reader`.
        remote_key: Option<String>,
    },
}

impl Credentials {
    /// What the credentials say, without the secret itself: what a remote secret's inputs
    /// digest covers, so a re-render with them unchanged needs neither files nor keys.
    pub fn description(&self) -> String {
        match self {
            Credentials::TokenFile {
                server,
                ca_data,
                token,
                tls_server_name,
            } => format!(
                "tokenFile server={server} caData={ca_data} token={} tlsServerName={}",
                token.display(),
                tls_server_name.as_deref().unwrap_or("")
            ),
            Credentials::Kubeconfig { file, context } => {
                format!("kubeconfig file={} context={context}", file.display())
            }
            Credentials::ExternalSecrets {
                server,
                store_kind,
                store_name,
                remote_key,
                ..
            } => {
                format!(
                    "externalSecrets server={server} store={store_kind:?}/{store_name} remoteKey={}",
                    remote_key.as_deref().unwrap_or("")
                )
            }
        }
    }

    /// Whether the External Secrets Operator, not mesh-render, makes the remote secrets.
    pub fn is_external(&self) -> bool {
        matches!(self, Credentials::ExternalSecrets { .. })
    }

    /// The API server URL, when mesh.yaml states it.
    pub fn server(&self) -> Option<&str> {
        match self {
            Credentials::TokenFile { server, .. } | Credentials::ExternalSecrets { server, .. } => {
                Some(server)
            }
            Credentials::Kubeconfig { .. } => None,
        }
    }
}

/// How the rendered tree is synced: by which tool, from which repository and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitOps {
    pub target: spec::GitOpsTarget,
    /// The repository the tree is committed to; required by a GitOps target.
    pub repository_url: Option<String>,
    pub branch: String,
    /// The rendered tree's path in the repository, without leading `./` or trailing `/`.
    pub path: String,
    /// Istio's Helm chart repository (override for a mirror).
    pub chart_repository: String,
    pub argocd_mode: spec::ArgoCdMode,
}

impl GitOps {
    pub const ISTIO_CHARTS: &str = "https://istio-release.storage.googleapis.com/charts";
}

/// Who can decrypt the mesh's secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Secrets {
    /// The administrators' recipients; empty means mesh-render keeps a local admin identity.
    pub admins: Vec<AgeRecipient>,
}

/// How new CAs are issued, and when the summary warns about expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PkiSettings {
    pub algorithm: Algorithm,
    pub validity: Validity,
    pub expiry_warning_days: i64,
    /// The fingerprint the root must have (`pki.rootFingerprint`), if mesh.yaml pins it.
    pub root_fingerprint: Option<RootFingerprint>,
}

impl PkiSettings {
    pub const DEFAULT_EXPIRY_WARNING_DAYS: i64 = 90;
}

/// How the gateway's LoadBalancer Service gets its external address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadBalancer {
    Cloud,
    Metallb { addresses: Vec<IpAddr> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub enabled: bool,
    pub namespace: String,
    pub reviews_hub: ImageRef,
    pub reviews_tag: String,
    pub sleep_image: ImageRef,
    /// Every cluster, in mesh order, with the workloads it runs (possibly none).
    pub placement: Vec<(ClusterName, Vec<Workload>)>,
}

impl Sample {
    pub const DEFAULT_NAMESPACE: &str = "sample";
    /// Every known line's bookinfo.yaml pins `<hub>/examples-bookinfo-reviews-vN:1.20.3`; the hub
    /// and the sleep image differ by line (`crate::releases::ReleaseLine`).
    pub const DEFAULT_REVIEWS_TAG: &str = "1.20.3";
}

/// Where a mesh description came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    BuiltinExample,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::BuiltinExample => f.write_str("<built-in example>"),
        }
    }
}

/// Validity of new CAs, and the margin by which an intermediate ends before its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub root_days: i64,
    pub intermediate_days: i64,
    pub margin_days: i64,
}

impl Default for Validity {
    /// Istio's Makefile: 3650 days for both (`ROOTCA_DAYS`, `INTERMEDIATE_DAYS`).
    fn default() -> Self {
        Self {
            root_days: 3650,
            intermediate_days: 3650,
            margin_days: 30,
        }
    }
}
