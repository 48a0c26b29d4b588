//! The value cipher: AES-256-GCM with sops's 32-byte IVs, the `ENC[AES256_GCM,...]` text (strict
//! parser), and the typed plaintext bytes sops encrypts and hashes (`True`, Go float text, RFC 3339).

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::{Zeroize, Zeroizing};

use super::timestamp::GoTime;
use super::yaml::{Scalar, go_format_float_f};

/// AES-256-GCM with a 32-byte nonce, as sops uses it.
type SopsGcm = AesGcm<Aes256, U32>;

/// Length of the IV sops writes.
pub(crate) const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The 32-byte data key of a file; zeroized on drop, never printed.
pub(crate) struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub(crate) fn generate() -> Result<Self, String> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(k.as_mut()).map_err(|e| format!("no randomness for the data key: {e}"))?;
        Ok(DataKey(k))
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(arr)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> SopsGcm {
        SopsGcm::new(aes_gcm::Key::<SopsGcm>::from_slice(self.0.as_slice()))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// The `type:` of an encrypted value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueType {
    Str,
    Int,
    Float,
    Bool,
    Time,
    Bytes,
    Comment,
}

impl ValueType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Time => "time",
            ValueType::Bytes => "bytes",
            ValueType::Comment => "comment",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "str" => ValueType::Str,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "time" => ValueType::Time,
            "bytes" => ValueType::Bytes,
            "comment" => ValueType::Comment,
            _ => return None,
        })
    }
}

/// A parsed `ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]` value.
pub(crate) struct EncValue {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    pub(crate) ty: ValueType,
}

fn b64(field: &str, s: &str) -> Result<Vec<u8>, String> {
    B64.decode(s.as_bytes())
        .map_err(|_| format!("the {field} field is not valid base64"))
}

/// Does this text look like an encrypted value (so that a reader must treat it as one)?
pub(crate) fn looks_encrypted(s: &str) -> bool {
    s.starts_with("ENC[")
}

impl EncValue {
    /// Strict parser: exactly the layout sops writes, standard padded base64, a 32-byte IV,
    /// a 16-byte tag and a known type.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let inner = s
            .strip_prefix("ENC[AES256_GCM,data:")
            .and_then(|r| r.strip_suffix(']'))
            .ok_or_else(|| {
                "not of the form ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]".to_string()
            })?;
        let (data, rest) = inner.split_once(",iv:").ok_or("missing iv field")?;
        let (iv, rest) = rest.split_once(",tag:").ok_or("missing tag field")?;
        let (tag, ty) = rest.split_once(",type:").ok_or("missing type field")?;
        if data.is_empty() {
            return Err("empty data field".into());
        }
        let data = b64("data", data)?;
        let iv = b64("iv", iv)?;
        let tag = b64("tag", tag)?;
        if iv.len() != IV_LEN {
            return Err(format!("the iv is {} bytes, expected {IV_LEN}", iv.len()));
        }
        if tag.len() != TAG_LEN {
            return Err(format!(
                "the tag is {} bytes, expected {TAG_LEN}",
                tag.len()
            ));
        }
        let ty = ValueType::parse(ty).ok_or_else(|| {
            "unknown type (not str, int, float, bool, time, bytes or comment)".to_string()
        })?;
        Ok(EncValue { data, iv, tag, ty })
    }

    /// Decrypts with the data key and the AAD; the plaintext is zeroized when dropped.
    pub(crate) fn decrypt(&self, key: &DataKey, aad: &str) -> Option<Zeroizing<Vec<u8>>> {
        let mut buf = Zeroizing::new(self.data.clone());
        let nonce = Nonce::<U32>::from_slice(&self.iv);
        let tag = Tag::<aes_gcm::aead::consts::U16>::from_slice(&self.tag);
        key.cipher()
            .decrypt_in_place_detached(nonce, aad.as_bytes(), &mut buf, tag)
            .ok()?;
        Some(buf)
    }
}

