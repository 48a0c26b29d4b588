//! The Flux target: per cluster, one Kustomization (kustomize.toolkit.fluxcd.io/v1) per step,
//! chained by dependsOn, and a HelmRelease (helm.toolkit.fluxcd.io/v2) per Istio chart.

use minijinja::context;
use minijinja::value::{Serde, Value};

use super::{NoValues, Step, StepSource, release_values, steps};
use crate::model::{ClusterPlan, Model};

/// A file the renderer writes: path, template and context.
pub struct FileSpec {
    pub path: String,
    pub template: &'static str,
    pub ctx: Value,
}

/// The Secret in `flux-system` holding the cluster's age identity (a key ending in `.agekey`).
pub const DECRYPTION_SECRET: &str = super::IDENTITY_SECRET;

/// The Flux files of one cluster; each HelmRelease holds its chart values inline.
pub fn cluster_files(model: &Model, cluster: &ClusterPlan) -> Result<Vec<FileSpec>, NoValues> {
    let gitops = &model.gitops;
    let root = format!("flux/{}", cluster.name);
    let steps = steps(model, cluster);
    let paths: Vec<String> = steps
        .iter()
        .map(|s| step_path(&gitops.path, cluster.name.as_ref(), s))
        .collect();
    let chain: Vec<Value> = steps
        .iter()
        .zip(&paths)
        .enumerate()
        .map(|(i, (step, path))| {
            context! {
                step => Serde(step),
                path,
                after => (i > 0).then(|| steps[i - 1].name.clone()),
            }
        })
        .collect();
    let mut files = vec![
        FileSpec {
            path: format!("{root}/kustomization.yaml"),
            template: "layers/kustomization.yaml",
            ctx: context! { resources => vec!["sources.yaml", "sync.yaml"] },
        },
        FileSpec {
            path: format!("{root}/sources.yaml"),
            template: "flux/sources.yaml",
            ctx: context! { chart_repository => &gitops.chart_repository },
        },
        FileSpec {
            path: format!("{root}/sync.yaml"),
            template: "flux/sync.yaml",
            ctx: context! { steps => chain, cluster => cluster.name.as_str(), secret => DECRYPTION_SECRET },
        },
    ];
    for step in &steps {
        let StepSource::Release(release) = &step.source else {
            continue;
        };
        let dir = format!("{root}/releases/{}", release.name);
        files.push(FileSpec {
            path: format!("{dir}/kustomization.yaml"),
            template: "layers/kustomization.yaml",
            ctx: context! { resources => vec!["helmrelease.yaml"] },
        });
        files.push(FileSpec {
            path: format!("{dir}/helmrelease.yaml"),
            template: "flux/helmrelease.yaml",
            ctx: context! {
                release => Serde(release),
                protect => step.protect,
                skip_schema => release.skip_schema,
                istio_version => &release.version,
                values => release_values(cluster, release)?,
            },
        });
    }
    Ok(files)
}

/// The files shared by every cluster: the GitRepository they sync from.
pub fn shared_files(model: &Model) -> Vec<FileSpec> {
    vec![FileSpec {
        path: "flux/gitrepository.yaml".to_owned(),
        template: "flux/gitrepository.yaml",
        ctx: context! { url => &model.gitops.repository_url, branch => &model.gitops.branch },
    }]
}

/// The repository path a step's Kustomization applies.
pub fn step_path(out: &str, cluster: &str, step: &Step) -> String {
    match &step.source {
        StepSource::Layer { dir } => format!("./{out}/clusters/{cluster}/{dir}"),
        StepSource::Base { dir } => format!("./{out}/base/{dir}"),
        StepSource::Release(r) => format!("./{out}/flux/{cluster}/releases/{}", r.name),
    }
}
