//! Offline checks of a rendered tree: schemas, mesh invariants, secrets, structure and drift.
//! Reads out/ one part at a time (the shared files, then each cluster's, keeping only what the
//! checks across clusters need) and reports findings; never writes, never talks to a cluster.

pub mod drift;
pub mod invariants;
pub mod report;
pub mod schema;
pub mod secrets;
pub mod structure;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

pub use invariants::Expected;
pub use report::{Finding, Report, Severity};
pub use tree::{RenderedTree, TreeError, TreeIndex};

use crate::render::tree::{Scope, cluster_of};
use crate::sops::Identities;
use invariants::Doc;
use rayon::prelude::*;
use schema::{Mode, SchemaCatalog, SchemaError};
use tree::{BuiltObject, Docs};

/// The annotation that marks a partial object, validated with `required` relaxed: one applied
/// server-side (`server-side-apply`), or a strategic merge patch a user applies to an object of
/// their own (`strategic-merge-patch`, Argo CD's repo-server).
pub const PARTIAL_ANNOTATION: &str = "mesh-render.dev/partial";

/// How strictly `object` is validated: partial objects ([`PARTIAL_ANNOTATION`]) need not carry
/// the fields their schema requires.
pub fn schema_mode(object: &Value) -> Mode {
    match object["metadata"]["annotations"][PARTIAL_ANNOTATION].as_str() {
        Some("server-side-apply" | "strategic-merge-patch") => Mode::RelaxRequired,
        _ => Mode::Strict,
    }
}

/// How to check.
pub struct Options<'a> {
    /// Where schemas come from; `None` skips schema validation, and the report says so.
    pub schemas: Option<SchemaCatalog>,
    /// Identities to decrypt SOPS files with; `None` skips decryption, and the report says so.
    pub identities: Option<&'a Identities>,
    /// Pending remote secrets are errors.
    pub strict: bool,
    /// The mesh description, for the invariants that need it.
    pub expected: Option<Expected>,
    /// Report CAs that expire within this many days.
    pub expiry_warning_days: i64,
    pub now: time::OffsetDateTime,
}

/// Checks the rendered tree at `root`.
///
/// # Errors
///
/// If `root` is not a rendered tree (no render record) or cannot be read; every problem inside
/// the tree is a finding.
pub fn run(root: &Path, options: &Options<'_>) -> Result<Report, TreeError> {
    run_with(root, options, &Nothing)
}

/// Decrypted SOPS files, by path in the tree.
pub type Decrypted = BTreeMap<String, Vec<Value>>;

/// One part of the tree as `check` read it: its files, and what its SOPS files decrypted to.
pub struct Part<'a> {
    pub scope: &'a Scope,
    pub tree: &'a RenderedTree,
    pub plain: &'a Decrypted,
    /// YAML parsed once for the whole check.
    pub memo: &'a crate::memo::Parsed,
}

/// What a caller checks in each part of the tree while its files are in memory (drift against
/// a render, the proof of its sealed files): a tree is read one cluster at a time, so that
/// memory holds one cluster's files, never the whole tree's.
pub trait PerPart: Sync {
    type Error: From<TreeError>;

    /// Clusters to check besides those the tree has (a render's, which the tree may lack).
    fn clusters(&self) -> Vec<String> {
        Vec::new()
    }

    fn check(&self, part: &Part<'_>, report: &mut Report) -> Result<(), Self::Error>;
}

/// No check beyond the tree's own.
struct Nothing;

impl PerPart for Nothing {
    type Error = TreeError;
    fn check(&self, _: &Part<'_>, _: &mut Report) -> Result<(), TreeError> {
        Ok(())
    }
}

/// What is kept across parts: the per-cluster summaries and the few facts the checks across
/// clusters need.
#[derive(Default)]
struct Across {
    summaries: BTreeMap<String, invariants::ClusterSummary>,
    /// Each cacerts file's root bundle.
    bundles: BTreeMap<String, String>,
    /// Kinds without a schema: how many files, and the first.
    unchecked: BTreeMap<String, (usize, String)>,
}

/// What every part is checked with.
struct Context<'a> {
    options: &'a Options<'a>,
    /// Every kustomization directory of the tree.
    dirs: BTreeSet<&'a str>,
    /// The clusters with layers (`clusters/<name>/`).
    layered: BTreeSet<String>,
    /// The objects the shared kustomizations (`base/`) build, which cluster roots may apply.
    shared: BTreeMap<String, Vec<BuiltObject>>,
    /// YAML met in many parts (each kubeconfig, each remote secret), parsed once.
    memo: crate::memo::Parsed,
}

