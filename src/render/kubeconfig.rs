//! The kubeconfig a remote secret holds for one source cluster: cluster, context and user all
//! named after it, as `istioctl create-remote-secret` writes it. Rendered in memory for a sealed
//! remote secret (with the reader's credential), or as the template of an ExternalSecret (with
//! the External Secrets Operator's expressions where the token and CA go).

use minijinja::context;
use zeroize::Zeroizing;

use crate::config::ClusterName;
use crate::templates::{self, TemplateError};

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

/// Stand-ins for the values ESO fills in: plain YAML scalars, so the kubeconfig is laid out exactly
/// as in a sealed remote secret, then swapped for the template expressions.
const TOKEN_STAND_IN: &str = "MESHRENDERTOKENSTANDIN";
const CA_STAND_IN: &str = "MESHRENDERCASTANDIN";
/// The External Secrets template expressions (engine v2, Go templates with sprig functions).
pub const ESO_TOKEN: &str = "{{ .token }}";
pub const ESO_CA: &str = "{{ .ca | b64enc }}";

/// The kubeconfig of an ExternalSecret's template: the sealed remote secret's kubeconfig, with
/// the token and CA left for the External Secrets Operator to fill in.
pub fn external_secret_kubeconfig(
    remote: &crate::model::ExternalRemoteSecret,
) -> Result<String, TemplateError> {
    let kubeconfig = RemoteKubeconfig {
        server: &remote.server,
        ca_data: CA_STAND_IN,
        tls_server_name: remote.tls_server_name.as_deref(),
        auth: ReaderAuth::Token(TOKEN_STAND_IN),
    };
    let text = self::kubeconfig(&remote.source, &kubeconfig)?;
    Ok(text
        .trim_end()
        .replace(TOKEN_STAND_IN, ESO_TOKEN)
        .replace(CA_STAND_IN, ESO_CA))
}

/// The kubeconfig a remote secret for `source` holds (the same in every cluster that reads it).
pub fn kubeconfig(
    source: &ClusterName,
    kubeconfig: &RemoteKubeconfig<'_>,
) -> Result<Zeroizing<String>, TemplateError> {
    let (token, cert, key) = match kubeconfig.auth {
        ReaderAuth::Token(token) => (Some(token), None, None),
        ReaderAuth::ClientCertificate {
            certificate_data,
            key_data,
        } => (None, Some(certificate_data), Some(key_data)),
    };
    templates::render_secret(
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
