//! Writes a rendered tree into the output directory: unchanged files are left alone, changed ones
//! are replaced atomically, and only files an earlier render recorded are ever pruned.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::render::{Entry, RelPath, Sealed, Tree};

/// The render record, committed with the output: every file mesh-render wrote, with the digest
/// of its bytes. It is how a later render knows what it may prune.
pub const RECORD_FILE: &str = ".render-record.json";
const RECORD_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} exists and is not a directory\n  fix: choose an output directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} is not a mesh-render record: {message}\n  fix: restore it from version control, or delete it (mesh-render then refuses to overwrite files it has no record of)", .path.display())]
    BadRecord { path: PathBuf, message: String },
    #[error("refusing to overwrite files that mesh-render has no record of writing:\n{}\n  fix: move them out of the output directory, or render into an empty directory", list(.0))]
    NotOurs(Vec<PathBuf>),
    #[error("{} encrypted file(s) must be written again and cannot be:\n{}", .0.len(), seal_list(.0))]
    Seal(Vec<SealFailure>),
}

/// A sealed file that had to be (re-)encrypted and could not be.
#[derive(Debug)]
pub struct SealFailure {
    pub path: RelPath,
    /// Why it had to be encrypted: new, inputs changed, edited by hand.
    pub reason: &'static str,
    pub error: SealError,
}

