//! No message of any command prints a value read from a credential field or file: a token pasted
//! into the wrong field of mesh.yaml or of a kubeconfig is named by its field path and length,
//! never shown. Each test plants one marker (a token, as a reader's would look) in every field in
//! turn and runs the commands that read it.

mod common;

use std::fs;
use std::path::Path;

use serde_json::Value;

/// A token as long and as shaped as a service account's: no name field holds this.
fn marker() -> String {
    common::token("istio-reader-service-account", "planted")
}

/// The JSON-pointer paths of every scalar in `value`.
fn leaves(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

fn planted(doc: &Value, pointer: &str, marker: &str) -> String {
    let mut doc = doc.clone();
    if let Some(slot) = doc.pointer_mut(pointer) {
        *slot = Value::String(marker.to_owned());
    }
    serde_saphyr::to_string(&doc).unwrap()
}

/// Runs `args` in `dir`: its messages must not hold `marker`. `diff` prints the rendered files
/// themselves on stdout (a field mesh-render renders into a file is in it), so only its stderr
/// is messages.
fn assert_not_echoed(dir: &Path, args: &[&str], marker: &str, at: &str) {
    let o = common::binary(dir, &dir.join("home"))
        .args(args)
        .output()
        .unwrap();
    let stdout = match args.first() {
        Some(&"diff") => std::borrow::Cow::Borrowed(""),
        _ => String::from_utf8_lossy(&o.stdout),
    };
    let text = format!("{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !text.contains(marker) && !text.contains(&marker[..40]),
        "{args:?} with the marker at {at} printed it:\n{text}"
    );
}

#[test]
fn a_token_in_any_field_of_mesh_yaml_is_never_printed() {
    let marker = marker();
    let mut doc: Value = serde_saphyr::from_str(mesh_render::config::EXAMPLE_YAML).unwrap();
    // Every kind of credential field too.
    doc["clusters"][0]["credentials"] = serde_json::json!({"tokenFile": {
        "server": "https://203.0.113.1:6443", "caData": common::ca_data(), "token": "kt.token"}});
    doc["clusters"][1]["credentials"] = serde_json::json!({"kubeconfig": {
        "file": "reader.kubeconfig", "context": "reader"}});
    let mut paths = Vec::new();
    leaves(&doc, String::new(), &mut paths);
    assert!(paths.len() > 30, "{paths:?}");
    let dir = tempfile::tempdir().unwrap();
    for pointer in &paths {
        fs::write(
            dir.path().join("mesh.yaml"),
            planted(&doc, pointer, &marker),
        )
        .unwrap();
        for args in [
            &["out"][..],
            &["check", "out", "--against", "mesh.yaml"],
            &["diff", "out"],
        ] {
            assert_not_echoed(dir.path(), args, &marker, pointer);
        }
    }
}

#[test]
fn a_token_in_any_field_of_a_kubeconfig_is_never_printed_by_init() {
    let marker = marker();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kt-k2p\n  cluster:\n    server: https://203.0.113.1:6443\n    certificate-authority-data: {}\ncontexts:\n- name: kt-k2p\n  context:\n    cluster: kt-k2p\n    user: admin\ncurrent-context: kt-k2p\nusers:\n- name: admin\n  user:\n    token: {}\n",
        common::ca_data(),
        common::token("istio-reader-service-account", "kt-k2p")
    );
    let doc: Value = serde_saphyr::from_str(&kubeconfig).unwrap();
    let mut paths = Vec::new();
    leaves(&doc, String::new(), &mut paths);
    let dir = tempfile::tempdir().unwrap();
    for pointer in &paths {
        fs::write(
            dir.path().join("kubeconfig"),
            planted(&doc, pointer, &marker),
        )
        .unwrap();
        let _ = fs::remove_file(dir.path().join("mesh.yaml"));
        assert_not_echoed(
            dir.path(),
            &["init", "--from-kubeconfig", "kubeconfig"],
            &marker,
            pointer,
        );
    }
}
