//! The tree walk: which values the rule encrypts, each value's AAD (map keys joined by ':' plus ':'),
//! the MAC (SHA-512 over the typed plaintext of the leaves, in order), and decrypt-and-verify.

use sha2::{Digest, Sha512};
use zeroize::Zeroize;

use super::cipher::{self, DataKey, EncValue, ValueType};
use super::error::SopsError;
use super::metadata::CompiledRule;
use super::yaml::{Document, MapItem, Node, Scalar, SeqItem};

/// SHA-256("sops"): the MAC starts with it when `mac_only_encrypted` is set.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The running MAC over all documents.
pub(crate) struct Mac {
    hash: Sha512,
    only_encrypted: bool,
}

impl Mac {
    pub(crate) fn new(only_encrypted: bool) -> Self {
        let mut hash = Sha512::new();
        if only_encrypted {
            hash.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        Mac {
            hash,
            only_encrypted,
        }
    }

    fn add(&mut self, encrypted: bool, bytes: &[u8]) {
        if !self.only_encrypted || encrypted {
            self.hash.update(bytes);
        }
    }

    /// Uppercase hex of the digest, as sops writes it.
    pub(crate) fn finish(self) -> String {
        self.hash
            .finalize()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }
}

/// Where a value is, for error messages: document number (1-based) and a readable path.
struct Place {
    document: usize,
    keys: Vec<String>,
    display: Vec<String>,
}

impl Place {
    fn aad(&self) -> String {
        let mut s = self.keys.join(":");
        s.push(':');
        s
    }
    fn shown(&self) -> String {
        if self.display.is_empty() {
            "(top level)".to_string()
        } else {
            self.display.join(".")
        }
    }
}

struct Walk<'a> {
    rule: &'a CompiledRule,
    key: &'a DataKey,
    mac: &'a mut Mac,
    comments: Vec<Vec<String>>,
}

