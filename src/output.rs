//! Writes a rendered tree into the output directory: unchanged files are left alone, changed ones
//! are replaced atomically, and only files an earlier render recorded are ever pruned.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
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
pub trait Sealer: Sync {
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
struct Staged<'a> {
    path: &'a RelPath,
    target: PathBuf,
    temp: tempfile::TempPath,
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
    let old = read_record(out_dir)?;

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
        fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    progress.begin(work.len() as u64);
    let staged: Vec<Result<Staged<'_>, StageError>> = work
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
    let mut summary = Summary::default();
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
        match read_if_file(&target).map_err(io_error(&target))? {
            Some(bytes) if sha256_hex(&bytes) == recorded.sha256 => {
                to_remove.push((path.clone(), target))
            }
            Some(_) => summary.kept_edited.push(path.clone()),
            None => {}
        }
    }

    // Apply: the staged bytes reach the disk before any rename makes them visible.
    if !ok.is_empty() {
        sync_tree(out_dir, &ok)?;
    }
    summary.written = ok.iter().map(|s| s.path.clone()).collect();
    ok.into_par_iter().try_for_each(|s| {
        s.temp.persist(&s.target).map_err(|e| OutputError::Io {
            path: s.target.clone(),
            source: e.error,
        })
    })?;
    for (path, target) in to_remove {
        fs::remove_file(&target).map_err(io_error(&target))?;
        remove_empty_parents(out_dir, &target);
        summary.removed.push(path);
    }
    if new != old {
        let record_path = out_dir.join(RECORD_FILE);
        write_atomic(&record_path, &record_bytes(&new))?;
    }
    Ok(summary)
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Compares one rendered file with the disk and the record.
fn decide<'a>(
    out_dir: &Path,
    path: &RelPath,
    entry: &'a Entry,
    recorded: Option<&FileRecord>,
) -> Result<Decision<'a>, OutputError> {
    let target = out_dir.join(path.as_str());
    with_file_bytes(&target, |existing| {
        decide_on(&target, entry, recorded, existing)
    })
    .map_err(io_error(&target))?
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
) -> Result<Staged<'a>, StageError> {
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
    let temp = write_temp(&target, &bytes).map_err(StageError::Io)?;
    Ok(Staged {
        path,
        target,
        temp,
        record: FileRecord {
            sha256: sha256_hex(&bytes),
            inputs,
        },
    })
}

/// Writes `bytes` to a new temporary file in the target's directory (which exists), not synced.
/// Created with mode 0644 less the umask, as any file a user's tools write.
fn write_temp(target: &Path, bytes: &[u8]) -> Result<tempfile::TempPath, OutputError> {
    let io_err = io_error(target);
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mesh-render-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(&io_err)?;
    tmp.write_all(bytes).map_err(&io_err)?;
    Ok(tmp.into_temp_path())
}

/// Makes every staged file durable: one `syncfs` of the output's file system on Linux, an
/// `fsync` per file elsewhere.
fn sync_tree(out_dir: &Path, staged: &[Staged<'_>]) -> Result<(), OutputError> {
    #[cfg(target_os = "linux")]
    {
        let _ = staged;
        let dir = fs::File::open(out_dir).map_err(io_error(out_dir))?;
        rustix::fs::syncfs(&dir).map_err(|e| OutputError::Io {
            path: out_dir.to_owned(),
            source: e.into(),
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = out_dir;
        for s in staged {
            fs::File::open(&s.temp)
                .and_then(|f| f.sync_all())
                .map_err(io_error(&s.target))?;
        }
        Ok(())
    }
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
    format!("{:x}", Sha256::digest(bytes))
}

/// Calls `f` with the file's bytes, or `None` if nothing (or a directory) is there. The bytes
/// are read into a buffer each thread keeps: a no-op render reads every file of the tree, and
/// neither a size query nor an allocation per file is needed to compare them.
fn with_file_bytes<R>(path: &Path, f: impl FnOnce(Option<&[u8]>) -> R) -> io::Result<R> {
    use std::cell::RefCell;
    use std::io::Read;
    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(f(None)),
        Err(_) if path.is_dir() => return Ok(f(None)),
        Err(e) => return Err(e),
    };
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let mut len = 0;
        loop {
            if len == buffer.len() {
                let grown = (buffer.len() * 2).max(64 * 1024);
                buffer.resize(grown, 0);
            }
            match file.read(&mut buffer[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::IsADirectory => return Ok(f(None)),
                Err(e) => return Err(e),
            }
        }
        Ok(f(Some(&buffer[..len])))
    })
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
