//! The externalSecrets credential source: a PushSecret per cluster, an ExternalSecret per
//! remote secret, valid against External Secrets v2.9.0's CRDs, and a template that resolves to
//! the very kubeconfig the other modes seal.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use mesh_render::check::schema::{Mode, SchemaCatalog};

const CLUSTERS: [&str; 3] = ["kt-k2p", "ncloud-nks", "nhn-nks"];

fn ca_pem() -> String {
    let plain =
        fs::read_to_string(common::shared().join("fixtures/sops/k8s-secret-stringdata.plain.yaml"))
            .unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&plain).unwrap();
    doc["stringData"]["root-cert.pem"]
        .as_str()
        .unwrap()
        .to_owned()
}

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6aXN0aW8tc3lzdGVtOmlzdGlvLXJlYWRlci1zZXJ2aWNlLWFjY291bnQifQ.c2ln";

/// The example with every cluster's credentials given by `credentials(i, cluster)`.
fn mesh_with(credentials: impl Fn(usize, &str) -> String) -> String {
    let mut mesh = mesh_render::config::EXAMPLE_YAML.to_owned();
    for (i, c) in CLUSTERS.iter().enumerate() {
        let line = format!("  - name: {c}\n");
        mesh = mesh.replacen(
            &line,
            &format!("{line}    credentials:\n{}", credentials(i, c)),
            1,
        );
    }
    mesh
}

fn eso_mesh() -> String {
    mesh_with(|i, _| {
        format!(
            "      externalSecrets:\n        server: https://203.0.113.{}:6443\n        store: {{name: mesh-vault}}\n",
            20 + i
        )
    })
}

