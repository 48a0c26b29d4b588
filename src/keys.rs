//! The age identities mesh-render keeps for a mesh, outside any repository: the local admin
//! identity (when mesh.yaml names no admin) and each cluster's GitOps identity, as 0600 files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{ClusterName, MeshId};
use crate::sops::{self, Identities, Recipient};

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    pub fn for_mesh(mesh_id: &MeshId) -> Result<Self, KeysError> {
        let data_home = match std::env::var_os("XDG_DATA_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => match std::env::var_os("HOME") {
                Some(home) if !home.is_empty() => PathBuf::from(home).join(".local/share"),
                _ => return Err(KeysError::NoHome),
            },
        };
        Ok(Self {
            path: data_home.join("mesh-render").join(mesh_id.as_str()),
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
        self.path.join("clusters").join(format!("{cluster}.agekey"))
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
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KeysError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let bad = |message: String| KeysError::BadIdentity {
        path: path.to_owned(),
        message,
    };
    let identities = Identities::parse(&text).map_err(|e| bad(e.to_string()))?;
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

/// Creates a new identity file (mode 0600, in a 0700 directory); fails if one exists.
pub fn create_identity(path: &Path, comment: &str) -> Result<IdentityFile, KeysError> {
    let io_err = |source| KeysError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
        }
    }
    let (secret, recipient) = sops::generate_identity();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err)?;
    let text = format!(
        "# {comment}\n# public key: {recipient}\n{}\n",
        secret.expose()
    );
    file.write_all(text.as_bytes()).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    read_identity(path)?.ok_or_else(|| KeysError::BadIdentity {
        path: path.to_owned(),
        message: "vanished after writing".to_owned(),
    })
}
