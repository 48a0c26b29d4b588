//! The PKI's files in `pki/` (beside mesh.yaml): `root.yaml`, `intermediates/<cluster>.yaml`, and
//! during a root rotation `rotation.yaml`, `root-next.yaml` and `intermediates-next/`, each CA a
//! SOPS file with the certificate in clear and the private key encrypted to the admins. Reads
//! the state (`state` parses it), decrypts a key when a CA must sign, and makes every change —
//! a CA issued, renewed, rotated or retired — in its transaction (`txn`): reads see it at once,
//! `commit` puts it on disk as one change, and the CAs issued are used from memory until then.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::ca::{self, Ca, CaError};
use super::proof::{self, Flaw};
use super::rotation::Stage;
use super::state::{self, CaRecord, Kind, PkiState, RotationState};
use super::txn::{self, Txn};
use crate::config::{Algorithm, ClusterName, Validity};
use crate::disk::IoError;
use crate::sops::{self, Identities, Recipient};
use crate::templates::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Io(#[from] IoError),
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
    #[error("could not render {}: {source}", .path.display())]
    Render {
        path: PathBuf,
        #[source]
        source: TemplateError,
    },
    #[error("{} is a symlink inside the PKI directory, which mesh-render never follows\n  fix: replace it with the file or directory itself (restore it from version control)", .0.display())]
    Symlink(PathBuf),
    #[error("root rotation: {message}\n  fix: {fix}")]
    Rotation { message: String, fix: String },
    #[error("{} is missing, but the mesh has PKI state ({what}): issuing a new root would replace the trust of every cluster\n  fix: restore {} from git; to start a new mesh on purpose, remove pki/ and the output directory together", .path.display(), .path.display())]
    RootMissing { path: PathBuf, what: String },
}

/// What `ensure` did, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    IssuedRoot,
    IssuedIntermediate(ClusterName),
    Retired { cluster: ClusterName, to: PathBuf },
}

/// A PKI directory (`pki/` beside mesh.yaml) and the change pending in it (shared by clones).
#[derive(Debug, Clone)]
pub struct PkiDir {
    path: PathBuf,
    txn: Txn,
}

/// What opening a PKI directory found of an interrupted command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovered {
    Nothing,
    /// A committed change was completed.
    CompletedChange,
}

