//! Remote secrets without cluster access: the istioctl shape, N×(N−1) of them, each cluster's
//! for the others only, the reader side everywhere, and what a render needs (or not) to keep them.

mod common;

use std::fs;
use std::path::Path;

use common::Workspace;
use common::workspace::CLUSTERS;
use mesh_render::sops;

use common::{ca_data, token};

impl Workspace {
    fn remote_secret(&self, holder: &str, source: &str) -> serde_json::Value {
        let path = self.out().join(format!(
            "clusters/{holder}/40-mesh/istio-remote-secret-{source}.sops.yaml"
        ));
        let identities = common::identities(&self.admin_key);
        sops::decrypt(&fs::read_to_string(path).unwrap(), &identities)
            .unwrap()
            .to_json()
            .remove(0)
    }

    fn remote_secret_yaml(&self, holder: &str, source: &str) -> String {
        let path = self.out().join(format!(
            "clusters/{holder}/40-mesh/istio-remote-secret-{source}.sops.yaml"
        ));
        let identities = common::identities(&self.admin_key);
        sops::decrypt(&fs::read_to_string(path).unwrap(), &identities)
            .unwrap()
            .to_yaml()
    }
}

fn remote_files(out: &Path, cluster: &str) -> Vec<String> {
    common::files_under(&out.join(format!("clusters/{cluster}/40-mesh")))
        .into_iter()
        .filter(|f| f.starts_with("istio-remote-secret-"))
        .collect()
}

#[test]
fn the_example_writes_the_reader_side_and_reports_six_pending_remote_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let o = common::binary(dir.path(), &dir.path().join("home"))
        .arg("out")
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(
            "warning: 6 remote secrets pending: kt-k2p, ncloud-nks, nhn-nks declare no credentials"
        ),
        "{text}"
    );
    assert!(
        text.contains("read its reader token once"),
        "the exact next step: {text}"
    );
    for c in CLUSTERS {
        assert!(
            dir.path()
                .join(format!("out/clusters/{c}/20-reader/reader-token.yaml"))
                .is_file()
        );
        assert!(remote_files(&dir.path().join("out"), c).is_empty());
    }
}

#[test]
fn strict_makes_pending_remote_secrets_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = common::binary(dir.path(), &dir.path().join("home"))
        .args(["--strict", "out"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--strict: 6 remote secrets are pending"));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn every_cluster_holds_exactly_the_other_clusters_remote_secrets() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["--strict", "out"]);
    for c in CLUSTERS {
        let mut expected: Vec<String> = CLUSTERS
            .iter()
            .filter(|o| **o != c)
            .map(|o| format!("istio-remote-secret-{o}.sops.yaml"))
            .collect();
        expected.sort();
        assert_eq!(remote_files(&ws.out(), c), expected, "{c}");
        let kustomization = fs::read_to_string(
            ws.out()
                .join(format!("clusters/{c}/40-mesh/kustomization.yaml")),
        )
        .unwrap();
        for file in &expected {
            assert!(
                kustomization.contains(&format!("  - {file}\n")),
                "{c} lists {file}"
            );
        }
    }
}

#[test]
fn a_decrypted_remote_secret_has_istioctls_shape() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    let yaml = ws.remote_secret_yaml("ncloud-nks", "kt-k2p");
    common::with_snapshots(|| {
        insta::assert_snapshot!("remote_secret_of_kt_k2p_for_ncloud_nks", yaml)
    });
}

#[test]
fn the_kubeconfig_inside_names_everything_after_the_source_cluster() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    let secret = ws.remote_secret("nhn-nks", "ncloud-nks");
    assert_eq!(secret["metadata"]["labels"]["istio/multiCluster"], "true");
    assert_eq!(
        secret["metadata"]["annotations"]["networking.istio.io/cluster"],
        "ncloud-nks"
    );
    let data = secret["stringData"].as_object().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["ncloud-nks"],
        "one key: the cluster ID"
    );
    let kubeconfig_text = data["ncloud-nks"].as_str().unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), kubeconfig_text).unwrap();
    let kube = mesh_render::kubeconfig::Kubeconfig::load(&[file.path().to_owned()]).unwrap();
    assert_eq!(kube.current_context(), Some("ncloud-nks"));
    let credential = kube.reader_credential("ncloud-nks").unwrap();
    assert_eq!(credential.server, "https://203.0.113.21:6443");
    assert_eq!(credential.ca_data, ca_data());
    assert!(credential.is_reader_token);
}

