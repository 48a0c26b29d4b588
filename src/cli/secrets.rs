//! The secret side of a render: finds the admin identities and recipients, brings the PKI state
//! up to date (issuing what is missing), and seals `cacerts` and remote secrets when they must be.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use time::OffsetDateTime;

use crate::config::{AgeRecipient, ClusterName, Credentials, Mesh, Origin};
use crate::keys::{self, StateDir};
use crate::kubeconfig::{self, Kubeconfig, ReaderCredential};
use crate::output::{SealError, Sealer};
use crate::pki::rotation::Generation;
use crate::pki::store::{Change, PkiDir, PkiState};
use crate::render::state::{ReaderAuth, RemoteKubeconfig};
use crate::render::{self, RelPath, Sealed, Secret};
use crate::sops::{self, Identities, Recipient, Rule};

/// What a render needs to render and seal the secrets.
pub(super) struct Secrets {
    pub pki_dir: PkiDir,
    pub pki: PkiState,
    /// The recipients of the admins (from mesh.yaml, or the local admin identity).
    pub admins: Vec<Recipient>,
    /// Every admin identity at hand: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, sops's keys.txt, the local
    /// admin identity. `None` when there is none (a CI render with public keys only).
    pub identities: Option<Identities>,
    /// What changed, for the user.
    pub notes: Vec<String>,
    /// The directory relative credential paths are resolved against (mesh.yaml's).
    pub base_dir: PathBuf,
    /// Each cluster's credential source, from mesh.yaml.
    pub credentials: BTreeMap<ClusterName, Credentials>,
    /// Digests of SOPS-encrypted token files (safe to record), for the remote secrets' inputs.
    pub credential_digests: BTreeMap<ClusterName, String>,
    /// Seal the remote secrets of every cluster whose credentials are at hand, whatever the
    /// record says (`--refresh-credentials`: a rotated token in a plain file).
    pub refresh_credentials: bool,
}

impl Secrets {
    pub fn admin_recipients(&self) -> Vec<AgeRecipient> {
        self.admins
            .iter()
            .filter_map(|r| AgeRecipient::parse(&r.to_string()).ok())
            .collect()
    }

    pub fn sealer(&self, now: OffsetDateTime) -> MeshSealer<'_> {
        MeshSealer {
            secrets: self,
            now,
            notes: Mutex::new(Vec::new()),
            resolved: Mutex::new(BTreeMap::new()),
        }
    }

    /// A credential path as written in mesh.yaml, resolved: `~/` is the home directory, a
    /// relative path is relative to mesh.yaml's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        resolve_path(&self.base_dir, path)
    }
}

/// The PKI directory of a mesh: `pki/` beside its mesh.yaml; the example's lives in the state dir.
pub(super) fn pki_dir(origin: &Origin, state: &StateDir) -> PkiDir {
    match origin {
        Origin::BuiltinExample => PkiDir::new(state.example_pki()),
        Origin::File(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            PkiDir::new(dir.join("pki"))
        }
    }
}

