//! `mesh-render init`: writes a mesh description to start from, the commented example or one
//! imported offline from kubeconfig files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::args::InitArgs;
use super::exit::Failure;
use super::failure::CommandError;
use super::locks;
use crate::config::{self, ClusterName, ContextName, NetworkName, Origin, Workload};
use crate::disk::{self, LockMode, Mode};
use crate::env::Env;
use crate::kubeconfig::Kubeconfig;
use crate::render;
use crate::render::init::ImportedCluster;

/// `mesh-render init`: writes the example, or a description imported from kubeconfigs, after
/// checking that it is itself a valid mesh description.
pub(super) fn init(args: &InitArgs, env: &Env, wait: Duration) -> Result<(), Failure> {
    let dir = args
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    disk::create_dir_all(dir, Mode::Public)?;
    let _held = locks::hold(&[(dir, LockMode::Exclusive)], wait)?;
    if args.output.exists() && !args.force {
        return Err(CommandError::InitExists(args.output.clone()).into());
    }
    let (text, notes) = match &args.from_kubeconfig {
        None => (render::init::new_mesh_example(), Vec::new()),
        Some(files) => import_kubeconfig(files, env)?,
    };
    let origin = Origin::File(args.output.clone());
    config::parse(&text, &origin).map_err(|e| CommandError::GeneratedInvalid(e.to_string()))?;
    disk::write_atomic(&args.output, text.as_bytes(), Mode::Public)?;
    for note in notes {
        eprintln!("note: {note}");
    }
    println!(
        "Wrote {}. Edit it, then render with: mesh-render --config {} out/",
        args.output.display(),
        args.output.display()
    );
    Ok(())
}

/// The mesh description for every context of the kubeconfig files (or `KUBECONFIG`, or
/// ~/.kube/config), with notes about what was skipped.
fn import_kubeconfig(files: &[PathBuf], env: &Env) -> Result<(String, Vec<String>), Failure> {
    let kubeconfig = if !files.is_empty() {
        Kubeconfig::load_streams(files)
    } else {
        match env.get("KUBECONFIG") {
            Some(value) => Kubeconfig::load_env(value),
            None => {
                let home = env.home().unwrap_or_default();
                Kubeconfig::load_streams(&[home.join(".kube").join("config")])
            }
        }
    }?;

    let mut notes: Vec<String> = kubeconfig
        .missing()
        .iter()
        .map(|p| {
            format!(
                "skipped {}: listed in KUBECONFIG but does not exist",
                p.display()
            )
        })
        .collect();
    let contexts = kubeconfig.contexts();
    let mut imported: Vec<ImportedCluster> = Vec::new();
    let mut first_context: BTreeMap<&str, &str> = BTreeMap::new();
    // A mesh cluster name, and the kubeconfig cluster (and file) it was given to first.
    let mut first_name: BTreeMap<ClusterName, (&str, String)> = BTreeMap::new();
    for view in &contexts {
        let cluster = view.cluster.name.as_str();
        if let Some(first) = first_context.get(cluster) {
            notes.push(format!(
                "skipped context {:?}: it reaches cluster {cluster:?}, already imported through context {first:?}",
                view.context.name
            ));
            continue;
        }
        first_context.insert(cluster, &view.context.name);
        let imported_name = view.cluster.imported_name()?;
        let file = view.cluster.source.display().to_string();
        if let Some((first, first_file)) = first_name.get(&imported_name.name) {
            return Err(CommandError::ImportCollision {
                name: imported_name.name,
                first: (*first).to_owned(),
                first_file: first_file.clone(),
                second: cluster.to_owned(),
                second_file: file,
            }
            .into());
        }
        first_name.insert(imported_name.name.clone(), (cluster, file));
        let name = imported_name.name;
        let context = ContextName::parse(&view.context.name)
            .map_err(|e| CommandError::NoContexts(e.problem))?;
        let network = NetworkName::parse(&format!("network{}", imported.len() + 1))
            .map_err(|e| CommandError::GeneratedInvalid(e.problem))?;
        imported.push(ImportedCluster {
            name,
            network,
            context,
            kubeconfig_cluster: cluster.to_owned(),
            derived_name: imported_name.derived,
            server: view.cluster.server.clone(),
            kubeconfig_file: view.context.source.display().to_string(),
            unusable_credential: kubeconfig
                .reader_credential(&view.context.name)
                .err()
                .map(|e| e.problem),
            workloads: Vec::new(),
        });
    }
    if imported.is_empty() {
        let files: Vec<String> = kubeconfig
            .files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(CommandError::NoContexts(format!(
            "no contexts found in {}\n  fix: pass the kubeconfig files of the mesh's clusters, e.g. --from-kubeconfig ~/.kube/a ~/.kube/b",
            if files.is_empty() {
                "any kubeconfig file".to_owned()
            } else {
                files.join(", ")
            }
        ))
        .into());
    }
    let count = imported.len();
    for (i, cluster) in imported.iter_mut().enumerate() {
        cluster.workloads = Workload::default_placement(i, count);
    }
    let sources: Vec<String> = kubeconfig
        .files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let text = render::init::mesh_description(&sources, &imported)?;
    Ok((text, notes))
}
