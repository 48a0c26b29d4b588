//! Changes to `pki/` as one transaction. Every change a command makes — a CA issued, renewed,
//! retired, a rotation stage — is first made in memory, over the files on disk (reads see the
//! change, nothing is written), and the CAs issued are kept with their keys so the sealer uses
//! them without decrypting anything. Committing stages the new files, writes a journal of the
//! renames (`pki/.pki-journal.json`, the one commit point), carries them out and removes the
//! journal. Every step after the commit point names the digest of the bytes it moves or removes,
//! so carrying it out again changes nothing (a path a later step filled is not moved twice): a
//! later command that finds the journal finishes it; a command that failed before it left
//! `pki/` as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::digest::sha256_hex;
use crate::disk::{self, IoError, Mode, Staged};

/// The journal's name inside `pki/`.
pub const JOURNAL: &str = ".pki-journal.json";

/// One step of a committed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Step {
    /// `from` (a staged file, or a state file) becomes `to`, if `from` holds these bytes.
    Rename {
        from: PathBuf,
        to: PathBuf,
        sha256: String,
    },
    /// `path` goes, if it holds these bytes.
    Remove { path: PathBuf, sha256: String },
}

/// A change made in memory.
#[derive(Debug, Clone)]
enum Change {
    Write {
        path: PathBuf,
        bytes: Arc<Vec<u8>>,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        sha256: String,
    },
    Remove {
        path: PathBuf,
        sha256: String,
    },
}

#[derive(Debug, Default)]
struct Inner {
    /// What each changed path holds now (`None`: nothing).
    files: BTreeMap<PathBuf, Option<Arc<Vec<u8>>>>,
    changes: Vec<Change>,
    /// CAs issued in this run, with their keys, by the state file that will hold them.
    issued: BTreeMap<PathBuf, (String, Zeroizing<String>)>,
}

/// The pending change of one PKI directory, shared by every handle on it.
#[derive(Debug, Clone, Default)]
pub struct Txn(Arc<Mutex<Inner>>);

impl Txn {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bytes at `path` as the change sees them.
    pub fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, IoError> {
        if let Some(now) = self.inner().files.get(path) {
            return Ok(now.as_ref().map(|b| b.to_vec()));
        }
        disk::read_optional(path)
    }

    pub fn exists(&self, path: &Path) -> bool {
        match self.inner().files.get(path) {
            Some(now) => now.is_some(),
            None => std::fs::symlink_metadata(path).is_ok(),
        }
    }

    /// The files of `dir` as the change sees them.
    pub fn list(&self, dir: &Path) -> Result<Vec<PathBuf>, IoError> {
        let mut found: std::collections::BTreeSet<PathBuf> =
            disk::list_dir(dir)?.into_iter().collect();
        for (path, now) in &self.inner().files {
            if path.parent() == Some(dir) {
                match now {
                    Some(_) => found.insert(path.clone()),
                    None => found.remove(path),
                };
            }
        }
        Ok(found.into_iter().collect())
    }

    pub fn write(&self, path: &Path, bytes: Vec<u8>) {
        let bytes = Arc::new(bytes);
        let mut inner = self.inner();
        inner
            .files
            .insert(path.to_owned(), Some(Arc::clone(&bytes)));
        inner.changes.push(Change::Write {
            path: path.to_owned(),
            bytes,
        });
    }

    pub fn rename(&self, from: &Path, to: &Path) -> Result<(), IoError> {
        let bytes = self
            .read(from)?
            .ok_or_else(|| IoError::read(from)(std::io::ErrorKind::NotFound.into()))?;
        let sha256 = sha256_hex(&bytes);
        let mut inner = self.inner();
        inner.files.insert(to.to_owned(), Some(Arc::new(bytes)));
        inner.files.insert(from.to_owned(), None);
        if let Some(ca) = inner.issued.remove(from) {
            inner.issued.insert(to.to_owned(), ca);
        }
        inner.changes.push(Change::Rename {
            from: from.to_owned(),
            to: to.to_owned(),
            sha256,
        });
        Ok(())
    }

    /// Removes `path` (nothing, if it holds nothing).
    pub fn remove(&self, path: &Path) -> Result<(), IoError> {
        let Some(bytes) = self.read(path)? else {
            return Ok(());
        };
        let mut inner = self.inner();
        inner.files.insert(path.to_owned(), None);
        inner.issued.remove(path);
        inner.changes.push(Change::Remove {
            path: path.to_owned(),
            sha256: sha256_hex(&bytes),
        });
        Ok(())
    }

    /// Keeps the certificate and key of a CA issued into `path`, for the sealer.
    pub fn remember(&self, path: &Path, cert_pem: &str, key_pem: &str) {
        self.inner().issued.insert(
            path.to_owned(),
            (cert_pem.to_owned(), Zeroizing::new(key_pem.to_owned())),
        );
    }