/// [`run`], with the caller's own check of each part.
pub fn run_with<H: PerPart>(
    root: &Path,
    options: &Options<'_>,
    extra: &H,
) -> Result<Report, H::Error> {
    let index = TreeIndex::open(root)?;
    let mut report = Report::default();
    structure::check_special(&index.special, index.journal, &mut report);
    let dirs = index.kustomization_dirs();
    let layered: BTreeSet<String> = dirs
        .iter()
        .filter(|d| d.starts_with("clusters/"))
        .filter_map(|d| cluster_of(&format!("{d}/")).map(str::to_owned))
        .collect();
    let mut context = Context {
        options,
        dirs,
        layered,
        shared: BTreeMap::new(),
        memo: crate::memo::Parsed::new(),
    };
    let mut across = Across::default();

    let shared = index.load(&Scope::Shared)?;
    context.shared = check_part(
        &Scope::Shared,
        &shared,
        &context,
        extra,
        &mut across,
        &mut report,
    )?;
    drop(shared);
    let mut clusters = index.clusters();
    clusters.extend(extra.clusters());
    clusters.sort();
    clusters.dedup();
    for cluster in clusters {
        let scope = Scope::Cluster(cluster);
        let part = index.load(&scope)?;
        check_part(&scope, &part, &context, extra, &mut across, &mut report)?;
    }

    secrets::check_bundles(&across.bundles, &mut report);
    invariants::check_mesh(
        &across.summaries,
        options.expected.as_ref(),
        options.strict,
        &mut report,
    );
    for (kind, (files, first)) in &across.unchecked {
        report.note(format!(
            "no schema for {kind}: {files} objects not validated (first: {first})"
        ));
    }
    if options.identities.is_none() {
        report.note("no age identity at hand (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or sops's keys.txt): SOPS files were not decrypted, so their MACs, the cacerts chains, the remote secrets' servers and the facts sealed files state in clear were not verified");
    }
    if options.schemas.is_none() {
        report.note(
            "schema validation skipped: no schemas given. Pass --schemas DIR (repeatable; or MESH_RENDER_SCHEMAS), a directory laid out {group}/{kind}_{version}.json or a kubeconform path template such as https://… or /path/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json (the datreeio CRDs-catalog for CRDs, a standalone-strict Kubernetes catalogue for core kinds)",
        );
    }
    if options.expected.is_none() {
        report.note("no mesh description given (--against mesh.yaml): sample placement and remote secret servers were checked for consistency only");
    }
    report.sort();
    Ok(report)
}

/// Checks one part of the tree: its structure, secrets, schemas and (for a cluster) the
/// invariants within it; returns the objects its kustomizations build.
fn check_part<H: PerPart>(
    scope: &Scope,
    tree: &RenderedTree,
    context: &Context<'_>,
    extra: &H,
    across: &mut Across,
    report: &mut Report,
) -> Result<BTreeMap<String, Vec<BuiltObject>>, H::Error> {
    let options = context.options;
    // Structure: every kustomization, resolved as kustomize would.
    let docs = parse_all(tree, report);
    let mut listed = BTreeSet::new();
    let mut built: BTreeMap<String, Vec<BuiltObject>> = BTreeMap::new();
    for dir in tree.kustomization_dirs(&["clusters", "base", "flux", "argocd"]) {
        let objects = tree.build(&dir, &docs, report, &mut listed);
        built.insert(dir, objects);
    }
    structure::check_unlisted(tree, &listed, report);

    // Secrets.
    secrets::check_leaks(tree, report);
    secrets::check_sealed_files(tree, report);
    secrets::check_encrypted(built.values().flatten(), report);
    let plain = match &options.identities {
        Some(identities) => {
            let plain = secrets::check_decrypt(tree, identities, report);
            secrets::check_cacerts(
                &plain,
                options.expiry_warning_days,
                options.now,
                &mut across.bundles,
                report,
            );
            secrets::check_facts(&plain, &context.memo, report);
            plain
        }
        None => BTreeMap::new(),
    };

    // Schemas.
    if let Some(catalog) = &options.schemas {
        validate(catalog, &docs, &plain, &mut across.unchecked, report);
    }

    // GitOps roots.
    let repository_path = options
        .expected
        .as_ref()
        .and_then(|e| e.repository_path.as_deref());
    let roots = structure::roots(&context.dirs, &docs, repository_path, report);
    structure::check_roots(
        &roots,
        |dir| {
            built
                .get(dir)
                .or_else(|| context.shared.get(dir))
                .map(Vec::as_slice)
        },
        report,
    );

    // Mesh invariants within the cluster.
    if let Scope::Cluster(name) = scope {
        let layers_dir = format!("clusters/{name}/");
        let in_layers: Vec<&Vec<BuiltObject>> = built
            .iter()
            .filter(|(dir, _)| {
                dir.starts_with(&layers_dir) || dir.as_str() == &layers_dir[..layers_dir.len() - 1]
            })
            .map(|(_, objects)| objects)
            .collect();
        let layers: Vec<&BuiltObject> = in_layers.iter().flat_map(|o| o.iter()).collect();
        let config = config_docs(&docs);
        let view = invariants::ClusterView {
            name,
            layers: (!in_layers.is_empty()).then_some(layers.as_slice()),
            config: &config,
            plain: &plain,
            memo: &context.memo,
        };
        let summary = invariants::check_cluster(&view, &context.layered, report);
        across.summaries.insert(name.clone(), summary);
    }
    extra.check(
        &Part {
            scope,
            tree,
            plain: &plain,
            memo: &context.memo,
        },
        report,
    )?;
    Ok(built)
}

