//! What can go wrong resolving a mesh's secret inputs or sealing a file, each with its source.

use std::path::PathBuf;

use crate::keys::KeysError;
use crate::kubeconfig::{KubeconfigError, ReaderCredentialError};
use crate::pki::rotation::Generation;
use crate::pki::store::StoreError;
use crate::sops::SopsError;
use crate::templates::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the PKI state cannot be proven, so mesh-render will not use it:\n{}\n  fix: restore pki/ from git (`git log -p pki/` shows who changed it); never edit a PKI file by hand", .flaws.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    PkiNotProven { flaws: Vec<crate::pki::proof::Flaw> },
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// An identity source (SOPS_AGE_KEY, a key file) holds something that is not an identity.
    #[error(
        "{source}\n  fix: point SOPS_AGE_KEY_FILE at an age identity file (age-keygen writes one), or unset the variable"
    )]
    Identity {
        #[source]
        source: SopsError,
    },
    /// SOPS_AGE_KEY_FILE names a file that cannot be read.
    #[error(
        "SOPS_AGE_KEY_FILE: {source}\n  fix: point SOPS_AGE_KEY_FILE at an age identity file, or unset it"
    )]
    IdentityFile {
        #[source]
        source: crate::disk::IoError,
    },
    #[error(
        "secrets.admins[{index}]: {source}\n  fix: paste the public key that `age-keygen -y KEYFILE` prints"
    )]
    BadAdmin {
        index: usize,
        #[source]
        source: SopsError,
    },
    #[error("the PKI in {} is encrypted to a local admin identity, and {} is gone\n  fix: restore {} from your backup; or, if you hold another admin identity of this PKI, list its recipient under secrets.admins in mesh.yaml and point SOPS_AGE_KEY_FILE at it", .pki_dir.display(), .path.display(), .path.display())]
    LocalAdminGone { pki_dir: PathBuf, path: PathBuf },
    #[error(
        "the PKI has no {generation:?} root for stage {stage}\n  fix: restore pki/ from version control"
    )]
    NoRoot {
        generation: Generation,
        stage: &'static str,
    },
    #[error(
        "the PKI has no intermediate CA for {cluster} at stage {stage}\n  fix: render once with an admin identity at hand, which issues it"
    )]
    NoIntermediate {
        cluster: crate::config::ClusterName,
        stage: &'static str,
    },
    /// The facts a sealed file carries could not be read from its content (a bug, or a PKI
    /// state file whose certificate does not parse).
    #[error("could not read the facts of {what}: {why}")]
    Facts { what: String, why: String },
    #[error("could not encrypt {what}: {source}")]
    Encrypt {
        what: String,
        #[source]
        source: SopsError,
    },
    /// A failure shared by every file that needed the same input (one source's kubeconfig).
    #[error(transparent)]
    Shared(std::sync::Arc<SealError>),
    /// Files the description names that mesh-render will not read.
    #[error("{origin} names files mesh-render will not read ({} problems):{}", .problems.len(), .problems.iter().map(|p| format!("\n  {origin}: {}: {}\n    fix: {}", p.field, p.problem, p.fix)).collect::<String>())]
    InputFiles {
        origin: crate::config::Origin,
        problems: Vec<InputProblem>,
    },
    /// A state change was asked of a resolution made to inspect (a bug of the caller).
    #[error(
        "mesh-render tried to change the PKI while only inspecting it (a bug: please report it)"
    )]
    InspectOnly,
}

/// One file a description names, and why it is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    /// The field path, e.g. `clusters[1].credentials.tokenFile.token`.
    pub field: String,
    pub problem: String,
    pub fix: String,
}

/// A cluster's reader credential cannot be read or used for its remote secrets.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{cluster} has no credential source")]
    NoSource { cluster: crate::config::ClusterName },
    #[error(
        "the remote secret of {cluster} is made in the cluster by the External Secrets Operator, not sealed here"
    )]
    External { cluster: crate::config::ClusterName },
    #[error("the reader token of {cluster} ({}, from credentials.tokenFile.token) cannot be read: {}; read it from the cluster as its README says", .source.path.display(), .source.source)]
    TokenUnreadable {
        cluster: crate::config::ClusterName,
        #[source]
        source: crate::disk::IoError,
    },
    #[error("{} is SOPS-encrypted and no admin identity is at hand (SOPS_AGE_KEY_FILE)", .path.display())]
    TokenNeedsIdentity { path: PathBuf },
    #[error("{}: {source}", .path.display())]
    TokenDecrypt {
        path: PathBuf,
        #[source]
        source: SopsError,
    },
    #[error("{} has no `token` field", .path.display())]
    NoTokenField { path: PathBuf },
    #[error("{} does not hold a bearer token", .path.display())]
    NotAToken { path: PathBuf },
    #[error("the kubeconfig of {cluster} ({}, from credentials.kubeconfig.file) is not on this machine", .path.display())]
    KubeconfigMissing {
        cluster: crate::config::ClusterName,
        path: PathBuf,
    },
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    #[error(transparent)]
    Reader(#[from] ReaderCredentialError),
}
