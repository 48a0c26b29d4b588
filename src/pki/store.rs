//! The PKI as reviewed state on disk: `pki/root.yaml` and `pki/intermediates/<cluster>.yaml`, each
//! a SOPS file with the certificate in clear and the private key encrypted to the admins.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::ca::{self, Algorithm, Ca, CaError, Validity};
use super::rotation::{Generation, Stage};
use crate::config::ClusterName;
use crate::sops::{self, Identities, Recipient, Rule};

/// Which CA a state file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub enum Kind {
    RootCA,
    IntermediateCA,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a mesh-render PKI file: {message}\n  fix: restore it from version control", .path.display())]
    BadState { path: PathBuf, message: String },
    #[error("{}: {source}", .path.display())]
    Sops {
        path: PathBuf,
        #[source]
        source: sops::SopsError,
    },
    #[error("to {why}, mesh-render must decrypt {} and no admin identity is at hand\n  fix: point SOPS_AGE_KEY_FILE at an identity of one of the mesh's admins ({}), or set SOPS_AGE_KEY, or put it in ~/.config/sops/age/keys.txt", .path.display(), .recipients.join(", "))]
    NeedIdentity {
        why: String,
        path: PathBuf,
        recipients: Vec<String>,
    },
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error("could not render {what}: {message}")]
    Render { what: String, message: String },
    #[error("root rotation: {message}\n  fix: {fix}")]
    Rotation { message: String, fix: String },
}

/// A CA as the state holds it, without its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaRecord {
    pub kind: Kind,
    pub cert_pem: String,
    pub not_after: OffsetDateTime,
    pub path: PathBuf,
    /// SHA-256 of the state file's bytes: what a rendered `cacerts` depends on.
    pub digest: String,
}

/// The public view of the PKI: everything a render needs without a private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiState {
    pub root: CaRecord,
    pub intermediates: BTreeMap<ClusterName, CaRecord>,
    /// A root rotation in progress.
    pub rotation: Option<RotationState>,
}

/// A root rotation in progress: its stage, the next root and the intermediates it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationState {
    pub stage: Stage,
    pub next_root: Option<CaRecord>,
    pub next_intermediates: BTreeMap<ClusterName, CaRecord>,
}

impl PkiState {
    /// The root of a generation (the next one only exists from `trust-both` on).
    pub fn root_of(&self, generation: Generation) -> Option<&CaRecord> {
        match generation {
            Generation::Current => Some(&self.root),
            Generation::Next => self.rotation.as_ref()?.next_root.as_ref(),
        }
    }

    /// A cluster's intermediate of a generation.
    pub fn intermediate_of(
        &self,
        cluster: &ClusterName,
        generation: Generation,
    ) -> Option<&CaRecord> {
        match generation {
            Generation::Current => self.intermediates.get(cluster),
            Generation::Next => self.rotation.as_ref()?.next_intermediates.get(cluster),
        }
    }

    /// The stage whose `cacerts` are rendered: a mesh without rotation renders as `prepare` does
    /// for the CA material (current issuer, current root only).
    pub fn material_stage(&self) -> Stage {
        self.rotation.as_ref().map_or(Stage::Prepare, |r| r.stage)
    }
}

/// pki/rotation.yaml.
#[derive(Debug, Deserialize)]
struct RotationFile {
    stage: Stage,
}

/// What `ensure` did, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    IssuedRoot,
    IssuedIntermediate(ClusterName),
    Retired { cluster: ClusterName, to: PathBuf },
}

/// The fields of a state file, as written by the template (the key stays encrypted).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateFile {
    kind: Kind,
    certificate: String,
}

/// A PKI directory (`pki/` beside mesh.yaml).
#[derive(Debug, Clone)]
pub struct PkiDir {
    path: PathBuf,
}

/// The rule that keeps everything but the key readable.
fn state_rule() -> Rule {
    Rule::EncryptedRegex("^key$".to_owned())
}

