//! The Argo CD target: per cluster, a root Application (app of apps) whose child Applications
//! are the steps in sync waves; encrypted files go through KSOPS generators.

use minijinja::context;
use minijinja::value::{Serde, Value};

use super::flux::FileSpec;
use super::{NoValues, StepSource, release_values, steps};
use crate::model::{ClusterPlan, Model};

/// The namespace Argo CD runs in.
pub const NAMESPACE: &str = "argocd";

/// KSOPS's image, whose `ksops` binary the repo-server patch copies in
/// (viaduct-ai/kustomize-sops README, "KSOPS Repo Server Patch").
pub const KSOPS_IMAGE: &str = "viaductoss/ksops:v4.4.0";
/// Where kustomize looks for the legacy exec plugin of `apiVersion: viaduct.ai/v1, kind: ksops`,
/// under `$XDG_CONFIG_HOME/kustomize/plugin/`.
pub const KSOPS_PLUGIN_DIR: &str = "kustomize/plugin/viaduct.ai/v1/ksops";
/// The repo-server's XDG_CONFIG_HOME: outside its read-only root file system's own paths.
pub const REPO_SERVER_CONFIG_HOME: &str = "/.config";

/// The Argo CD files of one cluster; each chart's Application holds its values inline.
pub fn cluster_files(model: &Model, cluster: &ClusterPlan) -> Result<Vec<FileSpec>, NoValues> {
    let gitops = &model.gitops;
    let root = format!("argocd/{}", cluster.name);
    let steps = steps(model, cluster);
    let hub = gitops.argocd_hub;
    let mut files = Vec::new();
    // A hub's ApplicationSet generates the roots (shared_files); otherwise each cluster has one.
    files.extend((!hub).then(|| FileSpec {
        path: format!("{root}/root.yaml"),
        template: "argocd/root.yaml",
        ctx: context! {
            cluster => cluster.name.as_str(),
            repository => &gitops.repository_url,
            branch => &gitops.branch,
            path => format!("{}/{root}/apps", gitops.path),
            namespace => NAMESPACE,
        },
    }));
    let mut apps = Vec::new();
    for (wave, step) in steps.iter().enumerate() {
        let file = format!("{wave:02}-{}.yaml", step.name);
        let source: Value = match &step.source {
            StepSource::Layer { dir } => {
                context! { path => format!("{}/clusters/{}/{dir}", gitops.path, cluster.name) }
            }
            StepSource::Base { dir } => context! { path => format!("{}/base/{dir}", gitops.path) },
            StepSource::Release(release) => context! {
                release => Serde(release),
                skip_schema => release.skip_schema,
                version => &release.version,
                values => release_values(cluster, release)?,
            },
        };
        files.push(FileSpec {
            path: format!("{root}/apps/{file}"),
            template: "argocd/application.yaml",
            ctx: context! {
                step => Serde(step),
                wave,
                source,
                repository => &gitops.repository_url,
                branch => &gitops.branch,
                chart_repository => &gitops.chart_repository,
                namespace => NAMESPACE,
                app_name => if hub { format!("mesh-{}-{}", cluster.name, step.name) } else { format!("mesh-{}", step.name) },
                destination_name => hub.then(|| cluster.name.to_string()),
            },
        });
        apps.push(file);
    }
    files.push(FileSpec {
        path: format!("{root}/apps/kustomization.yaml"),
        template: "layers/kustomization.yaml",
        ctx: context! { resources => apps },
    });
    Ok(files)
}

/// The files shared by every cluster: the argocd-cm settings and the repo-server's KSOPS set-up
/// the tree needs, and in hub mode
/// the ApplicationSet that generates every cluster's root.
pub fn shared_files(model: &Model) -> Vec<FileSpec> {
    let gitops = &model.gitops;
    let mut files = vec![
        FileSpec {
            path: "argocd/argocd-cm-patch.yaml".to_owned(),
            template: "argocd/argocd-cm-patch.yaml",
            ctx: context! { namespace => NAMESPACE },
        },
        FileSpec {
            path: "argocd/repo-server-patch.yaml".to_owned(),
            template: "argocd/repo-server-patch.yaml",
            ctx: context! {
                namespace => NAMESPACE,
                secret => super::IDENTITY_SECRET,
                key => super::IDENTITY_KEY,
                image => KSOPS_IMAGE,
                plugin_dir => KSOPS_PLUGIN_DIR,
                config_home => REPO_SERVER_CONFIG_HOME,
            },
        },
    ];
    if gitops.argocd_hub {
        let clusters: Vec<String> = model.clusters.iter().map(|c| c.name.to_string()).collect();
        files.push(FileSpec {
            path: "argocd/applicationset.yaml".to_owned(),
            template: "argocd/applicationset.yaml",
            ctx: context! {
                clusters,
                repository => &gitops.repository_url,
                branch => &gitops.branch,
                path => &gitops.path,
                namespace => NAMESPACE,
            },
        });
    }
    files
}
