//! Rendering over many threads: the output does not depend on the number of threads or on their
//! scheduling, and a render that fails part-way leaves the tree as it was, with no stray files.

mod common;

use std::fs;
use std::path::Path;

use common::Workspace;
use mesh_render::sops;

/// Five clusters with credentials, an admin, and every cluster's GitOps recipient: two
/// recipients per file, N×(N−1) remote secrets.
/// Five clusters with an admin, each with its own GitOps recipient and a reader token file.
fn fleet() -> Workspace {
    Workspace::build(|admin, dir| {
        let mut mesh = common::five_cluster_mesh().replacen(
            "clusters:\n",
            &format!("secrets:\n  admins:\n    - {admin}\nclusters:\n"),
            1,
        );
        for (i, c) in ["c1", "c2", "c3", "c4", "c5"].iter().enumerate() {
            let line = format!("  - name: {c}\n");
            assert_eq!(mesh.matches(&line).count(), 1, "{mesh}");
            fs::write(
                dir.join(format!("{c}.token")),
                common::token("istio-reader-service-account", c),
            )
            .unwrap();
            let recipient = sops::generate_identity().1;
            mesh = mesh.replacen(
                &line,
                &format!(
                    "{line}    gitopsRecipient: {recipient}\n    credentials:\n      tokenFile:\n        server: https://198.51.100.{}:6443\n        caData: {}\n        token: {c}.token\n",
                    10 + i,
                    common::ca_data()
                ),
                1,
            );
        }
        mesh
    })
}

/// Rendering with a thread count.
impl Workspace {
    fn render(&self, out: &str, jobs: &str) -> std::process::Output {
        self.run(true, &["--jobs", jobs, out])
    }

    fn render_ok(&self, out: &str, jobs: &str) {
        let o = self.render(out, jobs);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    fn decrypt_text(&self, text: &str) -> String {
        sops::decrypt(text, &self.identities()).unwrap().to_yaml()
    }
}

fn is_sealed(path: &str) -> bool {
    path.ends_with(".sops.yaml") && !path.ends_with("/.sops.yaml") && path != ".sops.yaml"
}

/// An encrypted file without its ciphertext: every `ENC[...]` value and the `sops:` block cut.
fn outside_ciphertext(text: &str) -> String {
    let without_block = text.split("\nsops:\n").next().unwrap();
    let re = regex::Regex::new(r"ENC\[AES256_GCM,[^\]]*\]").unwrap();
    re.replace_all(without_block, "ENC[...]").into_owned()
}

#[test]
fn fresh_renders_with_one_and_many_threads_agree_outside_and_inside_the_ciphertext() {
    let fleet = fleet();
    fleet.render_ok("one", "1");
    fleet.render_ok("many", "8");
    let one = common::read_all(&fleet.path().join("one"));
    let many = common::read_all(&fleet.path().join("many"));
    let paths =
        |files: &[(String, Vec<u8>)]| files.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(paths(&one), paths(&many));
    let mut sealed = 0;
    for ((path, a), (_, b)) in one.iter().zip(&many) {
        let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
        if is_sealed(path) {
            sealed += 1;
            assert_ne!(a, b, "{path}: two fresh encryptions are never identical");
            assert_eq!(outside_ciphertext(&a), outside_ciphertext(&b), "{path}");
            assert_eq!(fleet.decrypt_text(&a), fleet.decrypt_text(&b), "{path}");
        } else if path == ".render-record.json" {
            // The digests of the encrypted files differ; their inputs do not.
            let inputs = |t: &str| {
                let v: serde_json::Value = serde_json::from_str(t).unwrap();
                v["files"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(p, f)| (p.clone(), f["inputs"].clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(inputs(&a), inputs(&b));
        } else {
            assert_eq!(a, b, "{path}");
        }
    }
    assert_eq!(
        sealed,
        5 + 5 * 4,
        "every cacerts and remote secret compared"
    );
}

#[test]
fn a_re_render_with_one_thread_and_with_many_over_the_same_tree_is_byte_identical() {
    let fleet = fleet();
    fleet.render_ok("out", "1");
    let before = common::read_all(&fleet.path().join("out"));
    fleet.render_ok("out", "8");
    assert_eq!(common::read_all(&fleet.path().join("out")), before);
    fleet.render_ok("out", "1");
    assert_eq!(common::read_all(&fleet.path().join("out")), before);
}

#[test]
fn a_change_rendered_with_one_thread_or_many_touches_the_same_files() {
    let fleet = fleet();
    fleet.render_ok("a", "1");
    copy_dir(&fleet.path().join("a"), &fleet.path().join("b"));
    // A new server for c3: every remote secret for c3 changes, and the top README's
    // table that names each cluster's API server; nothing else.
    let mesh = fs::read_to_string(fleet.path().join("mesh.yaml")).unwrap();
    fs::write(
        fleet.path().join("mesh.yaml"),
        mesh.replace("https://198.51.100.12:6443", "https://198.51.100.99:6443"),
    )
    .unwrap();
    let before = common::read_all(&fleet.path().join("a"));
    fleet.render_ok("a", "1");
    fleet.render_ok("b", "8");
    let (a, b) = (
        common::read_all(&fleet.path().join("a")),
        common::read_all(&fleet.path().join("b")),
    );
    let changed = |after: &[(String, Vec<u8>)]| {
        after
            .iter()
            .zip(&before)
            .filter(|((_, x), (_, y))| x != y)
            .map(|((p, _), _)| p.clone())
            .collect::<Vec<_>>()
    };
    let expected: Vec<String> = [".render-record.json", "README.md"]
        .into_iter()
        .map(str::to_owned)
        .chain(
            ["c1", "c2", "c4", "c5"]
                .iter()
                .map(|c| format!("clusters/{c}/40-mesh/istio-remote-secret-c3.sops.yaml")),
        )
        .collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(changed(&a), sorted);
    assert_eq!(changed(&b), sorted);
}

#[test]
fn a_render_that_cannot_seal_leaves_the_tree_as_it_was_and_no_temporary_files() {
    let fleet = fleet();
    fleet.render_ok("out", "4");
    let before = common::read_all(&fleet.path().join("out"));
    // c3's token is gone: its remote secrets must be sealed again (new server) and cannot be.
    fs::remove_file(fleet.path().join("c3.token")).unwrap();
    let mesh = fs::read_to_string(fleet.path().join("mesh.yaml")).unwrap();
    fs::write(
        fleet.path().join("mesh.yaml"),
        mesh.replace("https://198.51.100.12:6443", "https://198.51.100.99:6443")
            .replace("context: ctx-1\n", "context: ctx-one\n"),
    )
    .unwrap();
    let o = fleet.render("out", "4");
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("the reader token of c3"), "{stderr}");
    assert_eq!(common::read_all(&fleet.path().join("out")), before);
}

fn copy_dir(from: &Path, to: &Path) {
    for (path, bytes) in common::read_all(from) {
        let target = to.join(path);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, bytes).unwrap();
    }
}
