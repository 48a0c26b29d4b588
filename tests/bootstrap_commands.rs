//! The GitOps set-up commands out/README.md gives, run as written: the real kubectl creates each
//! identity Secret offline (`--dry-run=client`) and applies the repo-server patch locally
//! (`patch --local`); flux, which is not installed here, is recorded and its flags checked against
//! the tree.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use mesh_render::check::schema::{Mode, SchemaCatalog};
use serde_json::Value;

/// The example's clusters and their kubeconfig contexts.
const CLUSTERS: [(&str, &str); 3] = [
    ("kt-k2p", "kt-k2p"),
    ("ncloud-nks", "ncloud-nks"),
    ("nhn-nks", "nhn-nks"),
];

use common::gitops_mesh_with as mesh;

/// `mesh-render keys` then a render, in `dir`; with `xdg` false, XDG_DATA_HOME is unset and the
/// identities go under $HOME/.local/share.
fn keys_and_render(dir: &Path, mesh_text: &str, xdg: bool) {
    fs::write(dir.join("mesh.yaml"), mesh_text).unwrap();
    for args in [&["keys"][..], &["out"][..]] {
        let mut cmd = common::binary(dir, &dir.join("home"));
        if !xdg {
            cmd.env_remove("XDG_DATA_HOME");
        }
        let o = cmd.args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// The first ```sh block of the README section `heading`.
fn commands(readme: &str, heading: &str) -> String {
    let section = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading}"))..];
    let start = section.find("```sh\n").expect("a sh block") + 6;
    let end = start + section[start..].find("```").unwrap();
    section[start..end].to_owned()
}

/// A kubeconfig with the example's contexts (no server is ever reached).
fn kubeconfig(dir: &Path) -> PathBuf {
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, _) in CLUSTERS {
        text.push_str(&format!(
            "- name: {name}\n  cluster: {{server: \"https://127.0.0.1:9\"}}\n"
        ));
    }
    text.push_str("users:\n- name: u\n  user: {token: x}\ncontexts:\n");
    for (name, context) in CLUSTERS {
        text.push_str(&format!(
            "- name: {context}\n  context: {{cluster: {name}, user: u}}\n"
        ));
    }
    let path = dir.join("kubeconfig");
    fs::write(&path, text).unwrap();
    path
}

/// Runs `script` with bash in `dir`, kubectl's calls made offline by `wrapper`; returns stdout
/// and the calls recorded in calls.log.
fn run(dir: &Path, script: &str, wrapper: &str, xdg: bool) -> (String, String) {
    let home = dir.join("home");
    let mut cmd = Command::new("bash");
    cmd.arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(format!("{wrapper}\n{script}"))
        .current_dir(dir)
        .env("HOME", &home)
        .env("KUBECONFIG", kubeconfig(dir));
    if xdg {
        cmd.env("XDG_DATA_HOME", home.join("data"));
    } else {
        cmd.env_remove("XDG_DATA_HOME");
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let calls = fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
    (String::from_utf8(o.stdout).unwrap(), calls)
}

fn identity_dir(dir: &Path, xdg: bool) -> PathBuf {
    let data = if xdg {
        dir.join("home/data")
    } else {
        dir.join("home/.local/share")
    };
    data.join("mesh-render/usmesh/clusters")
}

/// The Secrets a stream of `kubectl create secret -o yaml` documents holds, by context order.
fn secrets(stream: &str) -> Vec<Value> {
    mesh_render::check::schema::parse_documents(stream)
        .unwrap()
        .into_iter()
        .filter(|d| d["kind"] == "Secret")
        .collect()
}

fn assert_identity_secrets(secrets: &[Value], dir: &Path, xdg: bool, namespace: &str) {
    assert_eq!(secrets.len(), CLUSTERS.len(), "{secrets:?}");
    for (secret, (cluster, _)) in secrets.iter().zip(CLUSTERS) {
        assert_eq!(secret["metadata"]["name"], "sops-age");
        assert_eq!(secret["metadata"]["namespace"], namespace);
        let data = secret["data"]["age.agekey"]
            .as_str()
            .expect("the age.agekey key");
        let held = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        let file = identity_dir(dir, xdg).join(format!("{cluster}.agekey"));
        assert_eq!(
            held,
            fs::read(&file).unwrap(),
            "{cluster}: {}",
            file.display()
        );
    }
}

const DRY_KUBECTL: &str = r#"kubectl() { echo ---; command kubectl "$@" --dry-run=client -o yaml; }
flux() { printf 'flux %s\n' "$*" >> calls.log; }"#;

fn flux_commands_run(xdg: bool) {
    if !common::judge_available("kubectl", "it runs the README's set-up commands") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    keys_and_render(dir.path(), &mesh("flux", ""), xdg);
    let out = dir.path().join("out");
    let readme = fs::read_to_string(out.join("README.md")).unwrap();
    let script = commands(&readme, "## Bootstrap with Flux");
    let (stdout, calls) = run(dir.path(), &script, DRY_KUBECTL, xdg);
    assert_identity_secrets(&secrets(&stdout), dir.path(), xdg, "flux-system");
    // Each cluster's Kustomization: its context, the GitRepository the tree defines, and a path
    // that is the cluster's Flux root, whose sync.yaml decrypts with that very Secret.
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), CLUSTERS.len(), "{calls}");
    let source = fs::read_to_string(out.join("flux/gitrepository.yaml")).unwrap();
    assert!(source.contains("  name: flux-system\n"), "{source}");
    for (line, (cluster, context)) in lines.iter().zip(CLUSTERS) {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(
            &words[..5],
            ["flux", "--context", context, "create", "kustomization"],
            "{line}"
        );
        assert!(
            words.contains(&"--source=GitRepository/flux-system"),
            "{line}"
        );
        assert!(words.contains(&"--prune=true"), "{line}");
        let path = words
            .iter()
            .find_map(|w| w.strip_prefix("--path=./"))
            .expect("a --path");
        assert_eq!(path, format!("out/flux/{cluster}"));
        let sync = fs::read_to_string(dir.path().join(path).join("sync.yaml")).unwrap();
        assert!(sync.contains("      name: sops-age\n"), "{sync}");
    }
}

