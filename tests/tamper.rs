//! Tamper resistance: what someone who can push to the repository plants in `pki/`, in a
//! rendered tree or in mesh.yaml, and how each is caught. A SOPS MAC proves a file whole, not
//! who wrote it: anyone with the admins' public recipients can write a valid one. So each attack
//! here is built as an attacker would build it (with the public recipients, or the real sops),
//! and shown refused by a render or reported by `check`.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::Workspace;
use mesh_render::sops;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn rendered() -> Workspace {
    let ws = Workspace::example();
    ws.ok(true, &["out"]);
    ws
}

/// The `certificate` of a PKI state file.
fn certificate(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    sops::without_metadata(&text).unwrap()[0]["certificate"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Appends `pem` to the clear `certificate` block of a PKI state file, as an editor would.
fn append_certificate(path: &Path, pem: &str) {
    let text = fs::read_to_string(path).unwrap();
    let at = text.find("\nkey: ").unwrap() + 1;
    let block: String = pem.lines().map(|l| format!("    {l}\n")).collect();
    fs::write(path, format!("{}{}{}", &text[..at], block, &text[at..])).unwrap();
}

/// A root certificate of another mesh (the attacker's).
fn foreign_root() -> String {
    let other = rendered();
    certificate(&other.path().join("pki/root.yaml"))
}

/// `check out --against mesh.yaml --format json`, with the admin key or not.
fn check(ws: &Workspace, with_key: bool) -> (Option<i32>, serde_json::Value) {
    let o = ws.run(
        with_key,
        &["check", "out", "--against", "mesh.yaml", "--format", "json"],
    );
    let report = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (o.status.code(), report)
}

/// The error findings about `file` whose problem contains `problem`.
fn has_error(report: &serde_json::Value, file: &str, problem: &str) -> bool {
    report["findings"].as_array().unwrap().iter().any(|f| {
        f["severity"] == "error"
            && f["file"].as_str().unwrap_or("").ends_with(file)
            && f["problem"].as_str().unwrap_or("").contains(problem)
    })
}

#[test]
fn an_extra_root_appended_to_root_yaml_is_refused_with_or_without_a_key() {
    let ws = rendered();
    let out = common::read_all(&ws.out());
    append_certificate(&ws.path().join("pki/root.yaml"), &foreign_root());
    for with_key in [true, false] {
        let o = ws.run(with_key, &["out"]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("pki/root.yaml: its `certificate` field holds 2 certificates"),
            "{}",
            text(&o)
        );
        assert!(
            text(&o).contains("fix: restore pki/ from git"),
            "{}",
            text(&o)
        );
    }
    assert_eq!(common::read_all(&ws.out()), out, "nothing written");
    let (code, report) = check(&ws, true);
    assert_eq!(code, Some(1), "{report:#}");
    assert!(
        has_error(&report, "pki/root.yaml", "holds 2 certificates"),
        "{report:#}"
    );
}

#[test]
fn the_real_sops_agrees_that_an_edited_state_file_fails_its_mac() {
    if !common::judge_available("sops", "the real sops judges the MAC") {
        return;
    }
    let ws = rendered();
    append_certificate(&ws.path().join("pki/root.yaml"), &foreign_root());
    let o = Command::new("sops")
        .args(["-d", "pki/root.yaml"])
        .current_dir(ws.path())
        .env("SOPS_AGE_KEY_FILE", &ws.admin_key)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(51), "{}", text(&o));
}

/// Another mesh's PKI, made by an attacker for this mesh's admin recipient (public).
fn attackers_pki(victim: &Workspace) -> tempfile::TempDir {
    let mesh = fs::read_to_string(victim.path().join("mesh.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mesh: String = mesh
        .lines()
        .filter(|l| !l.contains("rootFingerprint"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(dir.path().join("mesh.yaml"), mesh).unwrap();
    let o = common::binary(dir.path(), &dir.path().join("home"))
        .arg("out")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    dir
}

fn replace_pki(ws: &Workspace, with: &Path) {
    fs::remove_dir_all(ws.path().join("pki")).unwrap();
    let o = Command::new("cp")
        .args(["-r"])
        .arg(with.join("pki"))
        .arg(ws.path().join("pki"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_render_that_issues_the_root_pins_its_fingerprint_in_mesh_yaml() {
    let ws = Workspace::example();
    let first = ws.ok(true, &["out"]);
    assert!(first.contains("recorded the root's fingerprint"), "{first}");
    let mesh = fs::read_to_string(ws.path().join("mesh.yaml")).unwrap();
    let line = mesh
        .lines()
        .find(|l| l.trim_start().starts_with("rootFingerprint: sha256:"))
        .unwrap_or_else(|| panic!("{mesh}"));
    // The fingerprint is the SHA-256 of the root's DER, as openssl computes it.
    let pem = certificate(&ws.path().join("pki/root.yaml"));
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("root.pem"), pem).unwrap();
    let der = Command::new("openssl")
        .args(["x509", "-in", "root.pem", "-outform", "DER"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(der.status.success());
    let expected = format!("sha256:{}", mesh_render::digest::sha256_hex(&der.stdout));
    assert!(line.contains(&expected), "{line} vs {expected}");
    let again = ws.ok(true, &["out"]);
    assert!(!again.contains("fingerprint"), "{again}");
}

#[test]
fn a_pki_replaced_wholesale_is_caught_by_the_fingerprint_without_any_key() {
    let ws = rendered();
    let attacker = attackers_pki(&ws);
    replace_pki(&ws, attacker.path());
    for with_key in [false, true] {
        let o = ws.run(with_key, &["out"]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("but pki.rootFingerprint in mesh.yaml is sha256:"),
            "{}",
            text(&o)
        );
    }
    let (code, report) = check(&ws, false);
    assert_eq!(code, Some(1), "{report:#}");
    assert!(
        has_error(&report, "pki/root.yaml", "this is not the mesh's root"),
        "{report:#}"
    );
}

#[test]
fn without_a_fingerprint_a_replaced_pki_still_needs_a_key_to_reach_the_tree() {
    let ws = rendered();
    let mesh = fs::read_to_string(ws.path().join("mesh.yaml")).unwrap();
    let unpinned: String = mesh
        .lines()
        .filter(|l| !l.contains("rootFingerprint"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(ws.path().join("mesh.yaml"), unpinned).unwrap();
    let attacker = attackers_pki(&ws);
    replace_pki(&ws, attacker.path());
    // CI renders without a key: the cacerts' inputs changed, so it cannot seal them.
    let o = ws.run(false, &["out"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no admin identity is at hand") && text(&o).contains("cacerts"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_state_file_re_encrypted_with_another_cas_key_is_refused_with_a_key() {
    let ws = rendered();
    let identities = ws.identities();
    let read = |cluster: &str| {
        let text = fs::read_to_string(ws.path().join(format!("pki/intermediates/{cluster}.yaml")))
            .unwrap();
        sops::decrypt(&text, &identities).unwrap().to_json()[0].clone()
    };
    let (mut victim, other) = (read("kt-k2p"), read("nhn-nks"));
    victim["key"] = other["key"].clone();
    // Re-encrypted to the admin's public recipient: the MAC is valid.
    let admin = sops::metadata(
        &fs::read_to_string(ws.path().join("pki/intermediates/kt-k2p.yaml")).unwrap(),
    )
    .unwrap()
    .recipients()
    .iter()
    .map(|r| sops::Recipient::parse(r).unwrap())
    .collect::<Vec<_>>();
    let plain = format!(
        "kind: {}\ncluster: kt-k2p\ncertificate: |\n{}key: |\n{}",
        victim["kind"].as_str().unwrap(),
        indent(victim["certificate"].as_str().unwrap()),
        indent(victim["key"].as_str().unwrap()),
    );
    let encrypted = sops::encrypt(
        &plain,
        &sops::Rule::EncryptedRegex("^key$".into()),
        &admin,
        sops::Timestamp::from(time::OffsetDateTime::now_utc()),
    )
    .unwrap();
    fs::write(ws.path().join("pki/intermediates/kt-k2p.yaml"), encrypted).unwrap();
    let o = ws.run(true, &["out"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("kt-k2p.yaml: its private key is not the key of its certificate"),
        "{}",
        text(&o)
    );
    let (code, report) = check(&ws, true);
    assert_eq!(code, Some(1), "{report:#}");
    assert!(
        has_error(&report, "kt-k2p.yaml", "its private key is not the key"),
        "{report:#}"
    );
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

#[test]
fn an_intermediate_moved_to_another_clusters_file_is_refused() {
    let ws = rendered();
    let pki = ws.path().join("pki/intermediates");
    fs::copy(pki.join("nhn-nks.yaml"), pki.join("kt-k2p.yaml")).unwrap();
    let o = ws.run(false, &["out"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("not `O=Istio, CN=Intermediate CA, L=kt-k2p`"),
        "{}",
        text(&o)
    );
}

/// Points the render record at the bytes `file` now holds, as an attacker covering a change would.
fn rerecord(ws: &Workspace, file: &str) {
    let path = ws.out().join(".render-record.json");
    let mut record: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let bytes = fs::read(ws.out().join(file)).unwrap();
    record["files"][file]["sha256"] = mesh_render::digest::sha256_hex(&bytes).into();
    fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
}

const REMOTE: &str = "clusters/kt-k2p/40-mesh/istio-remote-secret-ncloud-nks.sops.yaml";

#[test]
fn a_remote_secret_re_sealed_with_an_attackers_token_by_the_real_sops_is_caught() {
    if !common::judge_available("sops", "the attacker uses the real sops") {
        return;
    }
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    let file = ws.out().join(REMOTE);
    let recipients = sops::metadata(&fs::read_to_string(&file).unwrap())
        .unwrap()
        .recipients()
        .join(",");
    let sops_run = |args: &[&str]| {
        let o = Command::new("sops")
            .args(args)
            .current_dir(ws.path())
            .env("SOPS_AGE_KEY_FILE", &ws.admin_key)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        o.stdout
    };
    let plain = String::from_utf8(sops_run(&["-d", file.to_str().unwrap()])).unwrap();
    let token = common::token("istio-reader-service-account", "ncloud-nks");
    assert!(plain.contains(&token));
    let forged = plain.replace(&token, &common::token("attacker", "ncloud-nks"));
    let forged_path = ws.path().join("forged.yaml");
    fs::write(&forged_path, forged).unwrap();
    let sealed = sops_run(&[
        "-e",
        "--age",
        &recipients,
        "--encrypted-regex",
        "^(data|stringData)$",
        forged_path.to_str().unwrap(),
    ]);
    fs::write(&file, sealed).unwrap();
    rerecord(&ws, REMOTE);
    // The record vouches for it: a render keeps it.
    assert!(ws.ok(true, &["out"]).contains("0 written"));
    let (code, report) = check(&ws, true);
    assert_eq!(code, Some(1), "{report:#}");
    assert!(
        has_error(
            &report,
            REMOTE,
            "decrypts to something other than what mesh.yaml and pki/ seal: stringData.ncloud-nks differs"
        ),
        "{report:#}"
    );
    let shown = report.to_string();
    assert!(
        !shown.contains(&token) && !shown.contains("attacker"),
        "no value is shown"
    );
}

#[test]
fn two_clusters_cacerts_swapped_are_caught_with_a_key_even_without_the_description() {
    let ws = rendered();
    let (a, b) = (
        "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml",
        "clusters/ncloud-nks/10-istio-system/cacerts.sops.yaml",
    );
    let (bytes_a, bytes_b) = (
        fs::read(ws.out().join(a)).unwrap(),
        fs::read(ws.out().join(b)).unwrap(),
    );
    fs::write(ws.out().join(a), bytes_b).unwrap();
    fs::write(ws.out().join(b), bytes_a).unwrap();
    rerecord(&ws, a);
    rerecord(&ws, b);
    let o = ws.run(true, &["check", "out", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        has_error(
            &report,
            a,
            "ca-cert.pem is the intermediate CA of ncloud-nks, not of kt-k2p"
        ),
        "{report:#}"
    );
    let (code, report) = check(&ws, true);
    assert_eq!(code, Some(1));
    assert!(
        has_error(&report, a, "decrypts to something other than"),
        "{report:#}"
    );
}

#[test]
fn a_sealed_file_from_another_mesh_is_an_error_with_or_without_a_key() {
    let ws = rendered();
    let other = rendered();
    let file = "clusters/kt-k2p/10-istio-system/cacerts.sops.yaml";
    fs::copy(other.out().join(file), ws.out().join(file)).unwrap();
    rerecord(&ws, file);
    for with_key in [false, true] {
        let (code, report) = check(&ws, with_key);
        assert_eq!(code, Some(1), "{report:#}");
        assert!(
            has_error(
                &report,
                file,
                "none of its recipients is an admin of this mesh"
            ),
            "{report:#}"
        );
    }
    let (_, report) = check(&ws, true);
    assert!(has_error(&report, file, "cannot open it"), "{report:#}");
}

#[test]
fn without_an_admin_identity_check_says_sealed_files_were_checked_against_the_record_only() {
    let ws = rendered();
    let (code, report) = check(&ws, false);
    assert_eq!(code, Some(0), "{report:#}");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("checked against the render record only"),
        "{notes}"
    );
    let o = ws.run(
        false,
        &["check", "out", "--against", "mesh.yaml", "--verify-secrets"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let (_, report) = check(&ws, true);
    assert!(
        report["notes"]
            .to_string()
            .contains("3 exactly as this render seals them"),
        "{report:#}"
    );
}

#[test]
fn an_added_admin_is_named_first_by_diff_and_by_the_render() {
    let ws = rendered();
    let (_, evil) = sops::generate_identity();
    let mesh = fs::read_to_string(ws.path().join("mesh.yaml")).unwrap();
    let listed = mesh.find("  admins:\n").unwrap() + "  admins:\n".len();
    fs::write(
        ws.path().join("mesh.yaml"),
        format!("{}    - {evil}\n{}", &mesh[..listed], &mesh[listed..]),
    )
    .unwrap();
    let line = format!(
        "security: admin recipient added: {evil} can now decrypt every sealed file and the PKI"
    );
    let diff = ws.ok(true, &["diff", "out"]);
    assert!(diff.starts_with(&line), "{diff}");
    let render = ws.ok(true, &["out"]);
    assert!(render.starts_with(&line), "{render}");
    assert!(!ws.ok(true, &["out"]).contains("security:"), "said once");
}

#[test]
fn a_changed_api_server_is_named_first_by_diff_and_by_the_render() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    ws.edit_mesh("https://203.0.113.20:6443", "https://198.51.100.66:6443");
    let line = "security: API server of kt-k2p changed: https://203.0.113.20:6443 -> https://198.51.100.66:6443";
    let diff = ws.ok(true, &["diff", "out"]);
    assert!(diff.starts_with(line), "{diff}");
    let render = ws.ok(true, &["out"]);
    assert!(render.starts_with(line), "{render}");
}

#[test]
fn a_plaintext_token_password_or_bearer_string_anywhere_in_the_tree_is_an_error() {
    for (file, planted) in [
        (
            "clusters/kt-k2p/README.md",
            "token: s3cr3t-static-token-value\n",
        ),
        (
            "base/metallb/kustomization.yaml",
            "  password: hunter2hunter2\n",
        ),
        (
            "clusters/nhn-nks/README.md",
            "curl -H 'Authorization: Bearer abcdefgh12345678' …\n",
        ),
        (
            "values/kt-k2p/istiod.yaml",
            "x:\n  client-key-data: LS0tLS1CRUdJTg==\n",
        ),
    ] {
        let ws = rendered();
        let path = ws.out().join(file);
        let Ok(before) = fs::read_to_string(&path) else {
            panic!("{file} is not in the tree");
        };
        fs::write(&path, format!("{before}{planted}")).unwrap();
        rerecord(&ws, file);
        let o = ws.run(false, &["check", "out", "--format", "json"]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            has_error(&report, file, "in plaintext (a value of"),
            "{report:#}"
        );
        let secret = planted
            .split([':', ' '])
            .rfind(|w| w.len() > 8)
            .unwrap()
            .trim();
        assert!(
            !report.to_string().contains(secret),
            "{secret} shown: {report:#}"
        );
    }
}

#[test]
fn the_full_proof_finds_nothing_on_an_honest_five_cluster_tree() {
    let ws = Workspace::build(|admin, dir| {
        let mesh = common::five_cluster_mesh().replacen(
            "clusters:\n",
            &format!("secrets:\n  admins:\n    - {admin}\nclusters:\n"),
            1,
        );
        common::workspace::with_token_files(&mesh, dir, &["c1", "c2", "c3", "c4", "c5"], 30)
    });
    ws.ok(true, &["out"]);
    let (code, report) = check(&ws, true);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["errors"], 0, "{report:#}");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("25 exactly as this render seals them, 0 compared without"),
        "5 cacerts and 20 remote secrets: {notes}"
    );
}

#[test]
fn a_remote_secret_whose_token_is_not_at_hand_is_compared_without_it_and_counted() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    fs::remove_file(ws.path().join("kt-k2p.token")).unwrap();
    let (code, report) = check(&ws, true);
    assert_eq!(code, Some(0), "{report:#}");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("7 exactly as this render seals them, 2 compared without a credential that is not at hand"),
        "3 cacerts and 4 remote secrets proven, kt-k2p's 2 compared structurally: {notes}"
    );
    // Its API server is still bound to mesh.yaml.
    ws.edit_mesh("https://203.0.113.20:6443", "https://198.51.100.66:6443");
    let (code, report) = check(&ws, true);
    assert_eq!(code, Some(1), "{report:#}");
    assert!(
        has_error(
            &report,
            "clusters/ncloud-nks/40-mesh/istio-remote-secret-kt-k2p.sops.yaml",
            "stringData.kt-k2p (kubeconfig) clusters.0.cluster.server differs"
        ),
        "{report:#}"
    );
}
