//! `mesh-render template`: one YAML stream of the objects a render applies, each after
//! `# Source: <path>`. Judged by the real kubectl (each layer's objects are what `kubectl
//! kustomize` builds) and the strict schemas (what kubeconform would be given).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use mesh_render::check::schema::SchemaCatalog;
use serde_json::Value;

use common::gitops_mesh;

fn run(dir: &Path, args: &[&str]) -> Output {
    common::binary(dir, &dir.join("home"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The stream's documents: (source, object or None for a comment-only document).
fn documents(stream: &str) -> Vec<(String, Option<Value>)> {
    let mut out = Vec::new();
    for part in stream.split("---\n").filter(|p| !p.is_empty()) {
        let source = part
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# Source: "))
            .unwrap_or_else(|| panic!("a document without its source: {part}"))
            .to_owned();
        let docs = mesh_render::check::schema::parse_documents(part).unwrap();
        assert!(docs.len() <= 1, "{part}");
        out.push((source, docs.into_iter().next()));
    }
    out
}

/// Renders `mesh` into `dir/out` and prints its template; returns the stream.
fn render_and_template(dir: &Path, mesh: &str) -> String {
    fs::write(dir.join("mesh.yaml"), mesh).unwrap();
    let o = run(dir, &["--quiet", "out"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(dir, &["template"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn every_layers_objects_are_what_kubectl_kustomize_builds() {
    if !common::judge_available("kubectl", "it builds each layer to compare") {
        return;
    }
    for target in ["none", "flux"] {
        let dir = tempfile::tempdir().unwrap();
        let stream = render_and_template(dir.path(), &gitops_mesh(target));
        let mut by_layer: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (source, object) in documents(&stream) {
            if let (Some(object), Some(rest)) = (object, source.strip_prefix("clusters/")) {
                let layer = rest.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
                by_layer.entry(layer).or_default().push(object);
            }
        }
        let out = dir.path().join("out");
        let layers: Vec<String> = common::files_under(&out.join("clusters"))
            .into_iter()
            .filter_map(|f| f.strip_suffix("/kustomization.yaml").map(str::to_owned))
            .collect();
        assert!(layers.len() >= 12, "{layers:?}");
        for layer in layers {
            let built = Command::new("kubectl")
                .arg("kustomize")
                .arg(out.join("clusters").join(&layer))
                .output()
                .unwrap();
            assert!(
                built.status.success(),
                "{layer}: {}",
                String::from_utf8_lossy(&built.stderr)
            );
            let mut expected: Vec<Value> = mesh_render::check::schema::parse_documents(
                &String::from_utf8_lossy(&built.stdout),
            )
            .unwrap()
            .into_iter()
            // A sealed file is a comment in the stream.
            .filter(|d| d.get("sops").is_none())
            .collect();
            let mut got = by_layer.remove(&layer).unwrap_or_default();
            let key = |v: &Value| serde_json::to_string(v).unwrap();
            expected.sort_by_key(key);
            got.sort_by_key(key);
            assert_eq!(got, expected, "{target}: {layer}");
        }
        assert!(by_layer.is_empty(), "objects from no layer: {by_layer:?}");
    }
}

#[test]
fn every_source_is_a_file_of_the_rendered_tree_and_every_object_validates() {
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    for target in ["none", "flux", "argocd"] {
        let dir = tempfile::tempdir().unwrap();
        let stream = render_and_template(dir.path(), &gitops_mesh(target));
        let docs = documents(&stream);
        assert!(docs.len() > 30, "{target}: {}", docs.len());
        for (source, object) in docs {
            assert!(
                dir.path().join("out").join(&source).is_file(),
                "{target}: {source}"
            );
            let Some(object) = object else { continue };
            // ../shared has no batch/v1 schema: the Job's pod template is judged as a Deployment's.
            let object = common::job_as_deployment(&object);
            let violations = catalog
                .validate(&object, mesh_render::check::schema_mode(&object))
                .unwrap();
            assert!(violations.is_empty(), "{target}: {source}: {violations:?}");
        }
    }
}

#[test]
fn a_sealed_secret_is_a_comment_naming_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let stream = render_and_template(dir.path(), &gitops_mesh("argocd"));
    // Through the layer's KSOPS generator, in the Argo CD tree.
    assert!(
        stream.contains(
            "# Source: clusters/kt-k2p/10-istio-system/cacerts.sops.yaml\n# a Secret sealed with SOPS (age): not shown"
        ),
        "{stream}"
    );
    assert!(!stream.contains("ENC["), "no ciphertext in the stream");
}

#[test]
fn the_gitops_objects_follow_the_layers() {
    let dir = tempfile::tempdir().unwrap();
    let stream = render_and_template(dir.path(), &gitops_mesh("flux"));
    let kinds: Vec<(String, String)> = documents(&stream)
        .into_iter()
        .filter_map(|(source, o)| Some((source, o?["kind"].as_str()?.to_owned())))
        .collect();
    let count = |kind: &str| kinds.iter().filter(|(_, k)| k == kind).count();
    assert!(count("HelmRelease") >= 9, "{kinds:?}");
    assert!(count("Kustomization") >= 15, "{kinds:?}");
    assert_eq!(count("GitRepository"), 1, "{kinds:?}");
    let dir = tempfile::tempdir().unwrap();
    let stream = render_and_template(dir.path(), &gitops_mesh("argocd"));
    assert!(stream.contains("kind: Application\n"), "{stream}");
    assert!(
        stream.contains(
            "# Source: argocd/repo-server-patch.yaml\n# a patch to merge into Deployment argocd/argocd-repo-server"
        ),
        "{stream}"
    );
}

#[test]
fn template_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["template"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("# Source: clusters/kt-k2p/"));
    assert_eq!(common::files_under(dir.path()), Vec::<String>::new());
}
