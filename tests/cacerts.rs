//! Encrypted `cacerts` end to end, through the binary as users run it: the real sops and openssl
//! as judges, ciphertext kept while its inputs are unchanged, keys only where they must be.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Workspace;
use mesh_render::check::schema::{Mode, SchemaCatalog};
use mesh_render::sops;

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn cacerts(out: &Path, cluster: &str) -> PathBuf {
    out.join(format!(
        "clusters/{cluster}/10-istio-system/cacerts.sops.yaml"
    ))
}

/// The real `sops -d` of a file, run from `cwd` with `key`.
fn sops_decrypt(cwd: &Path, file: &Path, key: &Path) -> Output {
    Command::new("sops")
        .current_dir(cwd)
        .env("SOPS_AGE_KEY_FILE", key)
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .args(["decrypt", "--output-type", "json"])
        .arg(file)
        .output()
        .expect("sops runs")
}

fn judges(tools: &[&str]) -> bool {
    tools
        .iter()
        .all(|t| common::judge_available(t, "it judges the encrypted cacerts"))
}

const CLUSTERS: [&str; 3] = ["kt-k2p", "ncloud-nks", "nhn-nks"];

#[test]
fn a_fresh_machine_renders_the_example_and_says_where_its_state_lives() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let o = common::binary(dir.path(), &home)
        .arg("out")
        .output()
        .unwrap();
    let text = ok(&o);
    let state = home.join("data/mesh-render/usmesh");
    assert!(
        text.contains(&format!(
            "created a local admin identity at {}",
            state.join("admin.agekey").display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "issued the mesh's root CA in {}",
            state.join("pki").display()
        )),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(state.join("admin.agekey"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        !dir.path().join("pki").exists(),
        "the example's PKI never lives in the working directory"
    );
    for c in CLUSTERS {
        assert!(cacerts(&dir.path().join("out"), c).is_file(), "{c}");
    }
    // A second render reuses the identity and the PKI, and says nothing about creating them.
    let again = ok(&common::binary(dir.path(), &home)
        .arg("out")
        .output()
        .unwrap());
    assert!(
        !again.contains("created") && !again.contains("issued"),
        "{again}"
    );
    assert!(again.contains("0 written"), "{again}");
}

#[test]
fn the_local_admin_identity_is_never_silently_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(&common::binary(dir.path(), &home)
        .arg("out")
        .output()
        .unwrap());
    fs::remove_file(home.join("data/mesh-render/usmesh/admin.agekey")).unwrap();
    let o = common::binary(dir.path(), &home)
        .arg("out")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("admin.agekey is gone") && err.contains("fix:"),
        "{err}"
    );
    assert!(!home.join("data/mesh-render/usmesh/admin.agekey").exists());
}

#[test]
fn the_real_sops_decrypts_each_cacerts_to_the_four_files_and_openssl_verifies_the_chain() {
    if !judges(&["sops", "openssl"]) {
        return;
    }
    let ws = Workspace::example();
    ok(&ws.run(true, &["out"]));
    let mut roots = Vec::new();
    for c in CLUSTERS {
        let o = sops_decrypt(&ws.out(), &cacerts(&ws.out(), c), &ws.admin_key);
        assert!(
            o.status.success(),
            "{c}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let secret: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(secret["kind"], "Secret");
        assert_eq!(secret["metadata"]["name"], "cacerts");
        let data = secret["stringData"].as_object().unwrap();
        let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "ca-cert.pem",
                "ca-key.pem",
                "cert-chain.pem",
                "root-cert.pem"
            ],
            "{c}"
        );
        let file = |k: &str| data[k].as_str().unwrap().to_owned();
        assert_eq!(
            file("cert-chain.pem"),
            format!("{}{}", file("ca-cert.pem"), file("root-cert.pem"))
        );
        let tmp = tempfile::tempdir().unwrap();
        for k in ["ca-cert.pem", "root-cert.pem"] {
            fs::write(tmp.path().join(k), file(k)).unwrap();
        }
        let v = Command::new("openssl")
            .current_dir(tmp.path())
            .args([
                "verify",
                "-x509_strict",
                "-CAfile",
                "root-cert.pem",
                "ca-cert.pem",
            ])
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "{c}: {}",
            String::from_utf8_lossy(&v.stderr)
        );
        roots.push(file("root-cert.pem"));
    }
    assert!(
        roots.windows(2).all(|w| w[0] == w[1]),
        "every cluster shares one root"
    );
}

