#![no_main]
//! config::parse on arbitrary text (bytes that are not UTF-8 go through lossy conversion).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mesh_render_fuzz::mesh_yaml(data));
