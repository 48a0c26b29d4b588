//! Renders the mesh descriptions `mesh-render init` writes: the built-in example moved to the
//! newest supported Istio patch (with the facts of its release line), or clusters imported from
//! kubeconfig contexts, with defaults to edit marked in comments.

use minijinja::context;
use minijinja::value::Serde;
use serde::Serialize;

use crate::config::{ClusterName, ContextName, NetworkName, Workload};
use crate::releases;
use crate::templates::{self, TemplateError};

/// The built-in example as `init` writes it: the same mesh on the newest supported Istio patch,
/// with that line's Gateway API CRDs and sample images, a revision named after it (so it can be
/// upgraded canary-style), and a comment that the seed used 1.26.0.
/// The example's lines it replaces are fixed (a unit test holds them), so this cannot fail.
pub fn new_mesh_example() -> String {
    let version = releases::newest_supported();
    let row = releases::line_of(&version).unwrap_or_else(releases::newest);
    [
        (
            "  # knows (README, \"Supported Istio releases\"). The example keeps the seed's 1.26.0.\n  version: 1.26.0\n",
            format!(
                "  # knows (README, \"Supported Istio releases\"); the K-PaaS seed used 1.26.0.\n  version: {version}\n"
            ),
        ),
        (
            "  # revision: 1-26-0\n",
            format!(
                "  revision: {}\n",
                crate::upgrade::revision_name(&version)
            ),
        ),
        (
            "  # Gateway API standard CRDs v1.3.0, what Istio 1.26 is built against.\n  gatewayAPICRDs: https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.3.0/standard-install.yaml\n",
            format!(
                "  # Gateway API standard CRDs {}, what Istio {} is built against.\n  gatewayAPICRDs: {}\n",
                row.gateway_api,
                row.name(),
                row.gateway_api_crds()
            ),
        ),
        (
            "as Istio 1.26.0's bookinfo pins them.\n    hub: docker.io/istio\n",
            format!(
                "as Istio {version}'s bookinfo pins them.\n    hub: {}\n",
                row.sample_reviews_hub
            ),
        ),
        (
            "    # Istio's sample leaves curlimages/curl untagged; mesh-render pins a tag.\n    image: docker.io/curlimages/curl:8.14.1\n",
            format!(
                "    # Istio {version}'s curl sample.\n    image: {}\n",
                row.sample_curl_image
            ),
        ),
    ]
    .iter()
    .fold(crate::config::EXAMPLE_YAML.to_owned(), |text, (from, to)| {
        text.replacen(from, to, 1)
    })
}

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
        istio_version => releases::newest_supported().to_string(),
        istio_revision => crate::upgrade::revision_name(&releases::newest_supported()),
        shared_sections => example_sections(),
    };
    let text = templates::render("init/mesh-from-kubeconfig.yaml", ctx)?;
    Ok(templates::normalize(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_mesh_example_moves_every_release_fact_and_nothing_else() {
        let example = crate::config::EXAMPLE_YAML;
        let new = new_mesh_example();
        let changed: Vec<(&str, &str)> = example
            .lines()
            .zip(new.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(example.lines().count(), new.lines().count());
        assert_eq!(changed.len(), 9, "{changed:#?}");
        for needle in [
            "version: 1.30.3",
            "  revision: 1-30-3\n",
            "the K-PaaS seed used 1.26.0",
            "/download/v1.5.1/standard-install.yaml",
            "hub: registry.istio.io/release",
            "image: docker.io/curlimages/curl:8.16.0",
        ] {
            assert!(new.contains(needle), "{needle}");
        }
    }

    #[test]
    fn the_shared_sections_are_the_examples_secrets_pki_and_gitops() {
        let sections = example_sections();
        assert!(sections.starts_with("secrets:\n"), "{sections}");
        assert!(sections.contains("\npki:\n"), "{sections}");
        assert!(sections.contains("\n# gitops:\n"), "{sections}");
        assert!(!sections.contains("\nclusters:"), "{sections}");
    }
}
