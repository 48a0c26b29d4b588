//! The command line: parses arguments, runs the pipeline (config -> model -> render -> output)
//! and reports to the user; the only module that prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use std::collections::BTreeMap;

use crate::config::{self, ContextName, Mesh, NetworkName, Origin, Workload};
use crate::kubeconfig::Kubeconfig;
use crate::model::Model;
use crate::output::{self, Summary};
use crate::render;
use crate::render::init::ImportedCluster;

/// Renders a multi-primary, multi-network Istio mesh into per-cluster kustomize directories
/// for Argo CD or Flux, without touching any cluster.
#[derive(Debug, Parser)]
#[command(name = "mesh-render", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub render: RenderArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a mesh description to start from: the built-in example, or one imported from
    /// kubeconfig files.
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Output directory (created if missing). Only files mesh-render wrote are ever replaced
    /// or removed.
    #[arg(default_value = "out")]
    pub out: PathBuf,

    /// Mesh description to render. Default: ./mesh.yaml, or the built-in example mesh when
    /// there is none.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the mesh description.
    #[arg(long, short, value_name = "FILE", default_value = config::DEFAULT_FILE)]
    pub output: PathBuf,

    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,

    /// Import the clusters from kubeconfig files instead of writing the example: every
    /// context, in `kubectl config get-contexts` order. Without FILEs: $KUBECONFIG, else
    /// ~/.kube/config.
    #[arg(long, value_name = "FILE", num_args = 0..)]
    pub from_kubeconfig: Option<Vec<PathBuf>>,
}

/// Exit code of bad input (mesh description, arguments).
pub const EXIT_INPUT: u8 = 2;
/// Exit code of a failure to write the output.
pub const EXIT_OUTPUT: u8 = 1;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: &Cli) -> Result<(), (u8, String)> {
    match &cli.command {
        Some(Command::Init(args)) => init(args),
        None => render_command(&cli.render),
    }
}

fn render_command(cli: &RenderArgs) -> Result<(), (u8, String)> {
    let (mesh, origin) = load(cli.config.as_deref()).map_err(|e| (EXIT_INPUT, e.to_string()))?;
    let model = Model::from_mesh(&mesh);
    let tree = render::render(&model).map_err(|e| (EXIT_OUTPUT, e.to_string()))?;
    let summary = output::write(&cli.out, &tree).map_err(|e| (EXIT_OUTPUT, e.to_string()))?;
    if !cli.quiet {
        print!("{}", report(&mesh, &model, &origin, &cli.out, &summary));
    }
    Ok(())
}

/// `--config FILE`, else ./mesh.yaml, else the built-in example.
fn load(config: Option<&Path>) -> Result<(Mesh, Origin), config::ConfigError> {
    if let Some(path) = config {
        return Ok((config::load(path)?, Origin::File(path.to_owned())));
    }
    let default = Path::new(config::DEFAULT_FILE);
    if default.exists() {
        return Ok((config::load(default)?, Origin::File(default.to_owned())));
    }
    Ok((config::example()?, Origin::BuiltinExample))
}

/// The short summary printed after a render.
pub fn report(mesh: &Mesh, model: &Model, origin: &Origin, out: &Path, s: &Summary) -> String {
    let names: Vec<&str> = mesh.clusters.iter().map(|c| c.name.as_str()).collect();
    let mut text = format!(
        "Rendered mesh {} ({} clusters: {}) from {origin} into {}\n  {} written, {} unchanged, {} removed\n",
        mesh.mesh_id,
        names.len(),
        names.join(", "),
        out.display(),
        s.written.len(),
        s.unchanged,
        s.removed.len(),
    );
    for path in &s.kept_edited {
        text.push_str(&format!(
            "  warning: kept {path}: no longer rendered, but edited since mesh-render wrote it; delete it if it is not yours\n"
        ));
    }
    for warning in &model.warnings {
        text.push_str(&format!("  warning: {warning}\n"));
    }
    if *origin == Origin::BuiltinExample {
        text.push_str("  note: no ./mesh.yaml here, so this is the built-in example mesh; write your own mesh.yaml or pass --config FILE\n");
    }
    text.push_str(&format!(
        "Next: review the change (git diff {0}), then follow {0}/README.md to install each cluster.\n",
        out.display().to_string().trim_end_matches('/')
    ));
    text
}

/// `mesh-render init`: writes the example, or a description imported from kubeconfigs, after
/// checking that it is itself a valid mesh description.
fn init(args: &InitArgs) -> Result<(), (u8, String)> {
    if args.output.exists() && !args.force {
        return Err((
            EXIT_INPUT,
            format!(
                "{} already exists\n  fix: pass --force to overwrite it, or --output FILE to write elsewhere",
                args.output.display()
            ),
        ));
    }
    let (text, notes) = match &args.from_kubeconfig {
        None => (config::EXAMPLE_YAML.to_owned(), Vec::new()),
        Some(files) => import_kubeconfig(files).map_err(|e| (EXIT_INPUT, e))?,
    };
    let origin = Origin::File(args.output.clone());
    config::parse(&text, &origin).map_err(|e| {
        (
            EXIT_OUTPUT,
            format!("mesh-render generated an invalid mesh description (a bug): {e}"),
        )
    })?;
    output::write_file(&args.output, text.as_bytes()).map_err(|e| (EXIT_OUTPUT, e.to_string()))?;
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
fn import_kubeconfig(files: &[PathBuf]) -> Result<(String, Vec<String>), String> {
    let kubeconfig = if !files.is_empty() {
        Kubeconfig::load(files)
    } else {
        match std::env::var_os("KUBECONFIG") {
            Some(value) if !value.is_empty() => Kubeconfig::load_env(&value),
            _ => {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_default();
                Kubeconfig::load(&[home.join(".kube").join("config")])
            }
        }
    }
    .map_err(|e| e.to_string())?;

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
        let name = view
            .cluster
            .mesh_cluster_name()
            .map_err(|e| e.to_string())?;
        let context = ContextName::parse(&view.context.name).map_err(|e| e.problem)?;
        let network =
            NetworkName::parse(&format!("network{}", imported.len() + 1)).map_err(|e| e.problem)?;
        imported.push(ImportedCluster {
            name,
            network,
            context,
            kubeconfig_cluster: cluster.to_owned(),
            server: view.cluster.server.clone(),
            workloads: Vec::new(),
        });
    }
    if imported.is_empty() {
        let files: Vec<String> = kubeconfig
            .files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(format!(
            "no contexts found in {}\n  fix: pass the kubeconfig files of the mesh's clusters, e.g. --from-kubeconfig ~/.kube/a ~/.kube/b",
            if files.is_empty() {
                "any kubeconfig file".to_owned()
            } else {
                files.join(", ")
            }
        ));
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
    let text = render::init::mesh_description(&sources, &imported).map_err(|e| e.to_string())?;
    Ok((text, notes))
}
