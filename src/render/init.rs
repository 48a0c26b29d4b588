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
    /// Whether `name` was derived from `kubeconfig_cluster`, which is not a DNS-1123 label.
    pub derived_name: bool,
    pub server: String,
    /// The kubeconfig file that defines the context: the cluster's credential source.
    pub kubeconfig_file: String,
    /// Why that context's credential cannot go into a remote secret, if it cannot (then the
    /// source is written commented out, with the reason).
    pub unusable_credential: Option<String>,
    pub workloads: Vec<Workload>,
}

/// The built-in example's `secrets`, `pki` and commented `gitops` sections, word for word: an
/// imported mesh is filled in the same way (`admins` first).
fn example_sections() -> &'static str {
    let example = crate::config::EXAMPLE_YAML;
    let start = example.find("\nsecrets:\n").map_or(0, |i| i + 1);
    let end = example
        .find("\nclusters:\n")
        .map_or(example.len(), |i| i + 1);
    example.get(start..end).unwrap_or_default().trim_end()
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
        shared_sections => example_sections(),
    };
    let text = templates::render("init/mesh-from-kubeconfig.yaml", ctx)?;
    Ok(templates::normalize(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_sections_are_the_examples_secrets_pki_and_gitops() {
        let sections = example_sections();
        assert!(sections.starts_with("secrets:\n"), "{sections}");
        assert!(sections.contains("\npki:\n"), "{sections}");
        assert!(sections.contains("\n# gitops:\n"), "{sections}");
        assert!(!sections.contains("\nclusters:"), "{sections}");
    }
}
