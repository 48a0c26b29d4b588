//! The command line's arguments, as clap parses them: every command, flag and default.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config;

/// `--version`: the package version and the commit it was built from (`build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MESH_RENDER_COMMIT"),
    ")"
);

/// Renders a multi-primary, multi-network Istio mesh into per-cluster kustomize directories
/// for Argo CD or Flux, without touching any cluster.
#[derive(Debug, Parser)]
#[command(name = "mesh-render", version = VERSION, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub render: RenderArgs,

    /// How long to wait for another mesh-render run that holds the mesh's or the tree's lock
    /// (0: fail at once).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 60)]
    pub wait: u64,
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
    Check(CheckArgs),
    /// Show what a render would change in the tree, writing nothing; encrypted files show as
    /// changed or unchanged only. Exit 0 (with --exit-code: 1 if a render would change files),
    /// 2 bad input.
    Diff(DiffArgs),
    /// Print the objects a render applies as one YAML stream, each after `# Source: <path>`
    /// (as `helm template`): every kustomization's build and the Flux or Argo CD objects; a
    /// sealed Secret, a remote resource or a patch is a comment naming its file. Writes
    /// nothing; for kubeconform or conftest.
    Template(TemplateArgs),
    /// Move the Istio control plane to a newer release canary-style, one stage at a time
    /// (install-new, move-default, move-gateways, remove-old), each rendered, synced and checked
    /// on every cluster before the next; recorded in mesh.yaml as istio.upgrade. See
    /// out/README.md, "Istio upgrade".
    Upgrade(UpgradeArgs),
    /// Manage the mesh CA.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Print a shell completion script: `source <(mesh-render completion bash)`, or write it
    /// where the shell loads completions (zsh: a `_mesh-render` file on $fpath; fish:
    /// ~/.config/fish/completions/mesh-render.fish; PowerShell: add it to $PROFILE).
    Completion {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
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

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The release to upgrade to, e.g. 1.30.3 (needed to start; later stages know it).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// The stage to move to.
    #[arg(long, value_enum)]
    pub stage: UpgradeStage,
    /// For move-default and move-gateways: the clusters to move now, comma-separated (default:
    /// every cluster). Given again with others, the stage reaches more clusters.
    #[arg(long, value_delimiter = ',', value_name = "CLUSTER")]
    pub clusters: Vec<String>,
    /// Mesh description to update. Default: ./mesh.yaml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UpgradeStage {
    InstallNew,
    MoveDefault,
    MoveGateways,
    RemoveOld,
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

    /// The output directory, named by a flag instead (as helm's --output-dir).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub output_dir: Option<PathBuf>,

    /// Mesh description to render. Default: ./mesh.yaml, or the built-in example mesh when
    /// there is none.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,

    /// Also print advice about the mesh's shape (the gateway topology, an Argo CD hub, private
    /// API servers), which a render otherwise shows only when it creates the tree.
    #[arg(long, short)]
    pub verbose: bool,

    /// Wire the tree for this GitOps tool (overrides gitops.target in the mesh description). A
    /// tree wired for another target keeps its wiring unless this says otherwise or mesh.yaml's
    /// gitops.target changed since.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The rendered tree to check.
    #[arg(default_value = "out")]
    pub out: PathBuf,

    /// Where JSON Schemas are looked up, in order: a directory laid out
    /// `{group}/{kind}_{version}.json`, or a kubeconform-style path template
    /// (`{{ .Group }}`, `{{ .ResourceKind }}`, `{{ .ResourceAPIVersion }}`, …). Repeatable;
    /// comma-separated in MESH_RENDER_SCHEMAS. Without any, schema validation is skipped.
    #[arg(
        long,
        value_name = "DIR|TEMPLATE",
        env = "MESH_RENDER_SCHEMAS",
        value_delimiter = ','
    )]
    pub schemas: Vec<String>,

    /// Re-render this mesh description in memory and report every file of the tree that differs
    /// (drift); its description also checks sample placement and remote secret servers.
    #[arg(long, value_name = "FILE")]
    pub against: Option<PathBuf>,

    /// The mesh description whose identities (its local admin identity, mesh.yaml's key
    /// sources) and pki/ are used, as a render finds them. Default: ./mesh.yaml, or the built-in
    /// example. It does not compare the tree with a render: that is --against FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "against")]
    pub config: Option<PathBuf>,

    /// The GitOps target to compare with. Default: the one the tree's render record names
    /// (while mesh.yaml's gitops.target is as it was then), else mesh.yaml's.
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,

    /// Pending remote secrets are errors.
    #[arg(long)]
    pub strict: bool,

    /// With --against: prove every sealed file by decrypting it and comparing it with what the
    /// render would seal, and fail if no admin identity is at hand (default: prove when one is).
    #[arg(long, requires = "against", conflicts_with = "no_verify_secrets")]
    pub verify_secrets: bool,

    /// With --against: check sealed files against the render record only.
    #[arg(long, requires = "against")]
    pub no_verify_secrets: bool,

    /// The report's format (`-o`, as kubectl and helm name the output format).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// Mesh description to render. Default: ./mesh.yaml, or the built-in example mesh.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Wire the tree for this GitOps tool (overrides gitops.target in the mesh description).
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The rendered tree to compare with.
    #[arg(default_value = "out")]
    pub out: PathBuf,

    /// Mesh description to render. Default: ./mesh.yaml, or the built-in example mesh.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The GitOps target to compare with. Default: the one the tree's render record names
    /// (while mesh.yaml's gitops.target is as it was then), else mesh.yaml's.
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,

    /// The report's format (`-o`, as kubectl and helm name the output format).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub format: Format,

    /// Exit 1 when a render would change files (as `git diff --exit-code` does).
    #[arg(long)]
    pub exit_code: bool,
}

impl Cli {
    /// The arguments with their aliases resolved: `--output-dir DIR` is the output directory.
    pub fn resolved(mut self) -> Self {
        if let Some(dir) = self.render.output_dir.take() {
            self.render.out = dir;
        }
        self
    }
}
