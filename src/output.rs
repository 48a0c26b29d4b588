//! Writes a rendered tree into the output directory: decides per file whether to keep, write or
//! seal it (by its bytes, or for a sealed file by the render record), refuses to overwrite what
//! mesh-render did not write, prunes only files an earlier render recorded, and keeps the record.
//! Every change to the disk goes through `disk`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::disk::{self, Blocked, Confined, Content, IoError, Mode, Staged};
use crate::plan::{self, Decision, OnDisk, Refusal, SealReason, Seen};
use crate::record::{FileRecord, GitOpsState, JOURNAL_FILE, RECORD_FILE, Record, Trust};
use crate::render::{RelPath, Sealed, Tree};

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
    #[error("refusing to follow symlinks inside the output directory:\n{}\n  fix: remove each symlink (mesh-render never reads, writes or removes through one) and render again", list(.0))]
    Symlinks(Vec<PathBuf>),
    #[error("the state the encrypted files were made from could not be committed: {0}")]
    Commit(SealerError),
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
    pub reason: SealReason,
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

    /// Called once every file is staged and before anything is put in place: the state the
    /// sealed files were made from (a PKI issued in this run) is committed here, so a render
    /// that fails earlier leaves it unchanged.
    fn commit(&self) -> Result<(), SealerError> {
        Ok(())
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
    /// Whether this write created the tree (there was no render record before).
    pub created: bool,
    /// What changed in the mesh's trust since the tree was last rendered, for the reviewer.
    pub trust_changes: Vec<String>,
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

/// A file written to a temporary name beside its target, not yet renamed into place.
struct StagedFile<'a> {
    path: &'a RelPath,
    staged: Staged,
    record: FileRecord,
}

/// The output directory, read where the plan looks, never through a symlink.
struct Dir<'a>(&'a Confined);

impl OnDisk for Dir<'_> {
    fn look<R>(&self, path: &str, f: impl FnOnce(Seen<'_>) -> R) -> Result<R, IoError> {
        self.0.look(path, |content| match content {
            Content::File(bytes) => f(Seen::File(bytes)),
            Content::NotAFile => f(Seen::Directory),
            Content::Symlink => f(Seen::Symlink),
            Content::Absent => f(Seen::Absent),
        })
    }
}

fn blocked(blocked: Blocked) -> OutputError {
    match blocked {
        Blocked::Symlink(path) => OutputError::Symlinks(vec![path]),
        Blocked::NotADirectory(path) => OutputError::NotOurs(vec![path]),
    }
}

/// What a tree in the output directory records of itself: its render record, and the journal
/// of a commit that was interrupted after its commit point (the tree is then as that journal
/// says, and the next render completes it). Read once by a command, under the tree's lock.
pub struct Recorded {
    record: Option<Record>,
    journal: Option<Record>,
}

impl Recorded {
    /// Whether the record or the journal lists a sealed file named `file_name` in any directory.
    pub fn lists_sealed(&self, file_name: &str) -> bool {
        let suffix = format!("/{file_name}");
        [&self.record, &self.journal]
            .into_iter()
            .flatten()
            .flat_map(|r| &r.files)
            .any(|(path, file)| file.inputs.is_some() && path.ends_with(&suffix))
    }

    /// The GitOps wiring the tree records, if it records one (a tree rendered before format 3
    /// does not), with how many recorded files its wiring holds (those under `flux/` or
    /// `argocd/`). A render stopped after its commit point left its next record as the journal:
    /// the tree is wired as that render wired it.
    pub fn gitops(&self) -> Option<(GitOpsState, usize)> {
        let record = self.journal.as_ref().or(self.record.as_ref())?;
        let state = record.gitops.as_ref()?;
        let dir = format!("{}/", state.target);
        let files = record.files.keys().filter(|p| p.starts_with(&dir)).count();
        Some((state.clone(), files))
    }
}

/// The record and journal of the tree at `out_dir` (neither, if nothing was rendered there).
pub fn recorded(out_dir: &Path) -> Result<Recorded, OutputError> {
    if !out_dir.is_dir() {
        return Ok(Recorded {
            record: None,
            journal: None,
        });
    }
    let confined = Confined::new(out_dir);
    Ok(Recorded {
        record: read_record(&confined, RECORD_FILE)?,
        journal: read_record(&confined, JOURNAL_FILE)?,
    })
}

