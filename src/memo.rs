//! YAML parsed once per distinct text, for checks that meet the same text many times: a source
//! cluster's kubeconfig sits in the remote secret of every other cluster, and a render seals the
//! same Secret for each of them. Keyed by the SHA-256 of the text without the comment lines it
//! opens with (they name the target cluster and change no value). The parsed values, a reader
//! token among them, live as long as the memo: one `check`, as its decrypted files do. Bounded:
//! a memo that grows past its limit starts over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::digest::sha256;

/// Distinct texts kept at most (a fleet has one kubeconfig and one remote secret per cluster).
const LIMIT: usize = 4096;

/// Parsed documents by text.
#[derive(Default)]
pub struct Parsed {
    values: Mutex<HashMap<[u8; 32], Option<Arc<Value>>>>,
}

impl Parsed {
    pub fn new() -> Self {
        Self::default()
    }

    /// `text` as one YAML document (`None` if it does not parse), parsed the first time only.
    pub fn yaml(&self, text: &str) -> Option<Arc<Value>> {
        let body = without_leading_comments(text);
        let key = sha256(body.as_bytes());
        if let Some(found) = self.lock().get(&key) {
            return found.clone();
        }
        let parsed = serde_saphyr::from_str::<Value>(body).ok().map(Arc::new);
        let mut values = self.lock();
        if values.len() >= LIMIT {
            values.clear();
        }
        values.insert(key, parsed.clone());
        parsed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Option<Arc<Value>>>> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `text` from its first line that is not a comment (or blank): the comments a document opens
/// with lie outside every value.
fn without_leading_comments(text: &str) -> &str {
    let mut rest = text;
    while let Some(line) = rest.split_inclusive('\n').next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            rest = &rest[line.len()..];
        } else {
            break;
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_parsed_once_and_its_opening_comments_do_not_matter() {
        let memo = Parsed::new();
        let a = memo
            .yaml("# for cluster a\nkey: |\n  # inside the value\n  v\n")
            .unwrap();
        let b = memo
            .yaml("# for cluster b\n\nkey: |\n  # inside the value\n  v\n")
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a["key"], "# inside the value\nv\n");
        // A comment inside a value is the value.
        let c = memo.yaml("key: |\n  # another\n  v\n").unwrap();
        assert_ne!(a, c);
        assert!(memo.yaml("key: [unclosed").is_none());
    }
}
