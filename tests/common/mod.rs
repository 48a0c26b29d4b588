//! Helpers shared by the integration tests: the example mesh with edits, the bad-input table,
//! insta settings that keep snapshots under snapshots/, and the external judges (kubectl).
#![allow(dead_code)]

pub mod bad_inputs;
pub mod workspace;

#[allow(unused_imports)]
pub use workspace::Workspace;

use std::path::{Path, PathBuf};

use ::base64::Engine as _;

/// The built-in example with `from` replaced by `to`; panics if `from` is not in it exactly once,
/// so a test never silently edits nothing.
/// The example with a GitOps `target` and repository (`extra` lines go under `gitops:`).
pub fn gitops_mesh_with(target: &str, extra: &str) -> String {
    example_with(
        "\npki:\n",
        &format!(
            "\ngitops:\n  target: {target}\n{extra}  repository:\n    url: https://git.example.com/platform/mesh.git\n    branch: main\n    path: out\n\npki:\n"
        ),
    )
}

/// The example wired for the GitOps `target`.
pub fn gitops_mesh(target: &str) -> String {
    gitops_mesh_with(target, "")
}

/// The example on Istio `version` (its pins of the Gateway API and the sample's images kept).
pub fn with_version(version: &str) -> String {
    example_with("  version: 1.26.0\n", &format!("  version: {version}\n"))
}

/// `mesh` (the example or a variant of it) on Istio `version`, with the pins that follow the
/// release (Gateway API CRDs, the sample's images) left to the release line's defaults.
pub fn with_release_defaults_of(mesh: &str, version: &str) -> String {
    let mut text = mesh.replacen("  version: 1.26.0\n", &format!("  version: {version}\n"), 1);
    for prefix in [
        "gatewayAPICRDs:",
        "hub: docker.io/istio",
        "sleep:",
        "image: docker.io/curlimages/curl:",
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("the mesh has a {prefix} line"))
            .to_owned();
        text = text.replacen(&format!("{line}\n"), "", 1);
    }
    text
}

/// The example on Istio `version`, with the release line's default pins.
pub fn with_release_defaults(version: &str) -> String {
    with_release_defaults_of(mesh_render::config::EXAMPLE_YAML, version)
}

pub fn example_with(from: &str, to: &str) -> String {
    let example = mesh_render::config::EXAMPLE_YAML;
    assert_eq!(
        example.matches(from).count(),
        1,
        "{from:?} must occur once in the example"
    );
    example.replacen(from, to, 1)
}

/// Runs `f` with insta writing to the repository's snapshots/ directory.
pub fn with_snapshots<R>(f: impl FnOnce() -> R) -> R {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(repo_root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(f)
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the repository: upstream data and schemas, read-only. A test that needs it
/// fails saying so when it is missing (scripts/test.sh refuses to run without it).
pub fn shared() -> PathBuf {
    let dir = repo_root().join("../shared");
    assert!(
        dir.join("upstream").is_dir() && dir.join("schemas").is_dir(),
        "this test reads upstream data and schemas from {}, which is missing: put the shared directory beside the repository (README, Developing)",
        dir.display()
    );
    dir
}

/// True when running under CI (`.ci/run` sets CI=true); judges must then be present.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether `tool` runs; outside CI a missing judge skips the test with a reason, in CI it fails.
pub fn judge_available(tool: &str, why: &str) -> bool {
    let probe: &[&str] = match tool {
        "kubectl" => &["version", "--client"],
        "openssl" => &["version"],
        _ => &["--version"],
    };
    let ok = std::process::Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !in_ci(),
            "{tool} is required in CI ({why}) but is not installed"
        );
        eprintln!("SKIPPED outside CI: {tool} is not installed ({why}); .ci/run installs it");
    }
    ok
}

/// Every file under `dir`, as sorted relative paths.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(
                p.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}

/// A five-cluster mesh with no explicit sample placement: the default placement cycles reviews
/// v1..v3 over the clusters and puts sleep in the last one.
pub fn five_cluster_mesh() -> String {
    let mut doc = String::from(
        "apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nmeshID: fleet\nistio:\n  version: 1.26.3\nclusters:\n",
    );
    let cnis = ["calico", "cilium", "other", "calico", "cilium"];
    for (i, cni) in cnis.iter().enumerate() {
        let n = i + 1;
        doc.push_str(&format!(
            "  - name: c{n}\n    network: net{n}\n    context: ctx-{n}\n    cni: {cni}\n"
        ));
        if n == 4 {
            doc.push_str("    loadBalancer:\n      provider: metallb\n      addresses: [198.51.100.4, 2001:db8::4]\n    metricsServer: true\n");
        }
    }
    doc
}

