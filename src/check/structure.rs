//! The structure of a rendered tree: every file a kustomization lists exists (see `tree`), every
//! file under `clusters/` is listed, and each GitOps root applies each step once, no object twice.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::report::{Finding, Report};
use super::tree::{BuiltObject, Docs, RenderedTree, describe};

/// Files under `clusters/` that no kustomization lists: rendered, but never applied.
pub fn check_unlisted(tree: &RenderedTree, listed: &BTreeSet<String>, report: &mut Report) {
    for path in tree.files.keys().filter(|p| p.starts_with("clusters/")) {
        let name = path.rsplit('/').next().unwrap_or("");
        // A cluster's install scripts are run by hand, not applied (the secrets scan reads them).
        let script =
            matches!(name, "install.sh" | "uninstall.sh") && path.matches('/').count() == 2;
        if name == "kustomization.yaml" || name.ends_with(".md") || script || listed.contains(path)
        {
            continue;
        }
        report.push(Finding::error(
            "structure",
            path,
            "no kustomization lists it, so nothing ever applies it",
            "delete it, or render again (mesh-render lists every file it writes)",
        ));
    }
}

/// Symlinks (never followed: in a pull request one can point anywhere, a key included) and other
/// special files have no place in a rendered tree.
pub fn check_special(special: &BTreeMap<String, &'static str>, journal: bool, report: &mut Report) {
    if journal {
        report.push(Finding::error(
            "structure",
            crate::record::JOURNAL_FILE,
            "a render was interrupted while it put files in place: the tree is part old, part new",
            "run mesh-render again (it completes the interrupted render), then commit the result",
        ));
    }
    for (path, what) in special {
        report.push(Finding::error(
            "structure",
            path,
            format!("{what}: mesh-render writes only regular files and directories, and never follows a symlink"),
            "remove it (commit the real file or directory instead) and render again",
        ));
    }
}

/// One GitOps step: the object that applies a directory, and the directory.
#[derive(Debug, Clone)]
pub struct Step {
    /// The file of the Flux Kustomization or Argo CD Application.
    pub file: String,
    pub name: String,
    /// The tree-relative directory it applies.
    pub dir: String,
}

/// The GitOps roots of the clusters `docs` hold, by cluster: the Flux Kustomizations under
/// `flux/<cluster>/` and the Argo CD Applications under `argocd/<cluster>/`, each with the
/// directory (of `dirs`, the tree's kustomization directories) it applies. A cluster without
/// GitOps wiring has its layers as its steps (applied with `kubectl apply -k`).
pub fn roots(
    dirs: &BTreeSet<&str>,
    docs: &Docs,
    repository_path: Option<&str>,
    report: &mut Report,
) -> BTreeMap<String, Vec<Step>> {
    let mut roots: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    let clusters: BTreeSet<&str> = docs
        .keys()
        .filter_map(|f| crate::render::tree::cluster_of(f))
        .collect();
    for (file, objects) in docs {
        let mut parts = file.split('/');
        let (Some(tool @ ("flux" | "argocd")), Some(cluster), Some(_)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        for object in objects {
            let (path, field) = match (tool, object["kind"].as_str()) {
                ("flux", Some("Kustomization"))
                    if object["apiVersion"]
                        .as_str()
                        .is_some_and(|a| a.starts_with("kustomize.toolkit.fluxcd.io/")) =>
                {
                    (object.pointer("/spec/path"), "spec.path")
                }
                ("argocd", Some("Application")) => {
                    (object.pointer("/spec/source/path"), "spec.source.path")
                }
                _ => continue,
            };
            let Some(path) = path.and_then(Value::as_str) else {
                continue;
            };
            let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
            match in_tree(path, repository_path, dirs) {
                Some(dir) => roots.entry(cluster.to_owned()).or_default().push(Step { file: file.clone(), name, dir }),
                None => report.push(
                    Finding::error(
                        "structure",
                        file,
                        format!("applies {path}, which is not a kustomization directory of this tree"),
                        "render again; if the tree moved in the repository, set gitops.repository.path",
                    )
                    .object(describe(object))
                    .field(field),
                ),
            }
        }
    }
    for cluster in clusters {
        if roots.contains_key(cluster) {
            continue;
        }
        let layers = format!("clusters/{cluster}/");
        for dir in dirs.iter().filter(|d| d.starts_with(&layers)) {
            roots.entry(cluster.to_owned()).or_default().push(Step {
                file: format!("clusters/{cluster}/README.md"),
                name: (*dir).to_owned(),
                dir: (*dir).to_owned(),
            });
        }
    }
    roots
}

/// The tree-relative directory a GitOps path names: the path with the tree's repository path
/// (gitops.repository.path, from the description) stripped; without a description, found by the
/// longest suffix that is a directory here.
fn in_tree(path: &str, repository_path: Option<&str>, dirs: &BTreeSet<&str>) -> Option<String> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let found = match repository_path {
        Some(prefix) => {
            let prefix: Vec<&str> = prefix
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            parts
                .strip_prefix(prefix.as_slice())
                .map(|rest| rest.join("/"))
        }
        None => (0..parts.len())
            .map(|i| parts[i..].join("/"))
            .find(|candidate| dirs.contains(candidate.as_str())),
    };
    found.filter(|dir| dirs.contains(dir.as_str()))
}

