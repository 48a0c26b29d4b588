//! The command line's own errors: arguments that do not fit the mesh, and what a command refuses.

use std::path::PathBuf;

use super::exit::{Classify, ExitKind};
use crate::config::{ClusterName, MeshId, Origin};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(
        "--target needs the Git repository the tree is committed to\n  fix: {}",
        match .origin {
            Origin::BuiltinExample => "the built-in example names none: write a mesh.yaml first (`mesh-render init`), then add `gitops: {repository: {url: <git URL>, branch: main, path: out}}` to it".to_owned(),
            origin => format!("add `gitops: {{repository: {{url: <git URL>, branch: main, path: out}}}}` to {origin}"),
        }
    )]
    TargetNeedsRepository { origin: Origin },
    #[error(
        "--strict: {} remote secrets are pending ({})\n  fix: give each of those clusters a credential source (clusters[].credentials), or render without --strict",
        .pending.len(),
        .pending.iter().map(|(s, t)| format!("{s} for {t}")).collect::<Vec<_>>().join(", ")
    )]
    StrictPending {
        pending: Vec<(ClusterName, ClusterName)>,
    },
    #[error(
        "there is no mesh.yaml to record the recipients in\n  fix: run `mesh-render init` first (or pass --config FILE)"
    )]
    KeysNeedFile,
    #[error("--cluster: {problem}")]
    BadCluster { problem: String },
    #[error("--cluster: {cluster} is not a cluster of mesh {mesh}")]
    UnknownCluster { cluster: ClusterName, mesh: MeshId },
    #[error(
        "{} already exists\n  fix: pass --force to overwrite it, or --output FILE to write elsewhere",
        .0.display()
    )]
    InitExists(PathBuf),
    #[error("mesh-render generated an invalid mesh description (a bug): {0}")]
    GeneratedInvalid(String),
    #[error("{0}")]
    NoContexts(String),
    #[error("could not edit the mesh description: {0}")]
    Edit(String),
    #[error(
        "--verify-secrets: no admin identity is at hand to decrypt the sealed files with\n  fix: point SOPS_AGE_KEY_FILE at an admin's identity (one of secrets.admins), or drop --verify-secrets"
    )]
    VerifyNeedsAdmin,
    #[error(
        "--schemas: {0}\n  fix: pass a directory of JSON Schemas (layout {{group}}/{{kind}}_{{version}}.json) or a kubeconform path template"
    )]
    Schemas(String),
    #[error("cannot start worker threads: {0}")]
    Threads(String),
    #[error(
        "`{name}` is not a directory yet, and looks like the subcommand `{subcommand}`\n  fix: did you mean `mesh-render {subcommand}`? To render into a directory of that name, write ./{name}"
    )]
    LooksLikeSubcommand { name: String, subcommand: String },
    #[error(
        "kubeconfig clusters {first:?} ({first_file}) and {second:?} ({second_file}) would both be mesh cluster \"{name}\"\n  fix: give one of them another name in its kubeconfig (its `name:` under `clusters:` and the `cluster:` of its contexts), or import the files in two meshes"
    )]
    ImportCollision {
        name: ClusterName,
        first: String,
        first_file: String,
        second: String,
        second_file: String,
    },
    #[error(
        "{out} is wired for {recorded} (its render record says so), and this render is for {now}: it would {what}\n  fix: pass --target {recorded} to keep the wiring; to change it on purpose, pass --target {now} (or set gitops.target in the mesh description)",
        out = .out.display(),
        what = if *.files > 0 { format!("remove its {} {} files", .files, .recorded) } else { "change the wiring".to_owned() }
    )]
    WiringChanged {
        out: PathBuf,
        recorded: String,
        now: String,
        files: usize,
    },
    #[error("upgrade: {refusal}\n  fix: {}", .refusal.fix())]
    Upgrade { refusal: crate::upgrade::Refusal },
    #[error(
        "upgrade: --to {text:?} is not an Istio release version (MAJOR.MINOR.PATCH)\n  fix: name a release, e.g. --to {}",
        crate::releases::newest_supported()
    )]
    UpgradeVersion { text: String },
    #[error(
        "upgrade: a root rotation is in progress (stage {stage}); an upgrade and a rotation never run at once\n  fix: finish the rotation first (`mesh-render pki rotate-root --stage done`), then start the upgrade"
    )]
    UpgradeDuringRotation { stage: &'static str },
    #[error(
        "pki rotate-root: an Istio upgrade to {to} is in progress (stage {stage}); a rotation and an upgrade never run at once\n  fix: finish the upgrade first (`mesh-render upgrade --stage remove-old`), then rotate the root"
    )]
    RotationDuringUpgrade { to: String, stage: &'static str },
    #[error(
        "upgrade: there is no mesh.yaml to record the upgrade in\n  fix: run `mesh-render init` first (or pass --config FILE)"
    )]
    UpgradeNeedsFile,
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] std::io::Error),
}

impl Classify for CommandError {
    fn exit_kind(&self) -> ExitKind {
        match self {
            CommandError::StrictPending { .. } => ExitKind::Findings,
            CommandError::GeneratedInvalid(_)
            | CommandError::Edit(_)
            | CommandError::Threads(_)
            | CommandError::Stdout(_) => ExitKind::Output,
            CommandError::TargetNeedsRepository { .. }
            | CommandError::KeysNeedFile
            | CommandError::BadCluster { .. }
            | CommandError::UnknownCluster { .. }
            | CommandError::InitExists(_)
            | CommandError::NoContexts(_)
            | CommandError::VerifyNeedsAdmin
            | CommandError::LooksLikeSubcommand { .. }
            | CommandError::ImportCollision { .. }
            | CommandError::WiringChanged { .. }
            | CommandError::Upgrade { .. }
            | CommandError::UpgradeVersion { .. }
            | CommandError::UpgradeDuringRotation { .. }
            | CommandError::RotationDuringUpgrade { .. }
            | CommandError::UpgradeNeedsFile
            | CommandError::Schemas(_) => ExitKind::Input,
        }
    }
}
