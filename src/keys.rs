//! The age identities mesh-render keeps for a mesh, outside any repository: the local admin
//! identity (when mesh.yaml names no admin) and each cluster's GitOps identity, as 0600 files.

use std::path::{Path, PathBuf};

use crate::config::{ClusterName, MeshId};
use crate::disk::{self, IoError, Mode};
use crate::env::Env;
use crate::sops::{self, Identities, Recipient};
use crate::vocabulary::{CLUSTER_IDENTITIES, STATE_DIR};

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{} holds no usable age identity: {message}\n  fix: restore the file from your backup, or remove it to start over (the secrets encrypted to it are then lost)", .path.display())]
    BadIdentity { path: PathBuf, message: String },
    #[error(
        "neither $XDG_DATA_HOME nor $HOME is set, so mesh-render has nowhere to keep its state\n  fix: set XDG_DATA_HOME (or HOME)"
    )]
    NoHome,
}

/// Where mesh-render keeps a mesh's local state: `$XDG_DATA_HOME/mesh-render/<meshID>/`
/// (`~/.local/share/mesh-render/<meshID>/` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    pub fn for_mesh(mesh_id: &MeshId, env: &Env) -> Result<Self, KeysError> {
        let data_home = match (env.path("XDG_DATA_HOME"), env.home()) {
            (Some(dir), _) => dir,
            (None, Some(home)) => home.join(".local/share"),
            (None, None) => return Err(KeysError::NoHome),
        };
        Ok(Self {
            path: data_home.join(STATE_DIR).join(mesh_id.as_str()),
        })
    }

    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The local admin identity, used when mesh.yaml lists no admin recipient.
    pub fn admin_identity(&self) -> PathBuf {
        self.path.join("admin.agekey")
    }

    /// A cluster's GitOps identity, which its Flux or KSOPS decrypts with.
    pub fn cluster_identity(&self, cluster: &ClusterName) -> PathBuf {
        self.path
            .join(CLUSTER_IDENTITIES)
            .join(format!("{cluster}.agekey"))
    }

    /// The PKI of the built-in example (a user's mesh keeps its pki/ beside mesh.yaml).
    pub fn example_pki(&self) -> PathBuf {
        self.path.join("pki")
    }
}

/// An identity file read back: its identities and the recipient of the first.
pub struct IdentityFile {
    pub identities: Identities,
    pub recipient: Recipient,
}

/// Reads an identity file, or `None` if it does not exist.
pub fn read_identity(path: &Path) -> Result<Option<IdentityFile>, KeysError> {
    let Some(bytes) = disk::read_small(path)? else {
        return Ok(None);
    };
    let bad = |message: String| KeysError::BadIdentity {
        path: path.to_owned(),
        message,
    };
    let text = zeroize::Zeroizing::new(
        String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".to_owned()))?,
    );
    let identities = Identities::parse_from(&text, &path.display().to_string())
        .map_err(|e| bad(e.to_string()))?;
    let recipient = identities
        .recipients()
        .into_iter()
        .next()
        .ok_or_else(|| bad("no identity in the file".to_owned()))?;
    Ok(Some(IdentityFile {
        identities,
        recipient,
    }))
}

/// The identity at `path`, created (whole, mode 0600) if there is none; `true` if this call
/// created it. Of two processes creating it at once, one writes it and both use it.
pub fn read_or_create_identity(
    path: &Path,
    comment: &str,
) -> Result<(IdentityFile, bool), KeysError> {
    if let Some(file) = read_identity(path)? {
        return Ok((file, false));
    }
    match create_identity(path, comment) {
        Ok(file) => Ok((file, true)),
        Err(KeysError::Io(e)) if e.source.kind() == std::io::ErrorKind::AlreadyExists => {
            let file = read_identity(path)?.ok_or_else(|| KeysError::BadIdentity {
                path: path.to_owned(),
                message: "vanished while it was being created".to_owned(),
            })?;
            Ok((file, false))
        }
        Err(e) => Err(e),
    }
}

/// Replaces an identity file that holds no usable identity with a new one (atomically, 0600).
/// Only for a local admin identity nothing was ever encrypted to.
pub fn replace_identity(path: &Path, comment: &str) -> Result<IdentityFile, KeysError> {
    let (secret, recipient) = sops::generate_identity();
    let text = zeroize::Zeroizing::new(format!(
        "# {comment}\n# public key: {recipient}\n{}\n",
        secret.expose()
    ));
    disk::write_atomic(path, text.as_bytes(), Mode::Private)?;
    read_identity(path)?.ok_or_else(|| KeysError::BadIdentity {
        path: path.to_owned(),
        message: "vanished after writing".to_owned(),
    })
}

/// Creates a new identity file (mode 0600, in a 0700 directory), whole or not at all; fails if
/// one exists.
pub fn create_identity(path: &Path, comment: &str) -> Result<IdentityFile, KeysError> {
    let (secret, recipient) = sops::generate_identity();
    let text = zeroize::Zeroizing::new(format!(
        "# {comment}\n# public key: {recipient}\n{}\n",
        secret.expose()
    ));
    disk::create_new(path, text.as_bytes(), Mode::Private)?;
    read_identity(path)?.ok_or_else(|| KeysError::BadIdentity {
        path: path.to_owned(),
        message: "vanished after writing".to_owned(),
    })
}
