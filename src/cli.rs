//! The command line: parses arguments, runs the pipeline (config -> model -> render -> output)
//! and reports to the user; the only module that prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use crate::config::{self, Mesh, Origin};
use crate::model::Model;
use crate::output::{self, Summary};
use crate::render;

/// Renders a multi-primary, multi-network Istio mesh into per-cluster kustomize directories
/// for Argo CD or Flux, without touching any cluster.
#[derive(Debug, Parser)]
#[command(name = "mesh-render", version, about, long_about = None)]
pub struct Cli {
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
