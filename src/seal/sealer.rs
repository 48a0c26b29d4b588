//! The sealer the output calls for each sealed file it must write: renders the plaintext in
//! memory from its recipe (decrypting the intermediate's key, reading the reader's credential)
//! and encrypts it to its recipients. Each source's kubeconfig is made once for all the remote
//! secrets that hold it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::error::SealError;
use super::plaintext;
use super::recipe;
use super::resolve::Resolved;
use super::verify;
use crate::config::ClusterName;
use crate::facts::{self, Facts};
use crate::kubeconfig;
use crate::output::Sealer;
use crate::render::kubeconfig::{ReaderAuth, RemoteKubeconfig};
use crate::render::{RelPath, Sealed, Secret};
use crate::sops::{self, Recipient, Rule};

/// Seals descriptors with the secret inputs of a resolution.
pub struct MeshSealer<'a> {
    resolved: &'a Resolved,
    now: OffsetDateTime,
    /// Warnings found while sealing (credentials that are not the reader's, unreachable servers).
    notes: Mutex<Vec<String>>,
    /// Each source cluster's kubeconfig (its reader credential resolved and rendered), made on
    /// first use: every other cluster's remote secret for that source holds the same one.
    resolved_kubeconfigs: Mutex<BTreeMap<ClusterName, Arc<KubeconfigCell>>>,
}

type KubeconfigCell = OnceLock<Result<Arc<SourceKubeconfig>, Arc<SealError>>>;

/// A source cluster's kubeconfig, as every remote secret for it holds it, and its facts.
struct SourceKubeconfig {
    kubeconfig: Zeroizing<String>,
    facts: Facts,
}

impl<'a> MeshSealer<'a> {
    pub fn new(resolved: &'a Resolved, now: OffsetDateTime) -> Self {
        MeshSealer {
            resolved,
            now,
            notes: Mutex::new(Vec::new()),
            resolved_kubeconfigs: Mutex::new(BTreeMap::new()),
        }
    }

    /// The warnings found while sealing, in a stable order.
    pub fn take_notes(&self) -> Vec<String> {
        let mut notes =
            std::mem::take(&mut *self.notes.lock().unwrap_or_else(PoisonError::into_inner));
        notes.sort();
        notes
    }

