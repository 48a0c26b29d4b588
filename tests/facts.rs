//! A sealed file states its non-secret facts in clear, as annotations its SOPS MAC covers: a
//! remote secret its source cluster, server and CA fingerprints; a `cacerts` its intermediate's
//! subject and not-after and its roots' fingerprints. The real sops and openssl judge them;
//! `diff` prints how they change, security-relevant first; `check` with an admin identity proves
//! them against the decrypted content; files sealed before facts existed keep their bytes.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::Workspace;
use mesh_render::sops;

const REMOTE: &str = "clusters/ncloud-nks/40-mesh/istio-remote-secret-kt-k2p.sops.yaml";
const CACERTS: &str = "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml";

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The `facts.mesh-render.dev/` annotations of a sealed file, read without any key.
fn clear_facts(ws: &Workspace, file: &str) -> serde_json::Map<String, serde_json::Value> {
    let text = fs::read_to_string(ws.out().join(file)).unwrap();
    let doc = &sops::without_metadata(&text).unwrap()[0];
    doc["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("facts.mesh-render.dev/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn fact<'a>(facts: &'a serde_json::Map<String, serde_json::Value>, name: &str) -> &'a str {
    facts[&format!("facts.mesh-render.dev/{name}")]
        .as_str()
        .unwrap()
}