/// Brings `out_dir` to `tree`: carries out the plan — writes what differs, seals what must be
/// sealed, prunes recorded files no longer rendered — and updates the record. Nothing is
/// replaced if the plan refuses a path (a file in the way was not written by us), or if a
/// secret that must be encrypted cannot be.
///
/// Runs on the current rayon pool: files are compared, sealed and written to temporary files in
/// parallel, one at a time per thread (never the whole tree's ciphertext in memory); then every
/// temporary file is made durable at once and renamed into place.
pub fn write(
    out_dir: &Path,
    tree: &Tree,
    trust: &Trust,
    gitops: Option<&GitOpsState>,
    sealer: &dyn Sealer,
    progress: &dyn Progress,
) -> Result<Summary, OutputError> {
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(OutputError::NotADirectory(out_dir.to_owned()));
    }
    write_recorded(
        out_dir,
        recorded(out_dir)?,
        tree,
        trust,
        gitops,
        sealer,
        progress,
    )
}

/// [`write`], from what the tree recorded when the caller read it ([`recorded`], under the
/// tree's lock), so a render reads its record once.
pub fn write_recorded(
    out_dir: &Path,
    recorded: Recorded,
    tree: &Tree,
    trust: &Trust,
    gitops: Option<&GitOpsState>,
    sealer: &dyn Sealer,
    progress: &dyn Progress,
) -> Result<Summary, OutputError> {
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(OutputError::NotADirectory(out_dir.to_owned()));
    }
    let confined = Confined::new(out_dir);
    let Recorded { record, journal } = recorded;
    let (old, created) = match record {
        Some(record) => (record, false),
        None => (Record::default(), true),
    };
    // An interrupted commit: the files it put in place are ours as its journal names them.
    let old = match &journal {
        Some(journal) => old.reconciled(journal, |path, entry| {
            confined
                .look(path, |c| matches!(c, Content::File(b) if entry.matches(b)))
                .unwrap_or(false)
        }),
        None => old,
    };
    let created = created && journal.is_none();
    let planned = plan::plan(tree, &old, &Dir(&confined))?;
    let refused = |which: fn(&Refusal) -> bool| -> Vec<PathBuf> {
        planned
            .iter()
            .filter(|(_, d)| matches!(d, Decision::Refuse(r) if which(r)))
            .map(|(path, _)| out_dir.join(path.as_str()))
            .collect()
    };
    let symlinks = refused(|r| *r == Refusal::Symlink);
    if !symlinks.is_empty() {
        return Err(OutputError::Symlinks(symlinks));
    }
    let not_ours = refused(|r| *r != Refusal::Symlink);
    if !not_ours.is_empty() {
        return Err(OutputError::NotOurs(not_ours));
    }

    // Stage: produce and write every changed file under a temporary name, in parallel.
    let work: Vec<&(RelPath, Decision<'_>)> = planned
        .iter()
        .filter(|(_, d)| matches!(d, Decision::Write { .. } | Decision::Seal { .. }))
        .collect();
    // Every directory a staged file goes into, made once here rather than checked per file.
    let dirs: std::collections::BTreeSet<&str> =
        work.iter().filter_map(|(path, _)| path.parent()).collect();
    if !out_dir.exists() {
        disk::create_dir_all(out_dir, Mode::Public)?;
    }
    // Until the commit point, a failure takes away the directories made here (after the staged
    // files, which are dropped first).
    let mut undo_dirs = UndoDirs(Some(&confined));
    for dir in dirs {
        confined.make_dirs(dir)?.map_err(blocked)?;
    }
    progress.begin(work.len() as u64);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let staged: Vec<Result<StagedFile<'_>, StageError>> = work
        .par_iter()
        .map(|(path, decision)| {
            let staged = stage(out_dir, path, decision, sealer);
            progress.advance();
            if done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == work.len() / 2 {
                disk::crash_point("staging");
            }
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
    let mut files: Vec<(String, FileRecord)> = Vec::with_capacity(planned.len());
    let mut to_remove = Vec::new();
    for (path, decision) in &planned {
        match decision {
            Decision::Keep(record) => {
                files.push((path.to_string(), record.clone()));
                summary.unchanged += 1;
            }
            Decision::Remove => to_remove.push(path),
            Decision::KeepEdited => summary.kept_edited.push(path.to_string()),
            _ => {}
        }
    }
    files.extend(ok.iter().map(|s| (s.path.to_string(), s.record.clone())));
    let new = Record::new(files.into_iter().collect())
        .with_trust(trust.clone())
        .with_gitops(gitops.cloned());
    summary.trust_changes = match &old.trust {
        Some(was) => trust.changes_from(was),
        None => Vec::new(),
    };

    // Apply: the staged bytes reach the disk before any rename makes them visible; the sealer's
    // state is committed; the next record is journaled; then the renames, the removals, the
    // record, and the journal goes. Killed anywhere, the next run finds either the old tree
    // and no journal, or a journal that names what is ours.
    summary.written = ok.iter().map(|s| s.path.clone()).collect();
    let staged: Vec<Staged> = ok.into_iter().map(|s| s.staged).collect();
    if !staged.is_empty() {
        disk::sync_staged(out_dir, &staged)?;
    }
    disk::crash_point("staged");
    sealer.commit().map_err(OutputError::Commit)?;
    undo_dirs.0 = None;
    let changes = !staged.is_empty() || !to_remove.is_empty() || new != old;
    if changes {
        disk::write_atomic(&out_dir.join(JOURNAL_FILE), &new.to_bytes(), Mode::Public)?;
    }
    let half = staged.len() / 2;
    let mut staged = staged;
    let rest = staged.split_off(half);
    staged.into_par_iter().try_for_each(Staged::commit)?;
    disk::crash_point("renaming");
    rest.into_par_iter().try_for_each(Staged::commit)?;
    for path in to_remove {
        confined.remove_file(path.as_str())?.map_err(blocked)?;
        summary.removed.push(path.to_string());
    }
    disk::crash_point("record");
    if new != old || journal.is_some() {
        disk::write_atomic(&out_dir.join(RECORD_FILE), &new.to_bytes(), Mode::Public)?;
    }
    if changes || journal.is_some() {
        confined.remove_file(JOURNAL_FILE)?.map_err(blocked)?;
    }
    Ok(summary)
}

/// Removes the directories a write made, when dropped armed.
struct UndoDirs<'a>(Option<&'a Confined>);

impl Drop for UndoDirs<'_> {
    fn drop(&mut self) {
        if let Some(confined) = self.0 {
            confined.remove_created_dirs();
        }
    }
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
        Decision::Write { text, .. } => (std::borrow::Cow::Borrowed(text.as_bytes()), None),
        Decision::Seal { sealed, reason } => match seal(path, sealed, sealer) {
            Ok((bytes, inputs)) => (std::borrow::Cow::Owned(bytes), Some(inputs)),
            Err(error) => {
                return Err(StageError::Seal(SealFailure {
                    path: path.clone(),
                    reason: *reason,
                    error,
                }));
            }
        },
        _ => unreachable!("only files to write or seal are staged"),
    };
    let target = out_dir.join(path.as_str());
    let staged = Staged::new(&target, &bytes).map_err(|e| StageError::Io(e.into()))?;
    Ok(StagedFile {
        path,
        staged,
        record: FileRecord::written(path.as_str(), &bytes, inputs),
    })
}

/// A sealed file's bytes and the inputs digest to record with them.
fn seal(
    path: &RelPath,
    sealed: &Sealed,
    sealer: &dyn Sealer,
) -> Result<(Vec<u8>, String), SealerError> {
    let inputs = sealed
        .inputs
        .clone()
        .ok_or("its inputs are not known yet: the PKI must issue its intermediate CA first")?;
    Ok((sealer.seal(path, sealed)?, inputs))
}

/// The render record `name` of `out`, or `None` if nothing was rendered there yet.
fn read_record(out: &Confined, name: &str) -> Result<Option<Record>, OutputError> {
    let Some(bytes) = out.read(name)?.map_err(blocked)? else {
        return Ok(None);
    };
    Record::parse(&bytes)
        .map(Some)
        .map_err(|e| OutputError::BadRecord {
            path: out.root().join(name),
            message: e.0,
        })
}
