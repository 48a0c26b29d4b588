#![no_main]
//! Kubeconfig::parse on arbitrary text, then contexts() and reader_credential() for each context.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mesh_render_fuzz::kubeconfig(data));
