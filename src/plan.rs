//! The write plan: for every path of a rendered tree and of the render record, what a render does
//! with it — keep, write, seal, remove, leave, or refuse — and why, as a typed reason. The writer
//! carries it out; `diff` and `check --against` show it. Decided here only, from the tree, the
//! record and what is on disk (read through [`OnDisk`], so the plan itself touches nothing).

use std::fmt;

use rayon::prelude::*;

use crate::digest::sha256_hex;
use crate::disk::IoError;
use crate::record::{FileRecord, Record};
use crate::render::tree::Scope;
use crate::render::{Entry, RelPath, Sealed, Tree};

/// What is at a path of the output directory.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    Absent,
    /// A directory (or anything that is not a regular file).
    Directory,
    /// A symbolic link, at the path or on the way to it: never followed.
    Symlink,
    File(&'a [u8]),
}

/// The output directory as the plan sees it.
pub trait OnDisk: Sync {
    /// Calls `f` with what is at `path`.
    fn look<R>(&self, path: &str, f: impl FnOnce(Seen<'_>) -> R) -> Result<R, IoError>;

    /// Every file known to be there, if the view knows them (a tree read back does; the writer
    /// does not look): the ones neither rendered nor recorded are planned as `Foreign`.
    fn files(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// Why a text file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteReason {
    New,
    Changed,
}

/// Why a sealed file is sealed (again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealReason {
    New,
    /// Its intermediate CA is yet to be issued (planned while inspecting).
    IntermediatePending,
    InputsChanged,
    EditedByHand,
    /// `--refresh-credentials`.
    Refreshed,
}

/// Why a render refuses to write a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A file mesh-render has no record of writing is there.
    NotOurs,
    /// A directory is where the file goes.
    Directory,
    /// A symbolic link is where the file goes, or on the way to it.
    Symlink,
}

/// What a render does with one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'t> {
    /// On disk as rendered (a sealed file: its recorded inputs and bytes match): left byte for
    /// byte, with this record entry.
    Keep(FileRecord),
    Write {
        text: &'t str,
        reason: WriteReason,
    },
    Seal {
        sealed: &'t Sealed,
        reason: SealReason,
    },
    /// In the way and not ours: nothing is written while one is planned.
    Refuse(Refusal),
    /// Written by an earlier render, no longer rendered, unchanged since: removed.
    Remove,
    /// Written by an earlier render, no longer rendered, edited since: left in place.
    KeepEdited,
    /// Neither rendered nor recorded: not mesh-render's, left alone.
    Foreign,
}

impl fmt::Display for WriteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteReason::New => "it is new",
            WriteReason::Changed => "its content changed",
        })
    }
}

impl fmt::Display for SealReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SealReason::New => "it is new",
            SealReason::IntermediatePending => "it is new: its intermediate CA will be issued",
            SealReason::InputsChanged => "its inputs changed",
            SealReason::EditedByHand => "edited by hand since mesh-render wrote it",
            SealReason::Refreshed => "its credentials are read again (--refresh-credentials)",
        })
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotOurs => "it was not written by mesh-render",
            Refusal::Directory => "a directory is where the file goes",
            Refusal::Symlink => "a symlink is where the file goes (never followed)",
        })
    }
}

/// The plan: one decision per path, in path order (rendered paths, then recorded and foreign
/// ones). Rendered files are compared in parallel on the current rayon pool.
pub fn plan<'t, D: OnDisk>(
    tree: &'t Tree,
    record: &Record,
    disk: &D,
) -> Result<Vec<(RelPath, Decision<'t>)>, IoError> {
    plan_in(tree, record, disk, &Scope::All)
}