#[test]
fn remote_secrets_validate_strictly_without_their_sops_block_and_decrypted() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    let catalog =
        mesh_render::check::schema::SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    let path = ws
        .out()
        .join("clusters/kt-k2p/40-mesh/istio-remote-secret-nhn-nks.sops.yaml");
    let mut structure = sops::without_metadata(&fs::read_to_string(path).unwrap())
        .unwrap()
        .remove(0);
    structure.as_object_mut().unwrap().remove("sops");
    use mesh_render::check::schema::Mode;
    assert!(
        catalog
            .validate(&structure, Mode::Strict)
            .unwrap()
            .is_empty()
    );
    assert!(
        catalog
            .validate(&ws.remote_secret("kt-k2p", "nhn-nks"), Mode::Strict)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_re_render_without_token_files_or_keys_keeps_every_remote_secret() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    let before = common::read_all(&ws.out());
    for c in CLUSTERS {
        fs::remove_file(ws.path().join(format!("{c}.token"))).unwrap();
    }
    let text = ws.ok(false, &["out"]);
    assert!(text.contains("0 written"), "{text}");
    assert_eq!(common::read_all(&ws.out()), before);
}

#[test]
fn a_changed_description_without_its_input_fails_naming_the_cluster_and_the_input() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    fs::remove_file(ws.path().join("kt-k2p.token")).unwrap();
    ws.edit_mesh("https://203.0.113.20:6443", "https://203.0.113.99:6443");
    let before = common::read_all(&ws.out());
    let o = ws.run(true, &["out"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("istio-remote-secret-kt-k2p.sops.yaml (its inputs changed)"),
        "{err}"
    );
    assert!(
        err.contains("the reader token of kt-k2p") && err.contains("kt-k2p.token"),
        "{err}"
    );
    assert_eq!(common::read_all(&ws.out()), before);
}

#[test]
fn adding_a_fourth_cluster_adds_one_remote_secret_to_each_old_cluster_and_nothing_else() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    let before = common::read_all(&ws.out());
    fs::write(
        ws.path().join("fourth.token"),
        token("istio-reader-service-account", "fourth"),
    )
    .unwrap();
    ws.edit_mesh(
        "\nsample:\n",
        &format!(
            "  - name: fourth\n    network: network4\n    credentials:\n      tokenFile:\n        server: https://198.51.100.4:6443\n        caData: {}\n        token: fourth.token\n\nsample:\n",
            ca_data()
        ),
    );
    ws.ok(true, &["out"]);
    let after = common::read_all(&ws.out());
    for c in CLUSTERS {
        let prefix = format!("clusters/{c}/");
        let changed: Vec<&str> = after
            .iter()
            .filter(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, b)| before.iter().find(|(q, _)| q == p).map(|(_, x)| x) != Some(b))
            .map(|(p, _)| p.as_str())
            .collect();
        assert_eq!(
            changed,
            [
                format!("{prefix}40-mesh/istio-remote-secret-fourth.sops.yaml"),
                format!("{prefix}40-mesh/kustomization.yaml"),
                // They apply and remove the new remote secret too.
                format!("{prefix}install.sh"),
                format!("{prefix}uninstall.sh")
            ],
            "{c}"
        );
        assert_eq!(remote_files(&ws.out(), c).len(), 3);
    }
    assert_eq!(remote_files(&ws.out(), "fourth").len(), 3);
}

