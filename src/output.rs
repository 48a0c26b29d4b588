//! Writes a rendered tree into the output directory: decides per file whether to keep, write or
//! seal it (by its bytes, or for a sealed file by the render record), refuses to overwrite what
//! mesh-render did not write, prunes only files an earlier render recorded, and keeps the record.
//! Every change to the disk goes through `disk`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;
use crate::disk::{self, IoError, Mode, Staged};
use crate::render::{Entry, RelPath, Sealed, Tree};

/// The render record, committed with the output: every file mesh-render wrote, with the digest
/// of its bytes. It is how a later render knows what it may prune.
pub const RECORD_FILE: &str = ".render-record.json";
const RECORD_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{} exists and is not a directory\n  fix: choose an output directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} is not a mesh-render record: {message}\n  fix: restore it from version control, or delete it (mesh-render then refuses to overwrite files it has no record of)", .path.display())]
    BadRecord { path: PathBuf, message: String },
    #[error("refusing to overwrite files that mesh-render has no record of writing:\n{}\n  fix: move them out of the output directory, or render into an empty directory", list(.0))]
    NotOurs(Vec<PathBuf>),
    #[error("{} encrypted file(s) must be written again and cannot be:\n{}", .0.len(), seal_list(.0))]
    Seal(Vec<SealFailure>),
}

/// Why a sealer could not seal a file; the sealer's own error, kept with its source.
pub type SealerError = Box<dyn std::error::Error + Send + Sync>;

/// A sealed file that had to be (re-)encrypted and could not be.
#[derive(Debug)]
pub struct SealFailure {
    pub path: RelPath,
    /// Why it had to be encrypted: new, inputs changed, edited by hand.
    pub reason: &'static str,
    pub error: SealerError,
}

fn seal_list(failures: &[SealFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("    {} ({}): {}", f.path, f.reason, f.error))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Encrypts sealed files: given the descriptor, returns the bytes to write. Only called for a
/// file whose inputs changed, that is new, or that was edited by hand.
pub trait Sealer: Sync {
    fn seal(&self, path: &RelPath, sealed: &Sealed) -> Result<Vec<u8>, SealerError>;
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
    /// Whether this write created the tree (there was no render record before).
    pub created: bool,
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

/// Reports the progress of a long write (a terminal progress bar; nothing otherwise).
pub trait Progress: Sync {
    /// `total` files are to be written.
    fn begin(&self, total: u64);
    /// One more file is staged.
    fn advance(&self);
    fn end(&self);
}

/// No progress reporting.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: u64) {}
    fn advance(&self) {}
    fn end(&self) {}
}

/// What the plan decided for one rendered file.
enum Decision<'a> {
    /// Byte-identical on disk (or, for a sealed file, recorded inputs and bytes match).
    Keep(FileRecord),
    Write(&'a [u8]),
    Seal {
        sealed: &'a Sealed,
        reason: &'static str,
    },
    /// In the way and not ours: a file mesh-render has no record of, or a directory.
    NotOurs(PathBuf),
}

/// A file written to a temporary name beside its target, not yet renamed into place.
struct StagedFile<'a> {
    path: &'a RelPath,
    staged: Staged,
    record: FileRecord,
}