#[test]
fn the_flux_set_up_commands_run_with_xdg_data_home() {
    flux_commands_run(true);
}

#[test]
fn the_flux_set_up_commands_run_with_only_home() {
    flux_commands_run(false);
}

/// A repo-server Deployment shaped like Argo CD's own (argoproj/argo-cd v3.5.1,
/// manifests/base/repo-server/argocd-repo-server-deployment.yaml), cut to what a patch meets:
/// a read-only root file system, volumes, mounts and an init container of its own.
const REPO_SERVER: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
  namespace: argocd
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: argocd-repo-server}
  template:
    metadata:
      labels: {app.kubernetes.io/name: argocd-repo-server}
    spec:
      containers:
      - name: argocd-repo-server
        image: quay.io/argoproj/argocd:v3.5.1
        env:
        - {name: HELM_CACHE_HOME, value: /helm-working-dir}
        securityContext: {readOnlyRootFilesystem: true, runAsNonRoot: true}
        volumeMounts:
        - {name: tmp, mountPath: /tmp}
        - {name: plugins, mountPath: /home/argocd/cmp-server/plugins}
      initContainers:
      - name: copyutil
        image: quay.io/argoproj/argocd:v3.5.1
        command: [sh, -c]
        args: ["/bin/cp --update=none /usr/local/bin/argocd /var/run/argocd/argocd"]
        volumeMounts:
        - {name: var-files, mountPath: /var/run/argocd}
      volumes:
      - {name: tmp, emptyDir: {}}
      - {name: plugins, emptyDir: {}}
      - {name: var-files, emptyDir: {}}
"#;

