//! The render record (`.render-record.json`), committed with the output: every file mesh-render
//! wrote, with the SHA-256 of its bytes and, for a sealed file, the digest of the inputs it was
//! sealed from; the mesh's trust as it was rendered (who can decrypt what, which API servers
//! the remote secrets reach), so the next render and `diff` name what changed in it first; and
//! the GitOps wiring it was rendered with, so a later render, `check` and `diff` keep it. Read
//! and validated here only, for the writer and for `check` alike.
//!
//! Written one line per file and per cluster, sorted, with a blank line between them, so two
//! changes to different files or clusters touch different lines, never adjacent ones, and git
//! merges them without conflict.
//!
//! Forward-compatible: every format ever written is read, and the next render rewrites it in the
//! current one. A record of a newer format than this release writes is refused (a downgrade
//! would drop what it does not know).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The record's file name, at the root of the output directory.
pub const RECORD_FILE: &str = ".render-record.json";

/// The journal's file name: the next record, written before a render renames anything into
/// place and removed once the record is written. Found by a later run, it means a render was
/// interrupted mid-commit.
pub const JOURNAL_FILE: &str = ".render-journal.json";

/// The format this release writes (2 adds `trust`; 3 adds `gitops` and one line per entry).
pub const FORMAT: u32 = 3;

/// Every file mesh-render wrote into a tree.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Record {
    format: u32,
    pub files: BTreeMap<String, FileRecord>,
    /// The mesh's trust when this tree was rendered (none in a format-1 record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
    /// The GitOps wiring the tree was rendered with (none before format 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitops: Option<GitOpsState>,
}

fn newer(format: u32) -> BadRecord {
    BadRecord(format!(
        "format {format} is newer than the format {FORMAT} this mesh-render writes: render with the release that wrote it, or a later one"
    ))
}

/// The GitOps wiring of a rendered tree: the target it was rendered for, mesh.yaml's
/// `gitops.target` as it was then (so a changed description is told from a forgotten
/// `--target`), and the repository path its wiring points at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GitOpsState {
    /// `none`, `flux` or `argocd`: what the tree is wired for.
    pub target: String,
    /// mesh.yaml's `gitops.target` (`none` when it sets none).
    pub declared: String,
    /// `gitops.repository.path` the wiring points at (with a target other than `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// What the security of a rendered mesh rests on, none of it secret: the recipients every sealed
/// file is encrypted to, and for each cluster the GitOps recipient that can also decrypt its
/// secrets and what the other clusters' istiods are told to trust of it.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Trust {
    pub admins: Vec<String>,
    pub clusters: BTreeMap<String, ClusterTrust>,
}

/// One cluster's part of the mesh's trust.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterTrust {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitops_recipient: Option<String>,
    /// The API server its remote secrets reach (as mesh.yaml states it), or where the credential
    /// is read from (`kubeconfig <file> context <name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server: Option<String>,
    /// SHA-256 of the API server's CA data (mesh.yaml's caData).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_data: Option<String>,
}

impl Trust {
    /// What changed from `old` to `self`, one line each, for a reviewer: admins and GitOps
    /// recipients added or removed, API servers and CA data changed. Clusters added or removed
    /// are not listed (the rest of the summary says so).
    pub fn changes_from(&self, old: &Trust) -> Vec<String> {
        let mut lines = Vec::new();
        for added in self.admins.iter().filter(|a| !old.admins.contains(a)) {
            lines.push(format!(
                "admin recipient added: {added} can now decrypt every sealed file and the PKI"
            ));
        }
        for removed in old.admins.iter().filter(|a| !self.admins.contains(a)) {
            lines.push(format!("admin recipient removed: {removed}"));
        }
        for (cluster, new) in &self.clusters {
            let Some(was) = old.clusters.get(cluster) else {
                continue;
            };
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
            if new.gitops_recipient != was.gitops_recipient {
                lines.push(format!(
                    "GitOps recipient of {cluster} changed: {} -> {} (it decrypts {cluster}'s secrets)",
                    show(&was.gitops_recipient),
                    show(&new.gitops_recipient)
                ));
            }
            if new.api_server != was.api_server {
                lines.push(format!(
                    "API server of {cluster} changed: {} -> {} (every other cluster's istiod connects there)",
                    show(&was.api_server),
                    show(&new.api_server)
                ));
            }
            if new.ca_data != was.ca_data {
                lines.push(format!(
                    "CA data of {cluster} changed: {} -> {} (the CA every other istiod trusts for its API server)",
                    show(&was.ca_data),
                    show(&new.ca_data)
                ));
            }
        }
        lines
    }
}