#[test]
fn no_plaintext_private_key_or_identity_is_written_under_out_or_into_the_pki() {
    let ws = Workspace::example();
    ok(&ws.run(true, &["out"]));
    for dir in [ws.out(), ws.path().join("pki")] {
        for (path, bytes) in common::read_all(&dir) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("PRIVATE KEY-----"),
                "{}/{path}",
                dir.display()
            );
            assert!(
                !text.contains("AGE-SECRET-KEY-"),
                "{}/{path}",
                dir.display()
            );
        }
    }
}

#[test]
fn a_re_render_with_public_keys_only_keeps_every_file_byte_identical() {
    let ws = Workspace::example();
    ok(&ws.run(true, &["out"]));
    let before = common::read_all(&ws.out());
    let text = ok(&ws.run(false, &["out"]));
    assert!(text.contains("0 written"), "{text}");
    assert_eq!(common::read_all(&ws.out()), before);
}

#[test]
fn a_hand_edited_cacerts_is_not_kept_silently_without_a_key() {
    let ws = Workspace::example();
    ok(&ws.run(true, &["out"]));
    let file = cacerts(&ws.out(), "nhn-nks");
    let edited = fs::read_to_string(&file)
        .unwrap()
        .replace("name: cacerts", "name: cacerts-renamed");
    fs::write(&file, &edited).unwrap();
    let before = common::read_all(&ws.out());
    let o = ws.run(false, &["out"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("clusters/nhn-nks/10-istio-system/cacerts.sops.yaml")
            && err.contains("edited by hand"),
        "{err}"
    );
    assert!(
        err.contains("SOPS_AGE_KEY_FILE"),
        "the error says which key it needs: {err}"
    );
    assert_eq!(common::read_all(&ws.out()), before, "nothing is written");
}

#[test]
fn a_hand_edited_cacerts_is_encrypted_again_when_the_key_is_at_hand() {
    let ws = Workspace::example();
    ok(&ws.run(true, &["out"]));
    let file = cacerts(&ws.out(), "nhn-nks");
    fs::write(
        &file,
        fs::read_to_string(&file)
            .unwrap()
            .replace("name: cacerts", "name: x"),
    )
    .unwrap();
    let text = ok(&ws.run(true, &["out"]));
    assert!(text.contains("1 written"), "{text}");
    let identities = common::identities(&ws.admin_key);
    let doc = &sops::decrypt(&fs::read_to_string(&file).unwrap(), &identities)
        .unwrap()
        .to_json()[0];
    assert_eq!(doc["metadata"]["name"], "cacerts");
}

#[test]
fn adding_a_cluster_changes_only_its_files_the_record_the_sops_rules_and_the_overview() {
    let ws = Workspace::example();
    ok(&ws.run(true, &["out"]));
    let before = common::read_all(&ws.out());
    ws.edit_mesh(
        "\nsample:\n",
        "  - name: fourth\n    network: network4\n    cni: calico\n\nsample:\n",
    );
    ok(&ws.run(true, &["out"]));
    let after = common::read_all(&ws.out());
    let changed: Vec<&str> = after
        .iter()
        .filter(|(p, b)| before.iter().find(|(q, _)| q == p).map(|(_, c)| c) != Some(b))
        .map(|(p, _)| p.as_str())
        .filter(|p| {
            !p.starts_with("clusters/fourth/")
                && !p.starts_with("values/fourth/")
                && !p.starts_with("istioctl/fourth/")
        })
        .collect();
    // The top README's overview gains the cluster's row and node.
    assert_eq!(changed, [".render-record.json", ".sops.yaml", "README.md"]);
    assert!(cacerts(&ws.out(), "fourth").is_file());
    assert_eq!(
        after.len(),
        before.len()
            + common::files_under(&ws.out().join("clusters/fourth")).len()
            + common::files_under(&ws.out().join("values/fourth")).len()
            + common::files_under(&ws.out().join("istioctl/fourth")).len()
    );
}

#[test]
fn issuing_for_a_new_cluster_without_an_admin_identity_fails_naming_the_key() {
    let ws = Workspace::example();
    ok(&ws.run(true, &["out"]));
    ws.edit_mesh(
        "\nsample:\n",
        "  - name: fourth\n    network: network4\n\nsample:\n",
    );
    let o = ws.run(false, &["out"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("issue the intermediate CA of the new cluster fourth"),
        "{err}"
    );
    assert!(
        err.contains("root.yaml") && err.contains("SOPS_AGE_KEY_FILE"),
        "{err}"
    );
}

#[test]
fn removing_a_cluster_retires_its_intermediate() {
    let ws = Workspace::example();
    ok(&ws.run(true, &["out"]));
    let example = fs::read_to_string(ws.path().join("mesh.yaml")).unwrap();
    let start = example.find("  - name: nhn-nks\n").unwrap();
    let end = example.find("\nsample:\n").unwrap();
    let without = format!("{}{}", &example[..start], &example[end..])
        .replace("    nhn-nks: [reviews-v3, sleep]\n", "");
    fs::write(ws.path().join("mesh.yaml"), without).unwrap();
    let text = ok(&ws.run(false, &["out"]));
    assert!(
        text.contains("retired the intermediate CA of removed cluster nhn-nks"),
        "{text}"
    );
    assert!(!ws.path().join("pki/intermediates/nhn-nks.yaml").exists());
    let retired = common::files_under(&ws.path().join("pki/retired"));
    assert_eq!(retired.len(), 1);
    assert!(retired[0].starts_with("nhn-nks-"));
}

#[test]
fn each_cluster_decrypts_its_own_cacerts_and_no_other() {
    if !judges(&["sops"]) {
        return;
    }
    let ws = Workspace::example();
    ok(&ws.run(true, &["keys"]));
    let mesh = fs::read_to_string(ws.path().join("mesh.yaml")).unwrap();
    assert_eq!(
        mesh.matches("gitopsRecipient: age1").count(),
        3,
        "keys records a recipient per cluster"
    );
    ok(&ws.run(true, &["out"]));
    let identity = |c: &str| {
        ws.path()
            .join(format!("home/data/mesh-render/usmesh/clusters/{c}.agekey"))
    };
    for own in CLUSTERS {
        for other in CLUSTERS {
            let o = sops_decrypt(&ws.out(), &cacerts(&ws.out(), other), &identity(own));
            assert_eq!(
                o.status.success(),
                own == other,
                "{own}'s identity on {other}'s cacerts"
            );
        }
    }
}

#[test]
fn pki_renew_changes_only_that_clusters_cacerts() {
    let ws = Workspace::example();
    ok(&ws.run(true, &["out"]));
    let before = common::read_all(&ws.out());
    ok(&ws.run(true, &["pki", "renew", "--cluster", "ncloud-nks"]));
    let text = ok(&ws.run(true, &["out"]));
    assert!(text.contains("1 written"), "{text}");
    let after = common::read_all(&ws.out());
    let changed: Vec<&str> = after
        .iter()
        .filter(|(p, b)| before.iter().find(|(q, _)| q == p).map(|(_, c)| c) != Some(b))
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(
        changed,
        [
            ".render-record.json",
            "clusters/ncloud-nks/10-istio-system/cacerts.sops.yaml"
        ]
    );
}

#[test]
fn the_sops_rules_encrypt_a_new_file_with_the_clusters_recipients() {
    if !judges(&["sops"]) {
        return;
    }
    let ws = Workspace::example();
    ok(&ws.run(true, &["keys"]));
    ok(&ws.run(true, &["out"]));
    let plain = ws
        .out()
        .join("clusters/kt-k2p/10-istio-system/extra.sops.yaml");
    fs::write(
        &plain,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: extra\nstringData:\n  a: b\n",
    )
    .unwrap();
    let o = Command::new("sops")
        .current_dir(ws.out())
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .args(["encrypt", "clusters/kt-k2p/10-istio-system/extra.sops.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written = String::from_utf8(o.stdout).unwrap();
    let ours = sops::metadata(&fs::read_to_string(cacerts(&ws.out(), "kt-k2p")).unwrap()).unwrap();
    let theirs = sops::metadata(&written).unwrap();
    let names = |m: &sops::Metadata| {
        m.recipients()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&theirs), names(&ours));
    assert!(written.contains("encrypted_regex: ^(data|stringData)$"));
}

#[test]
fn the_built_secret_validates_without_its_sops_block_and_decrypted() {
    if !common::judge_available("kubectl", "it builds the layer") {
        return;
    }
    let ws = Workspace::example();
    ok(&ws.run(true, &["out"]));
    let layer = ws.out().join("clusters/kt-k2p/10-istio-system");
    let o = Command::new("kubectl")
        .arg("kustomize")
        .arg(&layer)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let built = String::from_utf8(o.stdout).unwrap();
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    let docs = mesh_render::check::schema::parse_documents(&built).unwrap();
    let secret = docs
        .iter()
        .find(|d| d["kind"] == "Secret")
        .expect("the layer builds the Secret");
    let mut structure = secret.clone();
    structure.as_object_mut().unwrap().remove("sops");
    assert!(
        catalog
            .validate(&structure, Mode::Strict)
            .unwrap()
            .is_empty()
    );
    let identities = common::identities(&ws.admin_key);
    let plain = sops::decrypt(
        &fs::read_to_string(cacerts(&ws.out(), "kt-k2p")).unwrap(),
        &identities,
    )
    .unwrap();
    let violations = catalog.validate(&plain.to_json()[0], Mode::Strict).unwrap();
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn the_summary_warns_about_cas_expiring_within_the_window() {
    let ws = Workspace::example();
    ws.edit_mesh("expiryWarningDays: 90", "expiryWarningDays: 4000");
    let text = ok(&ws.run(true, &["out"]));
    assert!(
        text.contains("warning: the mesh's root CA expires on"),
        "{text}"
    );
    assert!(text.contains("warning: the intermediate CA of kt-k2p (renew: mesh-render pki renew --cluster kt-k2p) expires on"), "{text}");
    ws.edit_mesh("expiryWarningDays: 4000", "expiryWarningDays: 90");
    assert!(!ok(&ws.run(true, &["out"])).contains("expires on"));
}

#[test]
fn rsa_4096_is_selectable_in_the_mesh_description() {
    if !judges(&["openssl"]) {
        return;
    }
    let ws = Workspace::example();
    ws.edit_mesh("algorithm: ecdsa-p256", "algorithm: rsa-4096");
    ok(&ws.run(true, &["out"]));
    let root = fs::read_to_string(ws.path().join("pki/root.yaml")).unwrap();
    assert!(root.contains("algorithm: rsa-4096"));
    let doc = &sops::without_metadata(&root).unwrap()[0];
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("root.pem"),
        doc["certificate"].as_str().unwrap(),
    )
    .unwrap();
    let o = Command::new("openssl")
        .current_dir(dir.path())
        .args(["x509", "-noout", "-text", "-in", "root.pem"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("Public-Key: (4096 bit)"));
}