/// In each root, each directory is applied once and each object by one step only: two owners of
/// one object fight over it (and pruning by one deletes what the other applies).
pub fn check_roots<'b>(
    roots: &BTreeMap<String, Vec<Step>>,
    built: impl Fn(&str) -> Option<&'b [BuiltObject]>,
    report: &mut Report,
) {
    for (cluster, steps) in roots {
        let mut by_dir: BTreeMap<&str, &Step> = BTreeMap::new();
        let mut owner: BTreeMap<String, (&Step, &BuiltObject)> = BTreeMap::new();
        for step in steps {
            if let Some(first) = by_dir.insert(&step.dir, step) {
                report.push(Finding::error(
                    "structure",
                    &step.file,
                    format!(
                        "{} applies {}, which {} ({}) already applies in cluster {cluster}",
                        step.name, step.dir, first.name, first.file
                    ),
                    "render again: each directory is one step of the rollout",
                ));
                continue;
            }
            for object in built(&step.dir).into_iter().flatten() {
                let id = identity(&object.value);
                if let Some((other, _)) = owner.get(&id) {
                    report.push(
                        Finding::error(
                            "structure",
                            &object.file,
                            format!("applied by two steps of cluster {cluster}: {} ({}) and {} ({}); they fight over it, and pruning by one deletes it from the other", other.name, other.dir, step.name, step.dir),
                            "keep each object in one directory",
                        )
                        .object(describe(&object.value)),
                    );
                } else {
                    owner.insert(id, (step, object));
                }
            }
        }
    }
}

/// group/kind/namespace/name: what a cluster knows an object by.
fn identity(object: &Value) -> String {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
    let group = s("/apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
    format!(
        "{group}/{}/{}/{}",
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> BTreeSet<&'static str> {
        ["clusters/a/10-istio-system", "base/metallb"]
            .into_iter()
            .collect()
    }

    #[test]
    fn without_a_description_a_gitops_path_resolves_by_its_longest_suffix_in_the_tree() {
        let dirs = dirs();
        assert_eq!(
            in_tree("./out/clusters/a/10-istio-system", None, &dirs).as_deref(),
            Some("clusters/a/10-istio-system")
        );
        assert_eq!(
            in_tree("deploy/mesh/base/metallb", None, &dirs).as_deref(),
            Some("base/metallb")
        );
        assert_eq!(
            in_tree("./out/clusters/b/10-istio-system", None, &dirs),
            None
        );
    }

    #[test]
    fn with_a_description_a_gitops_path_must_start_with_the_repository_path() {
        let dirs = dirs();
        let at = |path, prefix| in_tree(path, Some(prefix), &dirs);
        assert_eq!(
            at("./deploy/mesh/base/metallb", "deploy/mesh").as_deref(),
            Some("base/metallb")
        );
        // The right directory under the wrong prefix is not this tree's.
        assert_eq!(at("elsewhere/base/metallb", "deploy/mesh"), None);
        assert_eq!(at("deploy/mesh/base/nothing", "deploy/mesh"), None);
    }
}