/// One written file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Lowercase hex SHA-256 of the bytes written; none for [`UNHASHED`] (the top README, a
    /// summary of the whole mesh that every change rewrites: with a digest, any two pull
    /// requests would conflict on its line, while git merges the README's own rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// For a sealed file: the digest of the inputs its plaintext came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
}

/// The files recorded without a digest: always rendered, so never removed, always rewritten.
pub const UNHASHED: &[&str] = &["README.md"];

impl FileRecord {
    /// The entry of `bytes` written at `path` (with `inputs` for a sealed file).
    pub fn written(path: &str, bytes: &[u8], inputs: Option<String>) -> Self {
        FileRecord {
            sha256: (!UNHASHED.contains(&path)).then(|| crate::digest::sha256_hex(bytes)),
            inputs,
        }
    }

    /// Whether `bytes` are what was written (a file recorded without a digest: always).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        self.sha256
            .as_deref()
            .is_none_or(|d| d == crate::digest::sha256_hex(bytes))
    }
}

/// A record that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRecord(pub String);

impl Record {
    /// A record of `files`, in the current format.
    pub fn new(files: BTreeMap<String, FileRecord>) -> Self {
        Record {
            format: FORMAT,
            files,
            trust: None,
            gitops: None,
        }
    }

    /// This record with the tree's GitOps wiring.
    pub fn with_gitops(mut self, gitops: Option<GitOpsState>) -> Self {
        self.gitops = gitops;
        self
    }

    /// This record with the mesh's trust.
    pub fn with_trust(mut self, trust: Trust) -> Self {
        self.trust = Some(trust);
        self
    }

    /// Reads a record of any format this release knows.
    pub fn parse(bytes: &[u8]) -> Result<Self, BadRecord> {
        // One pass over a fleet's record (tens of thousands of lines); the format is looked at
        // on its own only to explain a record that does not read.
        match serde_json::from_slice::<Record>(bytes) {
            Ok(record) if (1..=FORMAT).contains(&record.format) => Ok(record),
            Ok(record) => Err(newer(record.format)),
            Err(e) => Err(match Self::format_of(bytes) {
                Some(format) if format > FORMAT => newer(format),
                _ => BadRecord(e.to_string()),
            }),
        }
    }

    /// The `format` of a record, read without keeping anything else.
    fn format_of(bytes: &[u8]) -> Option<u32> {
        #[derive(Deserialize)]
        struct Header {
            format: u32,
        }
        serde_json::from_slice::<Header>(bytes)
            .ok()
            .map(|h| h.format)
    }

    /// JSON laid out one line per file, per cluster of the trust and per other field, keys
    /// sorted, with a trailing newline: stable, and a change to one file or cluster is a change
    /// to its line alone.
    pub fn to_bytes(&self) -> Vec<u8> {
        fn line<T: Serialize>(value: &T) -> String {
            serde_json::to_string(value).unwrap_or_default()
        }
        /// `"key": value` lines of a map, indented, comma-separated.
        fn entries<'a>(
            out: &mut String,
            indent: &str,
            items: impl ExactSizeIterator<Item = (&'a String, String)>,
        ) {
            // A blank line between entries: git merges changes to two entries only when an
            // unchanged line lies between them, so two pull requests that change different
            // files (or clusters) merge cleanly.
            let count = items.len();
            for (i, (key, value)) in items.enumerate() {
                let comma = if i + 1 < count { ",\n" } else { "" };
                out.push_str(&format!("{indent}{}: {value}{comma}\n", line(key)));
            }
        }
        let mut top: Vec<(String, String)> = vec![("format".to_owned(), self.format.to_string())];
        if let Some(gitops) = &self.gitops {
            top.push(("gitops".to_owned(), line(gitops)));
        }
        if let Some(trust) = &self.trust {
            let mut text = String::from("{\n");
            text.push_str(&format!("    \"admins\": {},\n", line(&trust.admins)));
            if trust.clusters.is_empty() {
                text.push_str("    \"clusters\": {}\n");
            } else {
                text.push_str("    \"clusters\": {\n");
                entries(
                    &mut text,
                    "      ",
                    trust.clusters.iter().map(|(k, v)| (k, line(v))),
                );
                text.push_str("    }\n");
            }
            text.push_str("  }");
            top.push(("trust".to_owned(), text));
        }
        let mut files = String::from("{\n");
        entries(
            &mut files,
            "    ",
            self.files.iter().map(|(k, v)| (k, line(v))),
        );
        files.push_str("  }");
        top.push((
            "files".to_owned(),
            if self.files.is_empty() {
                "{}".to_owned()
            } else {
                files
            },
        ));
        // Keys in sorted order, as serde writes a struct's fields here.
        top.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::from("{\n");
        let last = top.len() - 1;
        for (i, (key, value)) in top.iter().enumerate() {
            let comma = if i < last { "," } else { "" };
            out.push_str(&format!("  {}: {value}{comma}\n", line(key)));
        }
        out.push_str("}\n");
        out.into_bytes()
    }