/// A recipient for pure-render tests (its identity is thrown away).
pub const TEST_ADMIN: &str = "age1lemgh7y8964vxk6y0dl4vgqsnpd9armjh5gnzwg6kjart0tvte3qfg74aq";

/// A stand-in PKI state for pure renders: fixed digests, so sealed descriptors are stable.
pub fn fake_pki(mesh: &mesh_render::config::Mesh) -> mesh_render::pki::state::PkiState {
    use mesh_render::pki::state::{CaRecord, Kind, PkiState};
    let far = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(365 * 100);
    let record = |kind, name: &str| CaRecord {
        kind,
        cert_pem: String::new(),
        not_after: far,
        path: PathBuf::from(format!("pki/{name}.yaml")),
        digest: format!("digest-of-{name}"),
    };
    PkiState {
        root: record(Kind::RootCA, "root"),
        intermediates: mesh
            .clusters
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    record(Kind::IntermediateCA, c.name.as_str()),
                )
            })
            .collect(),
        rotation: None,
    }
}

/// Renders a mesh description (YAML text) into a tree, panicking on invalid input. The secrets
/// are sealed to TEST_ADMIN over a stand-in PKI.
pub fn render_text(yaml: &str) -> mesh_render::render::Tree {
    let mesh =
        mesh_render::config::parse(yaml, &mesh_render::config::Origin::File("mesh.yaml".into()))
            .unwrap_or_else(|e| panic!("test mesh is invalid: {e}"));
    let pki = fake_pki(&mesh);
    let admins = [mesh_render::config::AgeRecipient::parse(TEST_ADMIN).unwrap()];
    let digests = Default::default();
    let inputs = mesh_render::seal::PublicInputs {
        admins: &admins,
        pki: Some(&pki),
        credential_digests: &digests,
        refresh_credentials: false,
        now: time::OffsetDateTime::UNIX_EPOCH,
        issue_pending: false,
    };
    let plans = mesh_render::seal::plans(&mesh, &inputs);
    mesh_render::render::render(&mesh_render::model::Model::from_mesh(&mesh, &plans))
        .expect("renders")
}

/// Renders the built-in example into a tree.
pub fn render_example() -> mesh_render::render::Tree {
    render_text(mesh_render::config::EXAMPLE_YAML)
}

/// Every file of a tree, concatenated under path headers: one reviewable snapshot. A sealed file
/// shows what it seals and for whom.
pub fn dump(tree: &mesh_render::render::Tree) -> String {
    use mesh_render::render::{Entry, Secret};
    let mut out = String::new();
    for (path, entry) in tree.iter() {
        match entry {
            Entry::Text(text) => out.push_str(&format!("=== {path}\n{text}")),
            Entry::Sealed(s) => {
                let what = match &s.secret {
                    Secret::CaCerts { cluster, namespace } => {
                        format!("cacerts of {cluster} in {namespace}")
                    }
                    Secret::RemoteSecret {
                        source,
                        target,
                        namespace,
                    } => {
                        format!("remote secret of {source} for {target} in {namespace}")
                    }
                };
                let to: Vec<&str> = s.recipients.iter().map(|r| r.as_str()).collect();
                out.push_str(&format!(
                    "=== {path} (sealed)\n{what}, encrypted_regex {}, to {}\ninputs {}\n",
                    s.encrypted_regex,
                    to.join(","),
                    s.inputs.as_deref().unwrap_or("pending")
                ));
            }
        }
    }
    out
}

/// Every file under `dir` with its bytes.
pub fn read_all(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(dir.join(&p)).unwrap();
            (p, b)
        })
        .collect()
}

/// The example with Istio's dedicated east-west gateways plus a separate ingress gateway; the
/// MetalLB cluster then needs two addresses.
pub fn dedicated_mesh() -> String {
    example_with(
        "  topology: combined\n",
        "  topology: dedicated\n  ingress: true\n",
    )
    .replace(
        "        - 203.0.113.10 # a documentation address: replace it with your public IP\n",
        "        - 203.0.113.10\n        - 203.0.113.11\n",
    )
}

/// The example with a revisioned control plane.
pub fn revisioned_mesh() -> String {
    example_with("  # revision: 1-26-0\n", "  revision: 1-26-0\n")
}

