//! `mesh-render upgrade`: moves a canary upgrade of the control plane to its next stage and
//! records it in mesh.yaml (`istio.upgrade`, comments and layout kept), under the mesh's lock.
//! Which moves are allowed is `crate::upgrade`'s; a root rotation in progress refuses it.

use std::time::Duration;

use super::args::{UpgradeArgs, UpgradeStage};
use super::edge;
use super::exit::Failure;
use super::failure::CommandError;
use super::locks;
use crate::config::{self, ClusterName, Origin};
use crate::disk::{self, LockMode, Mode};
use crate::env::Env;
use crate::releases::IstioVersion;
use crate::seal;
use crate::upgrade::{self, Stage, Transition};

const COMMENT: &str = "mesh-render upgrade";

pub(super) fn upgrade(args: &UpgradeArgs, env: &Env, wait: Duration) -> Result<(), Failure> {
    let (mesh, origin) = edge::load(args.config.as_deref())?;
    let Origin::File(path) = &origin else {
        return Err(CommandError::UpgradeNeedsFile.into());
    };
    let mesh_dir = locks::mesh_dir(&origin, &mesh, env)?;
    let _held = locks::hold(&[(&mesh_dir, LockMode::Exclusive)], wait)?;
    // Read again under the lock: another command may have changed it meanwhile.
    let (mesh, _) = edge::load(args.config.as_deref())?;
    let to = args.to.as_deref().map(parse_version).transpose()?;
    let mut clusters = Vec::new();
    for name in &args.clusters {
        let name = ClusterName::parse(name.trim())
            .map_err(|e| CommandError::BadCluster { problem: e.problem })?;
        clusters.push(name);
    }
    let stage = match args.stage {
        UpgradeStage::InstallNew => Stage::InstallNew,
        UpgradeStage::MoveDefault => Stage::MoveDefault,
        UpgradeStage::MoveGateways => Stage::MoveGateways,
        UpgradeStage::RemoveOld => Stage::RemoveOld,
    };
    if mesh.istio.upgrade.is_none() {
        // The PKI's public state says whether a root rotation is in progress.
        let resolved = seal::resolve(&mesh, &origin, env, seal::Mode::Inspect)?;
        if let Some(rotation) = resolved.pki.as_ref().and_then(|p| p.rotation.as_ref()) {
            return Err(CommandError::UpgradeDuringRotation {
                stage: rotation.stage.name(),
            }
            .into());
        }
    }
    let all: Vec<ClusterName> = mesh.clusters.iter().map(|c| c.name.clone()).collect();
    let transition = upgrade::transition(
        &mesh.istio.version,
        mesh.istio.revision.as_ref().map(|r| r.as_str()),
        mesh.istio.upgrade.as_ref(),
        to,
        stage,
        &clusters,
        &all,
    )
    .map_err(|refusal| CommandError::Upgrade { refusal })?;
    let text = disk::read_text(path)?;
    let edited = match &transition {
        Transition::Set {
            to,
            stage,
            clusters,
        } => {
            let names: Vec<&str> = clusters.iter().map(ClusterName::as_str).collect();
            config::edit::set_upgrade(&text, &to.to_string(), stage.name(), &names, COMMENT)
        }
        Transition::Finish { version, revision } => config::edit::finish_upgrade(
            &text,
            &version.to_string(),
            revision,
            &format!("{COMMENT} (from {})", mesh.istio.version),
        ),
    }
    .map_err(CommandError::Edit)?;
    disk::write_atomic(path, edited.as_bytes(), Mode::Public)?;
    match transition {
        Transition::Set {
            to,
            stage,
            clusters,
        } => {
            let on = if clusters.is_empty() {
                "every cluster".to_owned()
            } else {
                clusters
                    .iter()
                    .map(ClusterName::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "Istio upgrade {} -> {to}: stage `{stage}` on {on}, recorded in {}. Render, review and sync it; then check that {}.",
                mesh.istio.version,
                path.display(),
                stage.verify_before_next()
            );
        }
        Transition::Finish { version, revision } => println!(
            "Istio upgrade complete: istio.version is {version} and istio.revision {revision} in {}. Render and sync it: the old istiod ({}) is removed.",
            path.display(),
            mesh.istio
                .revision
                .as_ref()
                .map_or("istiod".to_owned(), |r| format!("istiod-{r}"))
        ),
    }
    Ok(())
}

fn parse_version(text: &str) -> Result<IstioVersion, CommandError> {
    IstioVersion::parse(text).ok_or_else(|| CommandError::UpgradeVersion {
        text: text.to_owned(),
    })
}