    pub fn get(&self, path: &str) -> Option<&FileRecord> {
        self.files.get(path)
    }

    /// The record after an interrupted commit: this record, and every entry of the journal (the
    /// record the interrupted run was about to write) whose file on disk has exactly the bytes
    /// it names. The journal is trusted no further: it only makes files it names, as they are,
    /// the render's to replace or remove.
    pub fn reconciled(
        mut self,
        journal: &Record,
        matches: impl Fn(&str, &FileRecord) -> bool,
    ) -> Self {
        for (path, entry) in &journal.files {
            if matches(path, entry) {
                self.files.insert(path.clone(), entry.clone());
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_what_it_wrote() {
        let mut files = BTreeMap::new();
        files.insert(
            "a.yaml".to_owned(),
            FileRecord {
                sha256: Some("00".into()),
                inputs: Some("sha256:11".into()),
            },
        );
        let record = Record::new(files);
        assert_eq!(Record::parse(&record.to_bytes()), Ok(record.clone()));
        let full = record
            .with_trust(Trust {
                admins: vec!["age1a".into()],
                clusters: [
                    ("c1".to_owned(), ClusterTrust::default()),
                    ("c2".to_owned(), ClusterTrust::default()),
                ]
                .into(),
            })
            .with_gitops(Some(GitOpsState {
                target: "flux".into(),
                declared: "none".into(),
                path: Some("out".into()),
            }));
        assert_eq!(Record::parse(&full.to_bytes()), Ok(full.clone()));
        let empty = Record::new(BTreeMap::new());
        assert_eq!(Record::parse(&empty.to_bytes()), Ok(empty));
    }

    #[test]
    fn each_file_and_each_cluster_is_one_line() {
        let files: BTreeMap<String, FileRecord> = (0..3)
            .map(|i| {
                let entry = FileRecord {
                    sha256: Some(format!("{i:064}")),
                    inputs: Some(format!("sha256:{i}")),
                };
                (format!("f{i}.yaml"), entry)
            })
            .collect();
        let record = Record::new(files).with_trust(Trust {
            admins: vec![],
            clusters: [("c1".to_owned(), ClusterTrust::default())].into(),
        });
        let text = String::from_utf8(record.to_bytes()).unwrap();
        for i in 0..3 {
            assert_eq!(
                text.lines()
                    .filter(|l| l.contains(&format!("f{i}.yaml")))
                    .count(),
                1,
                "{text}"
            );
            assert!(text.contains(&format!("\"sha256:{i}\"")), "{text}");
        }
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with("\"c1\": {")),
            "{text}"
        );
    }

    #[test]
    fn format_one_as_releases_wrote_it_is_read() {
        let text = br#"{"format": 1, "files": {"x": {"sha256": "ab"}}}"#;
        let record = Record::parse(text).unwrap();
        assert_eq!(
            record.get("x").and_then(|r| r.sha256.as_deref()),
            Some("ab")
        );
    }

    #[test]
    fn a_changed_admin_or_api_server_is_named() {
        let cluster = |server: &str| ClusterTrust {
            gitops_recipient: None,
            api_server: Some(server.into()),
            ca_data: None,
        };
        let old = Trust {
            admins: vec!["age1a".into()],
            clusters: [("c1".to_owned(), cluster("https://a"))].into(),
        };
        let new = Trust {
            admins: vec!["age1a".into(), "age1evil".into()],
            clusters: [("c1".to_owned(), cluster("https://evil"))].into(),
        };
        let lines = new.changes_from(&old);
        assert!(
            lines[0].starts_with("admin recipient added: age1evil"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("API server of c1 changed: https://a -> https://evil"),
            "{lines:?}"
        );
        assert_eq!(new.changes_from(&new), Vec::<String>::new());
    }

    #[test]
    fn a_newer_format_is_refused_with_the_fix() {
        let err = Record::parse(br#"{"format": 9, "files": {}}"#).unwrap_err();
        assert!(err.0.contains("newer"), "{err}");
        assert!(Record::parse(b"not json").is_err());
    }
}
