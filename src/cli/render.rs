//! `mesh-render [OUT]`: the pipeline wired end to end — load the description, resolve its secret
//! inputs, issue what the PKI lacks, plan the sealed files, build the model, render, write — and
//! the summary a user reads after it.

use std::path::Path;
use std::time::Duration;

use super::args::{RenderArgs, TargetArg};
use super::edge;
use super::exit::Failure;
use super::failure::CommandError;
use super::locks;
use super::progress;

use crate::config::{self, Mesh, Origin};
use crate::disk::{self, LockMode};
use crate::env::Env;
use crate::model::{self, Model, WarningKind};
use crate::output::{self, Summary};
use crate::pki::store::{Change, PkiDir};
use crate::record::GitOpsState;
use crate::render;
use crate::seal::{self, Created, MeshSealer, Mode};
use crate::vocabulary;

/// Applies `--target` to the description; a GitOps target needs the repository.
pub(super) fn apply_target(
    mesh: &mut Mesh,
    origin: &Origin,
    target: Option<TargetArg>,
) -> Result<(), CommandError> {
    let Some(target) = target else {
        return Ok(());
    };
    mesh.gitops.target = match target {
        TargetArg::None => config::GitOpsTarget::None,
        TargetArg::Flux => config::GitOpsTarget::Flux,
        TargetArg::Argocd => config::GitOpsTarget::Argocd,
    };
    if target != TargetArg::None && mesh.gitops.repository_url.is_none() {
        return Err(CommandError::TargetNeedsRepository {
            origin: origin.clone(),
        });
    }
    Ok(())
}

/// The GitOps wiring a render of `mesh` records: its target (after `--target`), mesh.yaml's
/// own, and the repository path the wiring points at.
pub(super) fn wiring(mesh: &Mesh, declared: config::GitOpsTarget) -> GitOpsState {
    let target = mesh.gitops.target;
    GitOpsState {
        target: target.name().to_owned(),
        declared: declared.name().to_owned(),
        path: (target != config::GitOpsTarget::None).then(|| mesh.gitops.path.clone()),
    }
}

/// Refuses a render that would silently change the tree's GitOps wiring: one for another target
/// than the tree records, with no `--target` and mesh.yaml's `gitops.target` as it was then (a
/// forgotten `--target` would otherwise remove every Flux or Argo CD file).
fn keep_wiring(
    out: &Path,
    tree: &output::Recorded,
    given: bool,
    now: &GitOpsState,
) -> Result<(), Failure> {
    let Some((recorded, files)) = tree.gitops() else {
        return Ok(());
    };
    if given || recorded.target == now.target || recorded.declared != now.declared {
        return Ok(());
    }
    Err(CommandError::WiringChanged {
        out: out.to_owned(),
        recorded: recorded.target,
        now: now.target.clone(),
        files,
    }
    .into())
}

/// The `--target` a command that reads a tree uses: the one given, else the one the tree
/// records while mesh.yaml's `gitops.target` is as it was then (so `check` and `diff` compare
/// with the wiring the tree has, by the rule a render keeps it by).
pub(super) fn recorded_target(
    tree: &output::Recorded,
    given: Option<TargetArg>,
    mesh: &Mesh,
) -> Option<TargetArg> {
    if given.is_some() {
        return given;
    }
    let recorded = tree
        .gitops()
        .filter(|(state, _)| state.declared == mesh.gitops.target.name());
    recorded.and_then(|(state, _)| match state.target.as_str() {
        "flux" => Some(TargetArg::Flux),
        "argocd" => Some(TargetArg::Argocd),
        "none" => Some(TargetArg::None),
        _ => None,
    })
}

/// Refuses an output directory that is a subcommand mistyped (`mesh-render chek`): a bare name,
/// not there yet, one edit from a subcommand of four letters, two from one of five or more.
/// Shorter subcommands are too close to ordinary names (`pkg`, `api`) to guess at.
fn refuse_typo(out: &Path) -> Result<(), CommandError> {
    let Some(name) = out.to_str().filter(|n| !n.contains('/')) else {
        return Ok(());
    };
    if out.exists() {
        return Ok(());
    }
    let command = <super::args::Cli as clap::CommandFactory>::command();
    let near = command.get_subcommands().map(|c| c.get_name()).find(|sub| {
        let allowed = match sub.len() {
            0..=3 => 0,
            4 => 1,
            _ => 2,
        };
        let distance = strsim::osa_distance(name, sub);
        distance > 0 && distance <= allowed
    });
    match near {
        Some(sub) => Err(CommandError::LooksLikeSubcommand {
            name: name.to_owned(),
            subcommand: sub.to_owned(),
        }),
        None => Ok(()),
    }
}

