//! The age key source: wraps the 32-byte data key for each X25519 recipient (ASCII-armored, as sops
//! stores it in `enc:`), unwraps it with identities, finds identities like sops does, generates keys.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::ExposeSecret;
use zeroize::{Zeroize, Zeroizing};

use super::cipher::DataKey;
use super::error::SopsError;

/// An age X25519 recipient (`age1...`).
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The canonical (lower-case) `age1...` text.
    text: String,
    /// The public key's 32 bytes, for the stanza this crate writes (`x25519`).
    public: [u8; 32],
}

/// The 32 bytes of an age X25519 identity (its `AGE-SECRET-KEY-1...` text, bech32).
pub(super) fn secret_bytes(key: &age::x25519::Identity) -> Option<[u8; 32]> {
    let text = key.to_string();
    let (hrp, mut data) = bech32::decode(text.expose_secret()).ok()?;
    let bytes = hrp
        .as_str()
        .eq_ignore_ascii_case("age-secret-key-")
        .then(|| <[u8; 32]>::try_from(&data[..]).ok())
        .flatten();
    data.zeroize();
    bytes
}

/// The 32 bytes of an `age1...` recipient (bech32, as age encodes it).
pub(super) fn public_bytes(text: &str) -> Option<[u8; 32]> {
    let (hrp, data) = bech32::decode(text).ok()?;
    (hrp.as_str() == "age").then_some(())?;
    data.try_into().ok()
}

impl Recipient {
    /// Parses an `age1...` X25519 recipient; plugin and SSH recipients are refused with a clear error.
    pub fn parse(text: &str) -> Result<Self, SopsError> {
        let text = text.trim();
        let invalid = |reason: &str| SopsError::InvalidRecipient {
            recipient: text.to_string(),
            reason: reason.to_string(),
        };
        if text.starts_with("ssh-") {
            return Err(invalid(
                "SSH recipients are not supported (use an age X25519 key, age1...)",
            ));
        }
        if !text.starts_with("age1") {
            return Err(invalid("not an age recipient (expected age1...)"));
        }
        // Bech32 data has no '1': a second one means a plugin recipient (age1<plugin>1...).
        if text.matches('1').count() > 1 {
            return Err(invalid(
                "age plugin recipients are not supported (only X25519 age1... keys)",
            ));
        }
        let key = age::x25519::Recipient::from_str(text).map_err(invalid)?;
        // Keep the canonical lower-case form.
        let text = key.to_string();
        let public = public_bytes(&text).ok_or_else(|| invalid("not a 32-byte X25519 key"))?;
        Ok(Recipient { text, public })
    }

    /// The recipient of an age key (its text is canonical, so always decodes).
    fn of(key: age::x25519::Recipient) -> Self {
        let text = key.to_string();
        let public = public_bytes(&text).unwrap_or_default();
        Recipient { text, public }
    }

    /// The `age1...` text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Recipient {
    type Err = SopsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Recipient::parse(s)
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.text)
    }
}

/// A secret age identity (`AGE-SECRET-KEY-1...`); zeroized on drop, redacted in Debug.
pub struct SecretIdentity {
    key: age::x25519::Identity,
    text: Zeroizing<String>,
}

impl SecretIdentity {
    /// The `AGE-SECRET-KEY-1...` text (zeroized when dropped). Write it only to a key file.
    pub fn to_string_secret(&self) -> Zeroizing<String> {
        self.text.clone()
    }

    /// The `AGE-SECRET-KEY-1...` text, borrowed (for writing a key file).
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The matching recipient.
    pub fn recipient(&self) -> Recipient {
        Recipient::of(self.key.to_public())
    }
}

impl fmt::Debug for SecretIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretIdentity(<redacted>, recipient {})",
            self.recipient()
        )
    }
}

/// Generates a new age X25519 identity and its recipient.
pub fn generate_identity() -> (SecretIdentity, Recipient) {
    let key = age::x25519::Identity::generate();
    let text = Zeroizing::new(key.to_string().expose_secret().to_string());
    let id = SecretIdentity { key, text };
    let r = id.recipient();
    (id, r)
}

/// One or more age identities (secret keys), used to unwrap the data key.
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
    sources: Vec<String>,
    /// The keys as the stanza code opens with them (`x25519`), made on first use.
    fast: std::sync::OnceLock<Vec<Option<super::x25519::Identity>>>,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Identities({} key(s) from {:?}, <redacted>)",
            self.keys.len(),
            self.sources
        )
    }
}

/// Parses key-file text: one identity per line, blank lines and `#` comments ignored.
fn parse_keys(text: &str, source: &str) -> Result<Vec<age::x25519::Identity>, SopsError> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let invalid = |reason: &str| SopsError::InvalidIdentity {
            origin: source.to_string(),
            line: n + 1,
            reason: reason.to_string(),
        };
        if line.starts_with("AGE-PLUGIN-") {
            return Err(invalid("age plugin identities are not supported"));
        }
        if !line.starts_with("AGE-SECRET-KEY-1") {
            return Err(invalid(
                "not an age identity (expected AGE-SECRET-KEY-1...)",
            ));
        }
        let mut owned = line.to_string();
        let parsed = age::x25519::Identity::from_str(&owned);
        owned.zeroize();
        keys.push(parsed.map_err(|_| invalid("not a valid age X25519 identity"))?);
    }
    Ok(keys)
}

impl Identities {
    /// Parses identities from key-file text (as written by age-keygen; comments ignored).
    /// Text without any identity is an error.
    pub fn parse(text: &str) -> Result<Self, SopsError> {
        Self::parse_from(text, "the given text")
    }