#[test]
fn the_argocd_set_up_commands_run_and_the_patched_repo_server_finds_ksops_and_the_identity() {
    if !common::judge_available("kubectl", "it runs the README's set-up commands") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    keys_and_render(dir.path(), &mesh("argocd", ""), true);
    fs::write(dir.path().join("repo-server.yaml"), REPO_SERVER).unwrap();
    let readme = fs::read_to_string(dir.path().join("out/README.md")).unwrap();
    let script = commands(&readme, "## Bootstrap with Argo CD");
    // create: offline; patch: applied locally to the stand-in Deployment; apply: recorded.
    let wrapper = r#"kubectl() {
  local all="$*"
  case " $* " in
    *" create "*) echo ---; command kubectl "$@" --dry-run=client -o yaml ;;
    *" patch deployment argocd-repo-server "*)
      file=${all##*--patch-file }
      command kubectl patch --local -f repo-server.yaml --type strategic --patch-file "$file" -o json > patched.json ;;
    *" apply -f "*) printf 'apply %s\n' "${all##*-f }" >> calls.log ;;
    *) echo "unexpected kubectl $*" >&2; return 1 ;;
  esac
}"#;
    let (stdout, calls) = run(dir.path(), &script, wrapper, true);
    assert_identity_secrets(&secrets(&stdout), dir.path(), true, "argocd");
    let applied: Vec<&str> = calls.lines().collect();
    assert_eq!(applied.len(), CLUSTERS.len(), "{calls}");
    for (line, (cluster, _)) in applied.iter().zip(CLUSTERS) {
        let file = line.strip_prefix("apply ").unwrap();
        assert_eq!(file, format!("out/argocd/{cluster}/root.yaml"));
        assert!(dir.path().join(file).is_file(), "{file}");
    }

    let patched: Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("patched.json")).unwrap())
            .unwrap();
    let catalog = SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    let violations = catalog.validate(&patched, Mode::Strict).unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    let pod = &patched["spec"]["template"]["spec"];
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // The Deployment's own parts stay: lists merge by name.
    for kept in ["tmp", "plugins", "var-files"] {
        assert!(names(&pod["volumes"]).contains(&kept.to_owned()), "{kept}");
    }
    assert!(names(&pod["initContainers"]).contains(&"copyutil".to_owned()));
    let server = &pod["containers"][0];
    assert_eq!(server["name"], "argocd-repo-server");
    assert!(names(&server["env"]).contains(&"HELM_CACHE_HOME".to_owned()));

    // The init container, run here with its volume at a temporary directory, puts the binary of
    // KSOPS's image where kustomize's legacy exec plugin lookup finds it in the repo-server.
    let init = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "install-ksops")
        .expect("the install-ksops init container");
    assert_eq!(init["image"], "viaductoss/ksops:v4.4.0");
    let init_mount = &init["volumeMounts"][0];
    let volume = dir.path().join("volume");
    fs::create_dir(&volume).unwrap();
    let image_dir = dir.path().join("image");
    fs::create_dir(&image_dir).unwrap();
    fs::write(image_dir.join("ksops"), "ksops").unwrap();
    let command = init["args"][0].as_str().unwrap().replace(
        init_mount["mountPath"].as_str().unwrap(),
        volume.to_str().unwrap(),
    );
    let o = Command::new("sh")
        .args(["-c", &command])
        .current_dir(&image_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let env = |name: &str| -> String {
        server["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("no {name}"))
            .to_owned()
    };
    // Where a path of the repo-server's file system lands in the volumes, through its mounts.
    let resolve = |path: &str| -> Option<(String, String)> {
        server["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|m| {
                let rest = path
                    .strip_prefix(m["mountPath"].as_str()?)?
                    .strip_prefix('/')?;
                let sub = m["subPath"]
                    .as_str()
                    .map_or(String::new(), |s| format!("{s}/"));
                Some((m["name"].as_str()?.to_owned(), format!("{sub}{rest}")))
            })
    };
    let plugin = format!(
        "{}/kustomize/plugin/viaduct.ai/v1/ksops/ksops",
        env("XDG_CONFIG_HOME")
    );
    let (vol, inside) = resolve(&plugin).expect("the plugin path is on a mounted volume");
    assert_eq!(vol, init_mount["name"].as_str().unwrap());
    assert_eq!(
        fs::read_to_string(volume.join(&inside)).unwrap(),
        "ksops",
        "{inside}"
    );
    // SOPS_AGE_KEY_FILE is the Secret's age.agekey.
    let (vol, inside) = resolve(&env("SOPS_AGE_KEY_FILE")).expect("the key file is mounted");
    let secret_volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == vol.as_str())
        .unwrap();
    assert_eq!(secret_volume["secret"]["secretName"], "sops-age");
    assert_eq!(inside, "age.agekey");
}

#[test]
fn the_argocd_hub_set_up_puts_every_clusters_identity_in_the_hubs_secret() {
    if !common::judge_available("kubectl", "it runs the README's set-up commands") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    keys_and_render(dir.path(), &mesh("argocd", "  argocdMode: hub\n"), true);
    let readme = fs::read_to_string(dir.path().join("out/README.md")).unwrap();
    let script = commands(&readme, "## Bootstrap with Argo CD");
    let wrapper = r#"kubectl() {
  case " $* " in
    *" create "*) command kubectl --context kt-k2p "$@" --dry-run=client -o yaml ;;
    *) printf '%s\n' "$*" >> calls.log ;;
  esac
}"#;
    let (stdout, calls) = run(dir.path(), &script, wrapper, true);
    let secrets = secrets(&stdout);
    assert_eq!(secrets.len(), 1, "{stdout}");
    let data = secrets[0]["data"]["age.agekey"].as_str().unwrap();
    let held = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap();
    for (cluster, _) in CLUSTERS {
        let file = identity_dir(dir.path(), true).join(format!("{cluster}.agekey"));
        assert!(
            held.contains(&fs::read_to_string(file).unwrap()),
            "{cluster}"
        );
    }
    assert!(
        calls.contains("apply -f out/argocd/applicationset.yaml"),
        "{calls}"
    );
    assert!(
        calls.contains("--patch-file out/argocd/repo-server-patch.yaml"),
        "{calls}"
    );
}
