//! A SOPS file as a whole: encrypt a plaintext YAML stream for age recipients under a rule, read
//! its metadata without a key, decrypt and verify it (values, then the MAC).

use std::fmt;

use super::age::{self, Identities, Recipient};
use super::cipher::{self, DataKey};
use super::error::SopsError;
use super::metadata::{self, Metadata, Rule};
use super::timestamp::Timestamp;
use super::tree;
use super::yaml::{self, Document, MapItem, Node, Scalar, SeqItem};

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

/// A SOPS file parsed once: its metadata (read without a key) and its documents with values
/// still encrypted. Reading, checking and decrypting a file all start here, so a check that
/// does all three parses the file once.
pub struct Parsed {
    docs: Vec<Document>,
    meta: metadata::FileMetadata,
}

impl fmt::Debug for Parsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Parsed({} document(s))", self.docs.len())
    }
}

/// Parses a SOPS file: `Err(NoMetadata)` if it is not one.
pub fn parse(encrypted_yaml: &str) -> Result<Parsed, SopsError> {
    let mut docs = yaml::parse_stream(encrypted_yaml)?;
    if !first_doc_has_sops(&docs) {
        return Err(SopsError::NoMetadata);
    }
    let node = split_metadata(&mut docs)?;
    let meta = metadata::parse(&node)?;
    Ok(Parsed { docs, meta })
}

impl Parsed {
    /// The metadata anyone can read: recipients, rule, lastmodified, version, mac_only_encrypted.
    pub fn metadata(&self) -> &Metadata {
        &self.meta.public
    }

    /// The documents with the `sops` key removed and encrypted values left as `ENC[...]`
    /// strings (for checking the structure, e.g. against a schema). Encrypted comments stored
    /// as list items are dropped.
    pub fn without_metadata(&self) -> Vec<serde_json::Value> {
        self.docs.iter().map(|d| map_to_json(d, true)).collect()
    }

    /// Decrypts and verifies: the data key from the age entries, every value (with its AAD),
    /// then the MAC.
    pub fn decrypt(&self, identities: &Identities) -> Result<Decrypted, SopsError> {
        let meta = &self.meta;
        if meta.key_groups > 1 {
            return Err(SopsError::Unsupported {
                what: format!("{} key groups (Shamir secret sharing)", meta.key_groups),
            });
        }
        let compiled = meta.public.rule().compile()?;
        let key = data_key(meta, identities)?;
        let mut decrypted = Decrypted {
            docs: self.docs.clone(),
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
}

/// Whether one of the file's age entries opens with `identities` by the direct reader of the
/// shape sops writes, not by the age crate's general parser (for the tests that hold the fast
/// path to real sops's files).
#[doc(hidden)]
pub fn opens_directly(encrypted_yaml: &str, identities: &Identities) -> Result<bool, SopsError> {
    let parsed = parse(encrypted_yaml)?;
    Ok(parsed
        .meta
        .age
        .iter()
        .any(|entry| age::opens_directly(&entry.enc, identities)))
}

/// Reads the metadata without any key: recipients, rule, lastmodified, version, mac_only_encrypted.
pub fn metadata(encrypted_yaml: &str) -> Result<Metadata, SopsError> {
    Ok(parse(encrypted_yaml)?.meta.public)
}

/// The documents with the `sops` key removed and encrypted values left as `ENC[...]` strings (for
/// checking the structure, e.g. against a schema). Encrypted comments stored as list items are dropped.
pub fn without_metadata(encrypted_yaml: &str) -> Result<Vec<serde_json::Value>, SopsError> {
    Ok(parse(encrypted_yaml)?.without_metadata())
}

/// Decrypts and verifies: the data key from the age entries, every value (with its AAD), then the MAC.
pub fn decrypt(encrypted_yaml: &str, identities: &Identities) -> Result<Decrypted, SopsError> {
    parse(encrypted_yaml)?.decrypt(identities)
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
