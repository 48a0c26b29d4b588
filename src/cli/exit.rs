//! The exit-code table, decided once for every command (the README lists it):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success; `check`: clean; `diff`: shown (with `--exit-code`: nothing would change) |
//! | 1 | findings (`check` errors, `diff --exit-code` changes, `--strict` pending remote secrets), or the output could not be written |
//! | 2 | bad input: the mesh description, the arguments, an input file (identity, token, kubeconfig, PKI state), a missing key |
//! | 3 | another run holds the lock of the mesh or the tree and did not let go within `--wait` |
//!
//! Every error of the library reaches the command line typed, with its source; here alone it is
//! given its exit code.

use std::error::Error;
use std::fmt;

use crate::check::TreeError;
use crate::config::ConfigError;
use crate::disk::{IoError, LockError, Op};
use crate::keys::KeysError;
use crate::kubeconfig::KubeconfigError;
use crate::output::OutputError;
use crate::pki::store::StoreError;
use crate::render::RenderError;
use crate::seal::{CredentialError, SealError};
use crate::templates::TemplateError;

/// Why a command exits non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// `check` found errors, `diff --exit-code` found changes, `--strict` found pending secrets.
    Findings,
    /// The output (or state) could not be written.
    Output,
    /// Bad input: the description, the arguments, an input file, a missing key.
    Input,
    /// Another run holds the lock of the mesh or of the tree, and did not let go in time.
    Locked,
}

impl ExitKind {
    pub fn code(self) -> u8 {
        match self {
            ExitKind::Findings | ExitKind::Output => 1,
            ExitKind::Input => 2,
            ExitKind::Locked => 3,
        }
    }
}

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    Found,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Found => ExitKind::Findings.code(),
        }
    }
}

/// A command's failure: the typed error, with its exit kind.
#[derive(Debug)]
pub struct Failure {
    pub kind: ExitKind,
    pub error: Box<dyn Error + Send + Sync>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// An error whose exit kind this table decides.
pub trait Classify {
    fn exit_kind(&self) -> ExitKind;
}

impl<E: Error + Classify + Send + Sync + 'static> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            kind: error.exit_kind(),
            error: Box::new(error),
        }
    }
}

impl Classify for IoError {
    fn exit_kind(&self) -> ExitKind {
        match self.op {
            Op::Read => ExitKind::Input,
            Op::Write => ExitKind::Output,
        }
    }
}

impl Classify for crate::template::StreamError {
    /// The tree holds what the stream cannot show faithfully: a renderer defect.
    fn exit_kind(&self) -> ExitKind {
        ExitKind::Output
    }
}

impl Classify for ConfigError {
    fn exit_kind(&self) -> ExitKind {
        ExitKind::Input
    }
}

impl Classify for KeysError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            KeysError::Io(e) => e.exit_kind(),
            KeysError::BadIdentity { .. } | KeysError::NoHome => ExitKind::Input,
        }
    }
}

impl Classify for StoreError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            StoreError::Io(e) => e.exit_kind(),
            StoreError::Render { .. } => ExitKind::Output,
            StoreError::BadState { .. }
            | StoreError::Sops { .. }
            | StoreError::NeedIdentity { .. }
            | StoreError::Ca(_)
            | StoreError::Rotation { .. }
            | StoreError::RootMissing { .. }
            | StoreError::Symlink(_) => ExitKind::Input,
        }
    }
}

impl Classify for CredentialError {
    fn exit_kind(&self) -> ExitKind {
        ExitKind::Input
    }
}

impl Classify for SealError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            SealError::Keys(e) => e.exit_kind(),
            SealError::Store(e) => e.exit_kind(),
            SealError::Shared(e) => e.exit_kind(),
            SealError::Template(_) | SealError::InspectOnly => ExitKind::Output,
            SealError::Credential(_)
            | SealError::Identity { .. }
            | SealError::IdentityFile { .. }
            | SealError::BadAdmin { .. }
            | SealError::LocalAdminGone { .. }
            | SealError::NoRoot { .. }
            | SealError::NoIntermediate { .. }
            | SealError::Encrypt { .. }
            | SealError::PkiNotProven { .. }
            | SealError::Facts { .. }
            | SealError::InputFiles { .. } => ExitKind::Input,
        }
    }
}

impl Classify for OutputError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            OutputError::Io(e) => e.exit_kind(),
            // A sealed file that must be written again needs a key or a credential at hand.
            OutputError::Seal(_) => ExitKind::Input,
            // Committing the PKI is writing state.
            OutputError::Commit(_) => ExitKind::Output,
            OutputError::NotADirectory(_)
            | OutputError::BadRecord { .. }
            | OutputError::NotOurs(_)
            | OutputError::Symlinks(_) => ExitKind::Output,
        }
    }
}

impl Classify for LockError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            LockError::Busy { .. } => ExitKind::Locked,
            LockError::Io(e) => e.exit_kind(),
        }
    }
}

impl Classify for RenderError {
    fn exit_kind(&self) -> ExitKind {
        // The renderer failing on a valid description is a defect: nothing could be written.
        ExitKind::Output
    }
}

impl Classify for TemplateError {
    fn exit_kind(&self) -> ExitKind {
        ExitKind::Output
    }
}

impl Classify for TreeError {
    fn exit_kind(&self) -> ExitKind {
        ExitKind::Input
    }
}

impl Classify for KubeconfigError {
    fn exit_kind(&self) -> ExitKind {
        ExitKind::Input
    }
}
