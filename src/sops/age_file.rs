//! Opens the age file sops stores per recipient (`enc:`: ASCII-armored, X25519 stanzas, a
//! payload of one chunk) without the age crate's general header parser, which costs more than
//! the X25519 exchange itself when a check opens tens of thousands of them. Only that exact,
//! canonical shape is taken here, and a file is opened only when every check age makes passes
//! (the stanza opens, the header MAC verifies, the payload's last chunk authenticates); for
//! anything else this gives up and the age crate decides, with its own errors.

use age::Identity as _;
use age_core::format::Stanza;
use age_core::primitives::hkdf;
use age_core::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::x25519::Identity;

const BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----\n";
const END: &str = "-----END AGE ENCRYPTED FILE-----\n";
const VERSION_LINE: &[u8] = b"age-encryption.org/v1\n";
const MAC_PREFIX: &[u8] = b"---";
/// The payload of one chunk at most (sops's data key is 32 bytes).
const MAX_PAYLOAD: usize = 64 * 1024;

/// The plaintext of the age file `armored`, opened with one of `identities`; `None` when this
/// reader does not open it (another shape, not for these identities, or damaged): then the age
/// crate decides.
pub(crate) fn open(armored: &str, identities: &[Option<Identity>]) -> Option<Zeroizing<Vec<u8>>> {
    let binary = dearmor(armored)?;
    let (stanzas, mac_covered, mac, payload) = header(&binary)?;
    let file_key = stanzas.iter().find_map(|stanza| {
        identities
            .iter()
            .flatten()
            .find_map(|identity| identity.unwrap_stanza(stanza)?.ok())
    })?;
    let mac_key = hkdf(&[], b"header", file_key.expose_secret());
    let mut hmac = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key).ok()?;
    hmac.update(mac_covered);
    hmac.verify_slice(&mac).ok()?;
    let (nonce, chunk) = payload.split_at_checked(16)?;
    if chunk.len() < 16 || chunk.len() > MAX_PAYLOAD + 16 {
        return None;
    }
    let key = Zeroizing::new(hkdf(nonce, b"payload", file_key.expose_secret()));
    let cipher = ChaCha20Poly1305::new(key.as_slice().into());
    // The first chunk is the last: counter 0, last-chunk flag set.
    let mut chunk_nonce = [0u8; 12];
    chunk_nonce[11] = 1;
    let plain = cipher
        .decrypt(Nonce::from_slice(&chunk_nonce), chunk)
        .ok()?;
    // age refuses an empty last chunk unless it is the whole payload; here it is the only one.
    Some(Zeroizing::new(plain))
}

/// The bytes of an armored age file: exactly the canonical armor (64-column lines, padding, LF).
fn dearmor(armored: &str) -> Option<Vec<u8>> {
    let body = armored.trim_start().strip_prefix(BEGIN)?;
    let body = body.strip_suffix(END).or_else(|| {
        body.strip_suffix(&END[..END.len() - 1])
            .filter(|b| b.ends_with('\n'))
    })?;
    let lines: Vec<&str> = body.lines().collect();
    let (last, full) = lines.split_last()?;
    if full.iter().any(|l| l.len() != 64) || last.is_empty() || last.len() > 64 {
        return None;
    }
    let mut joined = String::with_capacity(body.len());
    for line in &lines {
        joined.push_str(line);
    }
    STANDARD.decode(joined).ok()
}

type Parts<'a> = (Vec<Stanza>, &'a [u8], [u8; 32], &'a [u8]);

