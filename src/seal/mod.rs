//! The seal layer: everything secret or stateful a render needs, and the sealing itself. It
//! resolves who the admins are and which identities are at hand (the local admin identity
//! included), reads and issues the PKI (issuing is an explicit step that reports what it did),
//! reads the clusters' credentials, plans every sealed file from one recipe (its inputs digest
//! and its material come from the same decision), and seals descriptors into SOPS files when the
//! output asks. `check` and `diff` resolve exactly as render does, in `Mode::Inspect`, which
//! creates and writes nothing; `check` proves a tree's sealed files against what the sealer
//! would seal (`verify`).

mod credentials;
mod error;
mod identities;
mod plaintext;
mod recipe;
mod resolve;
mod sealer;
pub mod verify;

pub use credentials::CredentialSources;
pub use error::{CredentialError, SealError};
pub use identities::discover as discover_identities;
pub use plaintext::{cacerts_secret, remote_secret};
pub use recipe::{CaCertsRecipe, PublicInputs, cacerts, plans, recipients_for};
pub use resolve::{Admins, Created, Mode, Resolved, base_dir, pki_dir, resolve};
pub use sealer::MeshSealer;