/// Brings `out_dir` to `tree`: writes what differs, prunes recorded files no longer rendered,
/// and updates the record. Nothing is replaced if a file in the way was not written by us, or if
/// a secret that must be encrypted cannot be.
///
/// Runs on the current rayon pool: files are compared, sealed and written to temporary files in
/// parallel, one at a time per thread (never the whole tree's ciphertext in memory); then every
/// temporary file is made durable at once and renamed into place.
pub fn write(
    out_dir: &Path,
    tree: &Tree,
    sealer: &dyn Sealer,
    progress: &dyn Progress,
) -> Result<Summary, OutputError> {
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(OutputError::NotADirectory(out_dir.to_owned()));
    }
    let (old, created) = match read_record(out_dir)? {
        Some(record) => (record, false),
        None => (Record::empty(), true),
    };

    // Plan: compare every rendered file with the disk and the record.
    let entries: Vec<(&RelPath, &Entry)> = tree.iter().collect();
    let decisions: Vec<Decision<'_>> = entries
        .par_iter()
        .map(|(path, entry)| decide(out_dir, path, entry, old.files.get(path.as_str())))
        .collect::<Result<_, _>>()?;
    let not_ours: Vec<PathBuf> = decisions
        .iter()
        .filter_map(|d| match d {
            Decision::NotOurs(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    if !not_ours.is_empty() {
        return Err(OutputError::NotOurs(not_ours));
    }

    // Stage: produce and write every changed file under a temporary name, in parallel.
    let work: Vec<(&RelPath, &Decision<'_>)> = entries
        .iter()
        .zip(&decisions)
        .filter(|(_, d)| matches!(d, Decision::Write(_) | Decision::Seal { .. }))
        .map(|((path, _), d)| (*path, d))
        .collect();
    // Every directory a staged file goes into, made once here rather than checked per file.
    let dirs: std::collections::BTreeSet<PathBuf> = work
        .iter()
        .filter_map(|(path, _)| out_dir.join(path.as_str()).parent().map(Path::to_owned))
        .collect();
    for dir in &dirs {
        disk::create_dir_all(dir, Mode::Public)?;
    }
    progress.begin(work.len() as u64);
    let staged: Vec<Result<StagedFile<'_>, StageError>> = work
        .par_iter()
        .map(|(path, decision)| {
            let staged = stage(out_dir, path, decision, sealer);
            progress.advance();
            staged
        })
        .collect();
    progress.end();
    let mut ok = Vec::with_capacity(staged.len());
    let mut seal_failures = Vec::new();
    let mut io_failure = None;
    for result in staged {
        match result {
            Ok(s) => ok.push(s),
            Err(StageError::Seal(f)) => seal_failures.push(f),
            Err(StageError::Io(e)) => io_failure = io_failure.or(Some(e)),
        }
    }
    // On failure the staged temporary files are dropped, and so deleted: nothing was replaced.
    if let Some(e) = io_failure {
        return Err(e);
    }
    if !seal_failures.is_empty() {
        return Err(OutputError::Seal(seal_failures));
    }

    // Record what the tree now holds.
    let mut summary = Summary {
        created,
        ..Summary::default()
    };
    let mut files: Vec<(String, FileRecord)> = Vec::with_capacity(entries.len());
    for ((path, _), decision) in entries.iter().zip(decisions) {
        if let Decision::Keep(record) = decision {
            files.push((path.to_string(), record));
            summary.unchanged += 1;
        }
    }
    files.extend(ok.iter().map(|s| (s.path.to_string(), s.record.clone())));
    // Built in bulk from entries in path order (the staged ones sorted in among them).
    let new = Record {
        format: RECORD_FORMAT,
        files: files.into_iter().collect(),
    };
    let mut to_remove = Vec::new();
    for (path, recorded) in &old.files {
        if new.files.contains_key(path) || RelPath::new(path.as_str()).is_err() {
            continue;
        }
        let target = out_dir.join(path);
        match disk::read_if_file(&target)? {
            Some(bytes) if sha256_hex(&bytes) == recorded.sha256 => {
                to_remove.push((path.clone(), target))
            }
            Some(_) => summary.kept_edited.push(path.clone()),
            None => {}
        }
    }

    // Apply: the staged bytes reach the disk before any rename makes them visible.
    summary.written = ok.iter().map(|s| s.path.clone()).collect();
    let (staged, _): (Vec<Staged>, Vec<FileRecord>) =
        ok.into_iter().map(|s| (s.staged, s.record)).unzip();
    if !staged.is_empty() {
        disk::sync_staged(out_dir, &staged)?;
    }
    staged.into_par_iter().try_for_each(Staged::commit)?;
    for (path, target) in to_remove {
        disk::remove_file(&target)?;
        disk::remove_empty_parents(out_dir, &target);
        summary.removed.push(path);
    }
    if new != old {
        let record_path = out_dir.join(RECORD_FILE);
        disk::write_atomic(&record_path, &record_bytes(&new), Mode::Public)?;
    }
    Ok(summary)
}

/// Compares one rendered file with the disk and the record.
fn decide<'a>(
    out_dir: &Path,
    path: &RelPath,
    entry: &'a Entry,
    recorded: Option<&FileRecord>,
) -> Result<Decision<'a>, OutputError> {
    let target = out_dir.join(path.as_str());
    disk::with_file_bytes(&target, |existing| {
        decide_on(&target, entry, recorded, existing)
    })?
}

/// `decide`, given the bytes on disk (`None`: nothing, or a directory, is there).
fn decide_on<'a>(
    target: &Path,
    entry: &'a Entry,
    recorded: Option<&FileRecord>,
    existing: Option<&[u8]>,
) -> Result<Decision<'a>, OutputError> {
    if existing.is_none() && target.is_dir() {
        return Ok(Decision::NotOurs(target.to_owned()));
    }
    Ok(match entry {
        Entry::Text(text) => match existing {
            Some(bytes) if bytes == text.as_bytes() => Decision::Keep(FileRecord {
                sha256: sha256_hex(text.as_bytes()),
                inputs: None,
            }),
            Some(_) if recorded.is_none() => Decision::NotOurs(target.to_owned()),
            _ => Decision::Write(text.as_bytes()),
        },
        Entry::Sealed(sealed) => {
            let on_disk = existing.map(sha256_hex);
            let reason = match (on_disk.as_deref(), recorded) {
                (Some(_), None) => return Ok(Decision::NotOurs(target.to_owned())),
                (Some(digest), Some(r))
                    if !sealed.force
                        && r.sha256 == digest
                        && r.inputs.as_deref() == Some(&sealed.inputs) =>
                {
                    // Unchanged inputs, and the file is the one we wrote: keep it byte for byte.
                    return Ok(Decision::Keep(r.clone()));
                }
                (Some(digest), Some(r)) if r.sha256 != digest => {
                    "edited by hand since mesh-render wrote it"
                }
                (Some(_), Some(_)) => "its inputs changed",
                (None, _) => "it is new",
            };
            Decision::Seal { sealed, reason }
        }
    })
}

