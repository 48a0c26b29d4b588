//! The clusters' reader credentials: where each comes from (mesh.yaml's paths resolved against its
//! directory and the home directory), the digests that are safe to record (of SOPS-encrypted token
//! files), and the credential itself, read only when a remote secret must be sealed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::error::{CredentialError, InputProblem, SealError};
use crate::config::{ClusterName, Credentials, Mesh};
use crate::digest;
use crate::disk;
use crate::kubeconfig::{Kubeconfig, ReaderAuth, ReaderCredential};
use crate::sops::{self, Identities};

/// Every cluster's credential source, as mesh.yaml gives it, and where its paths lead.
#[derive(Debug, Clone)]
pub struct CredentialSources {
    /// The directory relative paths are resolved against (mesh.yaml's).
    base_dir: PathBuf,
    /// The home directory, for `~/` paths.
    home: Option<PathBuf>,
    by_cluster: BTreeMap<ClusterName, Credentials>,
    /// Digests of the SOPS-encrypted token files (safe to record), for the remote secrets' inputs.
    pub digests: BTreeMap<ClusterName, String>,
}

impl CredentialSources {
    /// Checks every file the description names (a token file, a kubeconfig): one that is there
    /// must be a regular file of at most 1 MiB. A missing one is no problem yet: a render needs
    /// it only when that cluster's remote secrets must be sealed again.
    pub fn check_files(
        &self,
        mesh: &Mesh,
        origin: &crate::config::Origin,
    ) -> Result<(), SealError> {
        let mut problems = Vec::new();
        for (i, cluster) in mesh.clusters.iter().enumerate() {
            let (field, path, what) = match &cluster.credentials {
                Some(Credentials::TokenFile { token, .. }) => (
                    "tokenFile.token",
                    token,
                    "the file holding the cluster's reader token",
                ),
                Some(Credentials::Kubeconfig { file, .. }) => (
                    "kubeconfig.file",
                    file,
                    "the kubeconfig holding the reader's credential",
                ),
                _ => continue,
            };
            let resolved = self.resolve(path);
            let Ok(meta) = std::fs::metadata(&resolved) else {
                continue;
            };
            let problem = if !meta.is_file() {
                format!(
                    "{} is not a regular file (a FIFO, a device or a directory)",
                    resolved.display()
                )
            } else if meta.len() > disk::MAX_INPUT_BYTES {
                format!(
                    "{} is {} bytes; mesh-render reads at most {} of such a file",
                    resolved.display(),
                    meta.len(),
                    disk::MAX_INPUT_BYTES
                )
            } else {
                continue;
            };
            problems.push(InputProblem {
                field: format!("clusters[{i}].credentials.{field}"),
                problem,
                fix: format!("point it at {what}"),
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SealError::InputFiles {
                origin: origin.clone(),
                problems,
            })
        }
    }

    /// Reads what may be recorded: the digest of every token file that is a SOPS file.
    pub fn read(mesh: &Mesh, base_dir: &Path, home: Option<PathBuf>) -> Self {
        let by_cluster: BTreeMap<ClusterName, Credentials> = mesh
            .clusters
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.credentials.clone()?)))
            .collect();
        let mut sources = CredentialSources {
            base_dir: base_dir.to_owned(),
            home,
            by_cluster,
            digests: BTreeMap::new(),
        };
        let mut digests = BTreeMap::new();
        for (cluster, creds) in &sources.by_cluster {
            if let Credentials::TokenFile { token, .. } = creds
                && let Ok(bytes) = read_token_file(&sources.resolve(token))
                && std::str::from_utf8(&bytes).is_ok_and(|t| sops::metadata(t).is_ok())
            {
                digests.insert(cluster.clone(), digest::sha256_hex(&bytes));
            }
        }
        sources.digests = digests;
        sources
    }

    /// A credential path as written in mesh.yaml, resolved: `~/` is the home directory, a
    /// relative path is relative to mesh.yaml's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if let Ok(rest) = path.strip_prefix("~")
            && let Some(home) = &self.home
        {
            return home.join(rest);
        }
        self.base_dir.join(path)
    }

    /// `source`'s reader credential, with whether it is the reader's own token and, for a
    /// kubeconfig credential, what is worth a warning.
    pub fn credential(
        &self,
        source: &ClusterName,
        identities: Option<&Identities>,
    ) -> Result<(ReaderCredential, Vec<String>), CredentialError> {
        let credentials = self
            .by_cluster
            .get(source)
            .ok_or_else(|| CredentialError::NoSource {
                cluster: source.clone(),
            })?;
        match credentials {
            Credentials::TokenFile {
                server,
                ca_data,
                token,
                tls_server_name,
            } => {
                let path = self.resolve(token);
                let token = read_token(&path, identities, source)?;
                Ok((
                    ReaderCredential {
                        server: server.clone(),
                        ca_data: ca_data.clone(),
                        tls_server_name: tls_server_name.clone(),
                        auth: ReaderAuth::Token(token.to_string()),
                        is_reader_token: true,
                    },
                    Vec::new(),
                ))
            }
            Credentials::ExternalSecrets { .. } => Err(CredentialError::External {
                cluster: source.clone(),
            }),
            Credentials::Kubeconfig { file, context } => {
                let path = self.resolve(file);
                if !path.is_file() {
                    return Err(CredentialError::KubeconfigMissing {
                        cluster: source.clone(),
                        path,
                    });
                }
                let kube = Kubeconfig::load(&[path])?;
                let credential = kube.reader_credential(context.as_str())?;
                let mut warnings = Vec::new();
                if !credential.is_reader_token {
                    warnings.push(format!(
                        "the credential of {source} (kubeconfig context {context}) is not istio-reader-service-account's token: every other cluster's istiod now holds it. Use the reader token (credentials.tokenFile) instead."
                    ));
                }
                if let Some(why) = crate::model::unreachable_server(&credential.server) {
                    warnings.push(format!(
                        "the API server of {source} ({}) {why}",
                        credential.server
                    ));
                }
                Ok((credential, warnings))
            }
        }
    }
}

