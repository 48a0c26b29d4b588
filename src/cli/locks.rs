//! Which directories each command locks, and how: every command that writes takes an exclusive
//! lock on the mesh description's directory (the state directory of the built-in example) and
//! on the output directory, in that order; `check` and `diff` take shared ones. A second writer
//! waits (`--wait`), saying who holds the lock, then fails with the lock's exit code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::exit::Failure;
use crate::config::{Mesh, Origin};
use crate::disk::{self, DirLock, LockError, LockMode, Mode};
use crate::env::Env;
use crate::keys::StateDir;

/// Locks held until dropped.
#[must_use = "the locks are released when this is dropped"]
pub(super) struct Held(#[allow(dead_code)] Vec<DirLock>);

/// The directory that holds a mesh's state beside its description: mesh.yaml's directory, or
/// for the built-in example its state directory (made, 0700, if missing).
pub(super) fn mesh_dir(origin: &Origin, mesh: &Mesh, env: &Env) -> Result<PathBuf, Failure> {
    Ok(match origin {
        Origin::File(path) => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned(),
        Origin::BuiltinExample => {
            let dir = StateDir::for_mesh(&mesh.mesh_id, env)?.path().to_owned();
            disk::create_dir_all(&dir, Mode::Private)?;
            dir
        }
    })
}

/// The mesh's state directory if it exists, for a command that only reads (and so creates
/// nothing, not even the directory).
pub(super) fn existing_mesh_dir(origin: &Origin, mesh: &Mesh, env: &Env) -> Option<PathBuf> {
    let dir = match origin {
        Origin::File(path) => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned(),
        Origin::BuiltinExample => StateDir::for_mesh(&mesh.mesh_id, env)
            .ok()?
            .path()
            .to_owned(),
    };
    dir.is_dir().then_some(dir)
}

/// Locks `dirs` in order, waiting up to `wait` for each.
pub(super) fn hold(dirs: &[(&Path, LockMode)], wait: Duration) -> Result<Held, Failure> {
    let mut held = Vec::new();
    for (dir, mode) in dirs {
        let waiting = |dir: &Path, holder: Option<u32>| {
            eprintln!(
                "waiting for {}: locked by {} (up to {} s; --wait SECONDS to change)",
                dir.display(),
                LockError::holder_text(holder),
                wait.as_secs()
            );
        };
        held.push(disk::lock_dir(dir, *mode, wait, &waiting)?);
    }
    Ok(Held(held))
}
