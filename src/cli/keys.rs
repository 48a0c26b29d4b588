//! `mesh-render keys` and `mesh-render pki renew|rotate-root`: the identities each cluster's
//! GitOps controller decrypts with, re-issuing a cluster's intermediate CA, and the stages of a
//! root rotation.

use std::path::Path;
use std::time::Duration;

use super::args::RotateStage;
use super::edge;
use super::exit::Failure;
use super::failure::CommandError;
use super::locks;
use super::render::{describe_changes, describe_created};
use crate::config::{self, ClusterName, Mesh, Origin};
use crate::disk::{self, LockMode, Mode};
use crate::env::Env;
use crate::keys::{self, StateDir};
use crate::pki::rotation::Stage;
use crate::seal::{self, Resolved};

/// Creates (or reuses) each cluster's identity and records its recipient in the mesh description.
pub(super) fn keys(config_path: Option<&Path>, env: &Env, wait: Duration) -> Result<(), Failure> {
    let (mesh, origin) = edge::load(config_path)?;
    let Origin::File(path) = &origin else {
        return Err(CommandError::KeysNeedFile.into());
    };
    let mesh_dir = locks::mesh_dir(&origin, &mesh, env)?;
    let _held = locks::hold(&[(&mesh_dir, LockMode::Exclusive)], wait)?;
    // Read again under the lock: another `keys` may have recorded recipients meanwhile.
    let (mesh, _) = edge::load(config_path)?;
    let state = StateDir::for_mesh(&mesh.mesh_id, env)?;
    let mut text = disk::read_text(path)?;
    let mut lines = Vec::new();
    for cluster in &mesh.clusters {
        let file = state.cluster_identity(&cluster.name);
        let identity = match keys::read_identity(&file)? {
            Some(identity) => identity,
            None if cluster.gitops_recipient.is_some() => {
                lines.push(format!(
                    "{}: recipient already set in {}; its identity is not on this machine",
                    cluster.name,
                    path.display()
                ));
                continue;
            }
            None => {
                keys::read_or_create_identity(
                    &file,
                    &format!(
                        "GitOps identity of cluster {} in mesh {}",
                        cluster.name, mesh.mesh_id
                    ),
                )?
                .0
            }
        };
        let recipient = identity.recipient.to_string();
        if cluster.gitops_recipient.as_ref().map(|r| r.as_str()) == Some(recipient.as_str()) {
            lines.push(format!("{}: {} (unchanged)", cluster.name, file.display()));
            continue;
        }
        text = config::edit::set_gitops_recipient(
            &text,
            cluster.name.as_str(),
            &recipient,
            "mesh-render keys",
        )
        .map_err(CommandError::Edit)?;
        lines.push(format!(
            "{}: {} -> recorded in {}",
            cluster.name,
            file.display(),
            path.display()
        ));
    }
    disk::write_atomic(path, text.as_bytes(), Mode::Public)?;
    println!(
        "GitOps identities of mesh {} (each stays on this machine, mode 0600; never commit one):",
        mesh.mesh_id
    );
    for line in lines {
        println!("  {line}");
    }
    println!(
        "Next: render again (each cluster's secrets are then encrypted to its identity too), and install each identity in its cluster\n  as out/README.md shows, e.g. for Flux: kubectl -n flux-system create secret generic {} --from-file={}={}",
        crate::gitops::IDENTITY_SECRET,
        crate::gitops::IDENTITY_KEY,
        state.path().join("clusters/<cluster>.agekey").display()
    );
    Ok(())
}

/// Resolves the mesh's secret inputs to change its PKI, first issuing what it lacks (and saying so).
fn resolve_for_pki(
    mesh: &Mesh,
    origin: &Origin,
    env: &Env,
    now: time::OffsetDateTime,
) -> Result<Resolved, Failure> {
    let mut resolved = seal::resolve(mesh, origin, env, seal::Mode::Render)?;
    for created in &resolved.created {
        println!("note: {}", describe_created(created));
    }
    // No output directory here: a root is issued only into an empty pki/.
    let changes = resolved.issue(mesh, false, now)?;
    for line in describe_changes(&changes, &resolved.pki_dir) {
        println!("note: {line}");
    }
    Ok(resolved)
}

