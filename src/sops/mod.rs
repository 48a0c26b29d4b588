//! SOPS (YAML + age) files written and read without the sops binary: encrypt a plaintext YAML stream
//! for age recipients under a rule, decrypt and verify (values, then MAC), and read metadata keylessly.

// Layers, as in sops itself: `yaml` (ordered tree, parsing typed like yaml.v3, sops's layout when
// writing), `cipher` (AES-256-GCM values), `tree` (rule, AAD, MAC walk), `metadata` (the `sops:`
// block) and `age` (the data-key source). Format facts: `shared/fixtures/sops/FORMAT.md`.

mod age;
mod cipher;
mod metadata;
mod timestamp;
mod tree;
mod yaml;

use std::fmt;

pub use age::{Identities, Recipient, SecretIdentity, generate_identity};
pub use metadata::{Metadata, Rule, SOPS_VERSION};
pub use timestamp::Timestamp;

use cipher::DataKey;
use yaml::{Document, MapItem, Node, Scalar, SeqItem};

/// Everything that can go wrong. Messages name what failed and where (document and key path),
/// never a plaintext value, a data key or an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SopsError {
    /// The file has no top-level `sops` key (sops: "sops metadata not found", exit 1).
    #[error("sops metadata not found (the file has no top-level `sops:` block)")]
    NoMetadata,
    /// The `sops:` block is unusable (missing or invalid `lastmodified`, several rules, no keys).
    #[error("invalid sops metadata: {reason}")]
    InvalidMetadata { reason: String },
    /// The text is not YAML this module accepts (syntax, budgets, non-string keys, top level not a map).
    #[error("invalid YAML at line {line}, column {column}: {reason}")]
    InvalidYaml {
        line: usize,
        column: usize,
        reason: String,
    },
    /// A value does not decrypt (wrong key, changed value, or its key path was changed: the AAD).
    #[error("could not decrypt the value at {path} (document {document}): authentication failed")]
    ValueDecrypt { document: usize, path: String },
    /// A value the rule encrypts is not a well-formed `ENC[...]` value.
    #[error("invalid encrypted value at {path} (document {document}): {reason}")]
    InvalidEnc {
        document: usize,
        path: String,
        reason: String,
    },
    /// The MAC does not decrypt (it or `lastmodified` was changed).
    #[error(
        "cannot decrypt the MAC (the `mac` or `lastmodified` field was changed, or the data key is wrong)"
    )]
    MacDecrypt,
    /// The MAC computed from the values differs from the file's.
    #[error("MAC mismatch. File has {file}, computed {computed}")]
    MacMismatch { file: String, computed: String },
    /// No age entry could be decrypted with the identities.
    #[error("failed to get the data key: none of the identities matches the file's recipients {recipients:?}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NoDataKey {
        recipients: Vec<String>,
        detail: Option<String>,
    },
    /// No identity was found at all.
    #[error("no age identity found (looked in: {})", searched.join(", "))]
    NoIdentities { searched: Vec<String> },
    /// A line of a key file or of `SOPS_AGE_KEY` is not a usable identity (the line is not shown).
    #[error("invalid age identity in {origin} line {line}: {reason}")]
    InvalidIdentity {
        origin: String,
        line: usize,
        reason: String,
    },
    /// A recipient string is not an age X25519 recipient.
    #[error("invalid age recipient {recipient:?}: {reason}")]
    InvalidRecipient { recipient: String, reason: String },
    /// The rule cannot be used (empty, or an invalid regex).
    #[error("invalid {rule}: {reason}")]
    InvalidRule { rule: &'static str, reason: String },
    /// The plaintext cannot be encrypted as sops would (sops: exit 23).
    #[error("cannot encrypt the value at {path} (document {document}): {reason}")]
    InvalidTree {
        document: usize,
        path: String,
        reason: String,
    },
    /// The plaintext has no document (sops: exit 92).
    #[error("the input has no YAML document")]
    EmptyInput,
    /// The plaintext already has a top-level `sops` key (sops: exit 203).
    #[error(
        "the input already has a top-level `sops` key (document {document}): is it already encrypted?"
    )]
    AlreadyEncrypted { document: usize },
    /// A feature of the file this module does not implement (Shamir key groups, ...).
    #[error("unsupported: {what}")]
    Unsupported { what: String },
    /// Randomness or age failed while encrypting.
    #[error("encryption failed: {reason}")]
    Crypto { reason: String },
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
}