/// Finds identities, settles the admin recipients and brings the PKI up to date.
pub(super) fn prepare(
    mesh: &Mesh,
    origin: &Origin,
    now: OffsetDateTime,
) -> Result<Secrets, String> {
    let state = StateDir::for_mesh(&mesh.mesh_id).map_err(|e| e.to_string())?;
    let pki_dir = pki_dir(origin, &state);
    let mut notes = Vec::new();
    let mut identities = Identities::discover().map_err(|e| e.to_string())?;

    let admins: Vec<Recipient> = if mesh.secrets.admins.is_empty() {
        let path = state.admin_identity();
        let file = match keys::read_identity(&path).map_err(|e| e.to_string())? {
            Some(file) => file,
            None if pki_dir.exists() => {
                return Err(format!(
                    "the PKI in {} is encrypted to a local admin identity, and {} is gone\n  fix: restore {} from your backup; or, if you hold another admin identity of this PKI, list its recipient under secrets.admins in mesh.yaml and point SOPS_AGE_KEY_FILE at it",
                    pki_dir.path().display(),
                    path.display(),
                    path.display()
                ));
            }
            None => {
                let file = keys::create_identity(
                    &path,
                    &format!("mesh-render local admin identity of mesh {}", mesh.mesh_id),
                )
                .map_err(|e| e.to_string())?;
                notes.push(format!(
                    "created a local admin identity at {} (mode 0600); it decrypts this mesh's PKI: back it up, or list real admins under secrets.admins",
                    path.display()
                ));
                file
            }
        };
        identities = Some(match identities {
            Some(mut found) => {
                found.extend(file.identities);
                found
            }
            None => file.identities,
        });
        vec![file.recipient]
    } else {
        mesh.secrets
            .admins
            .iter()
            .map(|r| Recipient::parse(r.as_str()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?
    };

    let clusters: Vec<ClusterName> = mesh.clusters.iter().map(|c| c.name.clone()).collect();
    let (pki, changes) = pki_dir
        .ensure(
            &clusters,
            &admins,
            identities.as_ref(),
            mesh.pki.algorithm,
            mesh.pki.validity,
            now,
        )
        .map_err(|e| e.to_string())?;
    for change in changes {
        notes.push(match change {
            Change::IssuedRoot => {
                format!("issued the mesh's root CA in {}", pki_dir.path().display())
            }
            Change::IssuedIntermediate(c) => format!("issued the intermediate CA of {c}"),
            Change::Retired { cluster, to } => {
                format!(
                    "retired the intermediate CA of removed cluster {cluster} to {}",
                    to.display()
                )
            }
        });
    }
    let base_dir = base_dir(origin);
    let credentials: BTreeMap<ClusterName, Credentials> = mesh
        .clusters
        .iter()
        .filter_map(|c| Some((c.name.clone(), c.credentials.clone()?)))
        .collect();
    let credential_digests = credential_digests(&credentials, &base_dir);
    Ok(Secrets {
        credential_digests,
        base_dir,
        credentials,
        refresh_credentials: false,
        pki_dir,
        pki,
        admins,
        identities,
        notes,
    })
}

/// The directory relative paths of mesh.yaml are resolved against.
fn base_dir(origin: &Origin) -> PathBuf {
    match origin {
        Origin::File(path) => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned(),
        Origin::BuiltinExample => PathBuf::from("."),
    }
}

/// Digests of the SOPS-encrypted token files: only those are recorded, a plain one never is.
fn credential_digests(
    credentials: &BTreeMap<ClusterName, Credentials>,
    base_dir: &Path,
) -> BTreeMap<ClusterName, String> {
    let mut digests = BTreeMap::new();
    for (cluster, creds) in credentials {
        if let Credentials::TokenFile { token, .. } = creds {
            let path = resolve_path(base_dir, token);
            if let Ok(bytes) = std::fs::read(&path)
                && std::str::from_utf8(&bytes).is_ok_and(|t| sops::metadata(t).is_ok())
            {
                digests.insert(cluster.clone(), crate::output::sha256_hex(&bytes));
            }
        }
    }
    digests
}

/// What a render's secrets would depend on, read without creating or issuing anything and
/// without a private key: for `check --against` and `diff`.
pub(super) struct Inspected {
    pub admins: Vec<AgeRecipient>,
    /// Whether the admin recipients are known (listed in mesh.yaml, or the local admin identity
    /// exists); without them the inputs of encrypted files cannot be computed.
    pub admins_known: bool,
    pub pki: Option<PkiState>,
    /// What a render would issue: the PKI it would create or complete.
    pub would_issue: Vec<String>,
    pub credential_digests: BTreeMap<ClusterName, String>,
    /// Identities at hand (the environment's and, if present, the local admin identity).
    pub identities: Option<Identities>,
}

/// Reads the secret inputs of a render, changing nothing.
pub(super) fn inspect(mesh: &Mesh, origin: &Origin) -> Result<Inspected, String> {
    let state = StateDir::for_mesh(&mesh.mesh_id).map_err(|e| e.to_string())?;
    let pki_dir = pki_dir(origin, &state);
    let mut identities = Identities::discover().map_err(|e| e.to_string())?;
    let (admins, admins_known) = if mesh.secrets.admins.is_empty() {
        match keys::read_identity(&state.admin_identity()).map_err(|e| e.to_string())? {
            Some(file) => {
                identities = Some(match identities {
                    Some(mut found) => {
                        found.extend(file.identities);
                        found
                    }
                    None => file.identities,
                });
                (vec![file.recipient], true)
            }
            None => (Vec::new(), false),
        }
    } else {
        (
            mesh.secrets
                .admins
                .iter()
                .filter_map(|r| Recipient::parse(r.as_str()).ok())
                .collect(),
            true,
        )
    };
    let admins = admins
        .iter()
        .filter_map(|r| AgeRecipient::parse(&r.to_string()).ok())
        .collect();
    let pki = pki_dir.load().map_err(|e| e.to_string())?;
    let mut would_issue = Vec::new();
    match &pki {
        None => would_issue.push(format!(
            "no PKI in {}: a render issues a new root CA, and every cacerts with it",
            pki_dir.path().display()
        )),
        Some(state) => {
            for c in mesh
                .clusters
                .iter()
                .filter(|c| !state.intermediates.contains_key(&c.name))
            {
                would_issue.push(format!(
                    "the PKI has no intermediate CA for {}: a render issues one",
                    c.name
                ));
            }
        }
    }
    let credentials: BTreeMap<ClusterName, Credentials> = mesh
        .clusters
        .iter()
        .filter_map(|c| Some((c.name.clone(), c.credentials.clone()?)))
        .collect();
    Ok(Inspected {
        admins,
        admins_known,
        pki,
        would_issue,
        credential_digests: credential_digests(&credentials, &base_dir(origin)),
        identities,
    })
}

/// Seals `cacerts`: decrypts the cluster's intermediate key with an admin identity, renders the
/// Secret in memory and encrypts it to its recipients.
pub(super) struct MeshSealer<'a> {
    secrets: &'a Secrets,
    now: OffsetDateTime,
    /// Warnings found while sealing (credentials that are not the reader's, unreachable servers).
    notes: Mutex<Vec<String>>,
    /// Each source cluster's kubeconfig (its reader credential resolved and rendered), made on
    /// first use: every other cluster's remote secret for that source holds the same one.
    resolved: Mutex<BTreeMap<ClusterName, Arc<KubeconfigCell>>>,
}

type KubeconfigCell = OnceLock<Result<Arc<zeroize::Zeroizing<String>>, String>>;

impl Sealer for MeshSealer<'_> {
    fn seal(&self, _path: &RelPath, sealed: &Sealed) -> Result<Vec<u8>, SealError> {
        let fail = |e: &dyn std::fmt::Display| SealError(e.to_string());
        let plaintext = match &sealed.secret {
            Secret::CaCerts { cluster, namespace } => {
                let why = format!("encrypt the cacerts of {cluster}");
                let (pki, dir, ids) = (
                    &self.secrets.pki,
                    &self.secrets.pki_dir,
                    self.secrets.identities.as_ref(),
                );
                // During a root rotation the stage decides the issuer and the trust bundle.
                let stage = pki.material_stage();
                let inter = match stage.issuer() {
                    Generation::Current => dir.intermediate_ca(cluster, ids, &why),
                    Generation::Next => dir.next_intermediate_ca(cluster, ids, &why),
                }
                .map_err(|e| fail(&e))?;
                let root_pem = |g: Generation| {
                    pki.root_of(g).map(|r| r.cert_pem.clone()).ok_or_else(|| {
                        SealError(format!(
                            "the PKI has no {g:?} root for stage {}",
                            stage.name()
                        ))
                    })
                };
                let issuing_root = root_pem(stage.issuer())?;
                let bundle: String = stage
                    .bundle()
                    .iter()
                    .map(|g| root_pem(*g))
                    .collect::<Result<Vec<_>, _>>()?
                    .concat();
                let certs = crate::pki::cacerts(&inter, &issuing_root, &bundle);
                render::state::cacerts_secret(cluster, namespace, &certs).map_err(|e| fail(&e))?
            }
            Secret::RemoteSecret {
                source,
                target,
                namespace,
            } => self.remote_secret(source, target, namespace)?,
        };
        let recipients: Vec<Recipient> = sealed
            .recipients
            .iter()
            .map(|r| Recipient::parse(r.as_str()))
            .collect::<Result<_, _>>()
            .map_err(|e| fail(&e))?;
        let rule = Rule::EncryptedRegex(sealed.encrypted_regex.to_owned());
        let text = sops::encrypt(
            &plaintext,
            &rule,
            &recipients,
            sops::Timestamp::from(self.now),
        )
        .map_err(|e| fail(&e))?;
        Ok(text.into_bytes())
    }
}

