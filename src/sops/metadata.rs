//! The `sops:` metadata block: reading it (any key order, one rule at most, RFC 3339 `lastmodified`),
//! writing it in sops's key order, and the encryption rule (which keys' values are encrypted).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use regex::Regex;

use super::error::SopsError;
use super::timestamp::{GoTime, Timestamp};
use super::yaml::{MapItem, Node, Scalar, SeqItem};

/// The sops version written into `version:`.
pub const SOPS_VERSION: &str = "3.11.0";

/// Which values of a file are encrypted (stored in the metadata; at most one per file).
///
/// Every rule is tested against every key on a value's path (its ancestors and its own key);
/// regexes are unanchored searches, as in Go's RE2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Encrypted when any key on the path matches.
    EncryptedRegex(String),
    /// Clear when any key on the path matches.
    UnencryptedRegex(String),
    /// Encrypted when any key on the path ends with the suffix.
    EncryptedSuffix(String),
    /// Clear when any key on the path ends with the suffix (sops's default: `_unencrypted`).
    UnencryptedSuffix(String),
    /// Encrypted when a comment above the value (or an enclosing one) matches.
    EncryptedCommentRegex(String),
    /// Clear when a comment above the value (or an enclosing one) matches.
    UnencryptedCommentRegex(String),
}

impl Rule {
    /// The Kubernetes Secret rule: everything under `data:` and `stringData:` is encrypted.
    pub const KUBERNETES_REGEX: &'static str = "^(data|stringData)$";

    /// `encrypted_regex: ^(data|stringData)$`.
    pub fn kubernetes() -> Rule {
        Rule::EncryptedRegex(Self::KUBERNETES_REGEX.to_string())
    }

    /// sops's default when no rule is given: `unencrypted_suffix: _unencrypted`.
    pub fn sops_default() -> Rule {
        Rule::UnencryptedSuffix("_unencrypted".to_string())
    }

    /// The metadata key that stores this rule.
    pub fn metadata_key(&self) -> &'static str {
        match self {
            Rule::UnencryptedSuffix(_) => "unencrypted_suffix",
            Rule::EncryptedSuffix(_) => "encrypted_suffix",
            Rule::UnencryptedRegex(_) => "unencrypted_regex",
            Rule::EncryptedRegex(_) => "encrypted_regex",
            Rule::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            Rule::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        }
    }

    /// The suffix or regex text.
    pub fn value(&self) -> &str {
        match self {
            Rule::UnencryptedSuffix(s)
            | Rule::EncryptedSuffix(s)
            | Rule::UnencryptedRegex(s)
            | Rule::EncryptedRegex(s)
            | Rule::UnencryptedCommentRegex(s)
            | Rule::EncryptedCommentRegex(s) => s,
        }
    }

    /// Checks the rule and compiles its regex.
    pub(crate) fn compile(&self) -> Result<CompiledRule, SopsError> {
        let invalid = |reason: String| SopsError::InvalidRule {
            rule: self.metadata_key(),
            reason,
        };
        if self.value().is_empty() {
            return Err(invalid("empty value".into()));
        }
        let re = |s: &str| compiled(s).map_err(|e| invalid(format!("not a valid regex: {e}")));
        Ok(match self {
            Rule::UnencryptedSuffix(s) => CompiledRule::UnencryptedSuffix(s.clone()),
            Rule::EncryptedSuffix(s) => CompiledRule::EncryptedSuffix(s.clone()),
            Rule::UnencryptedRegex(s) => CompiledRule::UnencryptedRegex(re(s)?),
            Rule::EncryptedRegex(s) => CompiledRule::EncryptedRegex(re(s)?),
            Rule::UnencryptedCommentRegex(s) => CompiledRule::UnencryptedCommentRegex(re(s)?),
            Rule::EncryptedCommentRegex(s) => CompiledRule::EncryptedCommentRegex(re(s)?),
        })
    }
}

/// A rule's regex, compiled once per pattern and process: a render encrypts thousands of files
/// with the same rule, and compiling costs more than encrypting a small Secret. Shared, not
/// cloned: a cloned `Regex` starts with empty match caches, and building them costs as much again.
fn compiled(pattern: &str) -> Result<Arc<Regex>, regex::Error> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(re) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(pattern)
    {
        return Ok(re.clone());
    }
    let re = Arc::new(Regex::new(pattern)?);
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if cache.len() < 64 {
        cache.insert(pattern.to_owned(), re.clone());
    }
    Ok(re)
}

pub(crate) enum CompiledRule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Arc<Regex>),
    EncryptedRegex(Arc<Regex>),
    UnencryptedCommentRegex(Arc<Regex>),
    EncryptedCommentRegex(Arc<Regex>),
}