impl SopsError {
    /// The exit code the real `sops decrypt` gives for this class of failure (1 metadata or
    /// YAML, 25 a value, 51 the MAC, 128 no data key; 23/92/203 for encryption input).
    pub fn sops_exit_code(&self) -> i32 {
        match self {
            SopsError::NoMetadata
            | SopsError::InvalidMetadata { .. }
            | SopsError::InvalidYaml { .. }
            | SopsError::InvalidRule { .. }
            | SopsError::InvalidRecipient { .. }
            | SopsError::Unsupported { .. }
            | SopsError::Io { .. } => 1,
            SopsError::ValueDecrypt { .. } | SopsError::InvalidEnc { .. } => 25,
            SopsError::MacDecrypt | SopsError::MacMismatch { .. } => 51,
            SopsError::NoDataKey { .. }
            | SopsError::NoIdentities { .. }
            | SopsError::InvalidIdentity { .. } => 128,
            SopsError::InvalidTree { .. } | SopsError::Crypto { .. } => 23,
            SopsError::EmptyInput => 92,
            SopsError::AlreadyEncrypted { .. } => 203,
        }
    }
}

impl From<yaml::YamlError> for SopsError {
    fn from(e: yaml::YamlError) -> Self {
        SopsError::InvalidYaml {
            line: e.line,
            column: e.column,
            reason: e.reason,
        }
    }
}

/// Encrypts a plaintext YAML stream (one or more documents, each a mapping at the top) with a fresh
/// data key and fresh IVs for the recipients, under the rule, with the given `lastmodified`.
/// Returns the encrypted file text, laid out as sops writes it.
pub fn encrypt(
    plain_yaml: &str,
    rule: &Rule,
    recipients: &[Recipient],
    lastmodified: Timestamp,
) -> Result<String, SopsError> {
    encrypt_with(plain_yaml, rule, recipients, lastmodified, false)
}

/// [`encrypt`] with `mac_only_encrypted` (the MAC covers only encrypted values, so clear values
/// may be edited by hand).
pub fn encrypt_mac_only_encrypted(
    plain_yaml: &str,
    rule: &Rule,
    recipients: &[Recipient],
    lastmodified: Timestamp,
) -> Result<String, SopsError> {
    encrypt_with(plain_yaml, rule, recipients, lastmodified, true)
}

fn encrypt_with(
    plain_yaml: &str,
    rule: &Rule,
    recipients: &[Recipient],
    lastmodified: Timestamp,
    mac_only: bool,
) -> Result<String, SopsError> {
    if recipients.is_empty() {
        return Err(SopsError::InvalidRecipient {
            recipient: String::new(),
            reason: "no recipient given".into(),
        });
    }
    let compiled = rule.compile()?;
    let mut docs = yaml::parse_stream(plain_yaml)?;
    if docs.is_empty() {
        return Err(SopsError::EmptyInput);
    }
    for (i, doc) in docs.iter().enumerate() {
        if doc
            .iter()
            .any(|it| matches!(it, MapItem::Entry(k, _) if k == "sops"))
        {
            for d in docs.iter_mut() {
                tree::zeroize_document(d);
            }
            return Err(SopsError::AlreadyEncrypted { document: i + 1 });
        }
    }
    let key = DataKey::generate().map_err(|reason| SopsError::Crypto { reason })?;
    let result = (|| {
        let mac = tree::encrypt_documents(&mut docs, &compiled, &key, mac_only)?;
        let lm = lastmodified.to_string();
        let mac = tree::encrypt_mac(&mac, &key, &lm)?;
        let mut entries = Vec::with_capacity(recipients.len());
        for r in recipients {
            entries.push(metadata::AgeEntry {
                recipient: r.to_string(),
                enc: age::wrap(&key, r)?,
            });
        }
        let meta = metadata::emit(&entries, lastmodified, &mac, rule, mac_only);
        for doc in docs.iter_mut() {
            doc.push(MapItem::Entry("sops".into(), meta.clone()));
        }
        Ok(yaml::emit_stream(&docs))
    })();
    if result.is_err() {
        for d in docs.iter_mut() {
            tree::zeroize_document(d);
        }
    }
    result
}

