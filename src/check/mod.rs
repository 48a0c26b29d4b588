//! Offline checks of a rendered tree: schemas, mesh invariants, secrets, structure and drift.
//! Reads out/ and reports findings; never writes, never talks to a cluster.

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
pub use tree::{RenderedTree, TreeError};

use crate::sops::Identities;
use invariants::{Doc, MeshView};
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
pub struct Options {
    /// Where schemas come from; `None` skips schema validation, and the report says so.
    pub schemas: Option<SchemaCatalog>,
    /// Identities to decrypt SOPS files with; `None` skips decryption, and the report says so.
    pub identities: Option<Identities>,
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
pub fn run(root: &Path, options: &Options) -> Result<Report, TreeError> {
    run_decrypting(root, options).map(|(report, _)| report)
}

/// Decrypted SOPS files, by path in the tree.
pub type Decrypted = BTreeMap<String, Vec<Value>>;

/// [`run`], also returning what the SOPS files decrypted to (for proving the sealed files
/// against a render).
pub fn run_decrypting(root: &Path, options: &Options) -> Result<(Report, Decrypted), TreeError> {
    let tree = RenderedTree::open(root)?;
    let mut report = Report::default();

    // Structure: every kustomization, resolved as kustomize would.
    let docs = parse_all(&tree, &mut report);
    let mut listed = BTreeSet::new();
    let mut built: BTreeMap<String, Vec<BuiltObject>> = BTreeMap::new();
    for dir in tree.kustomization_dirs(&["clusters", "base", "flux", "argocd"]) {
        let objects = tree.build(&dir, &docs, &mut report, &mut listed);
        built.insert(dir, objects);
    }
    structure::check_unlisted(&tree, &listed, &mut report);
    structure::check_special(&tree, &mut report);

    // Secrets.
    secrets::check_leaks(&tree, &mut report);
    secrets::check_sealed_files(&tree, &mut report);
    secrets::check_encrypted(built.values().flatten(), &mut report);
    let plain = match &options.identities {
        Some(identities) => {
            let plain = secrets::check_decrypt(&tree, identities, &mut report);
            secrets::check_cacerts(
                &plain,
                options.expiry_warning_days,
                options.now,
                &mut report,
            );
            secrets::check_facts(&plain, &mut report);
            plain
        }
        None => {
            report.note("no age identity at hand (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or sops's keys.txt): SOPS files were not decrypted, so their MACs, the cacerts chains, the remote secrets' servers and the facts sealed files state in clear were not verified");
            BTreeMap::new()
        }
    };

    // Schemas.
    match &options.schemas {
        Some(catalog) => validate(catalog, &docs, &plain, &mut report),
        None => report.note(
            "schema validation skipped: no schemas given. Pass --schemas DIR (repeatable; or MESH_RENDER_SCHEMAS), a directory laid out {group}/{kind}_{version}.json or a kubeconform path template such as https://… or /path/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json (the datreeio CRDs-catalog for CRDs, a standalone-strict Kubernetes catalogue for core kinds)",
        ),
    }

    // GitOps roots.
    let repository_path = options
        .expected
        .as_ref()
        .and_then(|e| e.repository_path.as_deref());
    let roots = structure::roots(&tree, &docs, repository_path, &mut report);
    structure::check_roots(&roots, &built, &mut report);

    // Mesh invariants.
    let decrypted = plain.clone();
    let view = mesh_view(&built, &docs, plain);
    invariants::check(
        &view,
        options.expected.as_ref(),
        options.strict,
        &mut report,
    );
    if options.expected.is_none() {
        report.note("no mesh description given (--against mesh.yaml): sample placement and remote secret servers were checked for consistency only");
    }
    report.sort();
    Ok((report, decrypted))
}

/// Every YAML file of the tree, parsed; a file that does not parse is a finding.
fn parse_all(tree: &RenderedTree, report: &mut Report) -> Docs {
    let mut docs = BTreeMap::new();
    for (path, bytes) in &tree.files {
        if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            continue;
        }
        let parsed = std::str::from_utf8(bytes)
            .map_err(|e| e.to_string())
            .and_then(|t| schema::parse_documents(t).map_err(|e| e.to_string()));
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
        report.note(format!(
            "no schema for {kind}: {} objects not validated (first: {})",
            files.len(),
            files.first().map_or("", String::as_str)
        ));
    }
}

/// The objects and configuration of each cluster, for the invariants.
fn mesh_view(
    built: &BTreeMap<String, Vec<BuiltObject>>,
    docs: &Docs,
    plain: BTreeMap<String, Vec<Value>>,
) -> MeshView {
    let mut view = MeshView {
        plain,
        ..MeshView::default()
    };
    for (dir, objects) in built {
        let mut parts = dir.split('/');
        if let (Some("clusters"), Some(cluster)) = (parts.next(), parts.next()) {
            view.layers
                .entry(cluster.to_owned())
                .or_default()
                .extend(objects.iter().cloned());
        }
    }
    for (file, values) in docs {
        let mut parts = file.split('/');
        if let (Some("values" | "istioctl" | "flux" | "argocd"), Some(cluster), Some(_)) =
            (parts.next(), parts.next(), parts.next())
        {
            view.config
                .entry(cluster.to_owned())
                .or_default()
                .extend(values.iter().map(|value| Doc {
                    file: file.clone(),
                    value: Value::clone(value),
                }));
        }
    }
    view
}
