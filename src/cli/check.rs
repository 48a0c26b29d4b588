//! `mesh-render check`, `mesh-render diff` and `mesh-render template`: read a rendered tree (and
//! a render done in memory) and report; nothing is written, nothing is issued, no private key is needed. Identities are
//! found exactly as a render finds them (the local admin identity included), and the report says
//! which were used.

use std::path::Path;
use std::time::Duration;

use super::args::{CheckArgs, DiffArgs, Format, TargetArg, TemplateArgs};
use super::edge;
use super::exit::{Failure, Outcome};
use super::failure::CommandError;
use super::locks;
use super::render::{apply_target, recorded_target};
use crate::check::drift::Why;
use crate::check::{
    self, Expected, Finding, RenderedTree, Report, TreeIndex, drift, schema::SchemaCatalog,
};
use crate::config::{Mesh, Origin};
use crate::disk::LockMode;
use crate::env::Env;
use crate::facts;
use crate::model::{Model, WarningKind};
use crate::output;
use crate::pki::store::Change;
use crate::plan::SealReason;
use crate::render::tree::Scope;
use crate::render::{self, Entry, RelPath, Sealed, Tree};
use crate::seal::verify::{self, Verdict};
use crate::seal::{self, MeshSealer, Mode, Resolved};
use crate::sops::Identities;
use crate::vocabulary;
use rayon::prelude::*;

/// Shared locks on the mesh's directory (when it has one here) and on the tree, in the order
/// writers take them: what is read is what no writer is changing.
fn read_locks(
    loaded: Option<&(Mesh, Origin)>,
    out: &Path,
    env: &Env,
    wait: Duration,
) -> Result<locks::Held, Failure> {
    let mesh_dir = loaded.and_then(|(mesh, origin)| locks::existing_mesh_dir(origin, mesh, env));
    let mut dirs: Vec<(&Path, LockMode)> = Vec::new();
    if let Some(dir) = &mesh_dir {
        dirs.push((dir, LockMode::Shared));
    }
    if out.is_dir() {
        dirs.push((out, LockMode::Shared));
    }
    locks::hold(&dirs, wait)
}

pub(super) fn check(args: &CheckArgs, env: &Env, wait: Duration) -> Result<Outcome, Failure> {
    let loaded = match &args.against {
        Some(path) => Some(edge::load(Some(path))?),
        None => None,
    };
    // `--config FILE` names the description to find identities by; it must load.
    let named = match &args.config {
        Some(path) => Some(edge::load(Some(path))?),
        None => None,
    };
    let _held = read_locks(loaded.as_ref().or(named.as_ref()), &args.out, env, wait)?;
    let schemas = if args.schemas.is_empty() {
        None
    } else {
        Some(
            SchemaCatalog::open_locations(&args.schemas)
                .map_err(|e| CommandError::Schemas(e.to_string()))?,
        )
    };
    let now = edge::now();
    // With --against, what the tree records of itself, read once under its lock (and not kept:
    // a fleet's record is large): the wiring to compare with, and whether sealed cacerts are
    // recorded.
    let (against, sealed_cacerts) = match loaded {
        Some(loaded) => {
            let recorded = output::recorded(&args.out)?;
            let target = recorded_target(&recorded, args.target, &loaded.0);
            let sealed_cacerts = recorded.lists_sealed(&vocabulary::cacerts_file());
            drop(recorded);
            (Some(InMemory::render(loaded, target, env)?), sealed_cacerts)
        }
        None => (None, false),
    };
    let (own_identities, identity_notes) = match (&against, named) {
        (Some(_), _) => (None, Vec::new()),
        (None, Some((mesh, origin))) => (
            seal::resolve(&mesh, &origin, env, Mode::Inspect)?.identities,
            Vec::new(),
        ),
        (None, None) => implicit_identities(env)?,
    };
    let identities = match &against {
        Some(a) => a.resolved.identities.as_ref(),
        None => own_identities.as_ref(),
    };
    let used = identities.map(|ids| ids.sources().join(", "));
    let options = check::Options {
        schemas,
        identities,
        strict: args.strict,
        expected: against.as_ref().map(|a| Expected::from_model(&a.model)),
        expiry_warning_days: against
            .as_ref()
            .map_or(90, |a| a.mesh.pki.expiry_warning_days),
        now,
    };
    let mut report = match &against {
        Some(against) => {
            let wanted = match (args.verify_secrets, args.no_verify_secrets) {
                (true, _) => VerifySecrets::Yes,
                (_, true) => VerifySecrets::No,
                _ => VerifySecrets::Auto,
            };
            let hook = AgainstRender::new(against, wanted, now)?;
            let mut report = check::run_with(&args.out, &options, &hook)?;
            hook.finish(&mut report);
            against.add_pki_drift(sealed_cacerts, &mut report);
            report
        }
        None => check::run(&args.out, &options)?,
    };
    if let Some(used) = used {
        report.note(format!(
            "SOPS files decrypted with the identities of {used}"
        ));
    }
    for note in identity_notes {
        report.note(note);
    }
    if let Some(against) = &against {
        if let Some((problem, fix)) = super::worktree::misplaced(&args.out, &against.mesh) {
            report.push(Finding::error("structure", ".", problem, fix));
        }
        for warning in against
            .model
            .warnings
            .iter()
            .filter(|w| w.kind == WarningKind::Shape)
        {
            report.note(format!("mesh shape: {warning}"));
        }
    }
    report.sort();
    let shown = args.out.display().to_string();
    match args.format {
        Format::Text => edge::print(report.to_text(&shown).as_bytes())?,
        Format::Json => edge::print(report.to_json(&shown).as_bytes())?,
    }
    Ok(if report.errors() > 0 {
        Outcome::Found
    } else {
        Outcome::Clean
    })
}