fn seal_list(failures: &[SealFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("    {} ({}): {}", f.path, f.reason, f.error))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why a secret could not be sealed; the sealer words it for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SealError(pub String);

/// Encrypts sealed files: given the descriptor, returns the bytes to write. Only called for a
/// file whose inputs changed, that is new, or that was edited by hand.
pub trait Sealer {
    fn seal(&self, path: &RelPath, sealed: &Sealed) -> Result<Vec<u8>, SealError>;
}

/// A sealer without keys: every seal fails with the given explanation.
pub struct NoKeys(pub String);

impl Sealer for NoKeys {
    fn seal(&self, _: &RelPath, _: &Sealed) -> Result<Vec<u8>, SealError> {
        Err(SealError(self.0.clone()))
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| format!("    {}", p.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a write did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub written: Vec<RelPath>,
    pub unchanged: usize,
    pub removed: Vec<String>,
    /// Files a previous render wrote, no longer rendered, but edited since: left in place.
    pub kept_edited: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Record {
    format: u32,
    files: BTreeMap<String, FileRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct FileRecord {
    sha256: String,
    /// For an encrypted file: the digest of the inputs its plaintext came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inputs: Option<String>,
}

/// Brings `out_dir` to `tree`: writes what differs, prunes recorded files no longer rendered,
/// and updates the record. Nothing is written if a file in the way was not written by us, or if a
/// secret that must be encrypted cannot be.
pub fn write(out_dir: &Path, tree: &Tree, sealer: &dyn Sealer) -> Result<Summary, OutputError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| OutputError::Io { path, source }
    };
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(OutputError::NotADirectory(out_dir.to_owned()));
    }
    let old = read_record(out_dir)?;

    // Plan everything (and seal what must be sealed) before touching the disk.
    let mut summary = Summary::default();
    let mut to_write: Vec<(&RelPath, PathBuf, Vec<u8>)> = Vec::new();
    let mut not_ours = Vec::new();
    let mut seal_failures = Vec::new();
    let mut new = Record {
        format: RECORD_FORMAT,
        files: BTreeMap::new(),
    };
    for (path, entry) in tree.iter() {
        let target = out_dir.join(path.as_str());
        let existing = read_if_file(&target).map_err(io_err(&target))?;
        let recorded = old.files.get(path.as_str());
        if existing.is_none() && target.is_dir() {
            not_ours.push(target);
            continue;
        }
        match entry {
            Entry::Text(text) => {
                new.files.insert(
                    path.to_string(),
                    FileRecord {
                        sha256: sha256_hex(text.as_bytes()),
                        inputs: None,
                    },
                );
                match existing {
                    Some(bytes) if bytes == text.as_bytes() => summary.unchanged += 1,
                    Some(_) if recorded.is_none() => not_ours.push(target),
                    _ => to_write.push((path, target, text.as_bytes().to_vec())),
                }
            }
            Entry::Sealed(sealed) => {
                let on_disk = existing.as_deref().map(sha256_hex);
                let reason = match (on_disk.as_deref(), recorded) {
                    (Some(_), None) => {
                        not_ours.push(target);
                        continue;
                    }
                    (Some(digest), Some(r))
                        if !sealed.force
                            && r.sha256 == digest
                            && r.inputs.as_deref() == Some(&sealed.inputs) =>
                    {
                        // Unchanged inputs, and the file is the one we wrote: keep it byte for byte.
                        new.files.insert(path.to_string(), r.clone());
                        summary.unchanged += 1;
                        continue;
                    }
                    (Some(digest), Some(r)) if r.sha256 != digest => {
                        "edited by hand since mesh-render wrote it"
                    }
                    (Some(_), Some(_)) => "its inputs changed",
                    (None, _) => "it is new",
                };
                match sealer.seal(path, sealed) {
                    Ok(bytes) => {
                        new.files.insert(
                            path.to_string(),
                            FileRecord {
                                sha256: sha256_hex(&bytes),
                                inputs: Some(sealed.inputs.clone()),
                            },
                        );
                        to_write.push((path, target, bytes));
                    }
                    Err(error) => seal_failures.push(SealFailure {
                        path: path.clone(),
                        reason,
                        error,
                    }),
                }
            }
        }
    }
    if !not_ours.is_empty() {
        return Err(OutputError::NotOurs(not_ours));
    }
    if !seal_failures.is_empty() {
        return Err(OutputError::Seal(seal_failures));
    }
    let mut to_remove = Vec::new();
    for (path, recorded) in &old.files {
        if new.files.contains_key(path) || RelPath::new(path.as_str()).is_err() {
            continue;
        }
        let target = out_dir.join(path);
        match read_if_file(&target).map_err(io_err(&target))? {
            Some(bytes) if sha256_hex(&bytes) == recorded.sha256 => {
                to_remove.push((path.clone(), target))
            }
            Some(_) => summary.kept_edited.push(path.clone()),
            None => {}
        }
    }

    // Apply.
    fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    for (path, target, bytes) in to_write {
        write_atomic(&target, &bytes)?;
        summary.written.push(path.clone());
    }
    for (path, target) in to_remove {
        fs::remove_file(&target).map_err(io_err(&target))?;
        remove_empty_parents(out_dir, &target);
        summary.removed.push(path);
    }
    if new != old {
        let record_path = out_dir.join(RECORD_FILE);
        write_atomic(&record_path, &record_bytes(&new))?;
    }
    Ok(summary)
}

fn read_record(out_dir: &Path) -> Result<Record, OutputError> {
    let path = out_dir.join(RECORD_FILE);
    let Some(bytes) = read_if_file(&path).map_err(|source| OutputError::Io {
        path: path.clone(),
        source,
    })?
    else {
        return Ok(Record {
            format: RECORD_FORMAT,
            files: BTreeMap::new(),
        });
    };
    let record: Record = serde_json::from_slice(&bytes).map_err(|e| OutputError::BadRecord {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if record.format != RECORD_FORMAT {
        return Err(OutputError::BadRecord {
            path,
            message: format!(
                "format {} is not the format {RECORD_FORMAT} this mesh-render writes",
                record.format
            ),
        });
    }
    Ok(record)
}

/// Pretty JSON with sorted keys and a trailing newline: stable, and one line per file in a diff.
fn record_bytes(record: &Record) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file's bytes, or `None` if nothing (or a directory) is there.
fn read_if_file(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(_) if path.is_dir() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes one file atomically (outside any output tree): `mesh-render init` uses it.
pub fn write_file(target: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    write_atomic(target, bytes)
}

/// Writes through a temporary file in the same directory, then renames it over the target, so
/// a reader sees the old bytes or the new ones, never a mix.
fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let io_err = |source| OutputError::Io {
        path: target.to_owned(),
        source,
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".mesh-render-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_err)?;
    tmp.write_all(bytes).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644)).map_err(io_err)?;
    }
    tmp.persist(target).map_err(|e| io_err(e.error))?;
    Ok(())
}

/// Removes the directories a prune emptied, up to (not including) the output directory.
fn remove_empty_parents(out_dir: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == out_dir || !d.starts_with(out_dir) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}