pub(super) fn render(cli: &RenderArgs, env: &Env, wait: Duration) -> Result<(), Failure> {
    refuse_typo(&cli.out)?;
    let (mut mesh, origin) = edge::load(cli.config.as_deref())?;
    let declared = mesh.gitops.target;
    apply_target(&mut mesh, &origin, cli.target)?;
    let pending = model::pending_remote_secrets(&mesh);
    if cli.strict && !pending.is_empty() {
        return Err(CommandError::StrictPending { pending }.into());
    }
    // One writer at a time, of the mesh and of the tree: the output directory is made to be
    // locked, and taken away again if the render does not get to write it.
    if cli.out.exists() && !cli.out.is_dir() {
        return Err(output::OutputError::NotADirectory(cli.out.clone()).into());
    }
    let mesh_dir = locks::mesh_dir(&origin, &mesh, env)?;
    let made_out = !cli.out.exists();
    if made_out {
        disk::create_dir_all(&cli.out, disk::Mode::Public)?;
    }
    let result = locks::hold(
        &[
            (&mesh_dir, LockMode::Exclusive),
            (&cli.out, LockMode::Exclusive),
        ],
        wait,
    )
    .and_then(|_held| render_locked(cli, env, &mesh, &origin, declared));
    if result.is_err() && made_out {
        disk::remove_dir_if_empty(&cli.out);
    }
    result
}

/// The render, under the locks.
fn render_locked(
    cli: &RenderArgs,
    env: &Env,
    mesh: &Mesh,
    origin: &Origin,
    declared: config::GitOpsTarget,
) -> Result<(), Failure> {
    let now = edge::now();
    let gitops = wiring(mesh, declared);
    // The tree's record and journal, read once under its lock: nothing below changes them
    // before the write (resolving completes pki/'s journal, the sweep takes temporary files).
    let recorded = output::recorded(&cli.out)?;
    keep_wiring(&cli.out, &recorded, cli.target.is_some(), &gitops)?;
    // Resolving completes an interrupted PKI change (whose staged files are temporary files)
    // before any temporary file is swept.
    let mut resolved = seal::resolve(mesh, origin, env, Mode::Render)?;
    let swept = disk::sweep_temporaries(&cli.out)?;
    let sealed_cacerts = recorded.lists_sealed(&vocabulary::cacerts_file());
    let changes = resolved.issue(mesh, sealed_cacerts, now)?;
    let plans = seal::plans(mesh, &resolved.public_inputs(cli.refresh_credentials, now));
    // --jobs bounds the threads of the render and of the write alike.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cli.jobs.unwrap_or(0))
        .build()
        .map_err(|e| CommandError::Threads(e.to_string()))?;
    let model = Model::from_mesh(mesh, &plans);
    let tree = pool.install(|| render::render(&model))?;
    let sealer = MeshSealer::new(&resolved, now);
    let bar = progress::Bar::new(cli.quiet);
    let trust = resolved.trust(mesh);
    let summary = pool.install(|| {
        output::write_recorded(
            &cli.out,
            recorded,
            &tree,
            &trust,
            Some(&gitops),
            &sealer,
            &bar,
        )
    })?;
    // The root this render issued is pinned in mesh.yaml: a replaced pki/ is then caught keylessly.
    let pinned = match changes.contains(&Change::IssuedRoot) {
        true => pin_root(origin, &resolved)?,
        false => None,
    };
    // What changed in who can decrypt what, and in what every istiod trusts: first, on its own
    // lines, even with --quiet.
    for change in &summary.trust_changes {
        println!("security: {change}");
    }
    if !cli.quiet {
        if let Some(path) = &pinned {
            println!(
                "note: recorded the root's fingerprint in {} (pki.rootFingerprint): commit it with pki/; every render and check then proves the root is this one",
                path.display()
            );
        }
        if swept > 0 {
            println!("note: removed {swept} temporary files an interrupted run left");
        }
        for created in &resolved.created {
            println!("note: {}", describe_created(created));
        }
        for line in describe_changes(&changes, &resolved.pki_dir) {
            println!("note: {line}");
        }
        for warning in &sealer.take_notes() {
            println!("warning: {warning}");
        }
        // It asks for something to be done: it repeats on every render.
        if let Some((problem, fix)) = super::worktree::misplaced(&cli.out, mesh) {
            println!("warning: {problem}\n  fix: {fix}");
        }
        let shape = cli.verbose || summary.created;
        print!(
            "{}",
            report(mesh, &model, origin, &cli.out, &summary, shape)
        );
    }
    Ok(())
}

