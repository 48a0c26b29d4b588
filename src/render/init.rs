//! Renders a mesh description (mesh.yaml) for `mesh-render init --from-kubeconfig`: clusters
//! imported from kubeconfig contexts, with defaults to edit marked in comments.

use minijinja::context;
use minijinja::value::Serde;
use serde::Serialize;

use crate::config::{ClusterName, ContextName, NetworkName, Workload};
use crate::templates::{self, TemplateError};

/// One cluster taken from a kubeconfig context.
#[derive(Debug, Clone, Serialize)]
pub struct ImportedCluster {
    pub name: ClusterName,
    pub network: NetworkName,
    pub context: ContextName,
    /// The kubeconfig's own cluster name and server, shown in a comment.
    pub kubeconfig_cluster: String,
    pub server: String,
    /// The kubeconfig file that defines the context: the cluster's credential source.
    pub kubeconfig_file: String,
    /// Why that context's credential cannot go into a remote secret, if it cannot (then the
    /// source is written commented out, with the reason).
    pub unusable_credential: Option<String>,
    pub workloads: Vec<Workload>,
}

/// The mesh description text; `sources` are the kubeconfig files it came from.
pub fn mesh_description(
    sources: &[String],
    clusters: &[ImportedCluster],
) -> Result<String, TemplateError> {
    let ctx = context! {
        sources => Serde(sources),
        clusters => Serde(clusters),
        mesh_id => "mesh1",
        istio_version => "1.26.0",
    };
    let text = templates::render("init/mesh-from-kubeconfig.yaml", ctx)?;
    Ok(templates::normalize(&text))
}