/// The identities a render of the description in the working directory (./mesh.yaml, else the
/// built-in example) would find, for a `check` without `--against`. A description that does not
/// load is no reason to fail a check: the environment's identities are used, with a note.
fn implicit_identities(env: &Env) -> Result<(Option<Identities>, Vec<String>), Failure> {
    match edge::load(None) {
        Ok((mesh, origin)) => {
            let resolved = seal::resolve(&mesh, &origin, env, Mode::Inspect)?;
            Ok((resolved.identities, Vec::new()))
        }
        Err(e) => Ok((
            seal::discover_identities(env)?,
            vec![format!(
                "the mesh description here does not load ({}), so its local admin identity was not looked for",
                e.to_string().lines().next().unwrap_or("")
            )],
        )),
    }
}

pub(super) fn diff(args: &DiffArgs, env: &Env, wait: Duration) -> Result<Outcome, Failure> {
    let loaded = edge::load(args.config.as_deref())?;
    let _held = read_locks(Some(&loaded), &args.out, env, wait)?;
    let target = recorded_target(&output::recorded(&args.out)?, args.target, &loaded.0);
    let rendered = InMemory::render(loaded, target, env)?;
    // One part of the tree at a time: a fleet's tree is not held at once.
    let index = open_or_empty(&args.out)?;
    let mut scopes = vec![Scope::Shared];
    let mut clusters = index.clusters();
    clusters.extend(rendered.model.clusters.iter().map(|c| c.name.to_string()));
    clusters.sort();
    clusters.dedup();
    scopes.extend(clusters.into_iter().map(Scope::Cluster));
    let (mut diffs, mut per_file) = (Vec::new(), Vec::new());
    for scope in &scopes {
        let part = index.load(scope)?;
        let changed = drift::compare_in(&rendered.tree, &part, scope)?;
        per_file.extend(rendered.fact_changes(&part, &changed));
        diffs.extend(changed);
    }
    diffs.sort_by(|a, b| a.path.cmp(&b.path));
    let facts = facts::group(per_file);
    let security = match &index.record.trust {
        Some(was) => rendered.resolved.trust(&rendered.mesh).changes_from(was),
        None => Vec::new(),
    };
    match args.format {
        Format::Text => {
            let mut text = String::new();
            for change in &security {
                text.push_str(&format!("security: {change}\n"));
            }
            for group in &facts {
                text.push_str(&group.line());
                text.push('\n');
            }
            text.push_str(&drift::unified(&diffs));
            edge::print(text.as_bytes())?;
            for note in rendered.notes() {
                eprintln!("note: {note}");
            }
        }
        Format::Json => {
            let value = serde_json::json!({
                "tree": args.out.display().to_string(),
                "security": security,
                "facts": facts,
                "changes": diffs,
                "notes": rendered.notes(),
            });
            let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
            text.push('\n');
            edge::print(text.as_bytes())?;
        }
    }
    let changed = !diffs.is_empty() || !rendered.would_issue.is_empty() || !security.is_empty();
    Ok(if args.exit_code && changed {
        Outcome::Found
    } else {
        Outcome::Clean
    })
}