impl PkiDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            txn: Txn::default(),
        }
    }

    /// Opens the directory to change it: a change an interrupted command committed is completed
    /// first.
    pub fn open_to_change(path: impl Into<PathBuf>) -> Result<(Self, Recovered), StoreError> {
        let dir = Self::new(path);
        dir.guard(&dir.path.join(txn::JOURNAL))?;
        let recovered = match txn::recover(&dir.path)? {
            true => Recovered::CompletedChange,
            false => Recovered::Nothing,
        };
        Ok((dir, recovered))
    }

    /// Opens the directory to read it, as it will be once a change an interrupted command
    /// committed is completed (nothing is written).
    pub fn open_to_read(path: impl Into<PathBuf>) -> Result<(Self, Recovered), StoreError> {
        let path = path.into();
        let dir = Self::new(&path);
        dir.guard(&path.join(txn::JOURNAL))?;
        Ok(match Txn::pending_journal(&path)? {
            Some(txn) => (Self { path, txn }, Recovered::CompletedChange),
            None => (dir, Recovered::Nothing),
        })
    }

    /// Puts the pending change on disk as one change (nothing if there is none).
    pub fn commit(&self) -> Result<(), StoreError> {
        Ok(self.txn.commit(&self.path)?)
    }

    /// Whether a change is pending.
    pub fn changed(&self) -> bool {
        !self.txn.is_empty()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuses a path below the PKI directory with a symlink on it (the directory itself may be
    /// reached through one): nothing below it is ever followed.
    fn guard(&self, path: &Path) -> Result<(), StoreError> {
        let Ok(rel) = path.strip_prefix(&self.path) else {
            return Ok(());
        };
        let mut at = self.path.clone();
        for part in rel.components() {
            at.push(part);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => return Err(StoreError::Symlink(at)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Reads a state file's public part, or `None` if it does not exist.
    fn read_record(&self, path: &Path) -> Result<Option<CaRecord>, StoreError> {
        self.guard(path)?;
        let Some(bytes) = self.txn.read(path)? else {
            return Ok(None);
        };
        state::parse_record(&bytes, path)
            .map(Some)
            .map_err(|e| StoreError::BadState {
                path: path.to_owned(),
                message: e.message,
            })
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

    /// What of a PKI is here, if anything: a root, intermediates, a retired CA, a rotation.
    pub fn state_found(&self) -> Option<&'static str> {
        let files = [
            ("root.yaml", "pki/root.yaml"),
            ("rotation.yaml", "a root rotation in pki/rotation.yaml"),
            ("root-next.yaml", "a next root in pki/root-next.yaml"),
        ];
        let dirs = [
            ("intermediates", "intermediate CAs in pki/intermediates/"),
            (
                "intermediates-next",
                "next intermediate CAs in pki/intermediates-next/",
            ),
            ("retired", "retired CAs in pki/retired/"),
        ];
        files
            .iter()
            .find(|(name, _)| self.txn.exists(&self.path.join(name)))
            .or_else(|| {
                dirs.iter().find(|(name, _)| {
                    self.txn
                        .list(&self.path.join(name))
                        .is_ok_and(|found| !found.is_empty())
                })
            })
            .map(|(_, what)| *what)
    }

    /// Whether anything of a PKI is here.
    pub fn has_state(&self) -> bool {
        self.state_found().is_some()
    }

    /// Whether a PKI exists here.
    pub fn exists(&self) -> bool {
        self.txn.exists(&self.root_file())
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
        let Some(root) = self.read_record(&self.root_file())? else {
            return Ok(None);
        };
        let intermediates = read_intermediates(self, &self.path.join("intermediates"))?;
        self.guard(&self.rotation_file())?;
        let rotation = match self.txn.read(&self.rotation_file())? {
            Some(bytes) => {
                let path = self.rotation_file();
                let stage = std::str::from_utf8(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|text| state::parse_rotation(text).map_err(|e| e.message))
                    .map_err(|message| StoreError::BadState { path, message })?;
                Some(RotationState {
                    stage,
                    next_root: self.read_record(&self.next_root_file())?,
                    next_intermediates: read_intermediates(
                        self,
                        &self.path.join("intermediates-next"),
                    )?,
                })
            }
            None => None,
        };
        Ok(Some(PkiState {
            root,
            intermediates,
            rotation,
        }))
    }

    /// Brings the PKI to the mesh: a root if there is none, an intermediate for every cluster
    /// without one, and the intermediates of removed clusters retired (kept, moved aside).
    /// Issuing an intermediate under an existing root needs an admin identity. A root is issued
    /// only into an empty directory, and only when `sealed_cacerts` is false (no output lists
    /// cacerts sealed under an earlier root).
    #[allow(clippy::too_many_arguments)]
    pub fn ensure(
        &self,
        clusters: &[ClusterName],
        sealed_cacerts: bool,
        admins: &[Recipient],
        identities: Option<&Identities>,
        algorithm: Algorithm,
        validity: Validity,
        now: OffsetDateTime,
    ) -> Result<(PkiState, Vec<Change>), StoreError> {
        let mut changes = Vec::new();
        let mut root_ca: Option<Ca> = None;
        if !self.exists() {
            let found = self.state_found().or(sealed_cacerts
                .then_some("cacerts sealed under it are recorded in the output directory"));
            if let Some(what) = found {
                return Err(StoreError::RootMissing {
                    path: self.root_file(),
                    what: what.to_owned(),
                });
            }
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
            None => return self.promote(&state, clusters),
        }
        let stage = stage.unwrap_or(Stage::Finish);
        self.guard(&self.rotation_file())?;
        let text = state::rotation_text(stage).map_err(|source| StoreError::Render {
            path: self.rotation_file(),
            source,
        })?;
        self.txn.write(&self.rotation_file(), text.into_bytes());
        Ok(())
    }

    /// Completes a rotation: the old root and intermediates are retired, the next ones take
    /// their place (file bytes unchanged, so `cacerts` stay as the `finish` stage rendered them).
    /// Everything it needs is checked first: a next root and a next intermediate for every
    /// cluster that has one now; without them nothing changes.
    fn promote(&self, state: &PkiState, clusters: &[ClusterName]) -> Result<(), StoreError> {
        let rotation = state.rotation.as_ref();
        let restore = |path: &Path, issued_by: &str| StoreError::Rotation {
            message: format!(
                "{} is missing, so the rotation cannot complete (nothing was changed)",
                path.display()
            ),
            fix: format!(
                "restore {} from git (stage `{issued_by}` issued it), then run `mesh-render pki rotate-root --stage done` again",
                path.display()
            ),
        };
        if rotation.and_then(|r| r.next_root.as_ref()).is_none() {
            return Err(restore(&self.next_root_file(), "trust-both"));
        }
        let next = rotation.map(|r| &r.next_intermediates);
        for cluster in clusters {
            if !next.is_some_and(|n| n.contains_key(cluster)) {
                return Err(restore(&self.next_intermediate_file(cluster), "switch"));
            }
        }
        let dir = self.retired_dir();
        for path in [&dir, &self.root_file(), &self.next_root_file()] {
            self.guard(path)?;
        }
        let stamp = |r: &CaRecord| r.digest.get(..12).unwrap_or(&r.digest).to_owned();
        self.txn.rename(
            &self.root_file(),
            &dir.join(format!("root-{}.yaml", stamp(&state.root))),
        )?;
        self.txn.rename(&self.next_root_file(), &self.root_file())?;
        for (cluster, record) in &state.intermediates {
            self.retire(cluster, record)?;
        }
        for cluster in next.into_iter().flat_map(|n| n.keys()) {
            let from = self.next_intermediate_file(cluster);
            self.guard(&from)?;
            self.txn.rename(&from, &self.intermediate_file(cluster))?;
        }
        self.txn.remove(&self.rotation_file())?;
        Ok(())
    }

    /// With an admin identity: every CA file of `state` decrypts (so its MAC verifies) and its
    /// key is the key of its certificate. A CA issued in this run is proven by being made here.
    /// `None` if no identity at hand opens any of them (none is an admin's: nothing to prove
    /// with).
    pub fn prove_keys(&self, state: &PkiState, identities: &Identities) -> Option<Vec<Flaw>> {
        let records: Vec<&CaRecord> = std::iter::once(&state.root)
            .chain(state.intermediates.values())
            .chain(
                state
                    .rotation
                    .iter()
                    .flat_map(|r| r.next_root.iter().chain(r.next_intermediates.values())),
            )
            .filter(|r| self.txn.issued(&r.path).is_none())
            .collect();
        /// What decrypting one file showed.
        enum Opened {
            Proven,
            Flawed(String),
            /// No identity at hand is one of its recipients.
            Closed,
        }
        let results: Vec<(&CaRecord, Opened)> = records
            .into_par_iter()
            .map(|record| {
                let opened = match self.decrypt_key(&record.path, Some(identities), "prove it") {
                    Ok(key) => match proof::prove_key(record, &key) {
                        Ok(()) => Opened::Proven,
                        Err(problem) => Opened::Flawed(problem),
                    },
                    Err(StoreError::NeedIdentity { .. }) => Opened::Closed,
                    Err(StoreError::Sops { source, .. }) => Opened::Flawed(format!(
                        "it does not decrypt as sops wrote it: {source} (sops exit {})",
                        source.sops_exit_code()
                    )),
                    Err(e) => Opened::Flawed(e.to_string()),
                };
                (record, opened)
            })
            .collect();
        if !results.is_empty() && results.iter().all(|(_, o)| matches!(o, Opened::Closed)) {
            return None;
        }
        Some(
            results
                .into_iter()
                .filter_map(|(record, opened)| {
                    let problem = match opened {
                        Opened::Proven => return None,
                        Opened::Flawed(problem) => problem,
                        Opened::Closed => "no admin identity at hand can decrypt it, though it opens the others: it is not encrypted to this admin".to_owned(),
                    };
                    Some(Flaw {
                        path: record.path.clone(),
                        problem,
                    })
                })
                .collect(),
        )
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

    /// The CA a record describes, with its key: the state file is read again, must still be the
    /// file the record was made from (its digest), and its key is decrypted with an admin identity.
    pub fn ca_at(
        &self,
        record: &CaRecord,
        identities: Option<&Identities>,
        why: &str,
        subject: &str,
    ) -> Result<Ca, StoreError> {
        self.guard(&record.path)?;
        let bytes = self.txn.read(&record.path)?.unwrap_or_default();
        if crate::digest::sha256_hex(&bytes) != record.digest {
            return Err(StoreError::BadState {
                path: record.path.clone(),
                message: "it changed while mesh-render was using it".into(),
            });
        }
        let key = self.decrypt_key(&record.path, identities, why)?;
        Ok(Ca::from_pem(&record.cert_pem, key, subject)?)
    }

    fn ca_from(
        &self,
        path: &Path,
        identities: Option<&Identities>,
        why: &str,
        subject: &str,
    ) -> Result<Ca, StoreError> {
        let key = self.decrypt_key(path, identities, why)?;
        let record = self
            .read_record(path)?
            .ok_or_else(|| StoreError::BadState {
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
        self.ca_from(&self.root_file(), identities, why, "the root CA")
    }

    /// A cluster's intermediate CA with its key, decrypted with an admin identity.
    pub fn intermediate_ca(
        &self,
        cluster: &ClusterName,
        identities: Option<&Identities>,
        why: &str,
    ) -> Result<Ca, StoreError> {
        self.ca_from(
            &self.intermediate_file(cluster),
            identities,
            why,
            &format!("the intermediate CA of {cluster}"),
        )
    }

    fn decrypt_key(
        &self,
        path: &Path,
        identities: Option<&Identities>,
        why: &str,
    ) -> Result<Zeroizing<String>, StoreError> {
        self.guard(path)?;
        // A CA this run issued is used as it was made: nothing to decrypt.
        if let Some((_, key)) = self.txn.issued(path) {
            return Ok(key);
        }
        let bytes = self
            .txn
            .read(path)?
            .ok_or_else(|| IoError::read(path)(std::io::ErrorKind::NotFound.into()))?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::BadState {
            path: path.to_owned(),
            message: "it is not UTF-8 text".into(),
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
        state::key_of(&plain).map_err(|e| StoreError::BadState {
            path: path.to_owned(),
            message: e.message,
        })
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
        let plain = state::ca_state_text(kind, cluster, algorithm, ca).map_err(|source| {
            StoreError::Render {
                path: path.to_owned(),
                source,
            }
        })?;
        let encrypted = sops::encrypt(
            &plain,
            &state::state_rule(),
            admins,
            sops::Timestamp::from(now),
        )
        .map_err(|source| StoreError::Sops {
            path: path.to_owned(),
            source,
        })?;
        self.guard(path)?;
        self.txn.write(path, encrypted.into_bytes());
        self.txn.remember(path, &ca.cert_pem, ca.key_pem());
        Ok(())
    }

    /// Moves a cluster's intermediate to `retired/<cluster>-<notAfter>.yaml`.
    fn retire(&self, cluster: &ClusterName, record: &CaRecord) -> Result<PathBuf, StoreError> {
        let dir = self.retired_dir();
        let stamp = record.digest.get(..12).unwrap_or(&record.digest);
        let to = dir.join(format!("{cluster}-{stamp}.yaml"));
        self.guard(&record.path)?;
        self.guard(&to)?;
        self.txn.rename(&record.path, &to)?;
        Ok(to)
    }
}

/// The intermediates of a directory, by cluster.
fn read_intermediates(
    pki: &PkiDir,
    dir: &Path,
) -> Result<BTreeMap<ClusterName, CaRecord>, StoreError> {
    pki.guard(dir)?;
    let mut intermediates = BTreeMap::new();
    let entries = pki.txn.list(dir)?;
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
            let record = pki.read_record(&path);
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
