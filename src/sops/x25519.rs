//! age's X25519 recipient stanza (c2sp.org/age, "X25519 recipient stanza"), for a recipient that
//! is sent thousands of files: the shared secret is computed with a table of the recipient's
//! multiples, made once per recipient and kept for the process, instead of a Montgomery ladder
//! per file. Everything else is the age crate's: its HKDF and ChaCha20-Poly1305 primitives, its
//! header, MAC, payload and armor. The stanza is the one age's own recipient writes; the real age
//! and sops decrypt it in the tests, and a test holds the shared secret to x25519-dalek's ladder.
//!
//! Why it is safe: the table multiplication is constant-time in the scalar (dalek's fixed-base
//! multiplication, the one Ed25519 signing uses for secret scalars); it runs on the clamped
//! scalar unreduced, as the ladder does, so the result is the ladder's; and it is used only for
//! a recipient on the curve and in the prime-order subgroup (every key `age-keygen` or mesh-render
//! makes). Any other key takes the ladder.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use age::EncryptError;
use age_core::format::{FileKey, Stanza};
use age_core::primitives::{aead_decrypt, aead_encrypt, hkdf};
use age_core::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use curve25519_dalek::edwards::EdwardsBasepointTable;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::traits::BasepointTable;
use zeroize::Zeroize;

/// The stanza's tag and its HKDF label (c2sp.org/age).
const TAG: &str = "X25519";
const KEY_LABEL: &[u8] = b"age-encryption.org/v1/X25519";

/// How the shared secret with one recipient is computed.
enum Multiplier {
    /// By a table of the recipient's multiples.
    Table(Box<EdwardsBasepointTable>),
    /// By the ladder: the key is not a prime-order point on the curve.
    Ladder,
}

/// An age X25519 recipient, by its public key.
pub(crate) struct Recipient {
    public: [u8; 32],
    multiplier: Arc<Multiplier>,
}

/// Each recipient's multiplier, made on first use.
fn multipliers() -> &'static Mutex<HashMap<[u8; 32], Arc<Multiplier>>> {
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], Arc<Multiplier>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Recipient {
    pub(crate) fn new(public: [u8; 32]) -> Self {
        let cached = multipliers()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&public)
            .cloned();
        let multiplier = cached.unwrap_or_else(|| {
            let made = Arc::new(Self::multiplier_for(&public));
            multipliers()
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(public)
                .or_insert(made)
                .clone()
        });
        Recipient { public, multiplier }
    }

    fn multiplier_for(public: &[u8; 32]) -> Multiplier {
        // Either of the two Edwards points with this u-coordinate: u(s·P) = u(s·(−P)).
        match MontgomeryPoint(*public).to_edwards(0) {
            Some(point) if point.is_torsion_free() && !point.is_small_order() => {
                Multiplier::Table(Box::new(EdwardsBasepointTable::create(&point)))
            }
            _ => Multiplier::Ladder,
        }
    }

    /// X25519(scalar, public): the u-coordinate of clamp(scalar) times the recipient's point.
    fn shared_secret(&self, scalar: [u8; 32]) -> MontgomeryPoint {
        match &*self.multiplier {
            Multiplier::Table(table) => table.mul_base_clamped(scalar).to_montgomery(),
            Multiplier::Ladder => MontgomeryPoint(self.public).mul_clamped(scalar),
        }
    }
}

impl age::Recipient for Recipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), EncryptError> {
        let mut scalar = [0u8; 32];
        getrandom::fill(&mut scalar)
            .map_err(|e| EncryptError::Io(std::io::Error::other(e.to_string())))?;
        let share = MontgomeryPoint::mul_base_clamped(scalar);
        let mut shared = self.shared_secret(scalar);
        scalar.zeroize();
        // An all-zero secret means a bad random source or a low-order key: refuse, as age does.
        if shared.0.iter().all(|b| *b == 0) {
            return Err(EncryptError::Io(std::io::Error::other(
                "X25519 gave the all-zero shared secret: the recipient is a low-order point or the random source failed",
            )));
        }
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(share.as_bytes());
        salt[32..].copy_from_slice(&self.public);
        let mut key = hkdf(&salt, KEY_LABEL, shared.as_bytes());
        shared.0.zeroize();
        let body = aead_encrypt(&key, file_key.expose_secret());
        key.zeroize();
        Ok((
            vec![Stanza {
                tag: TAG.to_owned(),
                args: vec![STANDARD_NO_PAD.encode(share.as_bytes())],
                body,
            }],
            HashSet::new(),
        ))
    }
}

/// An age X25519 identity with its public key computed once (age's own identity computes it
/// for every stanza it tries: a base-point multiplication per file).
pub(crate) struct Identity {
    secret: [u8; 32],
    public: [u8; 32],
}