/// Encrypts plaintext bytes under the data key with a fresh IV: the `ENC[...]` text.
pub(crate) fn encrypt_bytes(
    key: &DataKey,
    plain: &[u8],
    aad: &str,
    ty: ValueType,
) -> Result<String, String> {
    let mut iv = [0u8; IV_LEN];
    getrandom::fill(&mut iv).map_err(|e| format!("no randomness for an IV: {e}"))?;
    let mut buf = Zeroizing::new(plain.to_vec());
    let nonce = Nonce::<U32>::from_slice(&iv);
    let tag = key
        .cipher()
        .encrypt_in_place_detached(nonce, aad.as_bytes(), &mut buf)
        .map_err(|_| "AES-GCM encryption failed".to_string())?;
    Ok(format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
        B64.encode(buf.as_slice()),
        B64.encode(iv),
        B64.encode(tag.as_slice()),
        ty.as_str()
    ))
}

/// Plaintext bytes (zeroized on drop) with their `type:`.
pub(crate) type Plaintext = (Zeroizing<Vec<u8>>, ValueType);

/// The plaintext bytes of a scalar and its `type:` (also the bytes the MAC hashes).
/// `None` for null (never encrypted, never hashed); `Err` for a uint64 (sops cannot walk it).
pub(crate) fn plaintext_of(s: &Scalar) -> Result<Option<Plaintext>, &'static str> {
    let (bytes, ty) = match s {
        Scalar::Null => return Ok(None),
        Scalar::Str(v) => (v.as_bytes().to_vec(), ValueType::Str),
        Scalar::Int(i) => (i.to_string().into_bytes(), ValueType::Int),
        Scalar::Uint(_) => {
            return Err(
                "an integer between 2^63 and 2^64 (yaml.v3 reads it as uint64, which sops cannot encrypt)",
            );
        }
        Scalar::Float(f) => (go_format_float_f(*f).into_bytes(), ValueType::Float),
        Scalar::Bool(b) => (
            (if *b { "True" } else { "False" }).as_bytes().to_vec(),
            ValueType::Bool,
        ),
        Scalar::Time(t) => (t.to_rfc3339_nano().into_bytes(), ValueType::Time),
    };
    Ok(Some((Zeroizing::new(bytes), ty)))
}

/// Turns decrypted bytes back into a typed scalar, as sops does for each `type:`.
pub(crate) fn typed_from_plaintext(ty: ValueType, plain: &[u8]) -> Result<Scalar, &'static str> {
    let text = std::str::from_utf8(plain).map_err(|_| "the decrypted value is not UTF-8")?;
    Ok(match ty {
        ValueType::Str | ValueType::Bytes | ValueType::Comment => Scalar::Str(text.to_string()),
        ValueType::Int => Scalar::Int(
            text.parse::<i64>()
                .map_err(|_| "the decrypted int does not parse")?,
        ),
        ValueType::Float => {
            let mut t = text.to_string();
            let f = t
                .parse::<f64>()
                .map_err(|_| "the decrypted float does not parse")?;
            t.zeroize();
            Scalar::Float(f)
        }
        ValueType::Bool => Scalar::Bool(match text {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err("the decrypted bool does not parse"),
        }),
        ValueType::Time => {
            Scalar::Time(GoTime::parse_rfc3339(text).ok_or("the decrypted time is not RFC 3339")?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enc_parser_is_strict() {
        let key = DataKey::generate().unwrap();
        let enc = encrypt_bytes(&key, b"hello", "a:b:", ValueType::Str).unwrap();
        assert!(EncValue::parse(&enc).is_ok());
        assert!(EncValue::parse(&format!("{enc}x")).is_err());
        assert!(EncValue::parse(&enc.replace("type:str", "type:weird")).is_err());
        assert!(EncValue::parse("ENC[AES256_GCM,data:,iv:AA==,tag:AA==,type:str]").is_err());
        let v = EncValue::parse(&enc).unwrap();
        assert_eq!(v.decrypt(&key, "a:b:").unwrap().as_slice(), b"hello");
        assert!(v.decrypt(&key, "a:c:").is_none());
    }
}
