//! `mesh-render init`: the example round trip, overwrite protection, and the offline import of
//! clusters from kubeconfig files.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use mesh_render::config;

fn fixtures() -> PathBuf {
    common::repo_root().join("tests/fixtures/kubeconfig")
}

fn run(cwd: &Path, args: &[&str], kubeconfig_env: Option<&str>) -> Output {
    let mut cmd = common::binary(cwd, cwd);
    cmd.args(args);
    if let Some(value) = kubeconfig_env {
        cmd.env("KUBECONFIG", value);
    }
    cmd.output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn seed_files() -> Vec<String> {
    ["kt-k2p", "ncloud-nks", "nhn-nks"]
        .iter()
        .map(|c| {
            fixtures()
                .join(format!("seed/{c}.yaml"))
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn init_writes_the_commented_example_on_the_newest_supported_release() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["init"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(dir.path().join("mesh.yaml")).unwrap();
    assert_eq!(text, mesh_render::render::init::new_mesh_example());
    assert!(text.contains("the K-PaaS seed used 1.26.0"), "{text}");
    let mesh = read_mesh(&dir.path().join("mesh.yaml")).unwrap();
    assert_eq!(
        mesh.istio.version,
        mesh_render::releases::newest_supported()
    );
    assert_eq!(mesh.istio.version.to_string(), "1.30.3");
}

#[test]
fn rendering_what_init_wrote_differs_from_the_built_in_example_only_by_release() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["init"], None).status.success());
    let o = run(dir.path(), &["from-file"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    // A supported release: no end-of-life advice.
    let printed = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(!printed.contains("end of life"), "{printed}");
    fs::rename(dir.path().join("mesh.yaml"), dir.path().join("kept.yaml")).unwrap();
    assert!(
        run(dir.path(), &["--quiet", "built-in"], None)
            .status
            .success()
    );
    // Every text file is the same but for the release's own facts; the encrypted ones hold the
    // same kind of Secret (their ciphertext is random, and the two renders use two PKIs).
    let texts = |out: &str| -> std::collections::BTreeMap<String, String> {
        common::read_all(&dir.path().join(out))
            .into_iter()
            .filter(|(p, _)| !p.ends_with(".sops.yaml") && p != ".render-record.json")
            .map(|(p, bytes)| (p, String::from_utf8(bytes).unwrap()))
            .collect()
    };
    let (new, seed) = (texts("from-file"), texts("built-in"));
    assert_eq!(
        new.keys().collect::<Vec<_>>(),
        seed.keys().collect::<Vec<_>>()
    );
    let mut differing = 0;
    for (path, text) in &new {
        if *text != seed[path] {
            differing += 1;
            let new_lines: Vec<&str> = text.lines().filter(|l| !seed[path].contains(l)).collect();
            for line in new_lines {
                assert!(
                    // The release, and the revision init names after it (which holds the
                    // revision tag `default`).
                    [
                        "1.30",
                        "1-30-3",
                        "registry.istio.io/release",
                        "v1.5",
                        "curl:8.16.0",
                        "revisionTags:",
                        "- default",
                        "revision tag `default`",
                        "get this control plane's sidecars",
                        "this revision's istiod",
                        "defaultRevision: 1-30-3",
                    ]
                    .iter()
                    .any(|fact| line.contains(fact)),
                    "{path}: {line}"
                );
            }
        }
    }
    assert!(differing > 0);
    let sealed = |out: &str| -> Vec<String> {
        common::files_under(&dir.path().join(out))
            .into_iter()
            .filter(|p| p.ends_with(".sops.yaml"))
            .collect()
    };
    assert_eq!(sealed("from-file"), sealed("built-in"));
}

#[test]
fn init_refuses_to_overwrite_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mesh.yaml"), "mine\n").unwrap();
    let o = run(dir.path(), &["init"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("mesh.yaml already exists") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("mesh.yaml")).unwrap(),
        "mine\n"
    );
}

#[test]
fn init_force_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mesh.yaml"), "mine\n").unwrap();
    assert!(run(dir.path(), &["init", "--force"], None).status.success());
    assert_eq!(
        fs::read_to_string(dir.path().join("mesh.yaml")).unwrap(),
        mesh_render::render::init::new_mesh_example()
    );
}

#[test]
fn init_from_three_kubeconfig_files_gives_the_seeds_clusters_contexts_and_networks() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["init", "--from-kubeconfig"];
    let files = seed_files();
    args.extend(files.iter().map(String::as_str));
    let o = run(dir.path(), &args, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let mesh =
        read_mesh(&dir.path().join("mesh.yaml")).expect("init writes a valid mesh description");
    let got: Vec<(&str, &str, &str)> = mesh
        .clusters
        .iter()
        .map(|c| (c.name.as_str(), c.context.as_str(), c.network.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("kt-k2p", "kt-k2p-admin@kt-k2p", "network1"),
            ("ncloud-nks", "ncloud-nks-admin@ncloud-nks", "network2"),
            ("nhn-nks", "nhn-nks-admin@nhn-nks", "network3"),
        ]
    );
    // kt-k2p and nhn-nks authenticate with inline client certificates: their kubeconfig is
    // recorded as the credential source. ncloud-nks uses an exec plugin, which istiod cannot use:
    // its source is left commented out with the reason.
    for c in &mesh.clusters {
        let recorded = matches!(&c.credentials, Some(config::Credentials::Kubeconfig { file, context })
            if file.ends_with(format!("seed/{}.yaml", c.name)) && context == &c.context);
        assert_eq!(recorded, c.name.as_str() != "ncloud-nks", "{}", c.name);
    }
    let text = fs::read_to_string(dir.path().join("mesh.yaml")).unwrap();
    assert_eq!(
        text.matches("# EDIT").count(),
        1 + 3 * 3 + 1,
        "the meshID; CNI, load balancer and metrics-server per cluster; ncloud-nks' credential"
    );
    assert!(
        run(dir.path(), &["--quiet", "out"], None).status.success(),
        "what init wrote renders"
    );
}

#[test]
fn init_from_kubeconfig_reads_the_kubeconfig_variable_when_no_files_are_given() {
    let dir = tempfile::tempdir().unwrap();
    let files = seed_files();
    let env = format!(
        "{}::{}:{}",
        files[2],
        files[0],
        dir.path().join("missing.yaml").display()
    );
    let o = run(dir.path(), &["init", "--from-kubeconfig"], Some(&env));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("missing.yaml"),
        "a skipped entry is reported: {}",
        stderr(&o)
    );
    let mesh = read_mesh(&dir.path().join("mesh.yaml")).unwrap();
    // get-contexts order (sorted context names), not KUBECONFIG order.
    let names: Vec<&str> = mesh.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["kt-k2p", "nhn-nks"]);
}