impl CredentialSources {
    /// The API server and CA data (base64 PEM) of `source`'s credential, without its secret
    /// part: mesh.yaml's for a token file, the kubeconfig file's for a kubeconfig (read, never
    /// decrypted). None for an external credential or a kubeconfig that does not load.
    pub fn public_part(&self, source: &ClusterName) -> Option<(String, String)> {
        match self.by_cluster.get(source)? {
            Credentials::TokenFile {
                server, ca_data, ..
            } => Some((server.clone(), ca_data.clone())),
            Credentials::Kubeconfig { file, context } => {
                let path = self.resolve(file);
                let kube = Kubeconfig::load(&[path]).ok()?;
                let credential = kube.reader_credential(context.as_str()).ok()?;
                Some((credential.server, credential.ca_data))
            }
            Credentials::ExternalSecrets { .. } => None,
        }
    }

    /// What mesh.yaml itself says of `source`'s credential when the credential cannot be read:
    /// a credential with stand-ins for what is not at hand, and the kubeconfig fields those
    /// stand-ins fill (`check` compares a sealed remote secret without them).
    pub fn stand_in(
        &self,
        source: &ClusterName,
    ) -> Option<(ReaderCredential, &'static [&'static str])> {
        const AUTH: &[&str] = &["users.*.user"];
        const ALL: &[&str] = &["users.*.user", "clusters.*.cluster"];
        let stand_in = ReaderAuth::Token("stand-in".to_owned());
        match self.by_cluster.get(source)? {
            Credentials::TokenFile {
                server,
                ca_data,
                tls_server_name,
                ..
            } => Some((
                ReaderCredential {
                    server: server.clone(),
                    ca_data: ca_data.clone(),
                    tls_server_name: tls_server_name.clone(),
                    auth: stand_in,
                    is_reader_token: true,
                },
                AUTH,
            )),
            Credentials::Kubeconfig { .. } => Some((
                ReaderCredential {
                    server: "https://stand-in".to_owned(),
                    ca_data: String::new(),
                    tls_server_name: None,
                    auth: stand_in,
                    is_reader_token: true,
                },
                ALL,
            )),
            Credentials::ExternalSecrets { .. } => None,
        }
    }
}

/// A token file's bytes: a regular file of at most 1 MiB.
fn read_token_file(path: &Path) -> Result<Vec<u8>, disk::IoError> {
    disk::read_input(path, disk::MAX_INPUT_BYTES, disk::Input::Regular)
        .map_err(disk::IoError::read(path))
}

/// The reader token of a cluster: a plain file holding the token, or a SOPS file with a `token`
/// field (decrypted with an admin identity).
fn read_token(
    path: &Path,
    identities: Option<&Identities>,
    source: &ClusterName,
) -> Result<Zeroizing<String>, CredentialError> {
    let bytes = read_token_file(path).map_err(|e| CredentialError::TokenUnreadable {
        cluster: source.clone(),
        source: e,
    })?;
    let text =
        Zeroizing::new(
            String::from_utf8(bytes).map_err(|_| CredentialError::NotAToken {
                path: path.to_owned(),
            })?,
        );
    let token = if sops::metadata(&text).is_ok() {
        let identities = identities.ok_or_else(|| CredentialError::TokenNeedsIdentity {
            path: path.to_owned(),
        })?;
        let plain =
            sops::decrypt(&text, identities).map_err(|e| CredentialError::TokenDecrypt {
                path: path.to_owned(),
                source: e,
            })?;
        let docs = plain.to_json();
        docs.first()
            .and_then(|d| d.get("token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| CredentialError::NoTokenField {
                path: path.to_owned(),
            })?
    } else {
        text.trim().to_owned()
    };
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(CredentialError::NotAToken {
            path: path.to_owned(),
        });
    }
    Ok(Zeroizing::new(token))
}