impl Drop for Identity {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl Identity {
    /// From the 32 bytes of an `AGE-SECRET-KEY-1...` identity.
    pub(crate) fn new(secret: [u8; 32]) -> Self {
        let public = MontgomeryPoint::mul_base_clamped(secret).0;
        Identity { secret, public }
    }
}

impl age::Identity for Identity {
    /// As age's X25519 identity unwraps (c2sp.org/age): a canonical 32-byte share, a 32-byte
    /// body, a contributory shared secret; a stanza that does not open is not ours.
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        if stanza.tag != TAG {
            return None;
        }
        let share: [u8; 32] = match &stanza.args[..] {
            [arg] => {
                let mut buf = [0u8; 33];
                match STANDARD_NO_PAD.decode_slice(arg, &mut buf) {
                    Ok(32) => buf[..32].try_into().ok()?,
                    _ => return Some(Err(age::DecryptError::InvalidHeader)),
                }
            }
            _ => return Some(Err(age::DecryptError::InvalidHeader)),
        };
        if stanza.body.len() != 32 {
            return Some(Err(age::DecryptError::InvalidHeader));
        }
        let mut shared = MontgomeryPoint(share).mul_clamped(self.secret);
        if shared.0.iter().all(|b| *b == 0) {
            return Some(Err(age::DecryptError::InvalidHeader));
        }
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(&share);
        salt[32..].copy_from_slice(&self.public);
        let mut key = hkdf(&salt, KEY_LABEL, shared.as_bytes());
        shared.0.zeroize();
        let opened = aead_decrypt(&key, 16, &stanza.body);
        key.zeroize();
        opened.ok().map(|mut plain| {
            Ok(FileKey::init_with_mut(|file_key| {
                file_key.copy_from_slice(&plain);
                plain.zeroize();
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random() -> [u8; 32] {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn the_table_gives_the_ladders_shared_secret() {
        for _ in 0..64 {
            let secret = random();
            let public = MontgomeryPoint::mul_base_clamped(secret);
            let recipient = Recipient::new(public.0);
            assert!(matches!(*recipient.multiplier, Multiplier::Table(_)));
            let scalar = random();
            assert_eq!(
                recipient.shared_secret(scalar),
                public.mul_clamped(scalar),
                "scalar {scalar:?}, public {public:?}"
            );
            // And both sides of the exchange agree.
            let share = MontgomeryPoint::mul_base_clamped(scalar);
            assert_eq!(recipient.shared_secret(scalar), share.mul_clamped(secret));
        }
    }

    #[test]
    fn a_key_off_the_prime_order_subgroup_takes_the_ladder() {
        // A point of order 8 plus a prime-order point: on the curve, not torsion-free.
        let torsion = curve25519_dalek::constants::EIGHT_TORSION[1];
        let point = curve25519_dalek::edwards::EdwardsPoint::mul_base_clamped(random()) + torsion;
        let recipient = Recipient::new(point.to_montgomery().0);
        assert!(matches!(*recipient.multiplier, Multiplier::Ladder));
        let scalar = random();
        assert_eq!(
            recipient.shared_secret(scalar),
            point.to_montgomery().mul_clamped(scalar)
        );
    }

    #[test]
    fn the_age_crate_opens_what_the_stanza_wraps() {
        use std::io::{Read, Write};
        let identity = age::x25519::Identity::generate();
        let public = super::super::age::public_bytes(&identity.to_public().to_string()).unwrap();
        let recipient = Recipient::new(public);
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut sealed = Vec::new();
        let mut writer = encryptor.wrap_output(&mut sealed).unwrap();
        writer
            .write_all(b"a data key of 32 bytes, or so...")
            .unwrap();
        writer.finish().unwrap();
        let decryptor = age::Decryptor::new(&sealed[..]).unwrap();
        let mut reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .unwrap();
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain).unwrap();
        assert_eq!(plain, b"a data key of 32 bytes, or so...");
    }

    #[test]
    fn the_identity_opens_what_the_age_crate_wraps_and_nothing_else() {
        use std::io::{Read, Write};
        let age_identity = age::x25519::Identity::generate();
        let secret = super::super::age::secret_bytes(&age_identity).unwrap();
        let ours = Identity::new(secret);
        let seal = |to: &age::x25519::Recipient| {
            let encryptor =
                age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient))
                    .unwrap();
            let mut sealed = Vec::new();
            let mut writer = encryptor.wrap_output(&mut sealed).unwrap();
            writer.write_all(b"the data key").unwrap();
            writer.finish().unwrap();
            sealed
        };
        let open = |sealed: &[u8]| {
            let decryptor = age::Decryptor::new(sealed).unwrap();
            let mut plain = Vec::new();
            decryptor
                .decrypt(std::iter::once(&ours as &dyn age::Identity))
                .map(|mut r| r.read_to_end(&mut plain).map(|_| plain))
        };
        let plain = open(&seal(&age_identity.to_public())).unwrap().unwrap();
        assert_eq!(plain, b"the data key");
        let other = age::x25519::Identity::generate().to_public();
        assert!(matches!(
            open(&seal(&other)),
            Err(age::DecryptError::NoMatchingKeys)
        ));
    }
}
