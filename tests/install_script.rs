//! `clusters/<cluster>/install.sh`, judged without a cluster: it runs under `PATH` stubs of
//! `kubectl`, `helm` and `sops` that record every call. `sops` calls go to the real sops; every
//! object piped to `kubectl apply -f -` must be decrypted; every `kubectl apply -k` target must
//! build with the real `kubectl kustomize`; every `helm` release is rendered again with
//! `helm template` against the real chart (`../shared/upstream/istio-charts/<version>/`) by
//! Helm 3 and Helm 4 (`../shared/tools/install-helm.sh`, installed by scripts/test.sh); every call
//! names the cluster's context; the steps come in the rollout order; a second run makes the same
//! idempotent calls.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Workspace;

const STUB: &str = r#"#!/usr/bin/env bash
# A stand-in that records its call (one line, arguments tab-separated) and answers as needed.
tool=$(basename "$0")
line=$tool; for a in "$@"; do line="$line"$'\t'"$a"; done
printf '%s\n' "$line" >> "$STUB_LOG"   # one write: the two ends of a pipeline log whole lines
case "$tool" in
  sops) exec "$REAL_SOPS" "$@" ;;
  kubectl)
    for a in "$@"; do
      if [ "$a" = "-" ]; then n=$(ls "$STUB_DIR"/stdin-* 2>/dev/null | wc -l); cat > "$STUB_DIR/stdin-$n.yaml"; fi
    done
    case " $* " in
      *" get secret "*) echo "dG9rZW4=" ;;
      *" get job "*) echo "${STUB_JOB_STATE:-1/}" ;;
    esac ;;
  helm)
    case " $* " in
      *" list "*) for r in ${STUB_HELM_RELEASES:-}; do echo "$r"; done ;;
    esac ;;
esac
exit 0
"#;

/// The stubs, and where they record.
struct Stubs {
    dir: tempfile::TempDir,
}