/// Every YAML file of the tree, parsed; a file that does not parse is a finding.
fn parse_all(tree: &RenderedTree, report: &mut Report) -> Docs {
    let files: Vec<(&String, &Vec<u8>)> = tree
        .files
        .iter()
        .filter(|(path, _)| path.ends_with(".yaml") || path.ends_with(".yml"))
        .collect();
    let parsed: Vec<(&String, Result<Vec<Value>, String>)> = files
        .par_iter()
        .map(|(path, bytes)| {
            // A SOPS file is parsed once, when the tree is read.
            if let Some(sops) = tree.sops_files.get(*path) {
                return (*path, Ok(sops.without_metadata()));
            }
            let parsed = std::str::from_utf8(bytes)
                .map_err(|e| e.to_string())
                .and_then(|t| schema::parse_documents(t).map_err(|e| e.to_string()));
            (*path, parsed)
        })
        .collect();
    let mut docs = BTreeMap::new();
    for (path, parsed) in parsed {
        match parsed {
            Ok(values) => {
                docs.insert(path.clone(), values.into_iter().map(Arc::new).collect());
            }
            Err(e) => report.push(Finding::error(
                "structure",
                path,
                format!(
                    "does not parse: {}",
                    crate::shown::parser_message(&e.to_string())
                ),
                "render again (or restore it from version control)",
            )),
        }
    }
    docs
}

/// Validates every object of every file: encrypted files as decrypted when possible, else
/// without their `sops` block; partial objects with `required` relaxed.
fn validate(
    catalog: &SchemaCatalog,
    docs: &Docs,
    plain: &BTreeMap<String, Vec<Value>>,
    unchecked_files: &mut BTreeMap<String, (usize, String)>,
    report: &mut Report,
) {
    let mut unchecked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, values) in docs {
        let values: Vec<&Value> = match plain.get(file) {
            Some(decrypted) => decrypted.iter().collect(),
            None => values.iter().map(|v| v.as_ref()).collect(),
        };
        for value in values {
            let (Some(api_version), Some(kind)) =
                (value["apiVersion"].as_str(), value["kind"].as_str())
            else {
                continue;
            };
            if api_version.starts_with("kustomize.config.k8s.io/")
                || api_version.starts_with("viaduct.ai/")
            {
                continue; // kustomize's own configuration, resolved above
            }
            // Copied only when there is a `sops` block to take out.
            let stripped;
            let object = match value.as_object() {
                Some(map) if map.contains_key("sops") => {
                    let mut map = map.clone();
                    map.remove("sops");
                    stripped = Value::Object(map);
                    &stripped
                }
                _ => value,
            };
            match catalog.validate(object, schema_mode(object)) {
                Ok(violations) => {
                    for v in violations {
                        report.push(
                            Finding::error("schema", file, v.message.clone(), "render again; if the tree is current, this is a mesh-render bug: please report it")
                                .object(tree::describe(object))
                                .field(v.path.clone()),
                        );
                    }
                }
                Err(SchemaError::NoSchema { .. }) => {
                    unchecked
                        .entry(format!("{api_version} {kind}"))
                        .or_default()
                        .insert(file.clone());
                }
                Err(e) => report.push(
                    Finding::error(
                        "schema",
                        file,
                        e.to_string(),
                        "fix the schema location (--schemas)",
                    )
                    .object(tree::describe(object)),
                ),
            }
        }
    }
    for (kind, files) in unchecked {
        let Some(first) = files.first() else {
            continue;
        };
        let seen = unchecked_files
            .entry(kind)
            .or_insert_with(|| (0, first.clone()));
        seen.0 += files.len();
        if *first < seen.1 {
            seen.1 = first.clone();
        }
    }
}

/// The documents of a cluster's configuration (`values/`, `istioctl/`, `flux/`, `argocd/`), for
/// the invariants.
fn config_docs(docs: &Docs) -> Vec<Doc> {
    let mut config = Vec::new();
    for (file, values) in docs {
        let mut parts = file.split('/');
        if let (Some("values" | "istioctl" | "flux" | "argocd"), Some(_), Some(_)) =
            (parts.next(), parts.next(), parts.next())
        {
            config.extend(values.iter().map(|value| Doc {
                file: file.clone(),
                value: Value::clone(value),
            }));
        }
    }
    config
}