enum StageError {
    Seal(SealFailure),
    Io(OutputError),
}

/// Produces one file's bytes (sealing it if it is a secret) and writes them to a temporary file
/// beside the target.
fn stage<'a>(
    out_dir: &Path,
    path: &'a RelPath,
    decision: &Decision<'_>,
    sealer: &dyn Sealer,
) -> Result<StagedFile<'a>, StageError> {
    let (bytes, inputs): (std::borrow::Cow<'_, [u8]>, Option<String>) = match decision {
        Decision::Write(bytes) => (std::borrow::Cow::Borrowed(*bytes), None),
        Decision::Seal { sealed, reason } => match sealer.seal(path, sealed) {
            Ok(bytes) => (std::borrow::Cow::Owned(bytes), Some(sealed.inputs.clone())),
            Err(error) => {
                return Err(StageError::Seal(SealFailure {
                    path: path.clone(),
                    reason,
                    error,
                }));
            }
        },
        Decision::Keep(_) | Decision::NotOurs(_) => unreachable!("only changed files are staged"),
    };
    let target = out_dir.join(path.as_str());
    let staged = Staged::new(&target, &bytes).map_err(|e| StageError::Io(e.into()))?;
    Ok(StagedFile {
        path,
        staged,
        record: FileRecord {
            sha256: sha256_hex(&bytes),
            inputs,
        },
    })
}

impl Record {
    fn empty() -> Self {
        Record {
            format: RECORD_FORMAT,
            files: BTreeMap::new(),
        }
    }
}

/// The render record of `out_dir`, or `None` if nothing was rendered there yet.
fn read_record(out_dir: &Path) -> Result<Option<Record>, OutputError> {
    let path = out_dir.join(RECORD_FILE);
    let Some(bytes) = disk::read_if_file(&path)? else {
        return Ok(None);
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
    Ok(Some(record))
}

/// Pretty JSON with sorted keys and a trailing newline: stable, and one line per file in a diff.
fn record_bytes(record: &Record) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