/// Splits the `sops` key off every document; the metadata is the first document's.
fn split_metadata(docs: &mut [Document]) -> Result<Node, SopsError> {
    let mut meta = None;
    for doc in docs.iter_mut() {
        if let Some(pos) = doc
            .iter()
            .position(|it| matches!(it, MapItem::Entry(k, _) if k == "sops"))
        {
            let item = doc.remove(pos);
            if meta.is_none()
                && let MapItem::Entry(_, node) = item
            {
                meta = Some(node);
            }
        }
    }
    // sops reads the metadata of the first document only.
    match (meta, docs.first()) {
        (Some(m), Some(_)) => Ok(m),
        _ => Err(SopsError::NoMetadata),
    }
}

fn first_doc_has_sops(docs: &[Document]) -> bool {
    docs.first().is_some_and(|d| {
        d.iter()
            .any(|it| matches!(it, MapItem::Entry(k, _) if k == "sops"))
    })
}

/// Reads the metadata without any key: recipients, rule, lastmodified, version, mac_only_encrypted.
pub fn metadata(encrypted_yaml: &str) -> Result<Metadata, SopsError> {
    let mut docs = yaml::parse_stream(encrypted_yaml)?;
    if !first_doc_has_sops(&docs) {
        return Err(SopsError::NoMetadata);
    }
    let node = split_metadata(&mut docs)?;
    Ok(metadata::parse(&node)?.public)
}

/// The documents with the `sops` key removed and encrypted values left as `ENC[...]` strings (for
/// checking the structure, e.g. against a schema). Encrypted comments stored as list items are dropped.
pub fn without_metadata(encrypted_yaml: &str) -> Result<Vec<serde_json::Value>, SopsError> {
    let mut docs = yaml::parse_stream(encrypted_yaml)?;
    if !first_doc_has_sops(&docs) {
        return Err(SopsError::NoMetadata);
    }
    split_metadata(&mut docs)?;
    Ok(docs.iter().map(|d| map_to_json(d, true)).collect())
}

/// Decrypts and verifies: the data key from the age entries, every value (with its AAD), then the MAC.
pub fn decrypt(encrypted_yaml: &str, identities: &Identities) -> Result<Decrypted, SopsError> {
    let mut docs = yaml::parse_stream(encrypted_yaml)?;
    if !first_doc_has_sops(&docs) {
        return Err(SopsError::NoMetadata);
    }
    let node = split_metadata(&mut docs)?;
    let meta = metadata::parse(&node)?;
    if meta.key_groups > 1 {
        return Err(SopsError::Unsupported {
            what: format!("{} key groups (Shamir secret sharing)", meta.key_groups),
        });
    }
    let compiled = meta.public.rule().compile()?;
    let key = data_key(&meta, identities)?;
    let mut decrypted = Decrypted {
        docs,
        mac: String::new(),
    };
    let computed = tree::decrypt_documents(
        &mut decrypted.docs,
        &compiled,
        &key,
        meta.public.mac_only_encrypted(),
    )?;
    match tree::decrypt_mac(&meta.mac, &key, &meta.mac_aad)? {
        Some(file) if file == computed => {
            decrypted.mac = computed;
            Ok(decrypted)
        }
        Some(file) => Err(SopsError::MacMismatch { file, computed }),
        None => Err(SopsError::MacMismatch {
            file: "no MAC".into(),
            computed,
        }),
    }
}

