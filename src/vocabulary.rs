//! The names and numbers of Istio's multi-cluster machinery that mesh-render writes and `check`
//! reads back: labels, annotations, the cross-network port, the network gateway's ports, the
//! remote secrets' names, the namespace and encryption rule of every sealed Secret. Model,
//! render, the seal layer and `check` take them from here (and where the local state keeps
//! identities, for the commands the README prints); the templates write the same words
//! (a render that `check` passes is the test that they agree).

use crate::config::ClusterName;

/// The directory under `$XDG_DATA_HOME` where mesh-render keeps each mesh's local state
/// (`keys::StateDir`), and the one under it that holds the clusters' GitOps identities.
pub const STATE_DIR: &str = "mesh-render";
pub const CLUSTER_IDENTITIES: &str = "clusters";

/// Where a mesh's cluster identities are, as a shell word for the commands a README prints (to
/// be double-quoted): the directory `keys::StateDir` finds on whichever machine runs them.
pub fn cluster_identity_dir_shell(mesh_id: &str) -> String {
    format!("${{XDG_DATA_HOME:-$HOME/.local/share}}/{STATE_DIR}/{mesh_id}/{CLUSTER_IDENTITIES}")
}

/// The namespace istiod, its gateways, `cacerts` and the remote secrets live in.
pub const ISTIO_NAMESPACE: &str = "istio-system";

/// The Secret istiod reads its CA from (`/etc/cacerts`), and the file mesh-render seals it in.
pub const CACERTS_SECRET: &str = "cacerts";

/// The sample's Service, which every cluster running the sample holds.
pub const REVIEWS_SERVICE: &str = "reviews";

/// The label that puts a namespace (and a gateway) on a network (`label.TopologyNetwork`).
pub const NETWORK_LABEL: &str = "topology.istio.io/network";

/// The gateway proxies' env asking istiod for the view of their network.
pub const NETWORK_VIEW_ENV: &str = "ISTIO_META_REQUESTED_NETWORK_VIEW";

/// The annotation naming the cluster a remote secret reaches (`istioctl create-remote-secret`).
pub const CLUSTER_ANNOTATION: &str = "networking.istio.io/cluster";

/// The label istiod watches remote secrets by.
pub const MULTICLUSTER_LABEL: &str = "istio/multiCluster";

/// The prefix of every remote secret's name.
pub const REMOTE_SECRET_PREFIX: &str = "istio-remote-secret-";

/// The remote secret that lets another cluster's istiod read `source`.
pub fn remote_secret_name(source: &ClusterName) -> String {
    format!("{REMOTE_SECRET_PREFIX}{source}")
}

/// The port every multi-network gateway listens on for AUTO_PASSTHROUGH (istiod's
/// `DefaultNetworkGatewayPort`).
pub const CROSS_NETWORK_PORT: u16 = 15443;
/// The gateway's health port.
pub const STATUS_PORT: u16 = 15021;
/// istiod's XDS port, exposed through a gateway only for primary-remote meshes.
pub const ISTIOD_PORT: u16 = 15012;
/// istiod's webhook port, likewise.
pub const WEBHOOK_PORT: u16 = 15017;

/// The ports the gateway chart gives a network gateway (`networkGateway` replaces the service
/// ports with exactly these: `manifests/charts/gateway/templates/service.yaml`, Istio 1.26.0).
pub const NETWORK_GATEWAY_PORTS: [u16; 4] =
    [STATUS_PORT, CROSS_NETWORK_PORT, ISTIOD_PORT, WEBHOOK_PORT];

/// The name of every SOPS-encrypted file: sops, Flux and KSOPS find them by their metadata, and
/// out/.sops.yaml's rules by this suffix.
pub const SEALED_SUFFIX: &str = ".sops.yaml";

/// The file a cluster's `cacerts` is sealed in, in its `istio-system` layer.
pub fn cacerts_file() -> String {
    format!("{CACERTS_SECRET}{SEALED_SUFFIX}")
}

/// The encryption rule of every Kubernetes Secret mesh-render seals: kind and metadata stay
/// readable.
pub const SECRET_ENCRYPTED_REGEX: &str = "^(data|stringData)$";