impl MeshSealer<'_> {
    /// The plaintext remote secret of `source` for `target`, from `source`'s credential source.
    fn remote_secret(
        &self,
        source: &ClusterName,
        target: &ClusterName,
        namespace: &str,
    ) -> Result<zeroize::Zeroizing<String>, SealError> {
        let kubeconfig = self.kubeconfig(source)?;
        render::state::remote_secret(source, target, namespace, &kubeconfig)
            .map_err(|e| SealError(e.to_string()))
    }

    /// `source`'s kubeconfig, made once for all its remote secrets (a SOPS token file is
    /// decrypted once, not once per cluster that reads it).
    fn kubeconfig(
        &self,
        source: &ClusterName,
    ) -> Result<Arc<zeroize::Zeroizing<String>>, SealError> {
        let cell = Arc::clone(
            self.resolved
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(source.clone())
                .or_default(),
        );
        cell.get_or_init(|| {
            self.render_kubeconfig(source)
                .map(Arc::new)
                .map_err(|e| e.0)
        })
        .clone()
        .map_err(SealError)
    }

    fn render_kubeconfig(
        &self,
        source: &ClusterName,
    ) -> Result<zeroize::Zeroizing<String>, SealError> {
        let credential = self.resolve(source)?;
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
        render::state::kubeconfig(source, &kubeconfig).map_err(|e| SealError(e.to_string()))
    }

    fn resolve(&self, source: &ClusterName) -> Result<ReaderCredential, SealError> {
        let secrets = self.secrets;
        let credentials = secrets
            .credentials
            .get(source)
            .ok_or_else(|| SealError(format!("{source} has no credential source")))?;
        match credentials {
            Credentials::TokenFile {
                server,
                ca_data,
                token,
                tls_server_name,
            } => {
                let path = secrets.resolve(token);
                let token = read_token(&path, secrets.identities.as_ref(), source)?;
                Ok(ReaderCredential {
                    server: server.clone(),
                    ca_data: ca_data.clone(),
                    tls_server_name: tls_server_name.clone(),
                    auth: kubeconfig::ReaderAuth::Token(token.to_string()),
                    is_reader_token: true,
                })
            }
            Credentials::ExternalSecrets { .. } => Err(SealError(format!(
                "the remote secret of {source} is made in the cluster by the External Secrets Operator, not sealed here"
            ))),
            Credentials::Kubeconfig { file, context } => {
                let path = secrets.resolve(file);
                if !path.is_file() {
                    return Err(SealError(format!(
                        "the kubeconfig of {source} ({}, from credentials.kubeconfig.file) is not on this machine",
                        path.display()
                    )));
                }
                let kube = Kubeconfig::load(&[path]).map_err(|e| SealError(e.to_string()))?;
                let credential = kube
                    .reader_credential(context.as_str())
                    .map_err(|e| SealError(e.to_string()))?;
                if !credential.is_reader_token {
                    self.warn(format!(
                        "the credential of {source} (kubeconfig context {context}) is not istio-reader-service-account's token: every other cluster's istiod now holds it. Use the reader token (credentials.tokenFile) instead."
                    ));
                }
                if let Some(why) = crate::model::unreachable_server(&credential.server) {
                    self.warn(format!(
                        "the API server of {source} ({}) {why}",
                        credential.server
                    ));
                }
                Ok(credential)
            }
        }
    }

    fn warn(&self, note: String) {
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// The warnings found while sealing, in a stable order.
    pub fn take_notes(&self) -> Vec<String> {
        let mut notes =
            std::mem::take(&mut *self.notes.lock().unwrap_or_else(PoisonError::into_inner));
        notes.sort();
        notes
    }
}

