//! Plaintext documents that are encrypted before they reach the disk: the PKI's state files and
//! the `cacerts` Secret. Rendered only in memory, handed straight to the SOPS engine.

use minijinja::context;
use zeroize::Zeroizing;

use super::{RenderError, templates};
use crate::config::ClusterName;
use crate::pki::store::Kind;
use crate::pki::{Algorithm, Ca, CaCerts};

fn render(template: &'static str, ctx: minijinja::Value) -> Result<Zeroizing<String>, RenderError> {
    let text = templates::env()
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|source| RenderError::Template { template, source })?;
    Ok(Zeroizing::new(super::tree::normalize(&text)))
}

/// A PKI state file: certificate and key of one CA (the key is then encrypted).
pub fn ca_state(
    kind: Kind,
    cluster: Option<&ClusterName>,
    algorithm: Algorithm,
    ca: &Ca,
) -> Result<Zeroizing<String>, RenderError> {
    let (kind_name, description) = match (kind, cluster) {
        (Kind::RootCA, _) => ("RootCA", "the mesh's root CA".to_owned()),
        (Kind::IntermediateCA, Some(c)) => (
            "IntermediateCA",
            format!("the intermediate CA of cluster {c}"),
        ),
        (Kind::IntermediateCA, None) => ("IntermediateCA", "an intermediate CA".to_owned()),
    };
    let not_after = ca
        .not_after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let algorithm = match algorithm {
        Algorithm::EcdsaP256 => "ecdsa-p256",
        Algorithm::Rsa4096 => "rsa-4096",
    };
    render(
        "state/ca.yaml",
        context! {
            kind => kind_name,
            description,
            cluster => cluster.map(ToString::to_string),
            algorithm,
            not_after,
            certificate => ca.cert_pem.trim_end(),
            key => ca.key_pem().trim_end(),
        },
    )
}

/// A reader credential: a bearer token, or a client certificate and key (base64, as in a
/// kubeconfig). istiod accepts no other kind.
pub enum ReaderAuth<'a> {
    Token(&'a str),
    ClientCertificate {
        certificate_data: &'a str,
        key_data: &'a str,
    },
}

/// The kubeconfig a remote secret holds: cluster, context and user all named after `source`.
pub struct RemoteKubeconfig<'a> {
    pub server: &'a str,
    pub ca_data: &'a str,
    pub tls_server_name: Option<&'a str>,
    pub auth: ReaderAuth<'a>,
}

/// The remote secret of `source` for `target`, in plaintext, around `source`'s kubeconfig
/// (rendered by `kubeconfig`).
pub fn remote_secret(
    source: &ClusterName,
    target: &ClusterName,
    namespace: &str,
    inner: &str,
) -> Result<Zeroizing<String>, RenderError> {
    render(
        "secrets/remote-secret.yaml",
        context! {
            source => source.as_str(),
            target => target.as_str(),
            namespace,
            kubeconfig => inner.trim_end(),
        },
    )
}

/// Stand-ins for the values ESO fills in: plain YAML scalars, so the kubeconfig is laid out exactly
/// as in a sealed remote secret, then swapped for the template expressions.
const TOKEN_STAND_IN: &str = "MESHRENDERTOKENSTANDIN";
const CA_STAND_IN: &str = "MESHRENDERCASTANDIN";
/// The External Secrets template expressions (engine v2, Go templates with sprig functions).
pub const ESO_TOKEN: &str = "{{ .token }}";
pub const ESO_CA: &str = "{{ .ca | b64enc }}";

/// The kubeconfig of an ExternalSecret's template: the sealed remote secret's kubeconfig, with
/// the token and CA left for the External Secrets Operator to fill in.
pub fn external_secret_kubeconfig(remote: &crate::model::ExternalRemoteSecret) -> String {
    let kubeconfig = RemoteKubeconfig {
        server: &remote.server,
        ca_data: CA_STAND_IN,
        tls_server_name: remote.tls_server_name.as_deref(),
        auth: ReaderAuth::Token(TOKEN_STAND_IN),
    };
    let text = self::kubeconfig(&remote.source, &kubeconfig)
        .map(|t| t.to_string())
        .unwrap_or_default();
    text.trim_end()
        .replace(TOKEN_STAND_IN, ESO_TOKEN)
        .replace(CA_STAND_IN, ESO_CA)
}

/// The kubeconfig a remote secret for `source` holds (the same in every cluster that reads it).
pub fn kubeconfig(
    source: &ClusterName,
    kubeconfig: &RemoteKubeconfig<'_>,
) -> Result<Zeroizing<String>, RenderError> {
    let (token, cert, key) = match kubeconfig.auth {
        ReaderAuth::Token(token) => (Some(token), None, None),
        ReaderAuth::ClientCertificate {
            certificate_data,
            key_data,
        } => (None, Some(certificate_data), Some(key_data)),
    };
    render(
        "secrets/remote-kubeconfig.yaml",
        context! {
            name => source.as_str(),
            server => kubeconfig.server,
            ca_data => kubeconfig.ca_data,
            tls_server_name => kubeconfig.tls_server_name,
            token,
            client_certificate_data => cert,
            client_key_data => key,
        },
    )
}

/// pki/rotation.yaml: the stage of a root rotation in progress.
pub fn rotation_state(
    stage: crate::pki::rotation::Stage,
) -> Result<Zeroizing<String>, RenderError> {
    render("state/rotation.yaml", context! { stage => stage.name() })
}

/// The `cacerts` Secret of a cluster, in plaintext.
pub fn cacerts_secret(
    cluster: &ClusterName,
    namespace: &str,
    certs: &CaCerts,
) -> Result<Zeroizing<String>, RenderError> {
    render(
        "secrets/cacerts.yaml",
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
