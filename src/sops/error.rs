//! What can go wrong reading or writing a SOPS file, in the classes `sops decrypt` reports.

use super::yaml;

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
            | SopsError::Unsupported { .. } => 1,
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