impl Walk<'_> {
    fn should(&self, place: &Place, is_comment: bool) -> bool {
        self.rule
            .should_encrypt(&place.keys, &self.comments, is_comment)
    }

    fn push_comment(&mut self, c: &str) {
        if let Some(level) = self.comments.last_mut() {
            level.push(c.to_string());
        }
    }

    fn clear_comments(&mut self) {
        if let Some(level) = self.comments.last_mut() {
            level.clear();
        }
    }

    // ----- encryption ------------------------------------------------------------------------

    fn enc_err(place: &Place, reason: impl Into<String>) -> SopsError {
        SopsError::InvalidTree {
            document: place.document,
            path: place.shown(),
            reason: reason.into(),
        }
    }

    fn encrypt_text(
        &self,
        place: &Place,
        plain: &[u8],
        ty: ValueType,
    ) -> Result<String, SopsError> {
        cipher::encrypt_bytes(self.key, plain, &place.aad(), ty)
            .map_err(|reason| SopsError::Crypto { reason })
    }

    fn encrypt_map(&mut self, items: &mut [MapItem], place: &mut Place) -> Result<(), SopsError> {
        self.comments.push(Vec::new());
        for item in items.iter_mut() {
            match item {
                MapItem::Comment(c) => {
                    self.push_comment(c);
                    if self.should(place, true) && !c.is_empty() {
                        let enc = self.encrypt_text(place, c.as_bytes(), ValueType::Comment)?;
                        c.zeroize();
                        *c = enc;
                    }
                }
                MapItem::Entry(k, v) => {
                    place.keys.push(k.clone());
                    place.display.push(k.clone());
                    self.encrypt_node(v, place)?;
                    place.keys.pop();
                    place.display.pop();
                    self.clear_comments();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn encrypt_seq(&mut self, items: &mut [SeqItem], place: &mut Place) -> Result<(), SopsError> {
        self.comments.push(Vec::new());
        let mut index = 0;
        for item in items.iter_mut() {
            match item {
                SeqItem::Comment(c) => {
                    self.push_comment(c);
                    if self.should(place, true) && !c.is_empty() {
                        // sops's quirk: an encrypted comment in a list becomes a list item.
                        let enc = self.encrypt_text(place, c.as_bytes(), ValueType::Comment)?;
                        c.zeroize();
                        *item = SeqItem::Value(Node::Scalar(Scalar::Str(enc)));
                    }
                }
                SeqItem::Value(v) => {
                    place.display.push(format!("[{index}]"));
                    self.encrypt_node(v, place)?;
                    place.display.pop();
                    index += 1;
                    self.clear_comments();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn encrypt_node(&mut self, node: &mut Node, place: &mut Place) -> Result<(), SopsError> {
        match node {
            Node::Map(items) => self.encrypt_map(items, place),
            Node::Seq(items) => self.encrypt_seq(items, place),
            Node::Scalar(s) => {
                let Some((plain, ty)) =
                    cipher::plaintext_of(s).map_err(|r| Self::enc_err(place, r))?
                else {
                    return Ok(()); // null: neither encrypted nor hashed
                };
                let encrypted = self.should(place, false);
                self.mac.add(encrypted, &plain);
                if encrypted && !plain.is_empty() {
                    let enc = self.encrypt_text(place, &plain, ty)?;
                    zeroize_scalar(s);
                    *s = Scalar::Str(enc);
                }
                Ok(())
            }
        }
    }

    // ----- decryption ------------------------------------------------------------------------

    fn value_err(place: &Place) -> SopsError {
        SopsError::ValueDecrypt {
            document: place.document,
            path: place.shown(),
        }
    }

    fn enc_format_err(place: &Place, reason: impl Into<String>) -> SopsError {
        SopsError::InvalidEnc {
            document: place.document,
            path: place.shown(),
            reason: reason.into(),
        }
    }

    /// Decrypts a comment; on failure the comment is kept as it is (sops warns and keeps it).
    fn decrypt_comment(&mut self, c: &str, place: &Place) -> Option<(Scalar, ValueType)> {
        let v = EncValue::parse(c).ok()?;
        let plain = v.decrypt(self.key, &place.aad())?;
        let s = cipher::typed_from_plaintext(v.ty, &plain).ok()?;
        Some((s, v.ty))
    }

    fn decrypt_map(&mut self, items: &mut [MapItem], place: &mut Place) -> Result<(), SopsError> {
        self.comments.push(Vec::new());
        for item in items.iter_mut() {
            match item {
                MapItem::Comment(c) => {
                    self.push_comment(c);
                    if self.should(place, true)
                        && let Some((s, ty)) = self.decrypt_comment(c, place)
                    {
                        if ty != ValueType::Comment
                            && let Ok(Some((bytes, _))) = cipher::plaintext_of(&s)
                        {
                            // sops hashes a non-comment that sits in a comment's place.
                            self.mac.add(true, &bytes);
                        }
                        if let Scalar::Str(text) = s {
                            *c = text;
                        }
                    }
                }
                MapItem::Entry(k, v) => {
                    place.keys.push(k.clone());
                    place.display.push(k.clone());
                    self.decrypt_node(v, place)?;
                    place.keys.pop();
                    place.display.pop();
                    self.clear_comments();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn decrypt_seq(&mut self, items: &mut [SeqItem], place: &mut Place) -> Result<(), SopsError> {
        self.comments.push(Vec::new());
        let mut index = 0;
        for item in items.iter_mut() {
            match item {
                SeqItem::Comment(c) => {
                    self.push_comment(c);
                    if self.should(place, true)
                        && let Some((Scalar::Str(text), _)) = self.decrypt_comment(c, place)
                    {
                        *c = text;
                    }
                }
                SeqItem::Value(v) => {
                    place.display.push(format!("[{index}]"));
                    // An encrypted comment stored as a list item turns back into a comment.
                    if let Node::Scalar(Scalar::Str(s)) = v
                        && cipher::looks_encrypted(s)
                        && s.ends_with(",type:comment]")
                        && self.should(place, false)
                    {
                        let parsed =
                            EncValue::parse(s).map_err(|r| Self::enc_format_err(place, r))?;
                        let plain = parsed
                            .decrypt(self.key, &place.aad())
                            .ok_or_else(|| Self::value_err(place))?;
                        let text = String::from_utf8(plain.to_vec()).map_err(|_| {
                            Self::enc_format_err(place, "a decrypted comment is not UTF-8")
                        })?;
                        *item = SeqItem::Comment(text);
                        place.display.pop();
                        self.clear_comments();
                        continue;
                    }
                    self.decrypt_node(v, place)?;
                    place.display.pop();
                    index += 1;
                    self.clear_comments();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn decrypt_node(&mut self, node: &mut Node, place: &mut Place) -> Result<(), SopsError> {
        match node {
            Node::Map(items) => self.decrypt_map(items, place),
            Node::Seq(items) => self.decrypt_seq(items, place),
            Node::Scalar(s) => {
                if matches!(s, Scalar::Null) {
                    return Ok(());
                }
                let encrypted = self.should(place, false);
                if encrypted {
                    let Scalar::Str(text) = &*s else {
                        return Err(Self::enc_format_err(
                            place,
                            "a value the rule encrypts is not an ENC[...] string",
                        ));
                    };
                    if text.is_empty() {
                        // "" is never encrypted; it adds nothing to the MAC.
                        return Ok(());
                    }
                    let parsed =
                        EncValue::parse(text).map_err(|r| Self::enc_format_err(place, r))?;
                    if parsed.ty == ValueType::Comment {
                        return Err(Self::enc_format_err(
                            place,
                            "an encrypted comment stands in a value's place",
                        ));
                    }
                    let plain = parsed
                        .decrypt(self.key, &place.aad())
                        .ok_or_else(|| Self::value_err(place))?;
                    let typed = cipher::typed_from_plaintext(parsed.ty, &plain)
                        .map_err(|r| Self::enc_format_err(place, r))?;
                    let (bytes, _) = cipher::plaintext_of(&typed)
                        .map_err(|r| Self::enc_format_err(place, r))?
                        .ok_or_else(|| Self::enc_format_err(place, "decrypted to null"))?;
                    self.mac.add(true, &bytes);
                    *s = typed;
                } else {
                    let Some((bytes, _)) =
                        cipher::plaintext_of(s).map_err(|r| Self::enc_format_err(place, r))?
                    else {
                        return Ok(());
                    };
                    self.mac.add(false, &bytes);
                }
                Ok(())
            }
        }
    }
}

fn zeroize_scalar(s: &mut Scalar) {
    if let Scalar::Str(v) = s {
        v.zeroize();
    }
}

/// Zeroizes every string of a tree (keys, values, comments).
pub(crate) fn zeroize_document(doc: &mut Document) {
    fn node(n: &mut Node) {
        match n {
            Node::Scalar(s) => zeroize_scalar(s),
            Node::Map(items) => items.iter_mut().for_each(map_item),
            Node::Seq(items) => items.iter_mut().for_each(|i| match i {
                SeqItem::Comment(c) => c.zeroize(),
                SeqItem::Value(v) => node(v),
            }),
        }
    }
    fn map_item(i: &mut MapItem) {
        match i {
            MapItem::Comment(c) => c.zeroize(),
            MapItem::Entry(k, v) => {
                k.zeroize();
                node(v);
            }
        }
    }
    doc.iter_mut().for_each(map_item);
}

/// Encrypts the documents in place under the rule; returns the MAC (uppercase hex, not yet encrypted).
pub(crate) fn encrypt_documents(
    docs: &mut [Document],
    rule: &CompiledRule,
    key: &DataKey,
    mac_only: bool,
) -> Result<String, SopsError> {
    let mut mac = Mac::new(mac_only);
    for (i, doc) in docs.iter_mut().enumerate() {
        let mut walk = Walk {
            rule,
            key,
            mac: &mut mac,
            comments: Vec::new(),
        };
        let mut place = Place {
            document: i + 1,
            keys: Vec::new(),
            display: Vec::new(),
        };
        walk.encrypt_map(doc, &mut place)?;
    }
    Ok(mac.finish())
}

/// Decrypts the documents in place (every value must decrypt); returns the computed MAC.
pub(crate) fn decrypt_documents(
    docs: &mut [Document],
    rule: &CompiledRule,
    key: &DataKey,
    mac_only: bool,
) -> Result<String, SopsError> {
    let mut mac = Mac::new(mac_only);
    for (i, doc) in docs.iter_mut().enumerate() {
        let mut walk = Walk {
            rule,
            key,
            mac: &mut mac,
            comments: Vec::new(),
        };
        let mut place = Place {
            document: i + 1,
            keys: Vec::new(),
            display: Vec::new(),
        };
        walk.decrypt_map(doc, &mut place)?;
    }
    Ok(mac.finish())
}

/// Encrypts the MAC with AAD = the `lastmodified` text.
pub(crate) fn encrypt_mac(
    mac: &str,
    key: &DataKey,
    lastmodified: &str,
) -> Result<String, SopsError> {
    cipher::encrypt_bytes(key, mac.as_bytes(), lastmodified, ValueType::Str)
        .map_err(|reason| SopsError::Crypto { reason })
}

/// Decrypts the file's MAC; `Ok(None)` for an empty `mac:` (sops: "File has no MAC").
pub(crate) fn decrypt_mac(
    mac: &str,
    key: &DataKey,
    aad: &str,
) -> Result<Option<String>, SopsError> {
    if mac.is_empty() {
        return Ok(None);
    }
    let v = EncValue::parse(mac).map_err(|_| SopsError::MacDecrypt)?;
    let plain = v.decrypt(key, aad).ok_or(SopsError::MacDecrypt)?;
    if v.ty != ValueType::Str {
        return Ok(Some(format!("(a MAC of type {})", v.ty.as_str())));
    }
    String::from_utf8(plain.to_vec())
        .map(Some)
        .map_err(|_| SopsError::MacDecrypt)
}