/// The plan of the paths in `scope` only: what a render would do to one cluster's files (or the
/// shared ones), decided exactly as the whole plan decides them.
pub fn plan_in<'t, D: OnDisk>(
    tree: &'t Tree,
    record: &Record,
    disk: &D,
    scope: &Scope,
) -> Result<Vec<(RelPath, Decision<'t>)>, IoError> {
    let entries: Vec<(&RelPath, &Entry)> = tree.iter_in(scope).collect();
    let mut planned: Vec<(RelPath, Decision<'t>)> = entries
        .par_iter()
        .map(|(path, entry)| {
            let decision = disk.look(path.as_str(), |seen| {
                decide(path.as_str(), entry, record.get(path.as_str()), seen)
            })?;
            Ok(((*path).clone(), decision))
        })
        .collect::<Result<_, IoError>>()?;
    for (path, recorded) in scope.entries(&record.files) {
        let Ok(rel) = RelPath::new(path.as_str()) else {
            continue; // a record entry that is no path inside the tree: never acted on
        };
        if tree.entry(path).is_some() {
            continue;
        }
        let decision = disk.look(path, |seen| match seen {
            Seen::File(bytes) if recorded.matches(bytes) => Some(Decision::Remove),
            Seen::File(_) => Some(Decision::KeepEdited),
            // A recorded path through a symlink is never removed: the link may lead anywhere.
            Seen::Symlink => Some(Decision::Refuse(Refusal::Symlink)),
            Seen::Absent | Seen::Directory => None,
        })?;
        if let Some(decision) = decision {
            planned.push((rel, decision));
        }
    }
    for path in disk.files() {
        if scope.contains(path)
            && tree.entry(path).is_none()
            && record.get(path).is_none()
            && let Ok(rel) = RelPath::new(path)
        {
            planned.push((rel, Decision::Foreign));
        }
    }
    planned.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(planned)
}

/// One rendered file against the record and the disk.
fn decide<'t>(
    path: &str,
    entry: &'t Entry,
    recorded: Option<&FileRecord>,
    seen: Seen<'_>,
) -> Decision<'t> {
    let existing = match seen {
        Seen::Directory => return Decision::Refuse(Refusal::Directory),
        Seen::Symlink => return Decision::Refuse(Refusal::Symlink),
        Seen::Absent => None,
        Seen::File(bytes) => Some(bytes),
    };
    match entry {
        Entry::Text(text) => match existing {
            Some(bytes) if bytes == text.as_bytes() => {
                Decision::Keep(FileRecord::written(path, text.as_bytes(), None))
            }
            Some(_) if recorded.is_none() => Decision::Refuse(Refusal::NotOurs),
            Some(_) => Decision::Write {
                text,
                reason: WriteReason::Changed,
            },
            None => Decision::Write {
                text,
                reason: WriteReason::New,
            },
        },
        Entry::Sealed(sealed) => {
            let reason = match (existing.map(sha256_hex), recorded) {
                (Some(_), None) => return Decision::Refuse(Refusal::NotOurs),
                (None, _) if sealed.inputs.is_none() => SealReason::IntermediatePending,
                (None, _) => SealReason::New,
                (Some(digest), Some(r)) if r.sha256.as_deref() != Some(digest.as_str()) => {
                    SealReason::EditedByHand
                }
                (Some(_), Some(_)) if sealed.inputs.is_none() => SealReason::IntermediatePending,
                (Some(_), Some(r)) if r.inputs != sealed.inputs => SealReason::InputsChanged,
                (Some(_), Some(_)) if sealed.force => SealReason::Refreshed,
                // Unchanged inputs, and the file is the one we wrote: kept byte for byte.
                (Some(_), Some(r)) => return Decision::Keep(r.clone()),
            };
            Decision::Seal { sealed, reason }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::render::Secret;

    /// A disk held in memory.
    struct Files(BTreeMap<String, Vec<u8>>);

    impl OnDisk for Files {
        fn look<R>(&self, path: &str, f: impl FnOnce(Seen<'_>) -> R) -> Result<R, IoError> {
            Ok(f(match self.0.get(path) {
                Some(bytes) if bytes == b"<dir>" => Seen::Directory,
                Some(bytes) => Seen::File(bytes),
                None => Seen::Absent,
            }))
        }

        fn files(&self) -> Vec<&str> {
            self.0.keys().map(String::as_str).collect()
        }
    }

    fn sealed(inputs: Option<&str>) -> Sealed {
        Sealed {
            secret: Secret::CaCerts {
                cluster: crate::config::ClusterName::parse("a").unwrap(),
                namespace: "istio-system".into(),
            },
            recipients: Vec::new().into(),
            encrypted_regex: "^data$",
            inputs: inputs.map(str::to_owned),
            force: false,
        }
    }

    fn record(entries: &[(&str, &[u8], Option<&str>)]) -> Record {
        Record::new(
            entries
                .iter()
                .map(|(p, bytes, inputs)| {
                    (
                        (*p).to_owned(),
                        FileRecord {
                            sha256: Some(sha256_hex(bytes)),
                            inputs: inputs.map(str::to_owned),
                        },
                    )
                })
                .collect(),
        )
    }

    fn disk(entries: &[(&str, &[u8])]) -> Files {
        Files(
            entries
                .iter()
                .map(|(p, b)| ((*p).to_owned(), b.to_vec()))
                .collect(),
        )
    }

    fn decisions<'p, 't>(planned: &'p [(RelPath, Decision<'t>)]) -> Vec<(&'p str, Decision<'t>)> {
        planned
            .iter()
            .map(|(p, d)| (p.as_str(), d.clone()))
            .collect()
    }

    #[test]
    fn a_text_file_is_kept_written_or_refused() {
        let mut tree = Tree::new();
        for p in ["same", "changed", "new", "theirs", "dir"] {
            tree.insert(RelPath::new(p).unwrap(), "text").unwrap();
        }
        let rec = record(&[("same", b"text\n", None), ("changed", b"old\n", None)]);
        let on_disk = disk(&[
            ("same", b"text\n"),
            ("changed", b"old\n"),
            ("theirs", b"mine\n"),
            ("dir", b"<dir>"),
        ]);
        let planned = plan(&tree, &rec, &on_disk).unwrap();
        let got: Vec<String> = decisions(&planned)
            .iter()
            .map(|(p, d)| {
                format!(
                    "{p}: {}",
                    match d {
                        Decision::Keep(_) => "keep".to_owned(),
                        Decision::Write { reason, .. } => format!("write ({reason})"),
                        Decision::Refuse(r) => format!("refuse ({r})"),
                        other => format!("{other:?}"),
                    }
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "changed: write (its content changed)",
                "dir: refuse (a directory is where the file goes)",
                "new: write (it is new)",
                "same: keep",
                "theirs: refuse (it was not written by mesh-render)",
            ]
        );
    }

    /// (planned inputs, bytes on disk, recorded inputs, the reason to seal; `None`: kept).
    type Case = (
        Option<&'static str>,
        Option<&'static [u8]>,
        Option<&'static str>,
        Option<SealReason>,
    );

    #[test]
    fn a_sealed_file_is_kept_only_while_its_inputs_and_bytes_are_as_recorded() {
        let cases: [Case; 6] = [
            (Some("i"), Some(b"ct"), Some("i"), None),
            (
                Some("j"),
                Some(b"ct"),
                Some("i"),
                Some(SealReason::InputsChanged),
            ),
            (
                Some("i"),
                Some(b"edited"),
                Some("i"),
                Some(SealReason::EditedByHand),
            ),
            (Some("i"), None, None, Some(SealReason::New)),
            (None, None, None, Some(SealReason::IntermediatePending)),
            (
                None,
                Some(b"ct"),
                Some("i"),
                Some(SealReason::IntermediatePending),
            ),
        ];
        for (inputs, on_disk, recorded, want) in cases {
            let mut tree = Tree::new();
            let s = sealed(inputs);
            tree.insert_sealed(RelPath::new("s").unwrap(), s).unwrap();
            let rec = match recorded {
                Some(r) => record(&[("s", b"ct", Some(r))]),
                None => Record::default(),
            };
            let files = match on_disk {
                Some(bytes) => disk(&[("s", bytes)]),
                None => disk(&[]),
            };
            let planned = plan(&tree, &rec, &files).unwrap();
            let got = match &planned[0].1 {
                Decision::Keep(_) => None,
                Decision::Seal { reason, .. } => Some(*reason),
                other => panic!("{other:?}"),
            };
            assert_eq!(got, want, "{inputs:?} {on_disk:?} {recorded:?}");
        }
    }

    #[test]
    fn a_sealed_file_with_no_record_is_refused() {
        let mut tree = Tree::new();
        tree.insert_sealed(RelPath::new("s").unwrap(), sealed(Some("i")))
            .unwrap();
        let planned = plan(&tree, &Record::default(), &disk(&[("s", b"x")])).unwrap();
        assert_eq!(planned[0].1, Decision::Refuse(Refusal::NotOurs));
    }

    #[test]
    fn files_no_longer_rendered_are_removed_unless_edited_and_foreign_ones_are_left() {
        let tree = Tree::new();
        let rec = record(&[
            ("old", b"o", None),
            ("edited", b"e", None),
            ("gone", b"g", None),
        ]);
        let on_disk = disk(&[("old", b"o"), ("edited", b"changed"), ("mine", b"m")]);
        let planned = plan(&tree, &rec, &on_disk).unwrap();
        assert_eq!(
            decisions(&planned),
            [
                ("edited", Decision::KeepEdited),
                ("mine", Decision::Foreign),
                ("old", Decision::Remove),
            ]
        );
    }

    #[test]
    fn a_record_entry_outside_the_tree_is_never_acted_on() {
        let rec = record(&[("../victim", b"v", None), ("/etc/x", b"v", None)]);
        let on_disk = disk(&[("../victim", b"v"), ("/etc/x", b"v")]);
        assert!(plan(&Tree::new(), &rec, &on_disk).unwrap().is_empty());
    }
}