impl CompiledRule {
    /// sops's shouldBeEncrypted: `path` are the map keys down to the value; `comments` the comment
    /// lines seen before it at each level; `is_comment` when the value is itself a comment.
    pub(crate) fn should_encrypt(
        &self,
        path: &[String],
        comments: &[Vec<String>],
        is_comment: bool,
    ) -> bool {
        match self {
            CompiledRule::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            CompiledRule::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            CompiledRule::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            CompiledRule::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
            CompiledRule::UnencryptedCommentRegex(r) => {
                !comments.iter().flatten().any(|c| r.is_match(c))
            }
            CompiledRule::EncryptedCommentRegex(r) => {
                let last_level = comments.len().saturating_sub(1);
                let last_index = comments
                    .last()
                    .map(|l| l.len().saturating_sub(1))
                    .unwrap_or(0);
                comments.iter().enumerate().any(|(i, level)| {
                    level.iter().enumerate().any(|(j, c)| {
                        // The matching comment line itself stays clear.
                        if is_comment && i == last_level && j == last_index {
                            return false;
                        }
                        r.is_match(c)
                    })
                })
            }
        }
    }
}

/// One age recipient entry of the metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AgeEntry {
    pub recipient: String,
    pub enc: String,
}

/// What the `sops:` block says, readable without any key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    recipients: Vec<String>,
    rule: Rule,
    rule_in_file: bool,
    lastmodified: Timestamp,
    version: String,
    mac_only_encrypted: bool,
    other_key_kinds: Vec<String>,
}

impl Metadata {
    /// The age recipients (`age1...`), in file order.
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    /// The rule; sops's default (`unencrypted_suffix: _unencrypted`) when the file names none.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// Whether the file names its rule (false when sops's default applies).
    pub fn rule_in_file(&self) -> bool {
        self.rule_in_file
    }

    /// `lastmodified`, whole seconds UTC.
    pub fn lastmodified(&self) -> Timestamp {
        self.lastmodified
    }

    /// `version`: the sops version that wrote the file.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `mac_only_encrypted`: the MAC covers only the encrypted values.
    pub fn mac_only_encrypted(&self) -> bool {
        self.mac_only_encrypted
    }

    /// Master keys of other kinds in the file (`pgp`, `kms`, ...), which this module cannot use.
    pub fn other_key_kinds(&self) -> &[String] {
        &self.other_key_kinds
    }
}

/// The parsed block plus what decryption needs.
pub(crate) struct FileMetadata {
    pub public: Metadata,
    pub age: Vec<AgeEntry>,
    pub mac: String,
    /// The MAC's AAD: `lastmodified` re-formatted like Go (`t.Format(time.RFC3339)`).
    pub mac_aad: String,
    pub key_groups: usize,
}

fn invalid(reason: impl Into<String>) -> SopsError {
    SopsError::InvalidMetadata {
        reason: reason.into(),
    }
}

fn text_of(node: &Node, field: &str) -> Result<String, SopsError> {
    match node {
        Node::Scalar(Scalar::Str(s)) => Ok(s.clone()),
        Node::Scalar(Scalar::Null) => Ok(String::new()),
        Node::Scalar(Scalar::Time(t)) => Ok(t.to_rfc3339_nano()),
        Node::Scalar(Scalar::Int(i)) => Ok(i.to_string()),
        Node::Scalar(Scalar::Bool(b)) => Ok(b.to_string()),
        Node::Scalar(Scalar::Float(f)) => Ok(super::yaml::yaml_float_text(*f)),
        _ => Err(invalid(format!("`{field}` is not a scalar"))),
    }
}

fn entries(items: &[MapItem]) -> impl Iterator<Item = (&String, &Node)> {
    items.iter().filter_map(|i| match i {
        MapItem::Entry(k, v) => Some((k, v)),
        MapItem::Comment(_) => None,
    })
}

fn age_entries(node: &Node) -> Result<Vec<AgeEntry>, SopsError> {
    let Node::Seq(items) = node else {
        if matches!(node, Node::Scalar(Scalar::Null)) {
            return Ok(Vec::new());
        }
        return Err(invalid("`age` is not a list"));
    };
    let mut out = Vec::new();
    for item in items {
        let SeqItem::Value(v) = item else { continue };
        let Node::Map(fields) = v else {
            return Err(invalid("an `age` entry is not a mapping"));
        };
        let mut recipient = String::new();
        let mut enc = String::new();
        for (k, v) in entries(fields) {
            match k.as_str() {
                "recipient" => recipient = text_of(v, "age.recipient")?,
                "enc" => enc = text_of(v, "age.enc")?,
                _ => {}
            }
        }
        out.push(AgeEntry {
            recipient: recipient.trim().to_string(),
            enc,
        });
    }
    Ok(out)
}

fn list_len(node: &Node) -> usize {
    match node {
        Node::Seq(items) => items
            .iter()
            .filter(|i| matches!(i, SeqItem::Value(_)))
            .count(),
        _ => 0,
    }
}