/// `mesh-render template`: the objects a render of the description applies, as one YAML stream
/// on stdout; nothing is written, nothing is issued.
pub(super) fn template(args: &TemplateArgs, env: &Env, wait: Duration) -> Result<Outcome, Failure> {
    let loaded = edge::load(args.config.as_deref())?;
    let mesh_dir = locks::existing_mesh_dir(&loaded.1, &loaded.0, env);
    let dirs: Vec<(&Path, LockMode)> = mesh_dir
        .iter()
        .map(|d| (d.as_path(), LockMode::Shared))
        .collect();
    let _held = locks::hold(&dirs, wait)?;
    let rendered = InMemory::render(loaded, args.target, env)?;
    let text = crate::template::stream(&rendered.tree)?;
    edge::print(text.as_bytes())?;
    Ok(Outcome::Clean)
}

/// The tree at `out`, or an empty one if nothing has been rendered there yet.
fn open_or_empty(out: &Path) -> Result<TreeIndex, Failure> {
    if out.exists() {
        Ok(TreeIndex::open(out)?)
    } else {
        Ok(TreeIndex {
            root: out.to_owned(),
            paths: Default::default(),
            record: Default::default(),
            special: Default::default(),
            journal: false,
        })
    }
}

/// Whether `check --against` proves sealed files by their plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerifySecrets {
    /// When an admin identity is at hand.
    Auto,
    /// Always: without an admin identity, `check` fails.
    Yes,
    No,
}

/// A render done in memory from a mesh description, with its secret inputs read, not created.
struct InMemory {
    mesh: Mesh,
    origin: Origin,
    model: Model,
    tree: Tree,
    resolved: Resolved,
    /// What a render would issue first.
    would_issue: Vec<Change>,
}

impl InMemory {
    fn render(
        (mut mesh, origin): (Mesh, Origin),
        target: Option<TargetArg>,
        env: &Env,
    ) -> Result<Self, Failure> {
        apply_target(&mut mesh, &origin, target)?;
        let resolved = seal::resolve(&mesh, &origin, env, Mode::Inspect)?;
        let would_issue = resolved.would_issue(&mesh);
        let now = edge::now();
        let plans = seal::plans(&mesh, &resolved.public_inputs(false, now));
        let model = Model::from_mesh(&mesh, &plans);
        let tree = render::render(&model)?;
        Ok(InMemory {
            mesh,
            origin,
            model,
            tree,
            resolved,
            would_issue,
        })
    }

    /// How the clear facts of the sealed files a render would seal again change, by file: what
    /// each file on disk states (a claim, read without a key) against what this render would
    /// state (from public inputs).
    fn fact_changes(
        &self,
        disk: &RenderedTree,
        diffs: &[drift::FileDiff],
    ) -> Vec<(String, Vec<facts::FactChange>)> {
        let sealer = MeshSealer::new(&self.resolved, edge::now());
        diffs
            .iter()
            .filter(|d| d.sealed && d.change == drift::Change::Modified)
            .filter_map(|d| {
                let Some(Entry::Sealed(sealed)) = self.tree.entry(&d.path) else {
                    return None;
                };
                let after = sealer.public_facts(sealed)?;
                let on_disk = disk.files.get(&d.path)?;
                let doc: serde_json::Value =
                    serde_saphyr::from_slice(on_disk).unwrap_or(serde_json::Value::Null);
                let (before, _) = facts::claimed(&doc);
                Some((d.path.clone(), facts::changes(&before, &after)))
            })
            .collect()
    }