    fn warn(&self, note: String) {
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// The plaintext `cacerts` of `cluster`, from the recipe its inputs digest was made from.
    fn cacerts(
        &self,
        cluster: &ClusterName,
        namespace: &str,
    ) -> Result<(Zeroizing<String>, Facts), SealError> {
        let pki = self
            .resolved
            .pki
            .as_ref()
            .ok_or_else(|| SealError::NoIntermediate {
                cluster: cluster.clone(),
                stage: "none",
            })?;
        let stage = pki.material_stage();
        let recipe = recipe::cacerts(pki, cluster).ok_or_else(|| SealError::NoIntermediate {
            cluster: cluster.clone(),
            stage: stage.name(),
        })?;
        let intermediate = self.resolved.pki_dir.ca_at(
            recipe.intermediate,
            self.resolved.identities.as_ref(),
            &format!("encrypt the cacerts of {cluster}"),
            &format!("the intermediate CA of {cluster}"),
        )?;
        let certs = recipe.material(&intermediate);
        let facts =
            facts::cacerts(&certs.ca_cert, &certs.root_cert).map_err(|why| SealError::Facts {
                what: format!("the cacerts of {cluster}"),
                why,
            })?;
        Ok((
            plaintext::cacerts_secret(cluster, namespace, &certs)?,
            facts,
        ))
    }

    /// The plaintext remote secret of `source` for `target`.
    fn remote_secret(
        &self,
        source: &ClusterName,
        target: &ClusterName,
        namespace: &str,
    ) -> Result<(Zeroizing<String>, Facts), SealError> {
        let source_kubeconfig = self.kubeconfig(source)?;
        Ok((
            plaintext::remote_secret(source, target, namespace, &source_kubeconfig.kubeconfig)?,
            source_kubeconfig.facts.clone(),
        ))
    }

    /// `source`'s kubeconfig, made once for all its remote secrets (a SOPS token file is
    /// decrypted once, not once per cluster that reads it).
    fn kubeconfig(&self, source: &ClusterName) -> Result<Arc<SourceKubeconfig>, SealError> {
        let cell = Arc::clone(
            self.resolved_kubeconfigs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(source.clone())
                .or_default(),
        );
        cell.get_or_init(|| {
            self.render_kubeconfig(source)
                .map(Arc::new)
                .map_err(Arc::new)
        })
        .clone()
        .map_err(SealError::Shared)
    }

    fn render_kubeconfig(&self, source: &ClusterName) -> Result<SourceKubeconfig, SealError> {
        let (credential, warnings) = self
            .resolved
            .credentials
            .credential(source, self.resolved.identities.as_ref())?;
        for warning in warnings {
            self.warn(warning);
        }
        Ok(SourceKubeconfig {
            kubeconfig: kubeconfig_of(source, &credential)?,
            facts: facts::remote_secret(source.as_str(), &credential.server, &credential.ca_data),
        })
    }

    /// What the render would seal for `sealed`: its exact plaintext, or, for a remote secret
    /// whose credential is not at hand, its plaintext around stand-ins for what is not, and the
    /// fields of its kubeconfig they fill.
    pub fn expected(&self, sealed: &Sealed) -> Result<verify::Expected, SealError> {
        match &sealed.secret {
            Secret::RemoteSecret {
                source,
                target,
                namespace,
            } => match self.remote_secret(source, target, namespace) {
                Ok((plain, _)) => Ok(verify::Expected::Exact(plain)),
                Err(e) => {
                    let Some((credential, masked)) = self.resolved.credentials.stand_in(source)
                    else {
                        return Err(e);
                    };
                    let inner = kubeconfig_of(source, &credential)?;
                    Ok(verify::Expected::Structural {
                        plain: plaintext::remote_secret(source, target, namespace, &inner)?,
                        key: source.to_string(),
                        masked,
                        why: e.to_string().lines().next().unwrap_or("").to_owned(),
                    })
                }
            },
            Secret::CaCerts { .. } => self
                .seal_plaintext(sealed)
                .map(|(plain, _)| verify::Expected::Exact(plain)),
        }
    }

    /// The facts `sealed` would state in clear, from public inputs only (no key, no token):
    /// what `diff` compares with the file on disk. None when they are not known.
    pub fn public_facts(&self, sealed: &Sealed) -> Option<Facts> {
        match &sealed.secret {
            Secret::CaCerts { cluster, .. } => {
                let pki = self.resolved.pki.as_ref()?;
                recipe::cacerts(pki, cluster)?.facts().ok()
            }
            Secret::RemoteSecret { source, .. } => {
                let (server, ca_data) = self.resolved.credentials.public_part(source)?;
                Some(facts::remote_secret(source.as_str(), &server, &ca_data))
            }
        }
    }

    /// The plaintext of `sealed` as its template renders it, and the facts of that content.
    fn seal_plaintext(&self, sealed: &Sealed) -> Result<(Zeroizing<String>, Facts), SealError> {
        Ok(match &sealed.secret {
            Secret::CaCerts { cluster, namespace } => self.cacerts(cluster, namespace)?,
            Secret::RemoteSecret {
                source,
                target,
                namespace,
            } => self.remote_secret(source, target, namespace)?,
        })
    }
}

/// The kubeconfig a remote secret holds for `source`, around `credential`.
fn kubeconfig_of(
    source: &ClusterName,
    credential: &kubeconfig::ReaderCredential,
) -> Result<Zeroizing<String>, SealError> {
    let auth = match &credential.auth {
        kubeconfig::ReaderAuth::Token(t) => ReaderAuth::Token(t),
        kubeconfig::ReaderAuth::ClientCertificate {
            certificate_data,
            key_data,
        } => ReaderAuth::ClientCertificate {
            certificate_data,
            key_data,
        },
    };
    let kubeconfig = RemoteKubeconfig {
        server: &credential.server,
        ca_data: &credential.ca_data,
        tls_server_name: credential.tls_server_name.as_deref(),
        auth,
    };
    Ok(crate::render::kubeconfig::kubeconfig(source, &kubeconfig)?)
}

impl MeshSealer<'_> {
    fn seal_one(&self, sealed: &Sealed) -> Result<Vec<u8>, SealError> {
        let what = match &sealed.secret {
            Secret::CaCerts { cluster, .. } => format!("the cacerts of {cluster}"),
            Secret::RemoteSecret { source, target, .. } => {
                format!("the remote secret of {source} for {target}")
            }
        };
        let (plaintext, facts) = self.seal_plaintext(sealed)?;
        let plaintext = Zeroizing::new(facts::annotate(&plaintext, &facts).ok_or_else(|| {
            SealError::Facts {
                what: what.clone(),
                why: "its template has no metadata.annotations to carry them".to_owned(),
            }
        })?);
        let recipients: Vec<Recipient> = sealed
            .recipients
            .iter()
            .map(|r| Recipient::parse(r.as_str()))
            .collect::<Result<_, _>>()
            .map_err(|source| SealError::Encrypt {
                what: what.clone(),
                source,
            })?;
        let rule = Rule::EncryptedRegex(sealed.encrypted_regex.to_owned());
        let text = sops::encrypt(
            &plaintext,
            &rule,
            &recipients,
            sops::Timestamp::from(self.now),
        )
        .map_err(|source| SealError::Encrypt { what, source })?;
        Ok(text.into_bytes())
    }
}

impl Sealer for MeshSealer<'_> {
    fn seal(
        &self,
        _path: &RelPath,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        self.seal_one(sealed).map_err(Into::into)
    }

    /// The PKI this render issued, retired or completed is committed once every file is staged.
    fn commit(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.resolved.pki_dir.commit().map_err(Into::into)
    }
}