/// The reader token of a cluster: a plain file holding the token, or a SOPS file with a `token`
/// field (decrypted with an admin identity).
fn read_token(
    path: &Path,
    identities: Option<&Identities>,
    source: &ClusterName,
) -> Result<zeroize::Zeroizing<String>, SealError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SealError(format!(
            "the reader token of {source} ({}, from credentials.tokenFile.token) cannot be read: {e}; read it from the cluster as its README says",
            path.display()
        ))
    })?;
    let token = if sops::metadata(&text).is_ok() {
        let identities = identities.ok_or_else(|| {
            SealError(format!(
                "{} is SOPS-encrypted and no admin identity is at hand (SOPS_AGE_KEY_FILE)",
                path.display()
            ))
        })?;
        let plain = sops::decrypt(&text, identities)
            .map_err(|e| SealError(format!("{}: {e}", path.display())))?;
        let docs = plain.to_json();
        docs.first()
            .and_then(|d| d.get("token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| SealError(format!("{} has no `token` field", path.display())))?
    } else {
        text.trim().to_owned()
    };
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(SealError(format!(
            "{} does not hold a bearer token",
            path.display()
        )));
    }
    Ok(zeroize::Zeroizing::new(token))
}

/// `~/` is the home directory; a relative path is relative to `base`.
fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    base.join(path)
}