    /// What a render would issue, for the user; `sealed_cacerts`: the output compared with
    /// records cacerts sealed under a root.
    fn issue_notes(&self, sealed_cacerts: bool) -> Vec<(String, &'static str)> {
        let state = self.resolved.pki_dir.state_found().or(sealed_cacerts
            .then_some("cacerts sealed under it are recorded in the output directory"));
        const RENDER: &str = "run mesh-render with an admin identity and commit the result";
        self.would_issue
            .iter()
            .map(|change| match change {
                Change::IssuedRoot => match state {
                    // A render refuses this: the root is gone, not yet to be made.
                    Some(what) => (
                        format!(
                            "{} is missing, but the PKI has state ({what}): a render refuses to issue a new root",
                            self.resolved.pki_dir.root_file().display()
                        ),
                        "restore pki/root.yaml from git; to start a new mesh on purpose, remove pki/ and the output directory together",
                    ),
                    None => (
                        format!(
                            "no PKI in {}: a render issues a new root CA, and every cacerts with it",
                            self.resolved.pki_dir.path().display()
                        ),
                        RENDER,
                    ),
                },
                Change::IssuedIntermediate(cluster) => (
                    format!("the PKI has no intermediate CA for {cluster}: a render issues one"),
                    RENDER,
                ),
                Change::Retired { cluster, .. } => (
                    format!("a render retires the intermediate CA of {cluster}"),
                    RENDER,
                ),
            })
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self
            .issue_notes(false)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        notes.extend(self.admin_notes());
        notes
    }

    fn admin_notes(&self) -> Vec<String> {
        if self.resolved.admins.known() {
            Vec::new()
        } else {
            vec!["no admin recipients known (secrets.admins is empty and there is no local admin identity): encrypted files are compared with the render record only".to_owned()]
        }
    }

    /// Adds what the PKI and the record say beyond the files' drift to `report`: what a
    /// render would issue (`sealed_cacerts`: the tree records cacerts sealed under a root), a
    /// damaged PKI, unknown admins.
    fn add_pki_drift(&self, sealed_cacerts: bool, report: &mut Report) {
        for (issue, fix) in self.issue_notes(sealed_cacerts) {
            report.push(Finding::error("drift", "pki", issue, fix));
        }
        for flaw in &self.resolved.pki_flaws {
            report.push(Finding::error(
                "pki",
                flaw.path.display().to_string(),
                flaw.problem.clone(),
                "restore pki/ from git (`git log -p pki/` shows who changed it); a render refuses this PKI",
            ));
        }
        for note in self.admin_notes() {
            report.note(note);
        }
    }
}

/// `check --against`'s own check of each part of the tree: its drift from the render, and each
/// sealed file proven by its plaintext (with an admin identity) or its recipients checked.
struct AgainstRender<'a> {
    against: &'a InMemory,
    sealer: MeshSealer<'a>,
    admins: Vec<String>,
    /// Whether sealed files are proven by their plaintext.
    prove: bool,
    /// A note for the report when they are not.
    not_proven: Option<&'static str>,
    proven: std::sync::Mutex<(usize, Vec<String>)>,
}

impl<'a> AgainstRender<'a> {
    fn new(
        against: &'a InMemory,
        wanted: VerifySecrets,
        now: time::OffsetDateTime,
    ) -> Result<Self, Failure> {
        let admins: Vec<String> = against
            .resolved
            .admins
            .recipients()
            .iter()
            .map(ToString::to_string)
            .collect();
        let admin_at_hand = against.resolved.identities.as_ref().is_some_and(|ids| {
            ids.recipients()
                .iter()
                .any(|r| admins.contains(&r.to_string()))
        });
        let (prove, not_proven) = match (wanted, admin_at_hand) {
            (VerifySecrets::No, _) => (
                false,
                Some(
                    "sealed files were checked against the render record only (--no-verify-secrets)",
                ),
            ),
            (VerifySecrets::Yes, false) => return Err(CommandError::VerifyNeedsAdmin.into()),
            (VerifySecrets::Auto, false) => (
                false,
                Some(
                    "no admin identity at hand: sealed files were checked against the render record only, not proven by their plaintext",
                ),
            ),
            _ => (true, None),
        };
        Ok(AgainstRender {
            against,
            sealer: MeshSealer::new(&against.resolved, now),
            admins,
            prove,
            not_proven,
            proven: std::sync::Mutex::new((0, Vec::new())),
        })
    }

    /// The note on how sealed files were checked, once every part is.
    fn finish(&self, report: &mut Report) {
        if let Some(note) = self.not_proven {
            report.note(note);
            return;
        }
        let (proven, unverified) = &*self
            .proven
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        report.note(format!(
            "sealed files proven by their plaintext: {proven} exactly as this render seals them, {} compared without a credential that is not at hand{}",
            unverified.len(),
            match unverified.first() {
                Some(first) => format!(" (first: {first})"),
                None => String::new(),
            }
        ));
    }