    /// The certificate and key of a CA this run issued into `path`.
    pub fn issued(&self, path: &Path) -> Option<(String, Zeroizing<String>)> {
        self.inner().issued.get(path).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.inner().changes.is_empty()
    }

    /// Commits the change in `pki`: new files staged beside their targets, the journal written
    /// (the commit point), every step carried out, the journal removed. Committed, the change is
    /// gone from memory (its CAs too: they are on disk now).
    pub fn commit(&self, pki: &Path) -> Result<(), IoError> {
        let changes = std::mem::take(&mut self.inner().changes);
        if changes.is_empty() {
            return Ok(());
        }
        let mut steps = Vec::with_capacity(changes.len());
        let mut made = Vec::new();
        let staged = stage(pki, changes, &mut steps, &mut made).and_then(|()| {
            disk::crash_point("pki-staged");
            // Every staged file is durable before the journal names it.
            disk::sync_fs(pki)?;
            let text = serde_json::to_vec_pretty(&steps).unwrap_or_default();
            disk::write_atomic(&pki.join(JOURNAL), &text, Mode::Public)
        });
        if let Err(e) = staged {
            // Before the commit point: what was staged goes, and `pki/` is as it was.
            for step in &steps {
                if let Step::Rename { from, .. } = step
                    && disk::is_temporary(from)
                {
                    let _ = disk::remove_file(from);
                }
            }
            for dir in made.iter().rev() {
                disk::remove_dir_if_empty(dir);
            }
            return Err(e);
        }
        disk::crash_point("pki-commit");
        apply(pki, &steps)?;
        let mut inner = self.inner();
        inner.files.clear();
        inner.issued.clear();
        Ok(())
    }

    /// A transaction whose reads see the journal an interrupted commit left carried out, without
    /// carrying it out (to inspect); `None` without a journal.
    pub fn pending_journal(pki: &Path) -> Result<Option<Txn>, IoError> {
        let Some(steps) = read_journal(pki)? else {
            return Ok(None);
        };
        let txn = Txn::default();
        let holds = |path: &Path, sha256: &str| -> Result<bool, IoError> {
            Ok(txn.read(path)?.is_some_and(|b| sha256_hex(&b) == sha256))
        };
        for step in &steps {
            match step {
                Step::Rename { from, to, sha256 } if holds(from, sha256)? => {
                    txn.rename(from, to)?
                }
                Step::Remove { path, sha256 } if holds(path, sha256)? => txn.remove(path)?,
                _ => {}
            }
        }
        txn.inner().changes.clear();
        Ok(Some(txn))
    }
}

/// Stages every written file beside its target, makes every directory a step moves a file
/// into, and turns each change into its step: whatever the change needs of the file system (an
/// inode, a block) is taken before its commit point, so the steps after it only rename and
/// remove. `made` gets the directories it created, parents first.
fn stage(
    pki: &Path,
    changes: Vec<Change>,
    steps: &mut Vec<Step>,
    made: &mut Vec<PathBuf>,
) -> Result<(), IoError> {
    let mut make_dir = |dir: &Path| -> Result<(), IoError> {
        let mut missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| *d != pki && std::fs::symlink_metadata(d).is_err())
            .map(Path::to_owned)
            .collect();
        disk::create_dir_all(dir, Mode::Public)?;
        missing.reverse();
        made.extend(missing);
        Ok(())
    };
    for change in changes {
        if let Change::Rename { to, .. } = &change {
            make_dir(to.parent().unwrap_or(pki))?;
        }
        match change {
            Change::Write { path, bytes } => {
                make_dir(path.parent().unwrap_or(pki))?;
                let staged = Staged::new(&path, &bytes)?;
                steps.push(Step::Rename {
                    from: staged.keep()?,
                    to: path,
                    sha256: sha256_hex(&bytes),
                });
            }
            Change::Rename { from, to, sha256 } => steps.push(Step::Rename { from, to, sha256 }),
            Change::Remove { path, sha256 } => steps.push(Step::Remove { path, sha256 }),
        }
    }
    Ok(())
}

fn read_journal(pki: &Path) -> Result<Option<Vec<Step>>, IoError> {
    let journal = pki.join(JOURNAL);
    let Some(bytes) = disk::read_optional(&journal)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        IoError::read(&journal)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })
}

/// Finishes a commit a command was interrupted in, if `pki` holds its journal; `true` if it did.
pub fn recover(pki: &Path) -> Result<bool, IoError> {
    let Some(steps) = read_journal(pki)? else {
        return Ok(false);
    };
    apply(pki, &steps)?;
    Ok(true)
}

