//! Resolving a mesh's secret inputs, the one way render, `check`, `diff` and the `pki` commands
//! all do it: who the admins are (listed in mesh.yaml, or the local admin identity), which
//! identities are at hand, the PKI's state and the clusters' credential sources. To render, a
//! missing local admin identity is created and a PKI change an interrupted command committed is
//! completed; to inspect, nothing is created or written (the PKI is read as that change leaves
//! it). Issuing and rotating the PKI are explicit steps that say what they changed; they change
//! it in memory, and the change is committed by `PkiDir::commit` (a render's sealer, once the
//! output is staged) or by the command.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::credentials::CredentialSources;
use super::error::SealError;
use super::identities;
use super::recipe::PublicInputs;
use crate::config::{AgeRecipient, ClusterName, Credentials, Mesh, Origin};
use crate::digest;
use crate::disk;
use crate::env::Env;
use crate::keys::{self, StateDir};
use crate::pki::proof::{self, Flaw};
use crate::pki::rotation::Stage;
use crate::pki::state::PkiState;
use crate::pki::store::{Change, PkiDir, Recovered, StoreError};
use crate::record::{ClusterTrust, Trust};
use crate::sops::{Identities, Recipient};

/// Why the secret inputs are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// To render: a missing local admin identity is created, and the PKI may be issued.
    Render,
    /// To compare or check: nothing is created, issued or written.
    Inspect,
}

/// Who the mesh's secrets are encrypted to.
#[derive(Debug, Clone)]
pub enum Admins {
    /// The recipients mesh.yaml lists (`secrets.admins`).
    Listed(Vec<Recipient>),
    /// mesh.yaml lists none: mesh-render's local admin identity, kept at `path`.
    Local { path: PathBuf, recipient: Recipient },
    /// mesh.yaml lists none and there is no local admin identity yet (only when inspecting: a
    /// render creates it at `path`).
    Unknown { path: PathBuf },
}

impl Admins {
    pub fn recipients(&self) -> Vec<Recipient> {
        match self {
            Admins::Listed(list) => list.clone(),
            Admins::Local { recipient, .. } => vec![recipient.clone()],
            Admins::Unknown { .. } => Vec::new(),
        }
    }

    /// Whether the recipients are known, so the inputs of encrypted files can be computed.
    pub fn known(&self) -> bool {
        !matches!(self, Admins::Unknown { .. })
    }
}

/// What resolving created, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The local admin identity, at this path (mode 0600).
    LocalAdminIdentity(PathBuf),
    /// The local admin identity, replacing a file there that held none (empty or unreadable)
    /// while no PKI state was encrypted to it.
    ReplacedLocalAdminIdentity(PathBuf),
    /// A change to the PKI in this directory, committed by a command that was interrupted,
    /// completed (to inspect: found, and read as completed).
    CompletedPkiChange(PathBuf),
    /// Temporary files an interrupted command left in the PKI directory, removed.
    SweptPkiTemporaries(usize),
}

/// A mesh's secret inputs, resolved.
#[derive(Debug)]
pub struct Resolved {
    mode: Mode,
    pub pki_dir: PkiDir,
    /// The PKI's public state, `None` if there is no root yet.
    pub pki: Option<PkiState>,
    pub admins: Admins,
    /// The recipients of `admins`, in the form the model records.
    admin_recipients: Vec<AgeRecipient>,
    /// Every identity at hand: the environment's, and the local admin identity when it is the
    /// mesh's admin. `None` when there is none (a CI render with public keys only).
    pub identities: Option<Identities>,
    pub credentials: CredentialSources,
    pub created: Vec<Created>,
    /// What is wrong with the PKI's state (only when inspecting: a render refuses it).
    pub pki_flaws: Vec<Flaw>,
}

/// The PKI directory of a mesh: `pki/` beside its mesh.yaml; the example's lives in the state
/// dir (which needs `$XDG_DATA_HOME` or `$HOME`).
pub fn pki_dir(
    origin: &Origin,
    state: impl FnOnce() -> Result<StateDir, SealError>,
) -> Result<PkiDir, SealError> {
    Ok(match origin {
        Origin::BuiltinExample => PkiDir::new(state()?.example_pki()),
        Origin::File(_) => PkiDir::new(base_dir(origin).join("pki")),
    })
}

/// Opens the PKI directory: to render, a change an interrupted command committed is completed and
/// its temporary files removed; to inspect, it is read as that change leaves it.
fn open_pki(dir: PkiDir, mode: Mode, created: &mut Vec<Created>) -> Result<PkiDir, SealError> {
    let path = dir.path().to_owned();
    let (dir, recovered) = match mode {
        Mode::Render => PkiDir::open_to_change(&path)?,
        Mode::Inspect => PkiDir::open_to_read(&path)?,
    };
    if recovered == Recovered::CompletedChange {
        created.push(Created::CompletedPkiChange(path.clone()));
    }
    if mode == Mode::Render {
        let swept = disk::sweep_temporaries(&path).map_err(StoreError::from)?;
        if swept > 0 {
            created.push(Created::SweptPkiTemporaries(swept));
        }
    }
    Ok(dir)
}

