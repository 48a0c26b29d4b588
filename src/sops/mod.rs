//! SOPS (YAML + age) files written and read without the sops binary: encrypt a plaintext YAML stream
//! for age recipients under a rule, decrypt and verify (values, then MAC), and read metadata keylessly.

// Layers, as in sops itself: `yaml` (ordered tree, parsing typed like yaml.v3, sops's layout when
// writing), `cipher` (AES-256-GCM values), `tree` (rule, AAD, MAC walk), `metadata` (the `sops:`
// block) and `age` (the data-key source), with `x25519` (age's X25519 stanza, each recipient's
// multiples precomputed, each identity's public key computed once) and `age_file` (the age entry
// sops writes, opened without the age crate's general parser). Format facts:
// `shared/fixtures/sops/FORMAT.md`.

mod age;
mod age_file;
mod cipher;
mod error;
mod file;
mod metadata;
mod timestamp;
mod tree;
mod x25519;
mod yaml;

pub use age::{Identities, Recipient, SecretIdentity, generate_identity};
pub use error::SopsError;
pub use file::{
    Decrypted, Parsed, decrypt, encrypt, encrypt_mac_only_encrypted, metadata, opens_directly,
    parse, without_metadata,
};
pub use metadata::{Metadata, Rule, SOPS_VERSION};
pub use timestamp::Timestamp;
