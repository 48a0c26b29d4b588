//! The command line: parses arguments, runs the pipeline (config -> model -> render -> output)
//! and reports to the user; the only module that prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod check;
mod init;
mod keys;
mod progress;
mod secrets;

use crate::config::{self, Mesh, Origin};
use crate::model::{Model, SecretInputs};
use crate::output::{self, Summary};
use crate::render;

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
    /// Create each cluster's GitOps age identity (kept on this machine) and record its recipient
    /// in mesh.yaml, so each cluster can decrypt its own secrets and no other's.
    Keys {
        /// Mesh description to update. Default: ./mesh.yaml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Check a rendered tree offline: schemas, mesh invariants, secrets, structure, and with
    /// --against the drift from a fresh render. Exit 0 clean, 1 problems found, 2 bad input.
    Check(check::CheckArgs),
    /// Show what a render would change in the tree, writing nothing; encrypted files show as
    /// changed or unchanged only. Exit 0 no change, 1 changes, 2 bad input.
    Diff(check::DiffArgs),
    /// Manage the mesh CA.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Re-issue a cluster's intermediate CA under the current root (needs an admin identity).
    Renew {
        /// The cluster whose intermediate to re-issue.
        #[arg(long)]
        cluster: String,
        /// Mesh description. Default: ./mesh.yaml, or the built-in example.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Rotate the mesh's root CA in stages (prepare, trust-both, switch, finish, done), each
    /// rendered, synced and verified everywhere before the next; see out/README.md.
    RotateRoot {
        /// The stage to move to.
        #[arg(long, value_enum)]
        stage: RotateStage,
        /// Mesh description. Default: ./mesh.yaml, or the built-in example.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArg {
    None,
    Flux,
    Argocd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RotateStage {
    Prepare,
    TrustBoth,
    Switch,
    Finish,
    Done,
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

    /// Wire the tree for this GitOps tool (overrides gitops.target in the mesh description).
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,

    /// Fail (exit 1, nothing written) while any remote secret is pending: for CI.
    #[arg(long)]
    pub strict: bool,

    /// Seal every remote secret again from its credentials, even if nothing recorded changed:
    /// after rotating a reader token kept in a plain file.
    #[arg(long)]
    pub refresh_credentials: bool,

    /// Threads that render, compare, encrypt and write files (default: one per core; or
    /// RAYON_NUM_THREADS). The output is the same whatever the number.
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(usize))]
    pub jobs: Option<usize>,
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
        Ok(code) => ExitCode::from(code),
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: &Cli) -> Result<u8, (u8, String)> {
    let done = |r: Result<(), (u8, String)>| r.map(|()| 0);
    match &cli.command {
        Some(Command::Check(args)) => check::check(args),
        Some(Command::Diff(args)) => check::diff(args),
        Some(Command::Init(args)) => done(init::init(args)),
        Some(Command::Keys { config }) => done(keys::keys(config.as_deref())),
        Some(Command::Pki {
            command: PkiCommand::Renew { cluster, config },
        }) => done(keys::renew(config.as_deref(), cluster)),
        Some(Command::Pki {
            command: PkiCommand::RotateRoot { stage, config },
        }) => done(keys::rotate_root(config.as_deref(), *stage)),
        None => done(render_command(&cli.render)),
    }
}

/// Now, to the second: sops's `lastmodified` and certificate validity carry no finer time.
pub(super) fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn render_command(cli: &RenderArgs) -> Result<(), (u8, String)> {
    let (mut mesh, origin) =
        load(cli.config.as_deref()).map_err(|e| (EXIT_INPUT, e.to_string()))?;
    if let Some(target) = cli.target {
        mesh.gitops.target = match target {
            TargetArg::None => config::GitOpsTarget::None,
            TargetArg::Flux => config::GitOpsTarget::Flux,
            TargetArg::Argocd => config::GitOpsTarget::Argocd,
        };
        if target != TargetArg::None && mesh.gitops.repository_url.is_empty() {
            return Err((
                EXIT_INPUT,
                format!(
                    "--target needs the Git repository the tree is committed to\n  fix: add `gitops: {{repository: {{url: <git URL>, branch: main, path: out}}}}` to {origin}"
                ),
            ));
        }
    }
    let now = now();
    let pending = crate::model::pending_remote_secrets(&mesh);
    if cli.strict && !pending.is_empty() {
        let pairs: Vec<String> = pending
            .iter()
            .map(|(s, t)| format!("{s} for {t}"))
            .collect();
        return Err((
            EXIT_OUTPUT,
            format!(
                "--strict: {} remote secrets are pending ({})\n  fix: give each of those clusters a credential source (clusters[].credentials), or render without --strict",
                pending.len(),
                pairs.join(", ")
            ),
        ));
    }
    let mut secrets = secrets::prepare(&mesh, &origin, now).map_err(|e| (EXIT_INPUT, e))?;
    secrets.refresh_credentials = cli.refresh_credentials;
    let inputs = SecretInputs {
        admins: secrets.admin_recipients(),
        pki: Some(&secrets.pki),
        now,
        credential_digests: secrets.credential_digests.clone(),
        refresh_credentials: cli.refresh_credentials,
    };
    // --jobs bounds the threads of the render and of the write alike.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cli.jobs.unwrap_or(0))
        .build()
        .map_err(|e| (EXIT_OUTPUT, format!("cannot start worker threads: {e}")))?;
    let model = Model::from_mesh(&mesh, &inputs);
    let tree = pool
        .install(|| render::render(&model))
        .map_err(|e| (EXIT_OUTPUT, e.to_string()))?;
    let sealer = secrets.sealer(now);
    let bar = progress::Bar::new(cli.quiet);
    let summary = pool
        .install(|| output::write(&cli.out, &tree, &sealer, &bar))
        .map_err(|e| (EXIT_OUTPUT, e.to_string()))?;
    if !cli.quiet {
        for note in &secrets.notes {
            println!("note: {note}");
        }
        for warning in &sealer.take_notes() {
            println!("warning: {warning}");
        }
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
        crate::model::short_list(&names),
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