/// `openssl x509 ARGS` on `pem`, its stdout.
fn openssl_x509(dir: &Path, pem: &str, args: &[&str]) -> String {
    let file = dir.join("cert.pem");
    fs::write(&file, pem).unwrap();
    let o = Command::new("openssl")
        .arg("x509")
        .arg("-in")
        .arg(&file)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// The SHA-256 fingerprint openssl computes, as `sha256:<lowercase hex>`.
fn openssl_fingerprint(dir: &Path, pem: &str) -> String {
    let out = openssl_x509(dir, pem, &["-noout", "-fingerprint", "-sha256"]);
    let hex = out.trim().rsplit('=').next().unwrap().replace(':', "");
    format!("sha256:{}", hex.to_lowercase())
}

/// Runs the real sops with the admin identity.
fn sops_cli(ws: &Workspace, args: &[&str]) -> Output {
    Command::new("sops")
        .args(args)
        .current_dir(ws.path())
        .env("SOPS_AGE_KEY_FILE", &ws.admin_key)
        .output()
        .unwrap()
}

#[test]
fn a_remote_secret_states_its_source_server_and_ca_fingerprint_in_clear_as_openssl_computes_it() {
    if !common::judge_available("openssl", "computes the CA's fingerprint") {
        return;
    }
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    let facts = clear_facts(&ws, REMOTE);
    assert_eq!(fact(&facts, "source-cluster"), "kt-k2p");
    assert_eq!(fact(&facts, "server"), "https://203.0.113.20:6443");
    let ca_pem = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            common::ca_data(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        fact(&facts, "ca-fingerprints"),
        openssl_fingerprint(ws.path(), &ca_pem)
    );
    // Nothing secret is in clear: the token stays inside the ciphertext.
    let raw = fs::read_to_string(ws.out().join(REMOTE)).unwrap();
    assert!(!raw.contains(&common::token("istio-reader-service-account", "kt-k2p")));
}

#[test]
fn a_cacerts_states_its_intermediate_and_roots_as_openssl_reads_them() {
    if !common::judge_available("openssl", "reads the certificates") {
        return;
    }
    let ws = Workspace::example();
    ws.ok(true, &["out"]);
    let facts = clear_facts(&ws, CACERTS);
    let plain = &ws.decrypt(CACERTS).to_json()[0]["stringData"];
    let ca_cert = plain["ca-cert.pem"].as_str().unwrap();
    let subject = openssl_x509(
        ws.path(),
        ca_cert,
        &["-noout", "-subject", "-nameopt", "sep_comma_plus_space"],
    );
    assert_eq!(
        format!("subject={}", fact(&facts, "intermediate-subject")),
        subject.trim()
    );
    assert!(fact(&facts, "intermediate-subject").contains("L=kt-k2p"));
    let end = openssl_x509(
        ws.path(),
        ca_cert,
        &["-noout", "-enddate", "-dateopt", "iso_8601"],
    );
    assert_eq!(
        format!("notAfter={}", fact(&facts, "intermediate-not-after")),
        end.trim().replace(' ', "T")
    );
    let root = plain["root-cert.pem"].as_str().unwrap();
    assert_eq!(
        fact(&facts, "root-fingerprints"),
        openssl_fingerprint(ws.path(), root)
    );
}

#[test]
fn the_real_sops_refuses_a_file_whose_clear_facts_were_edited() {
    if !common::judge_available("sops", "verifies the MAC") {
        return;
    }
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    let file = ws.out().join(REMOTE);
    assert!(
        sops_cli(&ws, &["-d", file.to_str().unwrap()])
            .status
            .success()
    );
    ws.edit_out(
        REMOTE,
        "facts.mesh-render.dev/server: https://203.0.113.20:6443",
        "facts.mesh-render.dev/server: https://198.51.100.250:6443",
    );
    let o = sops_cli(&ws, &["-d", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(51), "{}", text(&o));
}

#[test]
fn check_with_an_admin_identity_names_a_fact_that_is_not_the_decrypted_content() {
    if !common::judge_available("sops", "the attacker re-seals with the real sops") {
        return;
    }
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    let file = ws.out().join(REMOTE);
    let recipients = sops::metadata(&fs::read_to_string(&file).unwrap())
        .unwrap()
        .recipients()
        .join(",");
    // An attacker with the public recipients shows reviewers another server, keeping the content.
    let plain = String::from_utf8(sops_cli(&ws, &["-d", file.to_str().unwrap()]).stdout).unwrap();
    let forged = plain.replace(
        "facts.mesh-render.dev/server: https://203.0.113.20:6443",
        "facts.mesh-render.dev/server: https://198.51.100.250:6443",
    );
    assert_ne!(forged, plain);
    let forged_path = ws.path().join("forged.yaml");
    fs::write(&forged_path, forged).unwrap();
    let o = sops_cli(
        &ws,
        &[
            "-e",
            "--age",
            &recipients,
            "--encrypted-regex",
            "^(data|stringData)$",
            forged_path.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    fs::write(&file, &o.stdout).unwrap();

    let o = ws.run(true, &["check", "out", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let found = report["findings"].as_array().unwrap().iter().any(|f| {
        f["file"] == REMOTE
            && f["problem"].as_str().is_some_and(|p| {
                p.contains("the facts it states in clear are not its content")
                    && p.contains("facts.mesh-render.dev/server")
            })
    });
    assert!(found, "{report:#}");
    // Without a key the annotation is only a claim, and check says it was not verified.
    let o = ws.run(false, &["check", "out"]);
    assert!(
        text(&o).contains("the facts sealed files state in clear were not verified"),
        "{}",
        text(&o)
    );
}

#[test]
fn diff_prints_how_the_facts_change_security_relevant_first_and_the_render_states_them() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    ws.edit_mesh("https://203.0.113.20:6443", "https://198.51.100.66:6443");
    let diff = ws.ok(false, &["diff", "out"]);
    let line = "security fact: server: https://203.0.113.20:6443 -> https://198.51.100.66:6443 (2 encrypted files: clusters/ncloud-nks/40-mesh/istio-remote-secret-kt-k2p.sops.yaml, clusters/nhn-nks/40-mesh/istio-remote-secret-kt-k2p.sops.yaml)";
    let lines: Vec<&str> = diff.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == line)
        .unwrap_or_else(|| panic!("{diff}"));
    // After the trust lines, before every file's own change.
    assert!(
        lines[..at].iter().all(|l| l.starts_with("security")),
        "{diff}"
    );
    assert!(!diff.contains("fact: source-cluster"), "{diff}");
    let json: serde_json::Value =
        serde_json::from_str(&ws.ok(false, &["diff", "out", "-o", "json"])).unwrap();
    assert_eq!(json["facts"][0]["fact"], "server");
    assert_eq!(json["facts"][0]["security"], true);
    // What diff said is what the render states.
    ws.ok(true, &["out"]);
    assert_eq!(
        fact(&clear_facts(&ws, REMOTE), "server"),
        "https://198.51.100.66:6443"
    );
}

#[test]
fn files_sealed_before_facts_keep_their_bytes_until_sealed_again() {
    let work = tempfile::tempdir().unwrap();
    let mesh = work.path().join("mesh");
    copy_dir(
        &common::repo_root().join("tests/fixtures/digest-stability/steady"),
        &mesh,
    );
    let render = || {
        let o = common::binary(&mesh, &work.path().join("home"))
            .env("SOPS_AGE_KEY_FILE", mesh.join("admin.agekey"))
            .args(["--config", "mesh.yaml", "out"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    let sealed_files = || -> Vec<(String, Vec<u8>)> {
        common::read_all(&mesh.join("out"))
            .into_iter()
            .filter(|(p, _)| p.ends_with(".sops.yaml") && !p.ends_with("/.sops.yaml"))
            .collect()
    };
    let states = |bytes: &[u8]| String::from_utf8_lossy(bytes).contains("facts.mesh-render.dev/");
    let before = sealed_files();
    assert!(before.iter().all(|(_, b)| !states(b)));
    render();
    assert!(
        sealed_files() == before,
        "an earlier release's sealed files keep their bytes"
    );
    // kt-k2p's API server moves: its remote secrets are sealed again, now with their facts.
    let text = fs::read_to_string(mesh.join("mesh.yaml")).unwrap();
    fs::write(
        mesh.join("mesh.yaml"),
        text.replace("https://198.51.100.1:6443", "https://198.51.100.9:6443"),
    )
    .unwrap();
    render();
    for (path, bytes) in sealed_files() {
        let resealed = path.ends_with("istio-remote-secret-kt-k2p.sops.yaml");
        assert_eq!(states(&bytes), resealed, "{path}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}
