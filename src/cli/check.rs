//! `mesh-render check` and `mesh-render diff`: read a rendered tree (and a render done in memory)
//! and report; nothing is written, nothing is issued, no private key is needed.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{EXIT_INPUT, TargetArg, load, secrets};
use crate::check::{self, Expected, Finding, RenderedTree, Report, drift, schema::SchemaCatalog};
use crate::config::{self, Mesh, Origin};
use crate::model::{Model, SecretInputs};
use crate::render::{self, Tree};

/// Exit code of `check` when it found problems, and of `diff` when a render would change files.
pub const EXIT_FOUND: u8 = 1;

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

    /// The GitOps target the tree was rendered with, if it was given on the command line.
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,

    /// Pending remote secrets are errors.
    #[arg(long)]
    pub strict: bool,

    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The rendered tree to compare with.
    #[arg(default_value = "out")]
    pub out: PathBuf,

    /// Mesh description to render. Default: ./mesh.yaml, or the built-in example mesh.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Wire the tree for this GitOps tool (overrides gitops.target in the mesh description).
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,

    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub(super) fn check(args: &CheckArgs) -> Result<u8, (u8, String)> {
    let schemas = if args.schemas.is_empty() {
        None
    } else {
        Some(SchemaCatalog::open_locations(&args.schemas).map_err(|e| {
            (EXIT_INPUT, format!("--schemas: {e}\n  fix: pass a directory of JSON Schemas (layout {{group}}/{{kind}}_{{version}}.json) or a kubeconform path template"))
        })?)
    };
    let now = time::OffsetDateTime::now_utc();
    let mut against = match &args.against {
        Some(path) => Some(InMemory::render(Some(path), args.target)?),
        None => None,
    };
    let identities = match &mut against {
        Some(a) => a.inspected.identities.take(),
        None => crate::sops::Identities::discover().map_err(|e| (EXIT_INPUT, e.to_string()))?,
    };
    let options = check::Options {
        schemas,
        identities,
        strict: args.strict,
        expected: against.as_ref().map(|a| expected(&a.mesh)),
        expiry_warning_days: against
            .as_ref()
            .map_or(90, |a| a.mesh.pki.expiry_warning_days),
        now,
    };
    let mut report = check::run(&args.out, &options).map_err(|e| (EXIT_INPUT, e.to_string()))?;
    if let Some(against) = &against {
        against.add_drift(&args.out, &mut report)?;
    }
    report.sort();
    let shown = args.out.display().to_string();
    match args.format {
        Format::Text => print!("{}", report.to_text(&shown)),
        Format::Json => print!("{}", report.to_json(&shown)),
    }
    Ok(if report.errors() > 0 { EXIT_FOUND } else { 0 })
}

pub(super) fn diff(args: &DiffArgs) -> Result<u8, (u8, String)> {
    let rendered = InMemory::render(args.config.as_deref(), args.target)?;
    let disk = open_or_empty(&args.out)?;
    let diffs = drift::compare(&rendered.tree, &disk);
    match args.format {
        Format::Text => {
            print!("{}", drift::unified(&diffs));
            for note in rendered.notes() {
                eprintln!("note: {note}");
            }
        }
        Format::Json => {
            let value = serde_json::json!({
                "tree": args.out.display().to_string(),
                "changes": diffs,
                "notes": rendered.notes(),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
    }
    Ok(
        if diffs.is_empty() && rendered.inspected.would_issue.is_empty() {
            0
        } else {
            EXIT_FOUND
        },
    )
}

/// The tree at `out`, or an empty one if nothing has been rendered there yet.
fn open_or_empty(out: &Path) -> Result<RenderedTree, (u8, String)> {
    if out.exists() {
        RenderedTree::open(out).map_err(|e| (EXIT_INPUT, e.to_string()))
    } else {
        Ok(RenderedTree {
            root: out.to_owned(),
            files: Default::default(),
            record: Default::default(),
            sops_files: Default::default(),
        })
    }
}

/// A render done in memory from a mesh description, with its secret inputs read, not created.
struct InMemory {
    mesh: Mesh,
    origin: Origin,
    tree: Tree,
    inspected: secrets::Inspected,
}

impl InMemory {
    fn render(config: Option<&Path>, target: Option<TargetArg>) -> Result<Self, (u8, String)> {
        let (mut mesh, origin) = load(config).map_err(|e| (EXIT_INPUT, e.to_string()))?;
        if let Some(target) = target {
            mesh.gitops.target = match target {
                TargetArg::None => config::GitOpsTarget::None,
                TargetArg::Flux => config::GitOpsTarget::Flux,
                TargetArg::Argocd => config::GitOpsTarget::Argocd,
            };
        }
        let inspected = secrets::inspect(&mesh, &origin).map_err(|e| (EXIT_INPUT, e))?;
        let inputs = SecretInputs {
            admins: inspected.admins.clone(),
            pki: inspected.pki.as_ref(),
            now: time::OffsetDateTime::now_utc(),
            credential_digests: inspected.credential_digests.clone(),
            refresh_credentials: false,
        };
        let model = Model::from_mesh(&mesh, &inputs);
        let tree = render::render(&model).map_err(|e| (EXIT_INPUT, e.to_string()))?;
        Ok(InMemory {
            mesh,
            origin,
            tree,
            inspected,
        })
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = self.inspected.would_issue.clone();
        if !self.inspected.admins_known {
            notes.push("no admin recipients known (secrets.admins is empty and there is no local admin identity): encrypted files are compared with the render record only".to_owned());
        }
        notes
    }

    /// Adds the drift between this render and the tree at `out` to `report`.
    fn add_drift(&self, out: &Path, report: &mut Report) -> Result<(), (u8, String)> {
        let disk = RenderedTree::open(out).map_err(|e| (EXIT_INPUT, e.to_string()))?;
        let mut diffs = drift::compare(&self.tree, &disk);
        if !self.inspected.admins_known {
            // Without the admins the inputs digests cannot be computed: keep only hand edits.
            diffs.retain(|d| !(d.sealed && d.reason == Some("its inputs changed")));
        }
        for finding in drift::findings(&diffs, &self.origin.to_string()) {
            report.push(finding);
        }
        for issue in &self.inspected.would_issue {
            report.push(Finding::error(
                "drift",
                "pki",
                issue.clone(),
                "run mesh-render with an admin identity and commit the result",
            ));
        }
        for note in self
            .notes()
            .into_iter()
            .skip(self.inspected.would_issue.len())
        {
            report.note(note);
        }
        Ok(())
    }
}

/// What the mesh description says about placement and servers.
fn expected(mesh: &Mesh) -> Expected {
    let model = Model::from_mesh(mesh, &SecretInputs::none());
    let mut e = Expected::default();
    for plan in &model.clusters {
        let names = plan
            .workloads
            .iter()
            .filter_map(|w| serde_json::to_value(w).ok())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        e.placement.insert(plan.name.to_string(), names);
    }
    for c in &mesh.clusters {
        if let Some(creds) = &c.credentials {
            e.with_credentials.insert(c.name.to_string());
            if let Some(server) = creds.server() {
                e.servers.insert(c.name.to_string(), server.to_owned());
            }
        }
    }
    e
}