    /// Parses identities from key-file text read from `source` (a path, or a variable's name),
    /// which errors and [`Identities::sources`] name.
    pub fn parse_from(text: &str, source: &str) -> Result<Self, SopsError> {
        let keys = parse_keys(text, source)?;
        if keys.is_empty() {
            return Err(SopsError::NoIdentities {
                searched: vec![source.to_string()],
            });
        }
        Ok(Identities {
            keys,
            sources: vec![source.to_string()],
            fast: Default::default(),
        })
    }

    /// [`Identities::parse_from`], but text without any identity (only comments, or nothing)
    /// is `None`, as sops skips a key file that holds none.
    pub fn parse_optional(text: &str, source: &str) -> Result<Option<Self>, SopsError> {
        let keys = parse_keys(text, source)?;
        Ok((!keys.is_empty()).then(|| Identities {
            keys,
            sources: vec![source.to_string()],
            fast: Default::default(),
        }))
    }

    /// Identities from one secret identity (for example a freshly generated one).
    pub fn from_identity(identity: SecretIdentity) -> Self {
        Identities {
            keys: vec![identity.key],
            sources: vec!["a generated identity".into()],
            fast: Default::default(),
        }
    }

    /// Adds the identities of `other` (for example from another key file).
    pub fn extend(&mut self, other: Identities) {
        self.keys.extend(other.keys);
        self.sources.extend(other.sources);
        self.fast = Default::default();
    }

    /// How many identities there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: an `Identities` holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The recipients (public keys) of these identities.
    pub fn recipients(&self) -> Vec<Recipient> {
        self.keys
            .iter()
            .map(|k| Recipient::of(k.to_public()))
            .collect()
    }

    /// Where the identities came from (environment variable names or file paths).
    pub fn sources(&self) -> &[String] {
        &self.sources
    }
}

/// Encrypts the raw 32-byte data key to one recipient: the armored age file sops stores in `enc:`.
pub(crate) fn wrap(key: &DataKey, recipient: &Recipient) -> Result<String, SopsError> {
    let crypto = |what: &str, e: &dyn fmt::Display| SopsError::Crypto {
        reason: format!("age {what}: {e}"),
    };
    // age's X25519 stanza, with the recipient's multiples precomputed (see `x25519`).
    let fast = super::x25519::Recipient::new(recipient.public);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&fast as &dyn age::Recipient))
        .map_err(|e| crypto("encryption", &e))?;
    let mut out = Vec::new();
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor)
        .map_err(|e| crypto("armor", &e))?;
    let mut writer = encryptor
        .wrap_output(armor)
        .map_err(|e| crypto("encryption", &e))?;
    writer
        .write_all(key.as_bytes())
        .map_err(|e| crypto("encryption", &e))?;
    let armor = writer.finish().map_err(|e| crypto("encryption", &e))?;
    armor.finish().map_err(|e| crypto("armor", &e))?;
    let mut text = String::from_utf8(out).map_err(|e| crypto("armor", &e))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Why no age entry gave the data key.
pub(crate) enum UnwrapFailure {
    /// The age file is damaged or not an age file.
    Invalid(String),
    /// None of the identities is a recipient of this entry.
    NoMatch,
}

impl Identities {
    /// The keys as the stanza code opens with them, made once.
    fn fast(&self) -> &[Option<super::x25519::Identity>] {
        self.fast.get_or_init(|| {
            self.keys
                .iter()
                .map(|k| secret_bytes(k).map(super::x25519::Identity::new))
                .collect()
        })
    }
}

/// Whether `enc` (one age entry of a SOPS file) opens with `identities` without the age crate's
/// parser (`age_file`): what a check of tens of thousands of files relies on.
pub(crate) fn opens_directly(enc: &str, identities: &Identities) -> bool {
    super::age_file::open(enc, identities.fast()).is_some()
}

/// Decrypts one `enc:` block with the identities.
pub(crate) fn unwrap(enc: &str, identities: &Identities) -> Result<DataKey, UnwrapFailure> {
    let fast = identities.fast();
    // The shape sops writes is opened directly; the age crate decides everything else.
    if let Some(plain) = super::age_file::open(enc, fast) {
        return DataKey::from_slice(&plain).ok_or_else(|| {
            UnwrapFailure::Invalid(format!(
                "the data key is {} bytes, expected 32",
                plain.len()
            ))
        });
    }
    let reader = ArmoredReader::new(enc.trim_start().as_bytes());
    let decryptor =
        age::Decryptor::new(reader).map_err(|e| UnwrapFailure::Invalid(e.to_string()))?;
    // A key the stanza code could not take (none known) is tried as age's own identity.
    let ids = fast
        .iter()
        .zip(&identities.keys)
        .map(|(fast, key)| match fast {
            Some(fast) => fast as &dyn age::Identity,
            None => key as &dyn age::Identity,
        });
    let mut stream = match decryptor.decrypt(ids) {
        Ok(s) => s,
        Err(age::DecryptError::NoMatchingKeys) => return Err(UnwrapFailure::NoMatch),
        Err(e) => return Err(UnwrapFailure::Invalid(e.to_string())),
    };
    let mut plain = Zeroizing::new(Vec::new());
    // The payload is 32 bytes; read at most a little more to detect a wrong size.
    (&mut stream)
        .take(1024)
        .read_to_end(&mut plain)
        .map_err(|e| UnwrapFailure::Invalid(e.to_string()))?;
    DataKey::from_slice(&plain).ok_or_else(|| {
        UnwrapFailure::Invalid(format!(
            "the data key is {} bytes, expected 32",
            plain.len()
        ))
    })
}