/// A minimal evaluator for the template subset mesh-render writes: `{{ .key }}` and
/// `{{ .key | b64enc }}`. Anything else fails the test, so the subset cannot grow unnoticed.
fn resolve(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed expression") + start;
        let expr = rest[start + 2..end].trim();
        let (key, filter) = match expr.split_once('|') {
            Some((k, f)) => (k.trim(), Some(f.trim())),
            None => (expr, None),
        };
        let key = key
            .strip_prefix('.')
            .unwrap_or_else(|| panic!("unsupported expression {expr:?}"));
        let value = values
            .get(key)
            .unwrap_or_else(|| panic!("no value for {key}"));
        match filter {
            None => out.push_str(value),
            Some("b64enc") => {
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(value))
            }
            Some(other) => panic!("unsupported filter {other:?}"),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn render(dir: &Path, mesh: &str, key: Option<&Path>) {
    fs::write(dir.join("mesh.yaml"), mesh).unwrap();
    let mut cmd = common::binary(dir, &dir.join("home"));
    if let Some(key) = key {
        cmd.env("SOPS_AGE_KEY_FILE", key);
    }
    let o = cmd.arg("out").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn yaml(path: &Path) -> serde_json::Value {
    serde_saphyr::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn each_cluster_pushes_its_token_once_and_pulls_every_other_clusters() {
    let dir = tempfile::tempdir().unwrap();
    render(dir.path(), &eso_mesh(), None);
    let out = dir.path().join("out");
    for c in CLUSTERS {
        let push = yaml(&out.join(format!("clusters/{c}/20-reader/push-secret.yaml")));
        assert_eq!(
            push["spec"]["selector"]["secret"]["name"],
            "istio-reader-service-account-istio-remote-secret-token"
        );
        assert_eq!(
            push["spec"]["data"][0]["match"]["remoteRef"]["remoteKey"],
            format!("mesh-render-usmesh-{c}-reader")
        );
        let pulled: Vec<String> = common::files_under(&out.join(format!("clusters/{c}/40-mesh")))
            .into_iter()
            .filter(|f| f.starts_with("istio-remote-secret-"))
            .collect();
        let expected: Vec<String> = CLUSTERS
            .iter()
            .filter(|o| **o != c)
            .map(|o| format!("istio-remote-secret-{o}.yaml"))
            .collect();
        assert_eq!(pulled, expected, "{c}");
    }
}

#[test]
fn no_credential_passes_through_the_tool_or_git() {
    let dir = tempfile::tempdir().unwrap();
    render(dir.path(), &eso_mesh(), None);
    let out = dir.path().join("out");
    let sealed: Vec<String> = common::files_under(&out)
        .into_iter()
        .filter(|p| p.contains("istio-remote-secret") && p.ends_with(".sops.yaml"))
        .collect();
    assert!(sealed.is_empty(), "{sealed:?}");
    // Ciphertext is random base64 that may hold "eyJ" by chance: what is encrypted (ENC[…] values,
    // the age-wrapped data keys, the MAC) is left out of the scan.
    let ciphertext = regex::Regex::new(
        r"(?s)ENC\[[^\]]*\]|-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----",
    )
    .unwrap();
    for (path, bytes) in common::read_all(&out) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !ciphertext.replace_all(&text, "").contains("eyJ"),
            "{path} holds a token"
        );
    }
}

#[test]
fn the_external_secrets_layers_build_and_validate_against_the_eso_schemas() {
    if !common::judge_available("kubectl", "it builds the layers") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    render(dir.path(), &eso_mesh(), None);
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    let mut kinds = Vec::new();
    for c in CLUSTERS {
        for layer in ["20-reader", "40-mesh"] {
            let o = Command::new("kubectl")
                .arg("kustomize")
                .arg(dir.path().join(format!("out/clusters/{c}/{layer}")))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            for doc in
                mesh_render::check::schema::parse_documents(&String::from_utf8(o.stdout).unwrap())
                    .unwrap()
            {
                let violations = catalog.validate(&doc, Mode::Strict).unwrap();
                assert!(violations.is_empty(), "{c}/{layer}: {violations:?}");
                kinds.push(format!(
                    "{}/{}",
                    doc["apiVersion"].as_str().unwrap(),
                    doc["kind"].as_str().unwrap()
                ));
            }
        }
    }
    assert!(kinds.contains(&"external-secrets.io/v1alpha1/PushSecret".to_owned()));
    assert!(kinds.contains(&"external-secrets.io/v1/ExternalSecret".to_owned()));
}

#[test]
fn the_template_resolves_to_the_kubeconfig_the_token_file_mode_seals() {
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca_pem());
    // The same three clusters with token files holding the same token.
    let token_dir = tempfile::tempdir().unwrap();
    let (secret, recipient) = mesh_render::sops::generate_identity();
    let key = token_dir.path().join("admin.agekey");
    fs::write(&key, format!("{}\n", secret.expose())).unwrap();
    for c in CLUSTERS {
        fs::write(token_dir.path().join(format!("{c}.token")), TOKEN).unwrap();
    }
    let token_mesh = mesh_with(|i, c| {
        format!("      tokenFile:\n        server: https://203.0.113.{}:6443\n        caData: {ca_data}\n        token: {c}.token\n", 20 + i)
    })
    .replacen("  admins: []\n", &format!("  admins:\n    - {recipient}\n"), 1);
    render(token_dir.path(), &token_mesh, Some(&key));

    let eso_dir = tempfile::tempdir().unwrap();
    render(eso_dir.path(), &eso_mesh(), None);

    let values = BTreeMap::from([("token", TOKEN.to_owned()), ("ca", ca_pem())]);
    let identities = common::identities(&key);
    for holder in CLUSTERS {
        for source in CLUSTERS.iter().filter(|s| **s != holder) {
            let external = yaml(&eso_dir.path().join(format!(
                "out/clusters/{holder}/40-mesh/istio-remote-secret-{source}.yaml"
            )));
            let template = &external["spec"]["target"]["template"];
            let resolved = resolve(template["data"][source].as_str().unwrap(), &values);
            let sealed_text = fs::read_to_string(token_dir.path().join(format!(
                "out/clusters/{holder}/40-mesh/istio-remote-secret-{source}.sops.yaml"
            )))
            .unwrap();
            let mut sealed = mesh_render::sops::decrypt(&sealed_text, &identities)
                .unwrap()
                .to_json()
                .remove(0);
            // The facts a sealed file states in clear are for reviewing ciphertext; the
            // ExternalSecret's template is clear YAML and states none.
            mesh_render::facts::strip(&mut sealed);
            assert_eq!(
                resolved,
                sealed["stringData"][source].as_str().unwrap(),
                "{holder} reading {source}"
            );
            assert_eq!(template["metadata"]["labels"], sealed["metadata"]["labels"]);
            assert_eq!(
                template["metadata"]["annotations"],
                sealed["metadata"]["annotations"]
            );
            assert_eq!(
                external["spec"]["target"]["name"],
                sealed["metadata"]["name"]
            );
        }
    }
}

#[test]
fn the_evaluator_refuses_what_it_does_not_implement() {
    let values = BTreeMap::from([("token", "t".to_owned())]);
    assert_eq!(resolve("a {{ .token }} b", &values), "a t b");
    assert!(std::panic::catch_unwind(|| resolve("{{ .token | upper }}", &values)).is_err());
}