/// The directory relative paths of mesh.yaml are resolved against.
pub fn base_dir(origin: &Origin) -> PathBuf {
    match origin {
        Origin::File(path) => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned(),
        Origin::BuiltinExample => PathBuf::from("."),
    }
}

/// Resolves the secret inputs of `mesh` (read from `origin`) in `env`.
pub fn resolve(mesh: &Mesh, origin: &Origin, env: &Env, mode: Mode) -> Result<Resolved, SealError> {
    // The files the description names are checked before anything is read or created.
    let credentials = CredentialSources::read(mesh, &base_dir(origin), env.home());
    credentials.check_files(mesh, origin)?;
    // The state directory holds the local admin identity and the example's PKI: a mesh that
    // lists its admins and keeps pki/ beside mesh.yaml needs no home directory.
    let state_dir = || Ok::<_, SealError>(StateDir::for_mesh(&mesh.mesh_id, env)?);
    let mut created = Vec::new();
    let pki_dir = open_pki(pki_dir(origin, state_dir)?, mode, &mut created)?;
    let mut identities = identities::discover(env)?;
    let admins = if mesh.secrets.admins.is_empty() {
        let path = state_dir()?.admin_identity();
        let comment = format!("mesh-render local admin identity of mesh {}", mesh.mesh_id);
        let read = match keys::read_identity(&path) {
            // Empty or unreadable, and nothing was ever encrypted to it (no PKI state yet): an
            // interrupted first run's, replaced rather than reported as a loss.
            Err(keys::KeysError::BadIdentity { .. })
                if mode == Mode::Render && !pki_dir.has_state() =>
            {
                let file = keys::replace_identity(&path, &comment)?;
                created.push(Created::ReplacedLocalAdminIdentity(path.clone()));
                Some(file)
            }
            other => other?,
        };
        let local = match read {
            Some(file) => Some(file),
            None if mode == Mode::Inspect => None,
            None if pki_dir.exists() => {
                return Err(SealError::LocalAdminGone {
                    pki_dir: pki_dir.path().to_owned(),
                    path,
                });
            }
            None => {
                let (file, made) = keys::read_or_create_identity(&path, &comment)?;
                if made {
                    created.push(Created::LocalAdminIdentity(path.clone()));
                }
                Some(file)
            }
        };
        match local {
            Some(file) => {
                match &mut identities {
                    Some(found) => found.extend(file.identities),
                    None => identities = Some(file.identities),
                }
                Admins::Local {
                    path,
                    recipient: file.recipient,
                }
            }
            None => Admins::Unknown { path },
        }
    } else {
        Admins::Listed(
            mesh.secrets
                .admins
                .iter()
                .enumerate()
                .map(|(index, r)| {
                    Recipient::parse(r.as_str())
                        .map_err(|source| SealError::BadAdmin { index, source })
                })
                .collect::<Result<_, _>>()?,
        )
    };
    let admin_recipients = match &admins {
        Admins::Listed(_) => mesh.secrets.admins.clone(),
        Admins::Local { path, recipient } => {
            vec![AgeRecipient::parse(recipient.as_str()).map_err(|e| {
                keys::KeysError::BadIdentity {
                    path: path.clone(),
                    message: e.problem,
                }
            })?]
        }
        Admins::Unknown { .. } => Vec::new(),
    };
    let pki = pki_dir.load()?;
    let pki_flaws = match &pki {
        Some(state) => prove(mesh, &pki_dir, state, identities.as_ref()),
        None => Vec::new(),
    };
    if mode == Mode::Render && !pki_flaws.is_empty() {
        return Err(SealError::PkiNotProven { flaws: pki_flaws });
    }
    Ok(Resolved {
        pki_flaws,
        mode,
        pki_dir,
        pki,
        admins,
        admin_recipients,
        identities,
        credentials,
        created,
    })
}

/// Every flaw of the PKI's state: its certificates, the root's fingerprint against mesh.yaml,
/// and with an admin identity each file's MAC and key.
fn prove(
    mesh: &Mesh,
    pki_dir: &PkiDir,
    state: &PkiState,
    identities: Option<&Identities>,
) -> Vec<Flaw> {
    let mut flaws = proof::prove_certificates(state);
    if let Some(expected) = &mesh.pki.root_fingerprint {
        flaws.extend(proof::prove_fingerprint(state, expected));
    }
    if let Some(identities) = identities {
        flaws.extend(pki_dir.prove_keys(state, identities).unwrap_or_default());
    }
    flaws
}

fn cluster_names(mesh: &Mesh) -> Vec<ClusterName> {
    mesh.clusters.iter().map(|c| c.name.clone()).collect()
}