impl PkiDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn root_file(&self) -> PathBuf {
        self.path.join("root.yaml")
    }

    pub fn intermediate_file(&self, cluster: &ClusterName) -> PathBuf {
        self.path
            .join("intermediates")
            .join(format!("{cluster}.yaml"))
    }

    fn retired_dir(&self) -> PathBuf {
        self.path.join("retired")
    }

    /// Whether a PKI exists here.
    pub fn exists(&self) -> bool {
        self.root_file().is_file()
    }

    fn rotation_file(&self) -> PathBuf {
        self.path.join("rotation.yaml")
    }

    pub fn next_root_file(&self) -> PathBuf {
        self.path.join("root-next.yaml")
    }

    pub fn next_intermediate_file(&self, cluster: &ClusterName) -> PathBuf {
        self.path
            .join("intermediates-next")
            .join(format!("{cluster}.yaml"))
    }

    /// The public state, or `None` if there is no root yet.
    pub fn load(&self) -> Result<Option<PkiState>, StoreError> {
        let Some(root) = read_record(&self.root_file())? else {
            return Ok(None);
        };
        let intermediates = read_intermediates(&self.path.join("intermediates"))?;
        let rotation = match fs::read_to_string(self.rotation_file()) {
            Ok(text) => {
                let file: RotationFile =
                    serde_saphyr::from_str(&text).map_err(|e| StoreError::BadState {
                        path: self.rotation_file(),
                        message: e.to_string(),
                    })?;
                Some(RotationState {
                    stage: file.stage,
                    next_root: read_record(&self.next_root_file())?,
                    next_intermediates: read_intermediates(&self.path.join("intermediates-next"))?,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(StoreError::Io {
                    path: self.rotation_file(),
                    source,
                });
            }
        };
        Ok(Some(PkiState {
            root,
            intermediates,
            rotation,
        }))
    }

    /// Brings the PKI to the mesh: a root if there is none, an intermediate for every cluster
    /// without one, and the intermediates of removed clusters retired (kept, moved aside).
    /// Issuing an intermediate under an existing root needs an admin identity.
    pub fn ensure(
        &self,
        clusters: &[ClusterName],
        admins: &[Recipient],
        identities: Option<&Identities>,
        algorithm: Algorithm,
        validity: Validity,
        now: OffsetDateTime,
    ) -> Result<(PkiState, Vec<Change>), StoreError> {
        let mut changes = Vec::new();
        let mut root_ca: Option<Ca> = None;
        if !self.exists() {
            let root = ca::issue_root(algorithm, validity, now)?;
            self.write_state(
                &self.root_file(),
                Kind::RootCA,
                None,
                algorithm,
                &root,
                admins,
                now,
            )?;
            root_ca = Some(root);
            changes.push(Change::IssuedRoot);
        }
        let existing = self.load()?.map(|s| s.intermediates).unwrap_or_default();
        for cluster in clusters {
            if existing.contains_key(cluster) {
                continue;
            }
            if root_ca.is_none() {
                root_ca = Some(self.root_ca(
                    identities,
                    &format!("issue the intermediate CA of the new cluster {cluster}"),
                )?);
            }
            let root = root_ca.as_ref().ok_or_else(|| StoreError::BadState {
                path: self.root_file(),
                message: "no root".into(),
            })?;
            let path = self.intermediate_file(cluster);
            self.issue_intermediate(root, cluster, &path, algorithm, validity, admins, now)?;
            changes.push(Change::IssuedIntermediate(cluster.clone()));
        }
        // Mid-rotation, from `switch` on, a new cluster needs an intermediate under the next root too.
        if let Some(rotation) = self
            .load()?
            .and_then(|s| s.rotation)
            .filter(|r| r.stage >= Stage::Switch)
        {
            let missing: Vec<&ClusterName> = clusters
                .iter()
                .filter(|c| !rotation.next_intermediates.contains_key(*c))
                .collect();
            if !missing.is_empty() {
                let why = "issue a new cluster's intermediate under the next root (a rotation is in progress)";
                let next_root =
                    self.ca_from(&self.next_root_file(), identities, why, "the next root CA")?;
                for cluster in missing {
                    let path = self.next_intermediate_file(cluster);
                    self.issue_intermediate(
                        &next_root, cluster, &path, algorithm, validity, admins, now,
                    )?;
                }
            }
        }
        for (cluster, record) in &existing {
            if !clusters.contains(cluster) {
                let to = self.retire(cluster, record)?;
                changes.push(Change::Retired {
                    cluster: cluster.clone(),
                    to,
                });
            }
        }
        let state = self.load()?.ok_or_else(|| StoreError::BadState {
            path: self.root_file(),
            message: "vanished".into(),
        })?;
        Ok((state, changes))
    }

    /// Moves the root rotation to `stage` (or, with `None`, completes it): each step needs the
    /// previous one. `trust-both` issues the next root; `switch` issues every cluster's next
    /// intermediate under it (which needs an admin identity); completing promotes the next root
    /// and intermediates and retires the old ones.
    #[allow(clippy::too_many_arguments)]
    pub fn rotate(
        &self,
        stage: Option<Stage>,
        clusters: &[ClusterName],
        admins: &[Recipient],
        identities: Option<&Identities>,
        algorithm: Algorithm,
        validity: Validity,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let state = self.load()?.ok_or_else(|| StoreError::BadState {
            path: self.root_file(),
            message: "there is no PKI to rotate yet; render once first".into(),
        })?;
        let current = state.rotation.as_ref().map(|r| r.stage);
        let out_of_order = |wanted: &str| StoreError::Rotation {
            message: format!(
                "`{wanted}` cannot follow {}",
                current.map_or(
                    "a mesh with no rotation in progress".to_owned(),
                    |s| format!("stage `{}`", s.name())
                )
            ),
            fix: match current {
                None => "start with `mesh-render pki rotate-root --stage prepare`".to_owned(),
                Some(Stage::Finish) => {
                    "complete it with `mesh-render pki rotate-root --stage done`".to_owned()
                }
                Some(s) => format!(
                    "render and sync stage `{}` everywhere, check that {}, then run the next stage",
                    s.name(),
                    s.verify_before_next()
                ),
            },
        };
        match stage {
            Some(stage) if stage.previous() != current => return Err(out_of_order(stage.name())),
            None if current != Some(Stage::Finish) => return Err(out_of_order("done")),
            _ => {}
        }
        match stage {
            Some(Stage::Prepare) | Some(Stage::Finish) => {}
            Some(Stage::TrustBoth) => {
                let next = ca::issue_root(algorithm, validity, now)?;
                self.write_state(
                    &self.next_root_file(),
                    Kind::RootCA,
                    None,
                    algorithm,
                    &next,
                    admins,
                    now,
                )?;
            }
            Some(Stage::Switch) => {
                let next_root = self.ca_from(
                    &self.next_root_file(),
                    identities,
                    "issue the intermediates under the next root",
                    "the next root CA",
                )?;
                for cluster in clusters {
                    let path = self.next_intermediate_file(cluster);
                    self.issue_intermediate(
                        &next_root, cluster, &path, algorithm, validity, admins, now,
                    )?;
                }
            }
            None => return self.promote(&state),
        }
        let stage = stage.unwrap_or(Stage::Finish);
        let text = crate::render::state::rotation_state(stage).map_err(|e| StoreError::Render {
            what: "pki/rotation.yaml".into(),
            message: e.to_string(),
        })?;
        crate::output::write_file(&self.rotation_file(), text.as_bytes()).map_err(|e| {
            StoreError::Io {
                path: self.rotation_file(),
                source: std::io::Error::other(e.to_string()),
            }
        })
    }

    /// Completes a rotation: the old root and intermediates are retired, the next ones take
    /// their place (file bytes unchanged, so `cacerts` stay as the `finish` stage rendered them).
    fn promote(&self, state: &PkiState) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        let dir = self.retired_dir();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let stamp = |r: &CaRecord| r.digest.get(..12).unwrap_or(&r.digest).to_owned();
        fs::rename(
            self.root_file(),
            dir.join(format!("root-{}.yaml", stamp(&state.root))),
        )
        .map_err(io(&self.root_file()))?;
        fs::rename(self.next_root_file(), self.root_file()).map_err(io(&self.next_root_file()))?;
        for (cluster, record) in &state.intermediates {
            self.retire(cluster, record)?;
        }
        let next_dir = self.path.join("intermediates-next");
        let current_dir = self.path.join("intermediates");
        fs::create_dir_all(&current_dir).map_err(io(&current_dir))?;
        for cluster in state
            .rotation
            .iter()
            .flat_map(|r| r.next_intermediates.keys())
        {
            let from = self.next_intermediate_file(cluster);
            fs::rename(&from, self.intermediate_file(cluster)).map_err(io(&from))?;
        }
        let _ = fs::remove_dir(&next_dir);
        fs::remove_file(self.rotation_file()).map_err(io(&self.rotation_file()))
    }

    /// A cluster's next intermediate with its key, during a rotation.
    pub fn next_intermediate_ca(
        &self,
        cluster: &ClusterName,
        identities: Option<&Identities>,
        why: &str,
    ) -> Result<Ca, StoreError> {
        self.ca_from(
            &self.next_intermediate_file(cluster),
            identities,
            why,
            &format!("the next intermediate CA of {cluster}"),
        )
    }

    fn ca_from(
        &self,
        path: &Path,
        identities: Option<&Identities>,
        why: &str,
        subject: &str,
    ) -> Result<Ca, StoreError> {
        let key = self.decrypt_key(path, identities, why)?;
        let record = read_record(path)?.ok_or_else(|| StoreError::BadState {
            path: path.to_owned(),
            message: "missing".into(),
        })?;
        Ok(Ca::from_pem(&record.cert_pem, key, subject)?)
    }

    /// Re-issues a cluster's intermediate under the current root; the old one is retired.
    pub fn renew(
        &self,
        cluster: &ClusterName,
        admins: &[Recipient],
        identities: Option<&Identities>,
        algorithm: Algorithm,
        validity: Validity,
        now: OffsetDateTime,
    ) -> Result<PathBuf, StoreError> {
        let root = self.root_ca(
            identities,
            &format!("renew the intermediate CA of {cluster}"),
        )?;
        let old = self
            .load()?
            .and_then(|s| s.intermediates.get(cluster).cloned());
        let inter = ca::issue_intermediate(&root, cluster, algorithm, validity, now)?;
        let retired = match &old {
            Some(record) => Some(self.retire(cluster, record)?),
            None => None,
        };
        let path = self.intermediate_file(cluster);
        self.write_state(
            &path,
            Kind::IntermediateCA,
            Some(cluster),
            algorithm,
            &inter,
            admins,
            now,
        )?;
        Ok(retired.unwrap_or(path))
    }

    /// The root CA with its key, decrypted with an admin identity.
    pub fn root_ca(&self, identities: Option<&Identities>, why: &str) -> Result<Ca, StoreError> {
        let path = self.root_file();
        let key = self.decrypt_key(&path, identities, why)?;
        let record = read_record(&path)?.ok_or_else(|| StoreError::BadState {
            path: path.clone(),
            message: "missing".into(),
        })?;
        Ok(Ca::from_pem(&record.cert_pem, key, "the root CA")?)
    }

    /// A cluster's intermediate CA with its key, decrypted with an admin identity.
    pub fn intermediate_ca(
        &self,
        cluster: &ClusterName,
        identities: Option<&Identities>,
        why: &str,
    ) -> Result<Ca, StoreError> {
        let path = self.intermediate_file(cluster);
        let key = self.decrypt_key(&path, identities, why)?;
        let record = read_record(&path)?.ok_or_else(|| StoreError::BadState {
            path: path.clone(),
            message: "missing".into(),
        })?;
        Ok(Ca::from_pem(
            &record.cert_pem,
            key,
            &format!("the intermediate CA of {cluster}"),
        )?)
    }

    fn decrypt_key(
        &self,
        path: &Path,
        identities: Option<&Identities>,
        why: &str,
    ) -> Result<Zeroizing<String>, StoreError> {
        let text = fs::read_to_string(path).map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?;
        let need = || {
            let recipients = sops::metadata(&text)
                .map(|m| m.recipients().iter().map(ToString::to_string).collect())
                .unwrap_or_default();
            StoreError::NeedIdentity {
                why: why.to_owned(),
                path: path.to_owned(),
                recipients,
            }
        };
        let identities = identities.ok_or_else(need)?;
        let plain = match sops::decrypt(&text, identities) {
            Ok(plain) => plain,
            Err(e) if e.sops_exit_code() == 128 => return Err(need()),
            Err(source) => {
                return Err(StoreError::Sops {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let docs = plain.to_json();
        let key = docs
            .first()
            .and_then(|d| d.get("key"))
            .and_then(|k| k.as_str())
            .ok_or_else(|| StoreError::BadState {
                path: path.to_owned(),
                message: "no `key` field".into(),
            })?;
        Ok(Zeroizing::new(key.to_owned()))
    }

    /// Issues `cluster`'s intermediate under `root` and writes it, encrypted, to `path`.
    #[allow(clippy::too_many_arguments)]
    fn issue_intermediate(
        &self,
        root: &Ca,
        cluster: &ClusterName,
        path: &Path,
        algorithm: Algorithm,
        validity: Validity,
        admins: &[Recipient],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let inter = ca::issue_intermediate(root, cluster, algorithm, validity, now)?;
        self.write_state(
            path,
            Kind::IntermediateCA,
            Some(cluster),
            algorithm,
            &inter,
            admins,
            now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn write_state(
        &self,
        path: &Path,
        kind: Kind,
        cluster: Option<&ClusterName>,
        algorithm: Algorithm,
        ca: &Ca,
        admins: &[Recipient],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let plain = crate::render::state::ca_state(kind, cluster, algorithm, ca).map_err(|e| {
            StoreError::Render {
                what: path.display().to_string(),
                message: e.to_string(),
            }
        })?;
        let encrypted = sops::encrypt(&plain, &state_rule(), admins, sops::Timestamp::from(now))
            .map_err(|source| StoreError::Sops {
                path: path.to_owned(),
                source,
            })?;
        crate::output::write_file(path, encrypted.as_bytes()).map_err(|e| StoreError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// Moves a cluster's intermediate to `retired/<cluster>-<notAfter>.yaml`.
    fn retire(&self, cluster: &ClusterName, record: &CaRecord) -> Result<PathBuf, StoreError> {
        let dir = self.retired_dir();
        fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        let stamp = record.digest.get(..12).unwrap_or(&record.digest);
        let to = dir.join(format!("{cluster}-{stamp}.yaml"));
        fs::rename(&record.path, &to).map_err(|source| StoreError::Io {
            path: record.path.clone(),
            source,
        })?;
        Ok(to)
    }
}

/// Reads a state file's public part, or `None` if it does not exist.
fn read_record(path: &Path) -> Result<Option<CaRecord>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let bad = |message: String| StoreError::BadState {
        path: path.to_owned(),
        message,
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| bad(e.to_string()))?;
    let docs = sops::without_metadata(text).map_err(|e| bad(e.to_string()))?;
    let doc = docs.into_iter().next().ok_or_else(|| bad("empty".into()))?;
    let state: StateFile = serde_json::from_value(doc).map_err(|e| bad(e.to_string()))?;
    let not_after = ca::not_after(&state.certificate).map_err(bad)?;
    Ok(Some(CaRecord {
        kind: state.kind,
        cert_pem: state.certificate,
        not_after,
        path: path.to_owned(),
        digest: crate::output::sha256_hex(&bytes),
    }))
}

/// The intermediates of a directory, by cluster.
fn read_intermediates(dir: &Path) -> Result<BTreeMap<ClusterName, CaRecord>, StoreError> {
    let mut intermediates = BTreeMap::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(StoreError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let clusters: Vec<(ClusterName, PathBuf)> = entries
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.strip_suffix(".yaml")?;
            Some((ClusterName::parse(name).ok()?, path))
        })
        .collect();
    // A fleet's records are read in parallel: each is a SOPS file to parse.
    let records: Vec<(ClusterName, Result<Option<CaRecord>, StoreError>)> = clusters
        .into_par_iter()
        .map(|(cluster, path)| {
            let record = read_record(&path);
            (cluster, record)
        })
        .collect();
    // The first error in directory order, as a sequential read would report it.
    for (cluster, record) in records {
        if let Some(record) = record? {
            intermediates.insert(cluster, record);
        }
    }
    Ok(intermediates)
}