    fn drift(&self, part: &check::Part<'_>, report: &mut Report) -> Result<(), Failure> {
        let mut diffs = drift::compare_in(&self.against.tree, part.tree, part.scope)?;
        if !self.against.resolved.admins.known() {
            // Without the admins the inputs digests cannot be computed: keep only hand edits.
            diffs.retain(|d| d.why != Some(Why::Seal(SealReason::InputsChanged)));
        }
        for finding in drift::findings(&diffs, &self.against.origin.to_string()) {
            report.push(finding);
        }
        Ok(())
    }
}

impl check::PerPart for AgainstRender<'_> {
    type Error = Failure;

    fn clusters(&self) -> Vec<String> {
        self.against
            .model
            .clusters
            .iter()
            .map(|c| c.name.to_string())
            .collect()
    }

    fn check(&self, part: &check::Part<'_>, report: &mut Report) -> Result<(), Failure> {
        self.drift(part, report)?;
        let sealed: Vec<(&RelPath, &Sealed)> = self
            .against
            .tree
            .iter_in(part.scope)
            .filter_map(|(path, entry)| match entry {
                Entry::Sealed(sealed) => Some((path, sealed)),
                Entry::Text(_) => None,
            })
            .collect();
        // Keyless: every sealed file's clear recipient list names an admin.
        let on_disk: Vec<(&RelPath, Option<Vec<String>>)> = sealed
            .par_iter()
            .filter_map(|(path, _)| {
                part.tree.files.get(path.as_str())?;
                let recipients = part.tree.sops_files.get(path.as_str()).map(|parsed| {
                    parsed
                        .metadata()
                        .recipients()
                        .iter()
                        .map(ToString::to_string)
                        .collect()
                });
                Some((*path, recipients))
            })
            .collect();
        if self.against.resolved.admins.known() {
            for (path, recipients) in &on_disk {
                if let Some(recipients) = recipients
                    && !recipients.iter().any(|r| self.admins.contains(r))
                {
                    report.push(Finding::error(
                        "secret",
                        path.as_str(),
                        "none of its recipients is an admin of this mesh (secrets.admins): it was not sealed by this mesh's render",
                        "render with an admin identity to seal it again; find who wrote it",
                    ));
                }
            }
        }
        if !self.prove {
            return Ok(());
        }
        let verdicts: Vec<(&RelPath, Result<Verdict, String>)> = sealed
            .par_iter()
            .filter_map(|(path, sealed)| {
                let doc = part.plain.get(path.as_str())?.first()?;
                let verdict = self
                    .sealer
                    .expected(sealed)
                    .map(|expected| verify::compare(&expected, doc, part.memo))
                    .map_err(|e| e.to_string().lines().next().unwrap_or("").to_owned());
                Some((*path, verdict))
            })
            .collect();
        let (mut proven, mut unverified) = (0, Vec::new());
        for (path, verdict) in verdicts {
            match verdict {
                Ok(Verdict::Proven) => proven += 1,
                Ok(Verdict::Unverified { why }) => unverified.push(format!("{path} ({why})")),
                Err(why) => unverified.push(format!("{path} ({why})")),
                Ok(Verdict::Differs(fields)) => report.push(Finding::error(
                    "secret",
                    path.as_str(),
                    format!(
                        "decrypts to something other than what mesh.yaml and pki/ seal: {} differ{}",
                        fields.join(", "),
                        if fields.len() == 1 { "s" } else { "" }
                    ),
                    "render with an admin identity to seal it again; if nobody on the team changed it, treat it as an attack: find the commit, rotate what it holds",
                )),
            }
        }
        // A sealed file that no admin identity opens while others open: not encrypted to the
        // admins (copied from another mesh, or written for someone else).
        for (path, recipients) in &on_disk {
            if !part.plain.contains_key(path.as_str()) && recipients.is_some() {
                report.push(Finding::error(
                    "secret",
                    path.as_str(),
                    "the admin identity at hand cannot open it: it is not encrypted to the mesh's admins",
                    "render with an admin identity to seal it again; find who wrote it",
                ));
            }
        }
        let mut total = self
            .proven
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        total.0 += proven;
        total.1.extend(unverified);
        Ok(())
    }
}
