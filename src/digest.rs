//! Every digest mesh-render records or renders: the SHA-256 of a file's bytes (the render record,
//! the PKI state), the inputs digest of a sealed file, and the short digest of a set of settings.
//!
//! The inputs digests are recorded in users' trees: their recipes must never change by accident
//! (`tests/digest_stability.rs` holds trees an earlier release rendered). A recipe changes only
//! with a new tag (`... v3`), which re-seals every file of that kind on the next keyed render.

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` (a certificate's fingerprint).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex SHA-256 of `bytes`, as the render record and the PKI's records keep it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// An inputs digest being built: SHA-256 over NUL-terminated parts, then NUL-terminated
/// recipients, written `sha256:<hex>`. Cloning it shares the parts hashed so far (one source's
/// remote secret is held by every other cluster, each with its own recipients).
#[derive(Clone)]
pub struct Inputs(Sha256);

impl Inputs {
    /// A digest whose first part is `tag`, the recipe's name and version.
    pub fn new(tag: &str) -> Self {
        Inputs(Sha256::new()).part(tag)
    }

    /// Adds one part.
    pub fn part(mut self, part: &str) -> Self {
        self.0.update(part.as_bytes());
        self.0.update([0]);
        self
    }

    /// Adds parts in order.
    pub fn parts<'p>(self, parts: impl IntoIterator<Item = &'p str>) -> Self {
        parts.into_iter().fold(self, Inputs::part)
    }

    /// `sha256:<hex>` of the parts so far followed by the recipients.
    pub fn finish<'r>(self, recipients: impl IntoIterator<Item = &'r str>) -> String {
        let hashed = self.parts(recipients);
        format!("sha256:{:x}", hashed.0.finalize())
    }
}

/// A short digest of `key=value` lines, `sha256:` and 16 hex digits: it changes exactly when a
/// setting does (the Cilium agents' restart annotation).
pub fn settings(settings: &[(&str, &str)]) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in settings {
        hasher.update(format!("{key}={value}\n"));
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inputs_digest_is_sha256_over_nul_terminated_parts_then_recipients() {
        let digest = Inputs::new("tag").part("a").finish(["r"]);
        assert_eq!(
            digest,
            format!("sha256:{}", sha256_hex(b"tag\0a\0r\0")),
            "the recorded recipe"
        );
    }

    #[test]
    fn parts_are_not_concatenated_ambiguously() {
        let one = Inputs::new("t").parts(["ab", "c"]).finish([]);
        let other = Inputs::new("t").parts(["a", "bc"]).finish([]);
        assert_ne!(one, other);
    }

    #[test]
    fn a_settings_digest_follows_every_setting() {
        let base = [("a", "1"), ("b", "2")];
        assert_eq!(
            settings(&base),
            format!("sha256:{}", &sha256_hex(b"a=1\nb=2\n")[..16])
        );
        assert_ne!(settings(&base), settings(&[("a", "1"), ("b", "3")]));
        assert_ne!(settings(&base), settings(&[("a", "1")]));
        assert_eq!(settings(&base).len(), "sha256:".len() + 16);
    }
}
