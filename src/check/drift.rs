//! Drift: what a render would change in a tree on disk, from a render done in memory. Text files
//! compare byte for byte; encrypted files by the render record (their inputs and digests), so
//! no private key is needed and no plaintext is ever shown.

use serde::Serialize;
use similar::TextDiff;

use super::report::Finding;
use super::tree::RenderedTree;
use crate::disk::IoError;
use crate::plan::{self, Decision, Refusal, SealReason, WriteReason};
use crate::render::Tree;
use crate::render::tree::Scope;

/// How a file differs from what a render would write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The render writes different content.
    Modified,
    /// The render writes a file that is not on disk.
    Missing,
    /// On disk, written by an earlier render, no longer rendered: a render removes it (or, edited
    /// since, leaves it).
    Stale,
    /// On disk, not rendered and never written by mesh-render.
    Extra,
}

/// Why a file changes, as the write plan decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Write(WriteReason),
    Seal(SealReason),
    Refuse(Refusal),
    /// No longer rendered, and edited since the render that wrote it: a render leaves it.
    EditedSince,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Write(r) => r.fmt(f),
            Why::Seal(r) => r.fmt(f),
            Why::Refuse(r) => r.fmt(f),
            Why::EditedSince => {
                f.write_str("edited since mesh-render wrote it, so a render leaves it")
            }
        }
    }
}

impl Serialize for Why {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One file that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    pub path: String,
    pub change: Change,
    /// An encrypted file: only whether it changes is shown, never its content.
    pub sealed: bool,
    /// Why an encrypted file changes.
    #[serde(rename = "reason", skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
    #[serde(skip)]
    pub old: Option<String>,
    #[serde(skip)]
    pub new: Option<String>,
}

/// Every file of `disk` that a render of `expected` would change, in path order: the write
/// plan, shown.
pub fn compare(expected: &Tree, disk: &RenderedTree) -> Result<Vec<FileDiff>, IoError> {
    compare_in(expected, disk, &Scope::All)
}

/// [`compare`] for the paths of `scope` only (`disk` holds that part of the tree).
pub fn compare_in(
    expected: &Tree,
    disk: &RenderedTree,
    scope: &Scope,
) -> Result<Vec<FileDiff>, IoError> {
    let planned = plan::plan_in(expected, &disk.record, disk, scope)?;
    let text = |path: &str| {
        disk.files
            .get(path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let mut diffs = Vec::new();
    for (path, decision) in planned {
        let path = path.to_string();
        let on_disk = disk.files.contains_key(&path);
        let was_sealed = || {
            disk.record.get(&path).is_some_and(|r| r.inputs.is_some())
                || super::secrets::is_sops_name(&path)
        };
        let (change, sealed, why, new) = match decision {
            Decision::Keep(_) => continue,
            Decision::Write { text: new, reason } => {
                let change = if on_disk {
                    Change::Modified
                } else {
                    Change::Missing
                };
                (
                    change,
                    false,
                    Some(Why::Write(reason)),
                    Some(new.to_owned()),
                )
            }
            Decision::Seal { reason, .. } => {
                let change = if on_disk {
                    Change::Modified
                } else {
                    Change::Missing
                };
                (change, true, Some(Why::Seal(reason)), None)
            }
            Decision::Refuse(refusal) => {
                let entry = expected.entry(&path);
                let sealed = matches!(entry, Some(crate::render::Entry::Sealed(_)));
                let new = expected.get(&path).map(str::to_owned);
                (Change::Modified, sealed, Some(Why::Refuse(refusal)), new)
            }
            Decision::Remove => (Change::Stale, was_sealed(), None, None),
            Decision::KeepEdited => (Change::Stale, was_sealed(), Some(Why::EditedSince), None),
            Decision::Foreign => (Change::Extra, was_sealed(), None, None),
        };
        let old = if sealed { None } else { text(&path) };
        // A text file's diff shows its content; the reason is for encrypted ones.
        let why = if sealed { why } else { None };
        diffs.push(FileDiff {
            path,
            change,
            sealed,
            why,
            old,
            new,
        });
    }
    Ok(diffs)
}

/// The drift as `check` findings.
pub fn findings(diffs: &[FileDiff], against: &str) -> Vec<Finding> {
    diffs
        .iter()
        .map(|d| {
            let problem = match (d.change, d.why) {
                (Change::Modified, Some(reason)) => format!("differs from a render of {against}: {reason}"),
                (Change::Modified, None) => format!("differs from a render of {against}"),
                (Change::Missing, _) => format!("missing: a render of {against} writes it"),
                (Change::Stale, _) => format!("no longer rendered from {against}: a render removes it"),
                (Change::Extra, _) => format!("not part of a render of {against}"),
            };
            let fix = match d.change {
                Change::Extra => "delete it: out/ holds only what mesh-render renders (keep your own files elsewhere)",
                _ => "run mesh-render and commit the result (never edit rendered files by hand)",
            };
            Finding::error("drift", &d.path, problem, fix)
        })
        .collect()
}

/// A unified diff of every change, for people; encrypted files show as changed, never their
/// content.
pub fn unified(diffs: &[FileDiff]) -> String {
    let mut out = String::new();
    for d in diffs {
        if d.sealed {
            let what = match d.change {
                Change::Modified => format!(
                    "changed ({})",
                    d.why.map(|w| w.to_string()).unwrap_or_default()
                ),
                Change::Missing => match d.why {
                    Some(why @ Why::Seal(SealReason::IntermediatePending)) => {
                        format!("added ({why})")
                    }
                    _ => "added".to_owned(),
                },
                Change::Stale => "removed".to_owned(),
                Change::Extra => "not rendered by mesh-render".to_owned(),
            };
            out.push_str(&format!("encrypted file {}: {what}\n", d.path));
            continue;
        }
        let old = d.old.as_deref().unwrap_or("");
        let new = match d.change {
            Change::Extra => {
                out.push_str(&format!(
                    "file {}: not rendered by mesh-render (a render leaves it alone)\n",
                    d.path
                ));
                continue;
            }
            _ => d.new.as_deref().unwrap_or(""),
        };
        let old_name = if d.old.is_some() {
            format!("a/{}", d.path)
        } else {
            "/dev/null".to_owned()
        };
        let new_name = if d.new.is_some() {
            format!("b/{}", d.path)
        } else {
            "/dev/null".to_owned()
        };
        let diff = TextDiff::from_lines(old, new);
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&old_name, &new_name)
                .to_string(),
        );
        if !old.is_empty() && !old.ends_with('\n') || !new.is_empty() && !new.ends_with('\n') {
            out.push_str("\\ No newline at end of file\n");
        }
    }
    out
}