impl Stubs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for tool in ["kubectl", "helm", "sops", "istioctl"] {
            let path = dir.path().join(tool);
            fs::write(&path, STUB).unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Stubs { dir }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("calls.log")
    }

    /// Every recorded call, as its arguments (the tool first).
    fn calls(&self) -> Vec<Vec<String>> {
        fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    }

    /// What was piped to `kubectl apply -f -`, in order.
    fn piped(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("stdin-")
            })
            .collect();
        files.sort_by_key(|p| {
            p.file_stem().unwrap().to_string_lossy()[6..]
                .parse::<usize>()
                .unwrap()
        });
        files
            .iter()
            .map(|p| fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Runs `install.sh` of `cluster` in `out` with `args`.
    fn run(&self, ws: &Workspace, cluster: &str, args: &[&str]) -> Output {
        self.run_with(ws, cluster, args, "")
    }

    /// Runs `install.sh` with `helm list` answering `releases` (space-separated).
    fn run_with(&self, ws: &Workspace, cluster: &str, args: &[&str], releases: &str) -> Output {
        let real_sops = which("sops").expect("sops");
        let path = format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("bash")
            .arg(format!("clusters/{cluster}/install.sh"))
            .args(args)
            .current_dir(ws.out())
            .env("PATH", path)
            .env("STUB_LOG", self.log())
            .env("STUB_DIR", self.dir.path())
            .env("REAL_SOPS", real_sops)
            .env("SOPS_AGE_KEY_FILE", &ws.admin_key)
            .env("STUB_HELM_RELEASES", releases)
            .output()
            .unwrap()
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The example with every cluster's credentials, rendered: nothing pending.
fn connected() -> Workspace {
    let ws = Workspace::with_token_files();
    ws.ok(true, &["out"]);
    ws
}

/// The steps the script announced, in order.
fn steps(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("==> ").map(str::to_owned))
        .collect()
}

#[test]
fn every_call_names_the_clusters_context_and_the_steps_come_in_rollout_order() {
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    let ws = connected();
    let stubs = Stubs::new();
    let o = stubs.run(&ws, "kt-k2p", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        steps(&o),
        [
            "helm-repository",
            "istio-system",
            "gateway-api",
            "istio-base",
            "reader",
            "istiod",
            "metallb",
            "metrics-server",
            "provider-fixes",
            "istio-ingressgateway",
            "mesh",
            "sample"
        ]
    );
    for call in stubs.calls() {
        let names_context = match call[0].as_str() {
            "kubectl" => call.windows(2).any(|w| w == ["--context", "kt-k2p"]),
            "helm" if call[1] == "repo" => true,
            "helm" => call.windows(2).any(|w| w == ["--kube-context", "kt-k2p"]),
            _ => true,
        };
        assert!(names_context, "{call:?}");
    }
}

#[test]
fn every_object_reaching_the_api_server_is_decrypted() {
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    let ws = connected();
    let stubs = Stubs::new();
    let o = stubs.run(&ws, "kt-k2p", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let piped = stubs.piped();
    // cacerts and the two remote secrets for the other clusters.
    assert_eq!(piped.len(), 3, "{piped:?}");
    for doc in &piped {
        let value: serde_json::Value = serde_saphyr::from_str(doc).unwrap();
        assert!(
            value.get("sops").is_none() && !doc.contains("ENC["),
            "{doc}"
        );
        assert_eq!(value["kind"], "Secret");
        assert!(
            value["stringData"]
                .as_object()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Nothing encrypted is applied any other way.
    for call in stubs.calls().iter().filter(|c| c[0] == "kubectl") {
        if let Some(i) = call.iter().position(|a| a == "-f") {
            assert!(!call[i + 1].ends_with(".sops.yaml"), "{call:?}");
        }
        if let Some(i) = call.iter().position(|a| a == "-k") {
            let dir = ws.out().join(&call[i + 1]);
            let listed = fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
            assert!(
                !listed.contains(".sops.yaml"),
                "{call:?} applies encrypted files"
            );
        }
    }
}

#[test]
fn every_kustomization_the_script_applies_builds_with_the_real_kubectl() {
    if !common::judge_available("kubectl", "kubectl kustomize builds each layer")
        || !common::judge_available("sops", "the install decrypts with the real sops")
    {
        return;
    }
    let ws = connected();
    let stubs = Stubs::new();
    assert!(stubs.run(&ws, "ncloud-nks", &[]).status.success());
    let mut built = 0;
    for call in stubs.calls().iter().filter(|c| c[0] == "kubectl") {
        let Some(i) = call.iter().position(|a| a == "-k") else {
            continue;
        };
        let dir = &call[i + 1];
        // The bases reference upstream releases by URL (no network here): judged by their
        // kustomization only, as `check` does.
        if dir.starts_with("base/") {
            continue;
        }
        let o = Command::new("kubectl")
            .args(["kustomize", dir])
            .current_dir(ws.out())
            .output()
            .unwrap();
        assert!(o.status.success(), "{dir}: {}", text(&o));
        built += 1;
    }
    // 20-reader, 30-provider-fixes, 50-sample (the others hold encrypted files).
    assert_eq!(built, 3);
}

/// Each recorded `helm upgrade --install`, rendered again with `helm template` against the real
/// chart by `helm`, with the recorded flags; whether it rendered.
fn helm_template(helm: &Path, ws: &Workspace, call: &[String], skip: Option<bool>) -> Output {
    let release = &call[3];
    let chart = call[4].strip_prefix("istio/").unwrap();
    let version = &call[call.iter().position(|a| a == "--version").unwrap() + 1];
    let values = &call[call.iter().position(|a| a == "-f").unwrap() + 1];
    let chart_dir = common::shared().join(format!("upstream/istio-charts/{version}/{chart}"));
    let mut cmd = Command::new(helm);
    cmd.args(["template", release])
        .arg(chart_dir)
        .args(["-n", "istio-system", "-f", values])
        .current_dir(ws.out());
    let recorded = call.iter().any(|a| a == "--skip-schema-validation");
    if skip.unwrap_or(recorded) {
        cmd.arg("--skip-schema-validation");
    }
    cmd.output().unwrap()
}

#[test]
fn every_helm_release_renders_through_the_real_chart_with_helm_3_and_4() {
    let Some(helms) = common::helms() else { return };
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    let ws = connected();
    let stubs = Stubs::new();
    assert!(stubs.run(&ws, "kt-k2p", &[]).status.success());
    let releases: Vec<Vec<String>> = stubs
        .calls()
        .into_iter()
        .filter(|c| c[0] == "helm" && c[1] == "upgrade")
        .collect();
    assert_eq!(releases.len(), 3, "base, istiod, the gateway: {releases:?}");
    for call in &releases {
        assert_eq!(call[2], "--install", "{call:?}");
        for helm in &helms {
            let o = helm_template(helm, &ws, call, None);
            assert!(
                o.status.success(),
                "{} {call:?}: {}",
                helm.display(),
                text(&o)
            );
        }
    }
}

#[test]
fn the_schema_flag_is_given_exactly_where_the_chart_needs_it() {
    let Some(helms) = common::helms() else { return };
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    let ws = connected();
    let stubs = Stubs::new();
    assert!(stubs.run(&ws, "kt-k2p", &[]).status.success());
    let gateway = stubs
        .calls()
        .into_iter()
        .find(|c| c[0] == "helm" && c.get(4).is_some_and(|a| a == "istio/gateway"))
        .unwrap();
    assert!(gateway.iter().any(|a| a == "--skip-schema-validation"));
    // Helm 4 rejects the 1.26.0 gateway chart's own defaults without it (istio/istio#57354).
    let o = helm_template(&helms[1], &ws, &gateway, Some(false));
    assert!(!o.status.success());
    assert!(
        text(&o).contains("don't meet the specifications of the schema"),
        "{}",
        text(&o)
    );
    // A patch release without the bug gets no flag, and passes without it.
    let fixed = Workspace::build(|admin, dir| {
        common::workspace::with_token_files(
            &common::workspace::example_with_admin(admin)
                .replace("version: 1.26.0", "version: 1.26.8"),
            dir,
            &common::workspace::CLUSTERS,
            20,
        )
    });
    fixed.ok(true, &["out"]);
    let stubs = Stubs::new();
    assert!(stubs.run(&fixed, "kt-k2p", &[]).status.success());
    let gateway = stubs
        .calls()
        .into_iter()
        .find(|c| c[0] == "helm" && c.get(4).is_some_and(|a| a == "istio/gateway"))
        .unwrap();
    assert!(
        !gateway.iter().any(|a| a == "--skip-schema-validation"),
        "{gateway:?}"
    );
    for helm in &helms {
        let o = helm_template(helm, &fixed, &gateway, None);
        assert!(o.status.success(), "{}: {}", helm.display(), text(&o));
    }
}

#[test]
fn a_second_run_makes_the_same_idempotent_calls() {
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    let ws = connected();
    let stubs = Stubs::new();
    let run1 = stubs.run(&ws, "ncloud-nks", &[]);
    assert!(run1.status.success());
    let first = stubs.calls();
    let run2 = stubs.run(&ws, "ncloud-nks", &[]);
    assert!(run2.status.success());
    assert_eq!(steps(&run1), steps(&run2));
    // A pipeline's two ends log in either order: the calls are compared as a set.
    let sorted = |mut calls: Vec<Vec<String>>| {
        calls.sort();
        calls
    };
    let all = stubs.calls();
    assert_eq!(
        sorted(all[first.len()..].to_vec()),
        sorted(first.clone()),
        "the same calls again"
    );
    for call in &first {
        let words: Vec<&str> = call.iter().map(String::as_str).collect();
        assert!(!words.contains(&"create"), "{call:?}");
        assert!(
            !(words[0] == "helm" && words[1] == "install"),
            "{call:?}: helm install fails on a second run"
        );
    }
    // The Cilium settings belong to Cilium's Helm release: taken over server-side.
    let fixes = first
        .iter()
        .find(|c| c.iter().any(|a| a.ends_with("30-provider-fixes")))
        .unwrap();
    assert!(
        fixes.contains(&"--server-side".to_owned())
            && fixes.contains(&"--force-conflicts".to_owned())
    );
}

#[test]
fn a_first_rollout_with_pending_remote_secrets_stops_after_the_gateways_with_exit_3() {
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    let ws = Workspace::example();
    ws.ok(true, &["out"]);
    let stubs = Stubs::new();
    let o = stubs.run(&ws, "nhn-nks", &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(
        steps(&o).last().map(String::as_str),
        Some("istio-ingressgateway")
    );
    let out = text(&o);
    assert!(out.contains("Stopped after the gateways"), "{out}");
    assert!(
        out.contains("kubectl --context nhn-nks -n istio-system get secret istio-reader-service-account-istio-remote-secret-token -o jsonpath='{.data.token}' | base64 -d > nhn-nks.token"),
        "{out}"
    );
    assert!(
        !stubs
            .calls()
            .iter()
            .any(|c| c.iter().any(|a| a.contains("40-mesh")))
    );
}

#[test]
fn a_dry_run_calls_nothing_and_prints_the_commands() {
    let ws = connected();
    let stubs = Stubs::new();
    let o = stubs.run(&ws, "kt-k2p", &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stubs.calls().is_empty(), "{:?}", stubs.calls());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("helm upgrade --install istiod istio/istiod"),
        "{out}"
    );
    assert!(out.contains("sops -d clusters/kt-k2p/10-istio-system/cacerts.sops.yaml | kubectl --context kt-k2p apply -f -"), "{out}");
}

#[test]
fn run_from_elsewhere_the_script_says_where_to_run_it() {
    let ws = connected();
    let o = Command::new("bash")
        .arg(ws.out().join("clusters/kt-k2p/install.sh"))
        .current_dir(ws.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("run it from the root of the rendered tree"),
        "{}",
        text(&o)
    );
}

#[test]
fn gitops_trees_have_no_install_script() {
    let ws = Workspace::build(|admin, _| {
        format!(
            "{}gitops:\n  repository:\n    url: https://example.com/mesh.git\n",
            common::workspace::example_with_admin(admin)
        )
    });
    ws.ok(true, &["--target", "flux", "out"]);
    assert!(ws.out().join("clusters/kt-k2p/README.md").is_file());
    assert!(!ws.out().join("clusters/kt-k2p/install.sh").exists());
}

#[test]
fn verify_waits_for_the_verification_job_in_the_cluster_that_runs_sleep() {
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    let ws = connected();
    let stubs = Stubs::new();
    let o = stubs.run(&ws, "nhn-nks", &["--verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(steps(&o).last().map(String::as_str), Some("verify"));
    assert!(
        text(&o).contains("Verified: every reviews version answered from nhn-nks"),
        "{}",
        text(&o)
    );
    let calls = stubs.calls();
    let delete = calls
        .iter()
        .position(|c| c.windows(2).any(|w| w == ["delete", "job"]))
        .expect("the old Job is deleted first");
    let apply = calls
        .iter()
        .position(|c| c.iter().any(|a| a.ends_with("50-sample")))
        .unwrap();
    assert!(delete < apply);
}

/// The verification Job's script, as rendered.
fn verify_script(ws: &Workspace) -> String {
    let text = fs::read_to_string(
        ws.out()
            .join("clusters/nhn-nks/50-sample/verify-cross-cluster.yaml"),
    )
    .unwrap();
    let job: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(job["kind"], "Job");
    job["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs the Job's script with a `curl` that answers from the `answering` reviews versions in
/// turn; its output, and whether it called the sidecar's /quitquitquit.
fn run_verify(script: &str, answering: &str) -> (Output, bool) {
    let dir = tempfile::tempdir().unwrap();
    let curl = dir.path().join("curl");
    fs::write(
        &curl,
        r#"#!/bin/sh
case "$*" in
  *quitquitquit*) touch "$STUB_DIR/quit"; exit 0 ;;
esac
n=$(cat "$STUB_DIR/n" 2>/dev/null || echo 0); echo $((n + 1)) > "$STUB_DIR/n"
set -- $ANSWERING; shift $((n % $#)); v=$1
echo "{\"id\": \"1\",\"podname\": \"reviews-$v-5b9c8d7f4-x2x4q\",\"clustername\": \"null\"}"
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&curl, fs::Permissions::from_mode(0o755)).unwrap();
    let o = Command::new("sh")
        .args(["-c", script])
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .env("STUB_DIR", dir.path())
        .env("ANSWERING", answering)
        .env("VERSIONS", "v1 v2 v3")
        .env("TRIES", "6")
        .env("INTERVAL", "0")
        .output()
        .unwrap();
    let quit = dir.path().join("quit").exists();
    (o, quit)
}

#[test]
fn the_verification_job_passes_when_every_reviews_version_answers_and_ends_its_sidecar() {
    let ws = connected();
    let job = fs::read_to_string(
        ws.out()
            .join("clusters/nhn-nks/50-sample/verify-cross-cluster.yaml"),
    )
    .unwrap();
    assert!(job.contains("value: \"v1 v2 v3\""), "{job}");
    let (o, quit) = run_verify(&verify_script(&ws), "v1 v2 v3");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("every reviews version answered: v1 v2 v3"),
        "{}",
        text(&o)
    );
    assert!(quit, "the sidecar is told to quit");
}

#[test]
fn the_verification_job_fails_after_its_tries_when_a_version_never_answers() {
    let ws = connected();
    let (o, quit) = run_verify(&verify_script(&ws), "v1 v2");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("after 6 tries only these reviews versions answered: v1 v2; missing: v3"),
        "{}",
        text(&o)
    );
    assert!(quit, "the sidecar is told to quit on failure too");
}

#[test]
fn flux_recreates_the_verification_job_and_argo_cd_runs_it_as_a_post_sync_hook() {
    for target in ["flux", "argocd"] {
        let ws = Workspace::build(|admin, _| {
            format!(
                "{}gitops:\n  repository:\n    url: https://example.com/mesh.git\n",
                common::workspace::example_with_admin(admin)
            )
        });
        ws.ok(true, &["--target", target, "out"]);
        let job = fs::read_to_string(
            ws.out()
                .join("clusters/nhn-nks/50-sample/verify-cross-cluster.yaml"),
        )
        .unwrap();
        assert!(
            job.contains("argocd.argoproj.io/hook: PostSync")
                && job.contains("hook-delete-policy: BeforeHookCreation")
        );
        if target == "flux" {
            let sync = fs::read_to_string(ws.out().join("flux/nhn-nks/sync.yaml")).unwrap();
            let sample = sync
                .split("---")
                .find(|d| d.contains("name: mesh-sample"))
                .unwrap_or_else(|| panic!("{sync}"));
            assert!(
                sample.contains("force: true") && sample.contains("wait: true"),
                "{sample}"
            );
        }
    }
}

impl Stubs {
    /// Runs `uninstall.sh` of `cluster` with `args`, `answer` on its standard input.
    fn uninstall(&self, ws: &Workspace, cluster: &str, args: &[&str], answer: &str) -> Output {
        use std::io::Write;
        let path = format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new("bash")
            .arg(format!("clusters/{cluster}/uninstall.sh"))
            .args(args)
            .current_dir(ws.out())
            .env("PATH", path)
            .env("STUB_LOG", self.log())
            .env("STUB_DIR", self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

fn joined(calls: &[Vec<String>]) -> Vec<String> {
    calls.iter().map(|c| c.join(" ")).collect()
}

#[test]
fn uninstall_undoes_the_install_in_reverse_and_keeps_what_outlives_its_step() {
    let ws = connected();
    let stubs = Stubs::new();
    let o = stubs.uninstall(&ws, "ncloud-nks", &["--yes"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        steps(&o),
        [
            "sample",
            "mesh",
            "istio-ingressgateway",
            "provider-fixes",
            "istiod"
        ]
    );
    let calls = joined(&stubs.calls());
    for call in &calls {
        assert!(
            call.contains("--context ncloud-nks") || call.contains("--kube-context ncloud-nks"),
            "{call}"
        );
        for kept in [
            "Namespace istio-system",
            "Secret cacerts",
            "istio-reader-service-account",
            "crd",
            "istio-base",
            "cilium",
        ] {
            assert!(!call.contains(kept), "{call} removes {kept} without --all");
        }
    }
    assert!(
        calls
            .iter()
            .any(|c| c.contains("delete Secret istio-remote-secret-kt-k2p")),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.contains("delete Gateway.v1.networking.istio.io cross-network-gateway"))
    );
    assert!(calls.iter().any(|c| c.starts_with("helm uninstall istiod")));
}

#[test]
fn uninstall_all_drops_only_its_own_fields_from_what_the_cluster_owns_and_keeps_the_crds() {
    let ws = connected();
    let stubs = Stubs::new();
    let o = stubs.uninstall(&ws, "ncloud-nks", &["--yes", "--all"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let calls = joined(&stubs.calls());
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("cilium") && c.contains("delete")),
        "{calls:?}"
    );
    let empty_applies: Vec<&String> = calls
        .iter()
        .filter(|c| {
            c.contains("apply --server-side --force-conflicts --field-manager=mesh-render -f -")
        })
        .collect();
    assert_eq!(
        empty_applies.len(),
        2,
        "cilium-config and the DaemonSet: {calls:?}"
    );
    // The same field manager install.sh applied them with.
    let install = fs::read_to_string(ws.out().join("clusters/ncloud-nks/install.sh")).unwrap();
    assert!(install.contains(
        "--force-conflicts --field-manager=mesh-render -k clusters/ncloud-nks/30-provider-fixes"
    ));
    let piped = stubs.piped();
    assert!(
        piped
            .iter()
            .all(|p| !p.contains("\ndata") && p.lines().count() == 5),
        "{piped:?}"
    );
    for removed in [
        "delete Namespace istio-system",
        "delete Secret cacerts",
        "delete Secret istio-reader-service-account-istio-remote-secret-token",
    ] {
        assert!(
            calls.iter().any(|c| c.contains(removed)),
            "{removed}: {calls:?}"
        );
    }
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("delete crd") || c.starts_with("helm uninstall istio-base"))
    );
}

#[test]
fn uninstall_all_crds_lists_what_the_crds_hold_before_deleting_them() {
    let ws = connected();
    let stubs = Stubs::new();
    let o = stubs.uninstall(&ws, "kt-k2p", &["--yes", "--all", "--crds"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let calls = joined(&stubs.calls());
    let at = |needle: &str| {
        calls
            .iter()
            .position(|c| c.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {calls:?}"))
    };
    assert!(at("get istio-io --all-namespaces") < at("helm uninstall istio-base"));
    assert!(
        at("get gateway-api --all-namespaces")
            < at("delete crd -l gateway.networking.k8s.io/bundle-version")
    );
}

#[test]
fn uninstall_asks_first_and_changes_nothing_unless_told_yes() {
    let ws = connected();
    let stubs = Stubs::new();
    let o = stubs.uninstall(&ws, "kt-k2p", &[], "n\n");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("Are you sure you want to uninstall istio from cluster kt-k2p"),
        "{}",
        text(&o)
    );
    assert!(stubs.calls().is_empty());
    let o = stubs.uninstall(&ws, "kt-k2p", &["--yes", "--crds"], "");
    assert_eq!(o.status.code(), Some(2), "--crds needs --all: {}", text(&o));
    assert!(stubs.calls().is_empty());
    let o = stubs.uninstall(&ws, "kt-k2p", &[], "y\n");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!stubs.calls().is_empty());
}

#[test]
fn each_cluster_readme_gives_its_rotation_restarts_with_its_context_and_revision() {
    let tree = common::render_text(&common::revisioned_mesh());
    for (cluster, context) in [
        ("kt-k2p", "kt-k2p"),
        ("ncloud-nks", "ncloud-nks"),
        ("nhn-nks", "nhn-nks"),
    ] {
        let readme = tree.get(&format!("clusters/{cluster}/README.md")).unwrap();
        assert!(
            readme.contains(&format!("kubectl --context {context} -n istio-system rollout restart deployment/istiod-1-26-0\n")),
            "{cluster}: {readme}"
        );
        assert!(
            readme.contains(&format!("kubectl --context {context} -n istio-system rollout restart deployment/istio-ingressgateway\n")),
            "{cluster}"
        );
    }
}

/// A workspace of `mesh` (a variant of the example) with the admin listed and every cluster's
/// token file, rendered.
fn variant(mesh: String) -> Workspace {
    let ws = Workspace::build(|admin, dir| {
        let listed = mesh.replace("  admins: []\n", &format!("  admins:\n    - {admin}\n"));
        common::workspace::with_token_files(&listed, dir, &common::workspace::CLUSTERS, 20)
    });
    ws.ok(true, &["out"]);
    ws
}

#[test]
fn both_topologies_with_and_without_a_revision_install_through_the_real_charts() {
    let Some(helms) = common::helms() else { return };
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    for (what, mesh, gateways) in [
        (
            "dedicated",
            common::dedicated_mesh(),
            vec!["istio-eastwestgateway", "istio-ingressgateway"],
        ),
        (
            "revisioned",
            common::revisioned_mesh(),
            vec!["istio-ingressgateway"],
        ),
    ] {
        let ws = variant(mesh);
        for cluster in common::workspace::CLUSTERS {
            let stubs = Stubs::new();
            let o = stubs.run(&ws, cluster, &[]);
            assert_eq!(o.status.code(), Some(0), "{what} {cluster}: {}", text(&o));
            let releases: Vec<Vec<String>> = stubs
                .calls()
                .into_iter()
                .filter(|c| c[0] == "helm" && c[1] == "upgrade")
                .collect();
            let names: Vec<&str> = releases.iter().map(|c| c[3].as_str()).collect();
            let istiod = if what == "revisioned" {
                "istiod-1-26-0"
            } else {
                "istiod"
            };
            let mut expected = vec!["istio-base", istiod];
            expected.extend(&gateways);
            assert_eq!(names, expected, "{what} {cluster}");
            for call in &releases {
                for helm in &helms {
                    let o = helm_template(helm, &ws, call, None);
                    assert!(
                        o.status.success(),
                        "{what} {} {call:?}: {}",
                        helm.display(),
                        text(&o)
                    );
                }
            }
        }
    }
}

#[test]
fn every_decrypted_object_validates_against_the_strict_schemas() {
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    let catalog =
        mesh_render::check::schema::SchemaCatalog::open(common::shared().join("schemas")).unwrap();
    let ws = connected();
    let stubs = Stubs::new();
    assert!(stubs.run(&ws, "nhn-nks", &[]).status.success());
    let piped = stubs.piped();
    assert!(!piped.is_empty());
    for doc in piped {
        for object in mesh_render::check::schema::parse_documents(&doc).unwrap() {
            let violations = catalog
                .validate(&object, mesh_render::check::schema::Mode::Strict)
                .unwrap();
            assert!(violations.is_empty(), "{violations:?}");
        }
    }
}

#[test]
fn with_istioctl_the_control_plane_goes_before_the_reader_token_and_the_gateways_after_the_fixes() {
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    for mesh in [common::dedicated_mesh(), common::revisioned_mesh()] {
        let ws = variant(mesh);
        let stubs = Stubs::new();
        let o = stubs.run(&ws, "kt-k2p", &["--istioctl"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let calls = stubs.calls();
        assert!(
            !calls.iter().any(|c| c[0] == "helm"),
            "no Helm at all: {calls:?}"
        );
        let at = |pred: &dyn Fn(&Vec<String>) -> bool| calls.iter().position(pred).unwrap();
        let installs: Vec<&Vec<String>> = calls.iter().filter(|c| c[0] == "istioctl").collect();
        for call in &installs {
            assert_eq!(&call[1..4], ["install", "-y", "--context"], "{call:?}");
            assert_eq!(call[4], "kt-k2p");
            let file = &call[call.iter().position(|a| a == "-f").unwrap() + 1];
            let text = fs::read_to_string(ws.out().join(file)).unwrap();
            let operator: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
            assert_eq!(operator["kind"], "IstioOperator", "{file}");
        }
        let control_plane = at(&|c| {
            c[0] == "istioctl" && c.last().is_some_and(|f| f.ends_with("controlplane.yaml"))
        });
        let reader = at(&|c| c.iter().any(|a| a.ends_with("20-reader")));
        let fixes = at(&|c| c.iter().any(|a| a.ends_with("30-provider-fixes")));
        let mesh = at(&|c| c.iter().any(|a| a.contains("40-mesh")));
        assert!(
            control_plane < reader,
            "the reader token needs the base's service account"
        );
        for call in installs
            .iter()
            .filter(|c| !c.last().unwrap().ends_with("controlplane.yaml"))
        {
            let i = calls.iter().position(|c| c == *call).unwrap();
            assert!(fixes < i && i < mesh, "{call:?}");
        }
        assert_eq!(installs.len(), 1 + ws_gateways(&ws));
    }
}

/// How many gateways kt-k2p has in the workspace's tree.
fn ws_gateways(ws: &Workspace) -> usize {
    fs::read_dir(ws.out().join("istioctl/kt-k2p"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("controlplane")
        })
        .count()
}

#[test]
fn help_prints_the_scripts_header_and_nothing_else() {
    let ws = connected();
    for script in ["install.sh", "uninstall.sh"] {
        let o = Command::new("bash")
            .arg(format!("clusters/kt-k2p/{script}"))
            .arg("--help")
            .current_dir(ws.out())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.lines().all(|l| l.starts_with('#')), "{out}");
        assert!(
            out.contains(&format!("bash clusters/kt-k2p/{script}")),
            "{out}"
        );
    }
}

/// The `helm upgrade --install` calls of a run: (release, chart, version, values file).
fn helm_installs(calls: &[Vec<String>]) -> Vec<(String, String, String, String)> {
    calls
        .iter()
        .filter(|c| c[0] == "helm" && c.get(1).is_some_and(|a| a == "upgrade"))
        .map(|c| {
            let after = |flag: &str| c[c.iter().position(|a| a == flag).unwrap() + 1].clone();
            (c[3].clone(), c[4].clone(), after("--version"), after("-f"))
        })
        .collect()
}

#[test]
fn an_upgrade_stage_installs_each_release_at_its_own_version_through_the_real_charts() {
    let Some(helms) = common::helms() else { return };
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    let ws = connected();
    ws.ok(
        false,
        &["upgrade", "--to", "1.28.10", "--stage", "install-new"],
    );
    ws.ok(true, &["out"]);
    let stubs = Stubs::new();
    let o = stubs.run(&ws, "kt-k2p", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let installs = helm_installs(&stubs.calls());
    let expect = [
        (
            "istio-base",
            "istio/base",
            "1.28.10",
            "values/kt-k2p/base.yaml",
        ),
        (
            "istiod",
            "istio/istiod",
            "1.26.0",
            "values/kt-k2p/istiod.yaml",
        ),
        (
            "istiod-1-28-10",
            "istio/istiod",
            "1.28.10",
            "values/kt-k2p/istiod-1-28-10.yaml",
        ),
        (
            "istio-ingressgateway",
            "istio/gateway",
            "1.26.0",
            "values/kt-k2p/gateway.yaml",
        ),
    ];
    let got: Vec<(&str, &str, &str, &str)> = installs
        .iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        .collect();
    assert_eq!(got, expect);
    for call in stubs
        .calls()
        .iter()
        .filter(|c| c[0] == "helm" && c[1] == "upgrade")
    {
        for helm in &helms {
            let o = helm_template(helm, &ws, call, None);
            assert!(
                o.status.success(),
                "{} {call:?}: {}",
                helm.display(),
                text(&o)
            );
        }
    }
}

#[test]
fn after_the_last_stage_install_removes_the_old_istiod_release_and_only_it() {
    if !common::judge_available("sops", "the install decrypts with the real sops") {
        return;
    }
    let ws = connected();
    for stage in ["install-new", "move-default", "move-gateways", "remove-old"] {
        ws.ok(false, &["upgrade", "--to", "1.28.10", "--stage", stage]);
    }
    ws.ok(true, &["out"]);
    let stubs = Stubs::new();
    let o = stubs.run_with(&ws, "kt-k2p", &[], "istiod istiod-1-28-10");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let uninstalled: Vec<String> = stubs
        .calls()
        .iter()
        .filter(|c| c[0] == "helm" && c[1] == "uninstall")
        .map(|c| c[2].clone())
        .collect();
    assert_eq!(uninstalled, ["istiod"]);
    let installs = helm_installs(&stubs.calls());
    assert!(
        installs.iter().any(|(r, _, v, f)| r == "istiod-1-28-10"
            && v == "1.28.10"
            && f == "values/kt-k2p/istiod.yaml"),
        "{installs:?}"
    );
}

#[test]
fn istioctl_installs_are_refused_in_mid_upgrade() {
    let ws = connected();
    ws.ok(
        false,
        &["upgrade", "--to", "1.28.10", "--stage", "install-new"],
    );
    ws.ok(true, &["out"]);
    let stubs = Stubs::new();
    let o = stubs.run(&ws, "kt-k2p", &["--istioctl"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("an Istio upgrade is in progress (stage install-new)"));
    assert!(stubs.calls().is_empty());
}