#[test]
fn init_from_kubeconfig_falls_back_to_the_home_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join(".kube")).unwrap();
    fs::copy(
        fixtures().join("seed/ncloud-nks.yaml"),
        dir.path().join(".kube/config"),
    )
    .unwrap();
    let o = run(dir.path(), &["init", "--from-kubeconfig"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let mesh = read_mesh(&dir.path().join("mesh.yaml")).unwrap();
    assert_eq!(mesh.clusters[0].name.as_str(), "ncloud-nks");
}

#[test]
fn init_from_conflicting_kubeconfigs_names_both_files_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = fixtures().join("merge/base.yaml");
    let b = fixtures().join("merge/cluster-differs.yaml");
    let o = run(
        dir.path(),
        &[
            "init",
            "--from-kubeconfig",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("base.yaml") && err.contains("cluster-differs.yaml"),
        "{err}"
    );
    assert!(!dir.path().join("mesh.yaml").exists());
}

#[test]
fn init_from_gke_and_eks_kubeconfigs_derives_cluster_names_and_keeps_their_contexts() {
    let dir = tempfile::tempdir().unwrap();
    let gke = fixtures().join("names/gke.yaml");
    let eks = fixtures().join("names/eks.yaml");
    let o = run(
        dir.path(),
        &[
            "init",
            "--from-kubeconfig",
            gke.to_str().unwrap(),
            eks.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mesh = read_mesh(&dir.path().join("mesh.yaml")).expect("a valid mesh description");
    let got: Vec<(&str, &str)> = mesh
        .clusters
        .iter()
        .map(|c| (c.name.as_str(), c.context.as_str()))
        .collect();
    assert_eq!(
        got,
        // `kubectl config get-contexts` order: by context name.
        [
            ("prod", "arn:aws:eks:eu-west-1:123456789012:cluster/Prod"),
            ("prod-east", "gke_my-project_europe-west1-b_prod-east"),
        ]
    );
    let text = fs::read_to_string(dir.path().join("mesh.yaml")).unwrap();
    assert_eq!(
        text.matches("is not a DNS-1123 label, so its mesh name")
            .count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("`context:` still names the kubeconfig's context"),
        "{text}"
    );
    assert!(
        run(dir.path(), &["--quiet", "out"], None).status.success(),
        "what init wrote renders"
    );
}

#[test]
fn init_from_kubeconfig_writes_the_examples_secrets_pki_and_gitops_sections() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["init", "--from-kubeconfig"];
    let files = seed_files();
    args.extend(files.iter().map(String::as_str));
    assert!(run(dir.path(), &args, None).status.success());
    let text = fs::read_to_string(dir.path().join("mesh.yaml")).unwrap();
    let example = config::EXAMPLE_YAML;
    let sections =
        &example[example.find("\nsecrets:\n").unwrap()..example.find("\nclusters:\n").unwrap()];
    assert!(text.contains(sections), "{text}");
    assert!(
        text.contains("  admins: []\n") && text.contains("# gitops:\n"),
        "{text}"
    );
}

#[test]
fn init_from_kubeconfigs_whose_names_derive_alike_names_both_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let eu = fixtures().join("names/eks.yaml");
    let us = fixtures().join("names/eks-us.yaml");
    let o = run(
        dir.path(),
        &[
            "init",
            "--from-kubeconfig",
            eu.to_str().unwrap(),
            us.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    for part in [
        "arn:aws:eks:eu-west-1:123456789012:cluster/Prod",
        "arn:aws:eks:us-east-1:123456789012:cluster/Prod",
        "eks.yaml",
        "eks-us.yaml",
        "mesh cluster \"prod\"",
        "fix: ",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    assert!(!dir.path().join("mesh.yaml").exists());
}

#[test]
fn init_from_a_kubeconfig_cluster_name_with_no_label_in_it_suggests_a_rename() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(fixtures().join("names/eks.yaml"))
        .unwrap()
        .replace("arn:aws:eks:eu-west-1:123456789012:cluster/Prod", "\"@@\"");
    let file = dir.path().join("symbols.yaml");
    fs::write(&file, text).unwrap();
    let o = run(
        dir.path(),
        &["init", "--from-kubeconfig", file.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("symbols.yaml") && err.contains("DNS-1123") && err.contains("fix:"),
        "{err}"
    );
    assert!(!dir.path().join("mesh.yaml").exists());
}

#[test]
fn two_contexts_of_one_cluster_import_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(fixtures().join("seed/kt-k2p.yaml")).unwrap().replace(
        "contexts:\n- context:\n    cluster: kt-k2p\n    user: kt-k2p-admin\n  name: kt-k2p-admin@kt-k2p\n",
        "contexts:\n- context:\n    cluster: kt-k2p\n    user: kt-k2p-admin\n  name: kt-k2p-admin@kt-k2p\n- context:\n    cluster: kt-k2p\n    user: kt-k2p-admin\n  name: kt-k2p-readonly\n",
    );
    assert!(text.contains("kt-k2p-readonly"), "fixture shape changed");
    let file = dir.path().join("two-contexts.yaml");
    fs::write(&file, text).unwrap();
    let o = run(
        dir.path(),
        &["init", "--from-kubeconfig", file.to_str().unwrap()],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("kt-k2p-readonly"), "{}", stderr(&o));
    let mesh = read_mesh(&dir.path().join("mesh.yaml")).unwrap();
    assert_eq!(mesh.clusters.len(), 1);
    assert_eq!(mesh.clusters[0].context.as_str(), "kt-k2p-admin@kt-k2p");
}

/// Reads and validates a mesh description file, as a render does.
fn read_mesh(path: &Path) -> Result<config::Mesh, config::ConfigError> {
    let bytes = fs::read(path).unwrap();
    config::parse_bytes(&bytes, &config::Origin::File(path.to_owned()))
}