/// Carries out the steps, each idempotently, then removes the journal and the directories the
/// change emptied.
fn apply(pki: &Path, steps: &[Step]) -> Result<(), IoError> {
    let holds = |path: &Path, sha256: &str| -> Result<bool, IoError> {
        Ok(disk::read_optional(path)?.is_some_and(|b| sha256_hex(&b) == *sha256))
    };
    let mut touched = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Rename { from, to, sha256 } => {
                if holds(from, sha256)? {
                    if let Some(dir) = to.parent() {
                        disk::create_dir_all(dir, Mode::Public)?;
                    }
                    disk::rename(from, to)?;
                } else if !holds(to, sha256)? {
                    // Neither moved nor there to move: the change cannot be completed as it was
                    // committed. The journal stays; nothing is redone silently.
                    return Err(IoError::read(from)(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "{} names it, to become {}, and it is gone: restore pki/ from git (the journal lists the change), then remove the journal",
                            JOURNAL,
                            to.display()
                        ),
                    )));
                }
                touched.push(from.clone());
            }
            Step::Remove { path, sha256 } => {
                if holds(path, sha256)? {
                    disk::remove_file(path)?;
                }
                touched.push(path.clone());
            }
        }
        if i == steps.len() / 2 {
            disk::crash_point("pki-applying");
        }
    }
    disk::remove_file(&pki.join(JOURNAL))?;
    for path in touched {
        disk::remove_empty_parents(pki, &path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_the_change_and_the_disk_does_not_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path();
        std::fs::write(pki.join("old.yaml"), "old").unwrap();
        let txn = Txn::default();
        txn.write(&pki.join("new/a.yaml"), b"a".to_vec());
        txn.rename(&pki.join("old.yaml"), &pki.join("retired/old.yaml"))
            .unwrap();
        assert_eq!(
            txn.read(&pki.join("new/a.yaml")).unwrap(),
            Some(b"a".to_vec())
        );
        assert_eq!(txn.read(&pki.join("old.yaml")).unwrap(), None);
        assert!(pki.join("old.yaml").is_file() && !pki.join("new").exists());
        txn.commit(pki).unwrap();
        assert_eq!(std::fs::read(pki.join("new/a.yaml")).unwrap(), b"a");
        assert_eq!(std::fs::read(pki.join("retired/old.yaml")).unwrap(), b"old");
        assert!(!pki.join("old.yaml").exists() && !pki.join(JOURNAL).exists());
    }

    #[test]
    fn a_journal_is_finished_by_whoever_finds_it_and_finishing_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path();
        std::fs::write(pki.join("a"), "a").unwrap();
        std::fs::write(pki.join("gone"), "g").unwrap();
        let steps = vec![
            Step::Rename {
                from: pki.join("a"),
                to: pki.join("b/a"),
                sha256: sha256_hex(b"a"),
            },
            Step::Remove {
                path: pki.join("gone"),
                sha256: sha256_hex(b"g"),
            },
        ];
        std::fs::write(pki.join(JOURNAL), serde_json::to_vec(&steps).unwrap()).unwrap();
        let pending = Txn::pending_journal(pki).unwrap().unwrap();
        assert_eq!(pending.read(&pki.join("b/a")).unwrap(), Some(b"a".to_vec()));
        assert!(pki.join("a").exists(), "inspecting changes nothing");
        assert!(recover(pki).unwrap());
        assert_eq!(std::fs::read(pki.join("b/a")).unwrap(), b"a");
        assert!(!pki.join("gone").exists() && !pki.join(JOURNAL).exists());
        assert!(!recover(pki).unwrap());
    }

    #[test]
    fn finishing_a_journal_again_does_not_move_a_file_a_later_step_put_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path();
        std::fs::write(pki.join("current"), "old").unwrap();
        std::fs::write(pki.join("next"), "new").unwrap();
        let txn = Txn::default();
        txn.rename(&pki.join("current"), &pki.join("retired/current"))
            .unwrap();
        txn.rename(&pki.join("next"), &pki.join("current")).unwrap();
        txn.commit(pki).unwrap();
        // A journal left behind by a crash after its last step is carried out once more.
        let steps = vec![
            Step::Rename {
                from: pki.join("current"),
                to: pki.join("retired/current"),
                sha256: sha256_hex(b"old"),
            },
            Step::Rename {
                from: pki.join("next"),
                to: pki.join("current"),
                sha256: sha256_hex(b"new"),
            },
        ];
        std::fs::write(pki.join(JOURNAL), serde_json::to_vec(&steps).unwrap()).unwrap();
        assert!(recover(pki).unwrap());
        assert_eq!(std::fs::read(pki.join("current")).unwrap(), b"new");
        assert_eq!(std::fs::read(pki.join("retired/current")).unwrap(), b"old");
    }

    #[test]
    fn a_journal_whose_staged_file_is_gone_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path();
        let steps = vec![Step::Rename {
            from: pki.join(".mesh-render-gone.tmp"),
            to: pki.join("intermediates/c31.yaml"),
            sha256: sha256_hex(b"c31"),
        }];
        std::fs::write(pki.join(JOURNAL), serde_json::to_vec(&steps).unwrap()).unwrap();
        let err = recover(pki).unwrap_err();
        assert!(err.to_string().contains("it is gone"), "{err}");
        assert!(pki.join(JOURNAL).is_file(), "the journal stays");
        assert!(!pki.join("intermediates/c31.yaml").exists());
    }
}
