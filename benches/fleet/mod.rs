//! A fleet mesh on disk for the whole-render benchmarks: N clusters, each with its own GitOps
//! recipient and reader credentials (so every file has two recipients: the admin and the
//! cluster), an admin identity, and the mesh-render binary run in it with an isolated home.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use mesh_render::config::{Algorithm, Validity};
use mesh_render::pki;
use mesh_render::sops;

pub struct Fleet {
    pub dir: PathBuf,
    pub clusters: usize,
}

/// The description of a fleet of `n` clusters with `admin` as the admin recipient.
pub fn mesh_yaml(n: usize, admin: &str, recipients: &[String], ca_data: &str) -> String {
    let mut mesh = format!(
        "apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nmeshID: fleet\nistio:\n  version: 1.26.0\nsecrets:\n  admins:\n    - {admin}\nclusters:\n"
    );
    for (i, recipient) in recipients.iter().enumerate().take(n) {
        mesh.push_str(&format!(
            "  - name: c{i:03}\n    network: net{i}\n    gitopsRecipient: {recipient}\n    credentials:\n      tokenFile:\n        server: https://10.{}.{}.1:6443\n        caData: {ca_data}\n        token: tokens/c{i:03}.token\n",
            i / 250,
            i % 250
        ));
    }
    mesh
}

/// The API servers' CA as `caData`: a throwaway CA certificate, base64.
pub fn ca_data() -> String {
    let now = time::OffsetDateTime::now_utc();
    let ca = pki::issue_root(Algorithm::EcdsaP256, Validity::default(), now).unwrap();
    base64::engine::general_purpose::STANDARD.encode(&ca.cert_pem)
}

impl Fleet {
    /// Writes `mesh.yaml` (n clusters) and `mesh-plus-one.yaml` (n + 1) with every token file
    /// and the admin identity into `dir`.
    pub fn create(dir: &Path, n: usize) -> Self {
        fs::create_dir_all(dir.join("tokens")).unwrap();
        let (secret, admin) = sops::generate_identity();
        fs::write(dir.join("admin.agekey"), format!("{}\n", secret.expose())).unwrap();
        let recipients: Vec<String> = (0..=n)
            .map(|_| sops::generate_identity().1.to_string())
            .collect();
        let ca_data = ca_data();
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"sub":"system:serviceaccount:istio-system:istio-reader-service-account"}"#)
        );
        for i in 0..=n {
            fs::write(dir.join(format!("tokens/c{i:03}.token")), &token).unwrap();
        }
        let admin = admin.to_string();
        fs::write(
            dir.join("mesh.yaml"),
            mesh_yaml(n, &admin, &recipients, &ca_data),
        )
        .unwrap();
        fs::write(
            dir.join("mesh-plus-one.yaml"),
            mesh_yaml(n + 1, &admin, &recipients, &ca_data),
        )
        .unwrap();
        Fleet {
            dir: dir.to_owned(),
            clusters: n,
        }
    }

    /// The binary, run in the fleet's directory with an isolated home and the admin identity.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesh-render"));
        let home = self.dir.join("home");
        cmd.current_dir(&self.dir)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("SOPS_AGE_KEY_FILE", self.dir.join("admin.agekey"))
            .env_remove("SOPS_AGE_KEY")
            .env_remove("MESH_RENDER_SCHEMAS");
        cmd
    }

    /// Runs the binary with `args`; panics with its stderr if it fails.
    pub fn run(&self, args: &[&str]) {
        let o = self.command().args(args).output().unwrap();
        assert!(
            o.status.success() || args.first() == Some(&"check") && o.status.code() == Some(1),
            "mesh-render {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// ../shared/schemas beside the repository, if it is there.
    pub fn schemas() -> Option<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas");
        dir.is_dir().then(|| dir.display().to_string())
    }
}
