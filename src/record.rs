//! The render record (`.render-record.json`), committed with the output: every file mesh-render
//! wrote, with the SHA-256 of its bytes and, for a sealed file, the digest of the inputs it was
//! sealed from. Read and validated here only, for the writer and for `check` alike.
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

/// The format this release writes.
pub const FORMAT: u32 = 1;

/// Every file mesh-render wrote into a tree.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Record {
    format: u32,
    pub files: BTreeMap<String, FileRecord>,
}

/// One written file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Lowercase hex SHA-256 of the bytes written.
    pub sha256: String,
    /// For a sealed file: the digest of the inputs its plaintext came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
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
        }
    }

    /// Reads a record of any format this release knows.
    pub fn parse(bytes: &[u8]) -> Result<Self, BadRecord> {
        #[derive(Deserialize)]
        struct Header {
            format: u32,
        }
        let header: Header = serde_json::from_slice(bytes).map_err(|e| BadRecord(e.to_string()))?;
        match header.format {
            1 => serde_json::from_slice(bytes).map_err(|e| BadRecord(e.to_string())),
            newer => Err(BadRecord(format!(
                "format {newer} is newer than the format {FORMAT} this mesh-render writes: render with the release that wrote it, or a later one"
            ))),
        }
    }

    /// Pretty JSON with sorted keys and a trailing newline: stable, and one line per file in a
    /// diff.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
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
                sha256: "00".into(),
                inputs: Some("sha256:11".into()),
            },
        );
        let record = Record::new(files);
        assert_eq!(Record::parse(&record.to_bytes()), Ok(record));
    }

    #[test]
    fn format_one_as_releases_wrote_it_is_read() {
        let text = br#"{"format": 1, "files": {"x": {"sha256": "ab"}}}"#;
        let record = Record::parse(text).unwrap();
        assert_eq!(record.get("x").map(|r| r.sha256.as_str()), Some("ab"));
    }

    #[test]
    fn a_newer_format_is_refused_with_the_fix() {
        let err = Record::parse(br#"{"format": 9, "files": {}}"#).unwrap_err();
        assert!(err.0.contains("newer"), "{err}");
        assert!(Record::parse(b"not json").is_err());
    }
}