/// A sealer for tests of the output layer: it writes a plain stand-in Secret (no encryption) and
/// counts its calls, so tests see exactly when a file is sealed again.
#[derive(Default)]
pub struct FakeSealer;

impl mesh_render::output::Sealer for FakeSealer {
    fn seal(
        &self,
        _path: &mesh_render::render::RelPath,
        sealed: &mesh_render::render::Sealed,
    ) -> Result<Vec<u8>, mesh_render::output::SealerError> {
        let (name, namespace) = match &sealed.secret {
            mesh_render::render::Secret::CaCerts { namespace, .. } => {
                ("cacerts".to_owned(), namespace)
            }
            mesh_render::render::Secret::RemoteSecret {
                source, namespace, ..
            } => (format!("istio-remote-secret-{source}"), namespace),
        };
        Ok(format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\nstringData:\n  stand-in: \"{}\"\n",
            sealed.inputs.as_deref().unwrap_or("pending"),
        )
        .into_bytes())
    }
}

/// The mesh-render binary with an isolated environment: HOME and XDG_DATA_HOME under `home`,
/// no SOPS identities from the developer's machine.
pub fn binary(cwd: &Path, home: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mesh-render"));
    cmd.current_dir(cwd)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_CMD")
        .env_remove("KUBECONFIG")
        .env_remove("MESH_RENDER_SCHEMAS")
        .env_remove("CI");
    cmd
}

/// The identities of an age key file.
pub fn identities(path: &Path) -> mesh_render::sops::Identities {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    mesh_render::sops::Identities::parse_from(&text, &path.display().to_string())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A throwaway CA certificate from ../shared's sops fixtures, as `caData` (base64 PEM).
pub fn ca_data() -> String {
    let plain =
        std::fs::read_to_string(shared().join("fixtures/sops/k8s-secret-stringdata.plain.yaml"))
            .unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&plain).unwrap();
    ::base64::engine::general_purpose::STANDARD
        .encode(doc["stringData"]["root-cert.pem"].as_str().unwrap())
}

/// A JWT-shaped token whose claims name `account` (unsigned: only its shape matters here).
pub fn token(account: &str, cluster: &str) -> String {
    let enc = |s: &str| ::base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2lnbmF0dXJlLW9mLXtoZS0{cluster}",
        enc(r#"{"alg":"RS256","kid":"test"}"#),
        enc(&format!(
            r#"{{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:istio-system:{account}"}}"#
        ))
    )
}

/// ../shared/schemas holds no batch/v1 schema (nor does ../shared/upstream's Kubernetes OpenAPI
/// hold the batch group): a Job's pod template is validated as a Deployment's (the same
/// PodTemplateSpec), and its own fields are the ones batch/v1 defines.
pub fn job_as_deployment(object: &serde_json::Value) -> serde_json::Value {
    if object["apiVersion"] != "batch/v1" || object["kind"] != "Job" {
        return object.clone();
    }
    let spec = object["spec"].as_object().expect("a Job has a spec");
    for key in spec.keys() {
        assert!(
            [
                "activeDeadlineSeconds",
                "backoffLimit",
                "completions",
                "parallelism",
                "template",
                "ttlSecondsAfterFinished",
            ]
            .contains(&key.as_str()),
            "Job spec.{key} is not a batch/v1 JobSpec field mesh-render uses"
        );
    }
    assert_eq!(object["spec"]["template"]["spec"]["restartPolicy"], "Never");
    let labels = object["spec"]["template"]["metadata"]["labels"].clone();
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object["metadata"],
        "spec": {"selector": {"matchLabels": labels}, "template": object["spec"]["template"]},
    })
}

/// The real Helm 3 and Helm 4 binaries (`../shared/tools/install-helm.sh`, installed by
/// scripts/test.sh), or `None` outside CI when they are not installed.
pub fn helms() -> Option<Vec<PathBuf>> {
    let dir = std::env::var_os("MESH_RENDER_HELM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/test-tools/helm"));
    let found: Vec<PathBuf> = ["helm3", "helm4"].iter().map(|h| dir.join(h)).collect();
    if found.iter().all(|h| h.is_file()) {
        return Some(found);
    }
    assert!(
        !in_ci(),
        "Helm 3 and 4 are required in CI at {} (scripts/test.sh installs them with ../shared/tools/install-helm.sh)",
        dir.display()
    );
    eprintln!(
        "SKIPPED outside CI: no Helm at {}; scripts/test.sh installs it",
        dir.display()
    );
    None
}