fn data_key(meta: &metadata::FileMetadata, identities: &Identities) -> Result<DataKey, SopsError> {
    let recipients = meta.public.recipients().to_vec();
    if meta.age.is_empty() {
        return Err(SopsError::NoDataKey {
            recipients,
            detail: Some(format!(
                "the file has no age recipients; its master keys are {:?}",
                meta.public.other_key_kinds()
            )),
        });
    }
    let mut problems = Vec::new();
    for entry in &meta.age {
        match age::unwrap(&entry.enc, identities) {
            Ok(k) => return Ok(k),
            Err(age::UnwrapFailure::NoMatch) => {}
            Err(age::UnwrapFailure::Invalid(reason)) => {
                problems.push(format!("{}: {reason}", entry.recipient))
            }
        }
    }
    Err(SopsError::NoDataKey {
        recipients,
        detail: if problems.is_empty() {
            None
        } else {
            Some(problems.join("; "))
        },
    })
}

/// Decrypted documents: an ordered tree with typed values and the comments. Zeroized on drop;
/// Debug shows no content.
pub struct Decrypted {
    docs: Vec<Document>,
    mac: String,
}

impl Decrypted {
    /// How many documents there are.
    pub fn documents(&self) -> usize {
        self.docs.len()
    }

    /// The verified MAC: uppercase hex SHA-512 over the values (what sops stores, encrypted, in `mac:`).
    pub fn mac(&self) -> &str {
        &self.mac
    }

    /// Each document as JSON, typed as `sops -d --output-type json` prints it (times as RFC 3339
    /// strings; floats as Go writes them, so 1000.0 reads back as the integer 1000; NaN and
    /// infinities as null). Comments are left out.
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        self.docs.iter().map(|d| map_to_json(d, false)).collect()
    }

    /// The documents as YAML, laid out the way `sops -d` prints them (comments decrypted).
    pub fn to_yaml(&self) -> String {
        yaml::emit_stream(&self.docs)
    }
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decrypted({} document(s), <redacted>)", self.docs.len())
    }
}

impl Drop for Decrypted {
    fn drop(&mut self) {
        for d in self.docs.iter_mut() {
            tree::zeroize_document(d);
        }
    }
}

fn scalar_to_json(s: &Scalar) -> serde_json::Value {
    use serde_json::Value;
    match s {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Uint(u) => Value::from(*u),
        Scalar::Float(f) => yaml::go_json_float(*f),
        Scalar::Time(t) => Value::String(t.to_rfc3339_nano()),
        Scalar::Str(s) => Value::String(s.clone()),
    }
}

fn node_to_json(n: &Node, drop_enc_comments: bool) -> serde_json::Value {
    match n {
        Node::Scalar(s) => scalar_to_json(s),
        Node::Map(items) => map_to_json(items, drop_enc_comments),
        Node::Seq(items) => serde_json::Value::Array(
            items
                .iter()
                .filter_map(|i| match i {
                    SeqItem::Comment(_) => None,
                    SeqItem::Value(Node::Scalar(Scalar::Str(s)))
                        if drop_enc_comments
                            && cipher::looks_encrypted(s)
                            && s.ends_with(",type:comment]") =>
                    {
                        None
                    }
                    SeqItem::Value(v) => Some(node_to_json(v, drop_enc_comments)),
                })
                .collect(),
        ),
    }
}

fn map_to_json(items: &[MapItem], drop_enc_comments: bool) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for it in items {
        if let MapItem::Entry(k, v) = it {
            m.insert(k.clone(), node_to_json(v, drop_enc_comments));
        }
    }
    serde_json::Value::Object(m)
}
