//! Root rotation, stage by stage, as istiod needs it: byte-identical bundles that contain the
//! previous ones, the new root trusted everywhere before it signs, chains openssl accepts.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::Workspace;
use common::workspace::CLUSTERS;
use mesh_render::sops;

impl Workspace {
    fn stage(&self, stage: &str) {
        self.ok(true, &["pki", "rotate-root", "--stage", stage]);
        self.ok(true, &["out"]);
    }

    /// The decrypted cacerts files of a cluster.
    fn cacerts(&self, cluster: &str) -> CaCerts {
        let path = self.out().join(format!(
            "clusters/{cluster}/10-istio-system/cacerts.sops.yaml"
        ));
        let identities = common::identities(&self.admin_key);
        let doc = &sops::decrypt(&fs::read_to_string(path).unwrap(), &identities)
            .unwrap()
            .to_json()[0];
        let file = |k: &str| doc["stringData"][k].as_str().unwrap().to_owned();
        CaCerts {
            ca_cert: file("ca-cert.pem"),
            root_cert: file("root-cert.pem"),
            cert_chain: file("cert-chain.pem"),
        }
    }

    fn istiod_values(&self, cluster: &str) -> String {
        fs::read_to_string(self.out().join(format!("values/{cluster}/istiod.yaml"))).unwrap()
    }

    fn root_pem(&self, file: &str) -> String {
        let text = fs::read_to_string(self.path().join("pki").join(file)).unwrap();
        sops::without_metadata(&text).unwrap()[0]["certificate"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

struct CaCerts {
    ca_cert: String,
    root_cert: String,
    cert_chain: String,
}

/// Whether `leaf` chains to `root` (openssl, strict).
fn verifies(root: &str, leaf: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("root.pem"), root).unwrap();
    fs::write(dir.path().join("leaf.pem"), leaf).unwrap();
    Command::new("openssl")
        .current_dir(dir.path())
        .args(["verify", "-x509_strict", "-CAfile", "root.pem", "leaf.pem"])
        .output()
        .unwrap()
        .status
        .success()
}

fn same_everywhere(ws: &Workspace, f: impl Fn(&CaCerts) -> String) -> String {
    let values: Vec<String> = CLUSTERS.iter().map(|c| f(&ws.cacerts(c))).collect();
    assert!(
        values.windows(2).all(|w| w[0] == w[1]),
        "bundles differ between clusters"
    );
    values[0].clone()
}

fn contains(outer: &str, inner: &str) -> bool {
    outer.contains(inner)
}

fn sealed_files(out: &Path) -> Vec<(String, Vec<u8>)> {
    common::read_all(out)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".sops.yaml"))
        .collect()
}

#[test]
fn each_stage_renders_the_bundles_and_chains_istio_accepts() {
    if !common::judge_available("openssl", "it verifies the chains of each stage") {
        return;
    }
    let ws = Workspace::example();
    ws.ok(true, &["out"]);
    let old_root = ws.root_pem("root.yaml");
    let initial = same_everywhere(&ws, |c| c.root_cert.clone());
    assert_eq!(initial, old_root);
    let before_prepare = sealed_files(&ws.out());

    // prepare: istiod and proxies are told, the CA material does not move.
    ws.stage("prepare");
    assert_eq!(
        sealed_files(&ws.out()),
        before_prepare,
        "prepare re-encrypts nothing"
    );
    for c in CLUSTERS {
        let values = ws.istiod_values(c);
        assert!(
            values.contains("ISTIO_MULTIROOT_MESH: \"true\"")
                && values.contains("PROXY_CONFIG_XDS_AGENT: \"true\""),
            "{c}"
        );
    }

    // trust-both: old + new root everywhere, byte-identical, containing the old bundle.
    ws.stage("trust-both");
    let new_root = ws.root_pem("root-next.yaml");
    let both = same_everywhere(&ws, |c| c.root_cert.clone());
    assert_eq!(both, format!("{old_root}{new_root}"));
    assert!(contains(&both, &initial));
    for c in CLUSTERS {
        let cacerts = ws.cacerts(c);
        assert!(
            verifies(&old_root, &cacerts.ca_cert),
            "{c}: the old intermediate still signs"
        );
        assert!(cacerts.cert_chain.ends_with(&old_root));
    }

    // switch: the new intermediates sign, both roots still trusted.
    ws.stage("switch");
    assert_eq!(same_everywhere(&ws, |c| c.root_cert.clone()), both);
    for c in CLUSTERS {
        let cacerts = ws.cacerts(c);
        assert!(
            verifies(&new_root, &cacerts.ca_cert),
            "{c}: signed by the new root"
        );
        assert!(
            !verifies(&old_root, &cacerts.ca_cert),
            "{c}: not by the old one"
        );
        assert_eq!(
            cacerts.cert_chain,
            format!("{}{new_root}", cacerts.ca_cert),
            "{c}"
        );
    }

    // finish: only the new root; the previous bundle contains it.
    ws.stage("finish");
    let last = same_everywhere(&ws, |c| c.root_cert.clone());
    assert_eq!(last, new_root);
    assert!(contains(&both, &last));
    let after_finish = sealed_files(&ws.out());

    // done: the state is promoted; cacerts stay byte for byte and istiod leaves multi-root mode.
    ws.stage("done");
    assert_eq!(
        sealed_files(&ws.out()),
        after_finish,
        "completing the rotation re-encrypts nothing"
    );
    assert_eq!(ws.root_pem("root.yaml"), new_root);
    assert!(!ws.path().join("pki/rotation.yaml").exists());
    assert!(!ws.path().join("pki/root-next.yaml").exists());
    assert!(
        common::files_under(&ws.path().join("pki/retired"))
            .iter()
            .any(|p| p.starts_with("root-"))
    );
    assert!(!ws.istiod_values("kt-k2p").contains("ISTIO_MULTIROOT_MESH"));
}

#[test]
fn stages_cannot_be_skipped() {
    let ws = Workspace::example();
    ws.ok(true, &["out"]);
    let o = ws.run(true, &["pki", "rotate-root", "--stage", "switch"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`switch` cannot follow a mesh with no rotation in progress")
            && err.contains("--stage prepare"),
        "{err}"
    );
    ws.ok(true, &["pki", "rotate-root", "--stage", "prepare"]);
    let o = ws.run(true, &["pki", "rotate-root", "--stage", "finish"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot follow stage `prepare`"));
}

#[test]
fn the_summary_names_the_stage_and_what_to_check_next() {
    let ws = Workspace::example();
    ws.ok(true, &["out"]);
    ws.ok(true, &["pki", "rotate-root", "--stage", "prepare"]);
    let text = ws.ok(true, &["out"]);
    assert!(
        text.contains("root rotation in progress, stage `prepare`")
            && text.contains("--stage trust-both"),
        "{text}"
    );
    assert!(
        fs::read_to_string(ws.out().join("README.md"))
            .unwrap()
            .contains("In progress: stage `prepare`")
    );
}
