//! Drift: what a render would change in a tree on disk, from a render done in memory. Text files
//! compare byte for byte; encrypted files by the render record (their inputs and digests), so
//! no private key is needed and no plaintext is ever shown.

use std::collections::BTreeSet;

use serde::Serialize;
use similar::TextDiff;

use super::report::Finding;
use super::tree::RenderedTree;
use crate::digest::sha256_hex;
use crate::render::{Entry, Tree};

/// How a file differs from what a render would write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The render writes different content.
    Modified,
    /// The render writes a file that is not on disk.
    Missing,
    /// On disk, written by an earlier render, no longer rendered: a render removes it.
    Stale,
    /// On disk, not rendered and never written by mesh-render.
    Extra,
}

/// One file that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    pub path: String,
    pub change: Change,
    /// An encrypted file: only whether it changes is shown, never its content.
    pub sealed: bool,
    /// Why an encrypted file changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip)]
    pub old: Option<String>,
    #[serde(skip)]
    pub new: Option<String>,
}

/// Every file of `disk` that a render of `expected` would change, in path order.
pub fn compare(expected: &Tree, disk: &RenderedTree) -> Vec<FileDiff> {
    let mut diffs = Vec::new();
    let mut rendered = BTreeSet::new();
    for (path, entry) in expected.iter() {
        let path = path.as_str();
        rendered.insert(path);
        let on_disk = disk.files.get(path);
        match entry {
            Entry::Text(text) => {
                let change = match on_disk {
                    None => Change::Missing,
                    Some(bytes) if bytes.as_slice() == text.as_bytes() => continue,
                    Some(_) => Change::Modified,
                };
                diffs.push(FileDiff {
                    path: path.to_owned(),
                    change,
                    sealed: false,
                    reason: None,
                    old: on_disk.map(|b| String::from_utf8_lossy(b).into_owned()),
                    new: Some(text.clone()),
                });
            }
            Entry::Sealed(sealed) => {
                let recorded = disk.record.get(path);
                let (change, reason) = match (on_disk, recorded) {
                    (None, _) => (Change::Missing, "it is new"),
                    (Some(_), None) => (Change::Modified, "it was not written by mesh-render"),
                    (Some(bytes), Some(r)) if sha256_hex(bytes) != r.sha256 => (
                        Change::Modified,
                        "edited by hand since mesh-render wrote it",
                    ),
                    (Some(_), Some(r)) if r.inputs.as_deref() != Some(sealed.inputs.as_str()) => {
                        (Change::Modified, "its inputs changed")
                    }
                    (Some(_), Some(_)) => continue,
                };
                diffs.push(FileDiff {
                    path: path.to_owned(),
                    change,
                    sealed: true,
                    reason: Some(reason),
                    old: None,
                    new: None,
                });
            }
        }
    }
    for (path, bytes) in &disk.files {
        if rendered.contains(path.as_str()) {
            continue;
        }
        let recorded = disk.record.get(path);
        let sealed =
            recorded.is_some_and(|r| r.inputs.is_some()) || super::secrets::is_sops_name(path);
        diffs.push(FileDiff {
            path: path.clone(),
            change: if recorded.is_some() {
                Change::Stale
            } else {
                Change::Extra
            },
            sealed,
            reason: None,
            old: (!sealed).then(|| String::from_utf8_lossy(bytes).into_owned()),
            new: None,
        });
    }
    diffs.sort_by(|a, b| a.path.cmp(&b.path));
    diffs
}

/// The drift as `check` findings.
pub fn findings(diffs: &[FileDiff], against: &str) -> Vec<Finding> {
    diffs
        .iter()
        .map(|d| {
            let problem = match (d.change, d.reason) {
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
                Change::Modified => format!("changed ({})", d.reason.unwrap_or("")),
                Change::Missing => "added".to_owned(),
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