/// The stanzas of a v1 header, the bytes its MAC covers, the MAC, and the payload after it.
fn header(binary: &[u8]) -> Option<Parts<'_>> {
    let mut rest = binary.strip_prefix(VERSION_LINE)?;
    let mut stanzas = Vec::new();
    loop {
        let line_end = rest.iter().position(|b| *b == b'\n')?;
        let line = &rest[..line_end];
        if let Some(mac) = line.strip_prefix(b"--- ") {
            let covered_len = binary.len() - rest.len() + MAC_PREFIX.len();
            let mac: [u8; 32] = base64_exact(mac)?;
            return Some((stanzas, &binary[..covered_len], mac, &rest[line_end + 1..]));
        }
        let args = line.strip_prefix(b"-> ")?;
        let args: Vec<String> = args
            .split(|b| *b == b' ')
            .map(|arg| {
                (!arg.is_empty() && arg.iter().all(|b| (33..=126).contains(b)))
                    .then(|| String::from_utf8(arg.to_vec()).ok())
                    .flatten()
            })
            .collect::<Option<_>>()?;
        let (tag, args) = args.split_first()?;
        rest = &rest[line_end + 1..];
        // The body: full 64-column lines, then one shorter line (possibly empty).
        let mut body_b64 = Vec::new();
        loop {
            let end = rest.iter().position(|b| *b == b'\n')?;
            let line = &rest[..end];
            if line.len() > 64 {
                return None;
            }
            body_b64.extend_from_slice(line);
            rest = &rest[end + 1..];
            if line.len() < 64 {
                break;
            }
        }
        let body = STANDARD_NO_PAD.decode(&body_b64).ok()?;
        stanzas.push(Stanza {
            tag: tag.clone(),
            args: args.to_vec(),
            body,
        });
    }
}

/// Exactly `N` bytes from canonical unpadded base64.
fn base64_exact<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let mut buf = vec![0u8; N + 2];
    match STANDARD_NO_PAD.decode_slice(text, &mut buf) {
        Ok(n) if n == N => buf[..N].try_into().ok(),
        _ => None,
    }
}

/// The file key of a stanza list for these identities (for tests: what `open` found).
#[cfg(test)]
fn file_key_of(
    stanzas: &[Stanza],
    identities: &[Option<Identity>],
) -> Option<age_core::format::FileKey> {
    stanzas.iter().find_map(|s| {
        identities
            .iter()
            .flatten()
            .find_map(|i| i.unwrap_stanza(s)?.ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An age file of `plain` for a fresh identity, armored by the age crate; and the identity.
    fn sealed(plain: &[u8]) -> (String, age::x25519::Identity) {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut out = Vec::new();
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                .unwrap();
        let mut writer = encryptor.wrap_output(armor).unwrap();
        writer.write_all(plain).unwrap();
        writer.finish().unwrap().finish().unwrap();
        (String::from_utf8(out).unwrap(), identity)
    }

    fn ours(identity: &age::x25519::Identity) -> Vec<Option<Identity>> {
        vec![super::super::age::secret_bytes(identity).map(Identity::new)]
    }

    #[test]
    fn an_age_file_the_age_crate_wrote_opens() {
        let (text, identity) = sealed(b"thirty-two bytes of a data key..");
        let plain = open(&text, &ours(&identity)).unwrap();
        assert_eq!(plain.as_slice(), b"thirty-two bytes of a data key..");
    }

    #[test]
    fn a_file_for_someone_else_does_not_open() {
        let (text, _) = sealed(b"the key");
        let other = age::x25519::Identity::generate();
        assert!(open(&text, &ours(&other)).is_none());
    }

    /// Every byte of the file, changed in turn, keeps it from opening here (age decides then).
    #[test]
    fn a_file_changed_anywhere_does_not_open() {
        let (text, identity) = sealed(b"the key");
        let identities = ours(&identity);
        let binary = dearmor(&text).unwrap();
        let (stanzas, ..) = header(&binary).unwrap();
        assert!(file_key_of(&stanzas, &identities).is_some());
        for i in 0..binary.len() {
            let mut changed = binary.clone();
            changed[i] ^= 0x01;
            let armored = {
                let b64 = STANDARD.encode(&changed);
                let mut s = String::from(BEGIN);
                for line in b64.as_bytes().chunks(64) {
                    s.push_str(std::str::from_utf8(line).unwrap());
                    s.push('\n');
                }
                s.push_str(END);
                s
            };
            assert!(
                open(&armored, &identities).is_none(),
                "byte {i} changed, and the file still opened"
            );
        }
    }
}
