//! Inputs have bounds (README, "State and safety"): a file a mesh description names is a regular
//! file of at most 1 MiB, a mesh has at most 1,000 clusters, and breaking either is an input
//! error naming the field and the file, given at once: no command reads `/dev/zero` until memory
//! runs out, or hangs on a FIFO. `init --from-kubeconfig` alone reads `<(…)`, capped and timed.

mod common;

use std::fs;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Workspace;

/// Runs `cmd`, failing the test if it has not ended after `limit` (it would hang for ever).
fn within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The example with kt-k2p's reader token read from `token` (a path as written in mesh.yaml).
fn with_token(token: &str) -> Workspace {
    let token = token.to_owned();
    Workspace::build(move |admin, _| {
        common::workspace::example_with_admin(admin).replacen(
            "  - name: kt-k2p\n",
            &format!(
                "  - name: kt-k2p\n    credentials:\n      tokenFile:\n        server: https://198.51.100.1:6443\n        caData: {}\n        token: {token}\n",
                common::ca_data()
            ),
            1,
        )
    })
}

/// Every command that reads the description's files refuses `what`, naming field and file.
fn refused_everywhere(ws: &Workspace, file: &str) {
    let limit = Duration::from_secs(30);
    for args in [
        &["out"][..],
        &["diff", "out"][..],
        &["check", "out", "--against", "mesh.yaml"][..],
    ] {
        if args[0] == "check" {
            fs::create_dir_all(ws.out()).unwrap();
            fs::write(
                ws.out().join(mesh_render::record::RECORD_FILE),
                "{\"format\": 1, \"files\": {}}\n",
            )
            .unwrap();
        }
        let o = within(ws.command(true).args(args), limit);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("clusters[0].credentials.tokenFile.token")
                && stderr(&o).contains(file),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn a_token_file_that_is_a_device_is_refused_at_once() {
    let ws = with_token("/dev/zero");
    refused_everywhere(&ws, "/dev/zero");
    assert!(!ws.path().join("pki").exists(), "nothing was issued");
}

#[test]
fn a_token_file_that_is_a_fifo_is_refused_at_once() {
    let ws = with_token("reader.fifo");
    let fifo = ws.path().join("reader.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    refused_everywhere(&ws, "reader.fifo");
}

#[test]
fn a_token_file_larger_than_one_mebibyte_is_refused() {
    let ws = with_token("huge.token");
    fs::write(ws.path().join("huge.token"), vec![b'a'; (1 << 20) + 1]).unwrap();
    refused_everywhere(&ws, "huge.token");
}

#[test]
fn an_identity_file_that_is_a_device_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = within(
        common::binary(dir.path(), &dir.path().join("home"))
            .env("SOPS_AGE_KEY_FILE", "/dev/zero")
            .arg("out"),
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("SOPS_AGE_KEY_FILE") && stderr(&o).contains("not a regular file"),
        "{}",
        stderr(&o)
    );
}

fn clusters(n: usize) -> String {
    let mut doc = String::from(
        "apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nmeshID: big\nistio:\n  version: 1.26.3\nclusters:\n",
    );
    for i in 1..=n {
        doc.push_str(&format!("  - name: c{i}\n    network: net{i}\n"));
    }
    doc
}

#[test]
fn a_mesh_of_more_than_a_thousand_clusters_is_refused_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mesh.yaml"), clusters(10_000)).unwrap();
    let o = within(
        common::binary(dir.path(), &dir.path().join("home")).arg("out"),
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("clusters: 10000 clusters; a mesh has at most 1000"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("out").exists() && !dir.path().join("pki").exists());
    // A thousand is allowed.
    let mesh = mesh_render::config::parse(
        &clusters(1000),
        &mesh_render::config::Origin::BuiltinExample,
    );
    assert!(mesh.is_ok(), "{:?}", mesh.err());
}

fn seed_kubeconfig() -> String {
    fs::read_to_string(common::repo_root().join("tests/fixtures/kubeconfig/seed/kt-k2p.yaml"))
        .unwrap()
}

#[test]
fn init_reads_a_kubeconfig_from_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("kube.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::write(&fifo, seed_kubeconfig()).unwrap())
    };
    let o = within(
        common::binary(dir.path(), &dir.path().join("home")).args([
            "init",
            "--from-kubeconfig",
            fifo.to_str().unwrap(),
        ]),
        Duration::from_secs(30),
    );
    writer.join().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        fs::read_to_string(dir.path().join("mesh.yaml"))
            .unwrap()
            .contains("name: kt-k2p")
    );
}

#[test]
fn init_gives_up_on_a_fifo_nothing_writes_to() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("silent.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let o = within(
        common::binary(dir.path(), &dir.path().join("home")).args([
            "init",
            "--from-kubeconfig",
            fifo.to_str().unwrap(),
        ]),
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("nothing to read after 10 s"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("mesh.yaml").exists());
}