#[test]
fn a_sops_encrypted_token_file_is_read_with_the_admin_key_and_its_rotation_noticed() {
    let ws = Workspace::with_token_files();
    let admin = common::identities(&ws.admin_key).recipients();
    let seal = |t: &str| {
        sops::encrypt(
            &format!("token: {t}\n"),
            &sops::Rule::EncryptedRegex("^token$".into()),
            &admin,
            sops::Timestamp::from(time::OffsetDateTime::now_utc()),
        )
        .unwrap()
    };
    fs::write(
        ws.path().join("kt-k2p.token"),
        seal(&token("istio-reader-service-account", "kt-k2p")),
    )
    .unwrap();
    ws.ok(true, &["out"]);
    let first = ws.remote_secret("nhn-nks", "kt-k2p");
    assert!(
        first["stringData"]["kt-k2p"]
            .as_str()
            .unwrap()
            .contains(&token("istio-reader-service-account", "kt-k2p"))
    );
    // Rotation: a new token in the encrypted file is noticed by the file's digest.
    fs::write(
        ws.path().join("kt-k2p.token"),
        seal(&token("istio-reader-service-account", "rotated")),
    )
    .unwrap();
    let text = ws.ok(true, &["out"]);
    assert!(
        text.contains("2 written"),
        "the two remote secrets of kt-k2p: {text}"
    );
    let second = ws.remote_secret("nhn-nks", "kt-k2p");
    assert!(
        second["stringData"]["kt-k2p"]
            .as_str()
            .unwrap()
            .contains(&token("istio-reader-service-account", "rotated"))
    );
}

#[test]
fn refresh_credentials_takes_a_token_rotated_in_a_plain_file() {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    fs::write(
        ws.path().join("kt-k2p.token"),
        token("istio-reader-service-account", "rotated"),
    )
    .unwrap();
    assert!(
        ws.ok(true, &["out"]).contains("0 written"),
        "a plain token file is not digested"
    );
    let text = ws.ok(true, &["--refresh-credentials", "out"]);
    assert!(text.contains("6 written"), "{text}");
    let secret = ws.remote_secret("ncloud-nks", "kt-k2p");
    assert!(
        secret["stringData"]["kt-k2p"]
            .as_str()
            .unwrap()
            .contains(&token("istio-reader-service-account", "rotated"))
    );
    assert!(
        ws.ok(true, &["out"]).contains("0 written"),
        "the next plain render keeps them"
    );
}

#[test]
fn private_and_loopback_api_servers_are_warned_about() {
    let ws = Workspace::with_token_files();
    ws.edit_mesh("https://203.0.113.20:6443", "https://10.0.0.1:6443");
    ws.edit_mesh("https://203.0.113.21:6443", "https://127.0.0.1:6443");
    let text = ws.ok(true, &["out"]);
    assert!(
        text.contains("the API server of kt-k2p (https://10.0.0.1:6443) is a private address"),
        "{text}"
    );
    assert!(
        text.contains(
            "the API server of ncloud-nks (https://127.0.0.1:6443) is a loopback address"
        ),
        "{text}"
    );
    assert!(!text.contains("nhn-nks (https://"), "{text}");
}

#[test]
fn clusters_sharing_a_reason_share_one_warning() {
    let ws = Workspace::with_token_files();
    ws.edit_mesh("https://203.0.113.20:6443", "https://10.0.0.1:6443");
    ws.edit_mesh("https://203.0.113.21:6443", "https://10.0.0.2:6443");
    let text = ws.ok(true, &["out"]);
    assert!(
        text.contains(
            "the API server of each of 2 clusters (kt-k2p, ncloud-nks) is a private address"
        ),
        "{text}"
    );
    assert_eq!(text.matches("private address").count(), 1, "{text}");
}

#[test]
fn each_cluster_decrypts_only_its_own_remote_secrets() {
    if !common::judge_available("sops", "it decrypts with each cluster's identity") {
        return;
    }
    let ws = Workspace::with_token_files();
    ws.ok(true, &["keys"]);
    ws.ok(true, &["out"]);
    let identity = |c: &str| {
        ws.path()
            .join(format!("home/data/mesh-render/usmesh/clusters/{c}.agekey"))
    };
    for holder in CLUSTERS {
        for reader in CLUSTERS {
            let file = ws.out().join(format!(
                "clusters/{holder}/40-mesh/istio-remote-secret-{}.sops.yaml",
                CLUSTERS.iter().find(|s| **s != holder).unwrap()
            ));
            let o = std::process::Command::new("sops")
                .env("SOPS_AGE_KEY_FILE", identity(reader))
                .env("SOPS_DISABLE_VERSION_CHECK", "1")
                .arg("decrypt")
                .arg(&file)
                .output()
                .unwrap();
            assert_eq!(
                o.status.success(),
                holder == reader,
                "{reader} reading {holder}'s remote secret"
            );
        }
    }
}

mod kubeconfig_source {
    use super::*;