/// Reads the `sops:` block (key order does not matter).
pub(crate) fn parse(node: &Node) -> Result<FileMetadata, SopsError> {
    let Node::Map(items) = node else {
        return Err(invalid("`sops` is not a mapping"));
    };
    let mut age = Vec::new();
    let mut groups: Vec<Vec<AgeEntry>> = Vec::new();
    let mut other = Vec::new();
    let mut lastmodified = None;
    let mut mac = String::new();
    let mut version = String::new();
    let mut mac_only = false;
    let mut rules: Vec<Rule> = Vec::new();
    for (key, value) in entries(items) {
        match key.as_str() {
            "age" => age = age_entries(value)?,
            "key_groups" => {
                let Node::Seq(gs) = value else {
                    return Err(invalid("`key_groups` is not a list"));
                };
                for g in gs {
                    let SeqItem::Value(Node::Map(fields)) = g else {
                        continue;
                    };
                    let mut group = Vec::new();
                    for (k, v) in entries(fields) {
                        if k == "age" {
                            group = age_entries(v)?;
                        } else if list_len(v) > 0 {
                            other.push(k.clone());
                        }
                    }
                    groups.push(group);
                }
            }
            "pgp" | "kms" | "gcp_kms" | "hckms" | "azure_kv" | "hc_vault"
                if list_len(value) > 0 =>
            {
                other.push(key.clone());
            }
            "lastmodified" => lastmodified = Some(text_of(value, "lastmodified")?),
            "mac" => mac = text_of(value, "mac")?,
            "version" => version = text_of(value, "version")?,
            "mac_only_encrypted" => {
                mac_only = match value {
                    Node::Scalar(Scalar::Bool(b)) => *b,
                    Node::Scalar(Scalar::Null) => false,
                    _ => return Err(invalid("`mac_only_encrypted` is not a boolean")),
                }
            }
            "unencrypted_suffix"
            | "encrypted_suffix"
            | "unencrypted_regex"
            | "encrypted_regex"
            | "unencrypted_comment_regex"
            | "encrypted_comment_regex" => {
                let v = text_of(value, key)?;
                if v.is_empty() {
                    continue;
                }
                rules.push(match key.as_str() {
                    "unencrypted_suffix" => Rule::UnencryptedSuffix(v),
                    "encrypted_suffix" => Rule::EncryptedSuffix(v),
                    "unencrypted_regex" => Rule::UnencryptedRegex(v),
                    "encrypted_regex" => Rule::EncryptedRegex(v),
                    "unencrypted_comment_regex" => Rule::UnencryptedCommentRegex(v),
                    _ => Rule::EncryptedCommentRegex(v),
                });
            }
            _ => {}
        }
    }
    let lastmodified = lastmodified.ok_or_else(|| invalid("`lastmodified` is missing"))?;
    let lm = GoTime::parse_rfc3339(&lastmodified)
        .ok_or_else(|| invalid("`lastmodified` is not an RFC 3339 time"))?;
    let mac_aad = lm.to_rfc3339_seconds();
    let lastmodified = Timestamp::from_unix_seconds(lm.unix_seconds())
        .ok_or_else(|| invalid("`lastmodified` is out of range"))?;
    if rules.len() > 1 {
        return Err(invalid(
            "more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, unencrypted_comment_regex",
        ));
    }
    let rule_in_file = !rules.is_empty();
    let rule = rules.pop().unwrap_or_else(Rule::sops_default);
    // sops reads the top-level key lists when any is present, else the key groups.
    let key_groups;
    if !age.is_empty() || !other.is_empty() {
        key_groups = 1;
    } else if !groups.is_empty() {
        key_groups = groups.len();
        age = groups.into_iter().flatten().collect();
    } else {
        return Err(invalid(
            "no keys found in the file (no age recipients and no other master keys)",
        ));
    }
    other.sort();
    other.dedup();
    Ok(FileMetadata {
        public: Metadata {
            recipients: age.iter().map(|e| e.recipient.clone()).collect(),
            rule,
            rule_in_file,
            lastmodified,
            version,
            mac_only_encrypted: mac_only,
            other_key_kinds: other,
        },
        age,
        mac,
        mac_aad,
        key_groups,
    })
}

fn s(v: impl Into<String>) -> Node {
    Node::Scalar(Scalar::Str(v.into()))
}

/// The `sops:` block in sops's key order (an age-only file with one key group).
pub(crate) fn emit(
    age: &[AgeEntry],
    lastmodified: Timestamp,
    mac: &str,
    rule: &Rule,
    mac_only_encrypted: bool,
) -> Node {
    let mut items = Vec::new();
    let entries: Vec<SeqItem> = age
        .iter()
        .map(|e| {
            SeqItem::Value(Node::Map(vec![
                MapItem::Entry("recipient".into(), s(e.recipient.clone())),
                MapItem::Entry("enc".into(), s(e.enc.clone())),
            ]))
        })
        .collect();
    items.push(MapItem::Entry("age".into(), Node::Seq(entries)));
    items.push(MapItem::Entry(
        "lastmodified".into(),
        s(lastmodified.to_string()),
    ));
    items.push(MapItem::Entry("mac".into(), s(mac)));
    items.push(MapItem::Entry(rule.metadata_key().into(), s(rule.value())));
    if mac_only_encrypted {
        items.push(MapItem::Entry(
            "mac_only_encrypted".into(),
            Node::Scalar(Scalar::Bool(true)),
        ));
    }
    items.push(MapItem::Entry("version".into(), s(SOPS_VERSION)));
    Node::Map(items)
}
