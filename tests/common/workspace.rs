//! A user's working directory for the tests that run the binary: a temporary directory with its
//! own HOME, an admin identity beside mesh.yaml (listed in it), and helpers to run mesh-render
//! with the key at hand or with public keys only, as CI does.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mesh_render::sops::{self, Decrypted, Identities};

/// The example's clusters, in order.
pub const CLUSTERS: [&str; 3] = ["kt-k2p", "ncloud-nks", "nhn-nks"];

pub struct Workspace {
    dir: tempfile::TempDir,
    /// The admin identity (outside mesh.yaml, inside the workspace).
    pub admin_key: PathBuf,
}

impl Workspace {
    /// A workspace whose mesh.yaml `mesh` makes from the admin's recipient and the workspace's
    /// directory (for files it refers to).
    pub fn build(mesh: impl FnOnce(&str, &Path) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (secret, recipient) = sops::generate_identity();
        let admin_key = dir.path().join("admin.agekey");
        fs::write(&admin_key, format!("{}\n", secret.expose())).unwrap();
        let text = mesh(&recipient.to_string(), dir.path());
        fs::write(dir.path().join("mesh.yaml"), text).unwrap();
        Workspace { dir, admin_key }
    }

    /// The built-in example, with the admin listed.
    pub fn example() -> Self {
        Self::build(|admin, _| example_with_admin(admin))
    }

    /// The example with the admin, and every cluster's reader token in `<cluster>.token`.
    pub fn with_token_files() -> Self {
        Self::build(|admin, dir| with_token_files(&example_with_admin(admin), dir, &CLUSTERS, 20))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The output directory, `out/`.
    pub fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    /// The binary in this workspace, with the admin identity at hand or not.
    pub fn command(&self, with_key: bool) -> Command {
        let mut cmd = super::binary(self.path(), &self.path().join("home"));
        if with_key {
            cmd.env("SOPS_AGE_KEY_FILE", &self.admin_key);
        }
        cmd
    }

    pub fn run(&self, with_key: bool, args: &[&str]) -> Output {
        self.command(with_key).args(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, with_key: bool, args: &[&str]) -> String {
        let o = self.run(with_key, args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Replaces `from`, which must occur once, in mesh.yaml.
    pub fn edit_mesh(&self, from: &str, to: &str) {
        edit_file(&self.path().join("mesh.yaml"), from, to);
    }

    /// Replaces `from`, which must occur once, in `file` under out/.
    pub fn edit_out(&self, file: &str, from: &str, to: &str) {
        edit_file(&self.out().join(file), from, to);
    }

    pub fn identities(&self) -> Identities {
        super::identities(&self.admin_key)
    }

    /// The SOPS file `file` under out/, decrypted with the admin identity.
    pub fn decrypt(&self, file: &str) -> Decrypted {
        let text = fs::read_to_string(self.out().join(file)).unwrap();
        sops::decrypt(&text, &self.identities()).unwrap()
    }
}

fn edit_file(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} in {}",
        path.display()
    );
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The example with `admin` listed under secrets.admins.
pub fn example_with_admin(admin: &str) -> String {
    super::example_with("  admins: []\n", &format!("  admins:\n    - {admin}\n"))
}

/// `mesh` with a reader token file in `dir` for each of `clusters` and their credentials set,
/// API servers at 203.0.113.<first_ip + i>.
pub fn with_token_files(mesh: &str, dir: &Path, clusters: &[&str], first_ip: usize) -> String {
    let mut mesh = mesh.to_owned();
    for (i, c) in clusters.iter().enumerate() {
        fs::write(
            dir.join(format!("{c}.token")),
            format!("{}\n", super::token("istio-reader-service-account", c)),
        )
        .unwrap();
        let line = format!("  - name: {c}\n");
        assert_eq!(mesh.matches(&line).count(), 1, "{line:?}");
        let creds = format!(
            "  - name: {c}\n    credentials:\n      tokenFile:\n        server: https://203.0.113.{}:6443\n        caData: {}\n        token: {c}.token\n",
            first_ip + i,
            super::ca_data()
        );
        mesh = mesh.replacen(&line, &creds, 1);
    }
    mesh
}