    /// A kubeconfig for kt-k2p whose user authenticates with `user` (YAML lines).
    fn kubeconfig(ws: &Workspace, user: &str) {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kt\n  cluster:\n    server: https://203.0.113.50:6443\n    certificate-authority-data: {}\ncontexts:\n- name: kt-reader\n  context:\n    cluster: kt\n    user: reader\ncurrent-context: kt-reader\nusers:\n- name: reader\n  user:\n{user}",
            ca_data()
        );
        fs::write(ws.path().join("kt.kubeconfig"), text).unwrap();
        ws.edit_mesh(
            "        token: kt-k2p.token\n",
            "        token: kt-k2p.token\n        REPLACED\n",
        );
        let mesh = fs::read_to_string(ws.path().join("mesh.yaml")).unwrap();
        let start = mesh
            .find("    credentials:\n      tokenFile:\n        server: https://203.0.113.20:6443")
            .unwrap();
        let end = mesh[start..].find("REPLACED\n").unwrap() + start + "REPLACED\n".len();
        let replaced = format!(
            "{}    credentials:\n      kubeconfig:\n        file: kt.kubeconfig\n        context: kt-reader\n{}",
            &mesh[..start],
            &mesh[end..]
        );
        fs::write(ws.path().join("mesh.yaml"), replaced).unwrap();
    }

    #[test]
    fn a_reader_token_in_a_kubeconfig_makes_the_same_remote_secret_shape() {
        let ws = Workspace::with_token_files();
        kubeconfig(
            &ws,
            &format!(
                "    token: {}\n",
                token("istio-reader-service-account", "kt-k2p")
            ),
        );
        let text = ws.ok(true, &["out"]);
        assert!(
            !text.contains("is not istio-reader-service-account's token"),
            "{text}"
        );
        let secret = ws.remote_secret("nhn-nks", "kt-k2p");
        let inner = secret["stringData"]["kt-k2p"].as_str().unwrap();
        assert!(
            inner.contains("server: https://203.0.113.50:6443") && inner.contains("name: kt-k2p")
        );
        assert!(
            !inner.contains("kt-reader"),
            "everything is renamed after the mesh cluster"
        );
    }

    #[test]
    fn a_credential_that_is_not_the_readers_is_warned_about_loudly() {
        let ws = Workspace::with_token_files();
        kubeconfig(
            &ws,
            &format!("    token: {}\n", token("cluster-admin-sa", "kt-k2p")),
        );
        let text = ws.ok(true, &["out"]);
        assert!(text.contains("warning: the credential of kt-k2p (kubeconfig context kt-reader) is not istio-reader-service-account's token"), "{text}");
    }

    #[test]
    fn inline_client_certificates_are_accepted_with_the_warning() {
        let ws = Workspace::with_token_files();
        kubeconfig(
            &ws,
            "    client-certificate-data: Y2VydA==\n    client-key-data: a2V5\n",
        );
        let text = ws.ok(true, &["out"]);
        assert!(
            text.contains("is not istio-reader-service-account's token"),
            "{text}"
        );
        let inner = ws.remote_secret("nhn-nks", "kt-k2p")["stringData"]["kt-k2p"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            inner.contains("client-certificate-data: Y2VydA==")
                && inner.contains("client-key-data: a2V5")
        );
    }

    fn rejected(user: &str, why: &str) {
        let ws = Workspace::with_token_files();
        kubeconfig(&ws, user);
        let o = ws.run(true, &["out"]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{err}");
        assert!(
            err.contains("istiod cannot use from another cluster")
                && err.contains("use the reader's token instead"),
            "{err}"
        );
    }

    #[test]
    fn an_exec_plugin_is_rejected_with_the_reason() {
        rejected(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [eks, get-token]\n",
            "an exec credential plugin",
        );
    }

    #[test]
    fn a_token_file_is_rejected_with_the_reason() {
        rejected("    tokenFile: /var/run/token\n", "a token file");
    }

    #[test]
    fn certificate_files_are_rejected_with_the_reason() {
        rejected(
            "    client-certificate: client.crt\n    client-key: client.key\n",
            "client certificate files",
        );
    }

    #[test]
    fn an_auth_provider_is_rejected_with_the_reason() {
        rejected("    auth-provider:\n      name: gcp\n", "an auth provider");
    }
}
