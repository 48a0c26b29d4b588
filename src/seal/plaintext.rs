//! The plaintext of every sealed file, rendered only in memory and handed straight to the SOPS
//! engine: a cluster's `cacerts` Secret and the remote secret of one cluster for another.

use minijinja::context;
use zeroize::Zeroizing;

use crate::config::ClusterName;
use crate::pki::CaCerts;
use crate::templates::{self, TemplateError};

/// The template a `cacerts` plaintext is rendered from.
pub const CACERTS_TEMPLATE: &str = "secrets/cacerts.yaml";
/// The templates a remote secret's plaintext is rendered from.
pub const REMOTE_SECRET_TEMPLATES: [&str; 2] = [
    "secrets/remote-secret.yaml",
    "secrets/remote-kubeconfig.yaml",
];

/// The remote secret of `source` for `target`, in plaintext, around `source`'s kubeconfig
/// (rendered by `kubeconfig`).
pub fn remote_secret(
    source: &ClusterName,
    target: &ClusterName,
    namespace: &str,
    inner: &str,
) -> Result<Zeroizing<String>, TemplateError> {
    templates::render_secret(
        REMOTE_SECRET_TEMPLATES[0],
        context! {
            source => source.as_str(),
            target => target.as_str(),
            namespace,
            kubeconfig => inner.trim_end(),
        },
    )
}

/// The `cacerts` Secret of a cluster, in plaintext.
pub fn cacerts_secret(
    cluster: &ClusterName,
    namespace: &str,
    certs: &CaCerts,
) -> Result<Zeroizing<String>, TemplateError> {
    templates::render_secret(
        CACERTS_TEMPLATE,
        context! {
            cluster => cluster.as_str(),
            namespace,
            ca_cert => certs.ca_cert.trim_end(),
            ca_key => certs.ca_key.trim_end(),
            root_cert => certs.root_cert.trim_end(),
            cert_chain => certs.cert_chain.trim_end(),
        },
    )
}