/// Re-issues the intermediate CA of one cluster; the old one is retired.
pub(super) fn renew(
    config_path: Option<&Path>,
    cluster: &str,
    env: &Env,
    wait: Duration,
) -> Result<(), Failure> {
    let (mesh, origin) = edge::load(config_path)?;
    let mesh_dir = locks::mesh_dir(&origin, &mesh, env)?;
    let _held = locks::hold(&[(&mesh_dir, LockMode::Exclusive)], wait)?;
    let cluster =
        ClusterName::parse(cluster).map_err(|e| CommandError::BadCluster { problem: e.problem })?;
    if !mesh.clusters.iter().any(|c| c.name == cluster) {
        return Err(CommandError::UnknownCluster {
            cluster,
            mesh: mesh.mesh_id.clone(),
        }
        .into());
    }
    let now = edge::now();
    let mut resolved = resolve_for_pki(&mesh, &origin, env, now)?;
    let retired = resolved.renew(&mesh, &cluster, now)?;
    resolved.commit()?;
    println!(
        "Issued a new intermediate CA for {cluster} (the old one is kept in {}). Render again: only {cluster}'s cacerts changes; istiod reloads it in place.",
        retired.display()
    );
    Ok(())
}

/// Moves the root rotation to the next stage.
pub(super) fn rotate_root(
    config_path: Option<&Path>,
    stage: RotateStage,
    env: &Env,
    wait: Duration,
) -> Result<(), Failure> {
    let (mesh, origin) = edge::load(config_path)?;
    let mesh_dir = locks::mesh_dir(&origin, &mesh, env)?;
    let _held = locks::hold(&[(&mesh_dir, LockMode::Exclusive)], wait)?;
    // Read again under the lock: an upgrade may have started meanwhile.
    let (mesh, _) = edge::load(config_path)?;
    if let Some(upgrade) = &mesh.istio.upgrade {
        return Err(CommandError::RotationDuringUpgrade {
            to: upgrade.to.to_string(),
            stage: upgrade.stage.name(),
        }
        .into());
    }
    let now = edge::now();
    let mut resolved = resolve_for_pki(&mesh, &origin, env, now)?;
    let target = match stage {
        RotateStage::Prepare => Some(Stage::Prepare),
        RotateStage::TrustBoth => Some(Stage::TrustBoth),
        RotateStage::Switch => Some(Stage::Switch),
        RotateStage::Finish => Some(Stage::Finish),
        RotateStage::Done => None,
    };
    resolved.rotate(&mesh, target, now)?;
    // Completing the rotation makes the next root the root: a pinned fingerprint follows it,
    // before the PKI commits (a fingerprint of the next root is accepted at `finish`).
    let pinned = match (target, mesh.pki.root_fingerprint) {
        (None, Some(_)) => super::render::pin_root(&origin, &resolved)?,
        _ => None,
    };
    resolved.commit()?;
    if let Some(path) = pinned {
        println!(
            "note: pki.rootFingerprint in {} now names the new root: commit it with pki/",
            path.display()
        );
    }
    match target {
        Some(stage) => println!(
            "Root rotation: stage `{}` recorded in {}. Render, review and sync it to every cluster; then check that {}.",
            stage.name(),
            resolved.pki_dir.path().display(),
            stage.verify_before_next()
        ),
        None => println!(
            "Root rotation complete: the new root and intermediates replace the old ones (kept in {}). Render again: cacerts stay as they are; istiod drops ISTIO_MULTIROOT_MESH.",
            resolved.pki_dir.path().join("retired").display()
        ),
    }
    Ok(())
}
