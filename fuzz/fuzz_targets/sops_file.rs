#![no_main]
//! sops::metadata, sops::without_metadata and sops::decrypt on arbitrary text, decrypting with the
//! shared fixtures' admin identity (embedded at build time) so mutated fixtures reach the value
//! decryption and MAC check.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mesh_render::sops::Identities;

/// `shared/` sits beside the repository (`fuzz/` is inside it).
const ADMIN_KEY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/sops/keys/admin.agekey"
));

static IDENTITIES: LazyLock<Identities> =
    LazyLock::new(|| Identities::parse(ADMIN_KEY).expect("the fixtures' admin.agekey parses"));

fuzz_target!(|data: &[u8]| mesh_render_fuzz::sops_file(data, &IDENTITIES));