/// Writes the fingerprint of the resolved root into mesh.yaml as `pki.rootFingerprint` (the
/// built-in example has no file to write it to); returns the file it wrote.
pub(super) fn pin_root(
    origin: &Origin,
    resolved: &seal::Resolved,
) -> Result<Option<std::path::PathBuf>, Failure> {
    let (Origin::File(path), Some(state)) = (origin, &resolved.pki) else {
        return Ok(None);
    };
    let fingerprint = crate::pki::proof::fingerprint(&state.root)
        .map_err(|message| CommandError::Edit(format!("the root: {message}")))?;
    let text = disk::read_text(path)?;
    let edited = config::edit::set_root_fingerprint(
        &text,
        &fingerprint.to_string(),
        "the mesh's root CA (mesh-render)",
    )
    .map_err(CommandError::Edit)?;
    if edited != text {
        disk::write_atomic(path, edited.as_bytes(), disk::Mode::Public)?;
    }
    Ok(Some(path.clone()))
}

pub(super) fn describe_created(created: &Created) -> String {
    match created {
        Created::LocalAdminIdentity(path) => format!(
            "created a local admin identity at {} (mode 0600); it decrypts this mesh's PKI: back it up, or list real admins under secrets.admins",
            path.display()
        ),
        Created::ReplacedLocalAdminIdentity(path) => format!(
            "{} held no identity (an interrupted first run's?) and nothing was encrypted to it: replaced it with a new local admin identity (mode 0600); back it up",
            path.display()
        ),
        Created::CompletedPkiChange(path) => format!(
            "completed the change to {} that an interrupted command had committed",
            path.display()
        ),
        Created::SweptPkiTemporaries(n) => {
            format!("removed {n} temporary files an interrupted command left in the PKI directory")
        }
    }
}

/// What the changes to the PKI mean, for the user: intermediates issued to several clusters on
/// one line, with the clusters listed as other long lists are.
pub(super) fn describe_changes(changes: &[Change], pki_dir: &PkiDir) -> Vec<String> {
    let issued: Vec<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::IssuedIntermediate(cluster) => Some(cluster.as_str()),
            _ => None,
        })
        .collect();
    let mut lines = Vec::new();
    let mut said_issued = false;
    for change in changes {
        match change {
            Change::IssuedIntermediate(_) if issued.len() > 1 => {
                if !said_issued {
                    lines.push(format!(
                        "issued the intermediate CAs of {} clusters: {}",
                        issued.len(),
                        model::short_list(&issued)
                    ));
                    said_issued = true;
                }
            }
            change => lines.push(describe_change(change, pki_dir)),
        }
    }
    lines
}

/// What a change to the PKI means, for the user.
pub(super) fn describe_change(change: &Change, pki_dir: &PkiDir) -> String {
    match change {
        Change::IssuedRoot => {
            format!("issued the mesh's root CA in {}", pki_dir.path().display())
        }
        Change::IssuedIntermediate(c) => format!("issued the intermediate CA of {c}"),
        Change::Retired { cluster, to } => format!(
            "retired the intermediate CA of removed cluster {cluster} to {}",
            to.display()
        ),
    }
}

/// The short summary printed after a render. Advice about the mesh's shape is shown only when
/// `shape` is set (the render created the tree, or `--verbose`).
pub fn report(
    mesh: &Mesh,
    model: &Model,
    origin: &Origin,
    out: &Path,
    s: &Summary,
    shape: bool,
) -> String {
    let names: Vec<&str> = mesh.clusters.iter().map(|c| c.name.as_str()).collect();
    let mut text = format!(
        "Rendered mesh {} ({} clusters: {}) from {origin} into {}\n  {} written, {} unchanged, {} removed\n",
        mesh.mesh_id,
        names.len(),
        model::short_list(&names),
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
        if warning.kind == WarningKind::State || shape {
            text.push_str(&format!("  warning: {warning}\n"));
        }
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
