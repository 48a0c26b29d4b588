//! `mesh-render keys` and `mesh-render pki renew`: the identities each cluster's GitOps
//! controller decrypts with, and re-issuing a cluster's intermediate CA.

use std::path::Path;

use super::{EXIT_INPUT, EXIT_OUTPUT, secrets};
use crate::config::{self, ClusterName, Origin};
use crate::keys::{self, StateDir};
use crate::output;

/// Creates (or reuses) each cluster's identity and records its recipient in the mesh description.
pub(super) fn keys(config_path: Option<&Path>) -> Result<(), (u8, String)> {
    let (mesh, origin) = super::load(config_path).map_err(|e| (EXIT_INPUT, e.to_string()))?;
    let Origin::File(path) = &origin else {
        return Err((
            EXIT_INPUT,
            "there is no mesh.yaml to record the recipients in\n  fix: run `mesh-render init` first (or pass --config FILE)".to_owned(),
        ));
    };
    let state = StateDir::for_mesh(&mesh.mesh_id).map_err(|e| (EXIT_INPUT, e.to_string()))?;
    let mut text = std::fs::read_to_string(path)
        .map_err(|e| (EXIT_INPUT, format!("{}: {e}", path.display())))?;
    let mut lines = Vec::new();
    for cluster in &mesh.clusters {
        let file = state.cluster_identity(&cluster.name);
        let identity = match keys::read_identity(&file).map_err(|e| (EXIT_OUTPUT, e.to_string()))? {
            Some(identity) => identity,
            None if cluster.gitops_recipient.is_some() => {
                lines.push(format!(
                    "{}: recipient already set in {}; its identity is not on this machine",
                    cluster.name,
                    path.display()
                ));
                continue;
            }
            None => keys::create_identity(
                &file,
                &format!(
                    "GitOps identity of cluster {} in mesh {}",
                    cluster.name, mesh.mesh_id
                ),
            )
            .map_err(|e| (EXIT_OUTPUT, e.to_string()))?,
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
        .map_err(|e| (EXIT_OUTPUT, e))?;
        lines.push(format!(
            "{}: {} -> recorded in {}",
            cluster.name,
            file.display(),
            path.display()
        ));
    }
    output::write_file(path, text.as_bytes()).map_err(|e| (EXIT_OUTPUT, e.to_string()))?;
    println!(
        "GitOps identities of mesh {} (each stays on this machine, mode 0600; never commit one):",
        mesh.mesh_id
    );
    for line in lines {
        println!("  {line}");
    }
    println!(
        "Next: render again (each cluster's secrets are then encrypted to its identity too), and install each identity in its cluster,\n  e.g. for Flux: kubectl -n flux-system create secret generic sops-age --from-file=age.agekey={}",
        state.path().join("clusters/<cluster>.agekey").display()
    );
    Ok(())
}

/// Re-issues the intermediate CA of one cluster; the old one is retired.
pub(super) fn renew(config_path: Option<&Path>, cluster: &str) -> Result<(), (u8, String)> {
    let (mesh, origin) = super::load(config_path).map_err(|e| (EXIT_INPUT, e.to_string()))?;
    let cluster = ClusterName::parse(cluster)
        .map_err(|e| (EXIT_INPUT, format!("--cluster: {}", e.problem)))?;
    if !mesh.clusters.iter().any(|c| c.name == cluster) {
        return Err((
            EXIT_INPUT,
            format!(
                "--cluster: {cluster} is not a cluster of mesh {}",
                mesh.mesh_id
            ),
        ));
    }
    let now = super::now();
    let secrets = secrets::prepare(&mesh, &origin, now).map_err(|e| (EXIT_INPUT, e))?;
    let retired = secrets
        .pki_dir
        .renew(
            &cluster,
            &secrets.admins,
            secrets.identities.as_ref(),
            mesh.pki.algorithm,
            mesh.pki.validity,
            now,
        )
        .map_err(|e| (EXIT_INPUT, e.to_string()))?;
    println!(
        "Issued a new intermediate CA for {cluster} (the old one is kept in {}). Render again: only {cluster}'s cacerts changes; istiod reloads it in place.",
        retired.display()
    );
    Ok(())
}

/// Moves the root rotation to the next stage.
pub(super) fn rotate_root(
    config_path: Option<&Path>,
    stage: super::RotateStage,
) -> Result<(), (u8, String)> {
    use super::RotateStage as R;
    use crate::pki::rotation::Stage;
    let (mesh, origin) = super::load(config_path).map_err(|e| (EXIT_INPUT, e.to_string()))?;
    let now = super::now();
    let secrets = secrets::prepare(&mesh, &origin, now).map_err(|e| (EXIT_INPUT, e))?;
    let target = match stage {
        R::Prepare => Some(Stage::Prepare),
        R::TrustBoth => Some(Stage::TrustBoth),
        R::Switch => Some(Stage::Switch),
        R::Finish => Some(Stage::Finish),
        R::Done => None,
    };
    let clusters: Vec<ClusterName> = mesh.clusters.iter().map(|c| c.name.clone()).collect();
    secrets
        .pki_dir
        .rotate(
            target,
            &clusters,
            &secrets.admins,
            secrets.identities.as_ref(),
            mesh.pki.algorithm,
            mesh.pki.validity,
            now,
        )
        .map_err(|e| (EXIT_INPUT, e.to_string()))?;
    match target {
        Some(stage) => println!(
            "Root rotation: stage `{}` recorded in {}. Render, review and sync it to every cluster; then check that {}.",
            stage.name(),
            secrets.pki_dir.path().display(),
            stage.verify_before_next()
        ),
        None => println!(
            "Root rotation complete: the new root and intermediates replace the old ones (kept in {}). Render again: cacerts stay as they are; istiod drops ISTIO_MULTIROOT_MESH.",
            secrets.pki_dir.path().join("retired").display()
        ),
    }
    Ok(())
}