impl Resolved {
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What the sealed files depend on that is not secret.
    pub fn public_inputs(
        &self,
        refresh_credentials: bool,
        now: OffsetDateTime,
    ) -> PublicInputs<'_> {
        PublicInputs {
            admins: &self.admin_recipients,
            pki: self.pki.as_ref(),
            credential_digests: &self.credentials.digests,
            refresh_credentials,
            now,
            issue_pending: self.mode == Mode::Inspect,
        }
    }

    /// Where the identities at hand came from, for the user (variable names and file paths).
    pub fn identity_sources(&self) -> Vec<String> {
        self.identities
            .as_ref()
            .map(|ids| ids.sources().to_vec())
            .unwrap_or_default()
    }

    fn must_render(&self) -> Result<(), SealError> {
        match self.mode {
            Mode::Render => Ok(()),
            Mode::Inspect => Err(SealError::InspectOnly),
        }
    }

    /// Brings the PKI to the mesh: a root if there is none, an intermediate for every cluster
    /// without one (under the next root too, mid-rotation), and the intermediates of removed
    /// clusters retired. Returns what it changed. A root is issued only for a new mesh: not if
    /// the PKI has any state, nor if `sealed_cacerts` (the output records cacerts sealed under
    /// an earlier one).
    pub fn issue(
        &mut self,
        mesh: &Mesh,
        sealed_cacerts: bool,
        now: OffsetDateTime,
    ) -> Result<Vec<Change>, SealError> {
        self.must_render()?;
        let (state, changes) = self.pki_dir.ensure(
            &cluster_names(mesh),
            sealed_cacerts,
            &self.admins.recipients(),
            self.identities.as_ref(),
            mesh.pki.algorithm,
            mesh.pki.validity,
            now,
        )?;
        self.pki = Some(state);
        disk::crash_point("issued");
        Ok(changes)
    }

    /// The mesh's trust, as the render record keeps it: the admins, and per cluster its GitOps
    /// recipient, API server and CA data (a digest).
    pub fn trust(&self, mesh: &Mesh) -> Trust {
        let clusters = mesh
            .clusters
            .iter()
            .map(|c| {
                let (api_server, ca_data) = match &c.credentials {
                    Some(Credentials::TokenFile {
                        server, ca_data, ..
                    }) => (
                        Some(server.clone()),
                        Some(format!("sha256:{}", digest::sha256_hex(ca_data.as_bytes()))),
                    ),
                    Some(Credentials::Kubeconfig { file, context }) => (
                        Some(format!("kubeconfig {} context {context}", file.display())),
                        None,
                    ),
                    Some(Credentials::ExternalSecrets { server, .. }) => {
                        (Some(server.clone()), None)
                    }
                    None => (None, None),
                };
                let trust = ClusterTrust {
                    gitops_recipient: c.gitops_recipient.as_ref().map(ToString::to_string),
                    api_server,
                    ca_data,
                };
                (c.name.to_string(), trust)
            })
            .collect();
        Trust {
            admins: self
                .admin_recipients
                .iter()
                .map(ToString::to_string)
                .collect(),
            clusters,
        }
    }

    /// Puts the PKI change made so far on disk, as one change.
    pub fn commit(&self) -> Result<(), SealError> {
        Ok(self.pki_dir.commit()?)
    }

    /// What [`Resolved::issue`] would issue, changing nothing.
    pub fn would_issue(&self, mesh: &Mesh) -> Vec<Change> {
        match &self.pki {
            None => vec![Change::IssuedRoot],
            Some(state) => mesh
                .clusters
                .iter()
                .filter(|c| !state.intermediates.contains_key(&c.name))
                .map(|c| Change::IssuedIntermediate(c.name.clone()))
                .collect(),
        }
    }

    /// Re-issues `cluster`'s intermediate under the current root; returns where the old one went.
    pub fn renew(
        &mut self,
        mesh: &Mesh,
        cluster: &ClusterName,
        now: OffsetDateTime,
    ) -> Result<PathBuf, SealError> {
        self.must_render()?;
        let retired = self.pki_dir.renew(
            cluster,
            &self.admins.recipients(),
            self.identities.as_ref(),
            mesh.pki.algorithm,
            mesh.pki.validity,
            now,
        )?;
        self.pki = self.pki_dir.load()?;
        Ok(retired)
    }

    /// Moves the root rotation to `stage` (`None`: completes it).
    pub fn rotate(
        &mut self,
        mesh: &Mesh,
        stage: Option<Stage>,
        now: OffsetDateTime,
    ) -> Result<(), SealError> {
        self.must_render()?;
        self.pki_dir.rotate(
            stage,
            &cluster_names(mesh),
            &self.admins.recipients(),
            self.identities.as_ref(),
            mesh.pki.algorithm,
            mesh.pki.validity,
            now,
        )?;
        self.pki = self.pki_dir.load()?;
        Ok(())
    }
}
