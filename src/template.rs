//! `mesh-render template`: the objects a rendered tree applies, as one YAML stream, each preceded
//! by `# Source: <path>` as `helm template` prints them. Every kustomization that no other one
//! includes is built (its resources in order, directories recursively, `commonAnnotations`
//! applied), then every GitOps object no kustomization lists (roots, the GitRepository). What
//! cannot be shown is a comment naming its file: a sealed Secret, a remote resource (never
//! fetched), a patch of a remote object. A kustomization feature it cannot build is an error,
//! never a silently different stream. A pure function of the tree.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::render::tree::join_entry as join;
use crate::render::{Entry, Tree};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("{path} does not parse as YAML: {message}")]
    Yaml { path: String, message: String },
    #[error("{kustomization} lists {resource}, which the tree does not hold")]
    Missing {
        kustomization: String,
        resource: String,
    },
    #[error(
        "{kustomization} uses `{feature}`, which `mesh-render template` does not build (a renderer defect: build the directory with `kubectl kustomize` instead)"
    )]
    Unsupported {
        kustomization: String,
        feature: String,
    },
}

/// One part of the stream: an object, or a comment where an object cannot be shown.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Object { source: String, object: Value },
    Comment { source: String, text: String },
}

/// The stream's text.
pub fn stream(tree: &Tree) -> Result<String, StreamError> {
    let mut out = String::new();
    for piece in pieces(tree)? {
        out.push_str("---\n");
        match piece {
            Piece::Object { source, object } => {
                out.push_str(&format!("# Source: {source}\n"));
                let text = serde_saphyr::to_string(&object).map_err(|e| StreamError::Yaml {
                    path: source.clone(),
                    message: e.to_string(),
                })?;
                out.push_str(&text);
                if !text.ends_with('\n') {
                    out.push('\n');
                }
            }
            Piece::Comment { source, text } => {
                out.push_str(&format!("# Source: {source}\n# {text}\n"));
            }
        }
    }
    Ok(out)
}

const KUSTOMIZATION: &str = "kustomization.yaml";

/// The stream's parts, in order: the kustomization roots in path order, then the GitOps files
/// no kustomization lists.
fn pieces(tree: &Tree) -> Result<Vec<Piece>, StreamError> {
    let kustomizations: Vec<&str> = tree
        .iter()
        .map(|(path, _)| path.as_str())
        .filter(|p| file_name(p) == KUSTOMIZATION)
        .collect();
    // Each kustomization parsed once, for the scan below and for its build.
    let parsed: Parsed = kustomizations
        .iter()
        .map(|k| Ok(((*k).to_owned(), parse_one(tree, k)?)))
        .collect::<Result<_, StreamError>>()?;
    let mut included: BTreeSet<String> = BTreeSet::new();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    for (k, doc) in &parsed {
        for resource in strings(doc, "resources").chain(strings(doc, "generators")) {
            if is_remote(&resource) {
                continue;
            }
            let path = join(dir_of(k), &resource);
            let nested = join(&path, KUSTOMIZATION);
            if tree.entry(&nested).is_some() {
                included.insert(nested);
            } else {
                listed.insert(path);
            }
        }
    }
    let mut pieces = Vec::new();
    for k in kustomizations.iter().filter(|k| !included.contains(**k)) {
        pieces.extend(build(tree, &parsed, k)?);
    }
    for (path, entry) in tree.iter() {
        let path = path.as_str();
        let gitops = path.starts_with("flux/") || path.starts_with("argocd/");
        if !gitops || !path.ends_with(".yaml") || file_name(path) == KUSTOMIZATION {
            continue;
        }
        if listed.contains(path) {
            continue;
        }
        match entry {
            Entry::Sealed(_) => pieces.push(sealed(path)),
            Entry::Text(text) if is_patch(path) => pieces.push(Piece::Comment {
                source: path.to_owned(),
                text: format!(
                    "a patch to merge into {}, not an object of its own",
                    patched(text)
                ),
            }),
            Entry::Text(text) => pieces.extend(objects(path, text)?),
        }
    }
    Ok(pieces)
}

/// Every kustomization of the tree, by path, parsed.
type Parsed = std::collections::BTreeMap<String, Value>;

/// What one kustomization builds.
fn build(tree: &Tree, parsed: &Parsed, kustomization: &str) -> Result<Vec<Piece>, StreamError> {
    let doc = parsed
        .get(kustomization)
        .ok_or_else(|| StreamError::Missing {
            kustomization: kustomization.to_owned(),
            resource: kustomization.to_owned(),
        })?;
    let dir = dir_of(kustomization);
    let unsupported = |feature: &str| StreamError::Unsupported {
        kustomization: kustomization.to_owned(),
        feature: feature.to_owned(),
    };
    if let Some(map) = doc.as_object() {
        const BUILT: [&str; 6] = [
            "apiVersion",
            "kind",
            "resources",
            "generators",
            "patches",
            "commonAnnotations",
        ];
        if let Some(key) = map.keys().find(|k| !BUILT.contains(&k.as_str())) {
            return Err(unsupported(key));
        }
    }
    let mut pieces = Vec::new();
    for resource in strings(doc, "resources") {
        if is_remote(&resource) {
            pieces.push(Piece::Comment {
                source: kustomization.to_owned(),
                text: format!(
                    "remote resource {resource}: not fetched (mesh-render never downloads)"
                ),
            });
            continue;
        }
        let path = join(dir, &resource);
        let nested = join(&path, KUSTOMIZATION);
        match (tree.entry(&path), tree.entry(&nested)) {
            (_, Some(_)) => pieces.extend(build(tree, parsed, &nested)?),
            (Some(Entry::Sealed(_)), None) => pieces.push(sealed(&path)),
            (Some(Entry::Text(text)), None) => pieces.extend(objects(&path, text)?),
            (None, None) => {
                return Err(StreamError::Missing {
                    kustomization: kustomization.to_owned(),
                    resource,
                });
            }
        }
    }
    for generator in strings(doc, "generators") {
        let path = join(dir, &generator);
        let config = match tree.get(&path) {
            Some(text) => parse_single(&path, text)?,
            None => {
                return Err(StreamError::Missing {
                    kustomization: kustomization.to_owned(),
                    resource: generator,
                });
            }
        };
        if config["kind"] != "ksops" {
            return Err(unsupported(&format!("generators: {generator}")));
        }
        for file in strings(&config, "files") {
            pieces.push(sealed(&join(dir_of(&path), &file)));
        }
    }
    if let Some(patches) = doc.get("patches").and_then(Value::as_array) {
        for patch in patches {
            let target = &patch["target"];
            let (kind, name) = (target["kind"].as_str(), target["name"].as_str());
            let local = pieces.iter().any(|p| match p {
                Piece::Object { object, .. } => {
                    kind.is_none_or(|k| object["kind"] == k)
                        && name.is_none_or(|n| object["metadata"]["name"] == n)
                }
                Piece::Comment { .. } => false,
            });
            if local || kind.is_none() {
                return Err(unsupported("patches of its own objects"));
            }
            pieces.push(Piece::Comment {
                source: kustomization.to_owned(),
                text: format!(
                    "patch of the remote {} {}: not applied here",
                    kind.unwrap_or_default(),
                    name.unwrap_or("(any)")
                ),
            });
        }
    }
    if let Some(annotations) = doc.get("commonAnnotations").and_then(Value::as_object) {
        for piece in &mut pieces {
            if let Piece::Object { object, .. } = piece {
                let metadata = object.as_object_mut().map(|o| {
                    o.entry("metadata")
                        .or_insert_with(|| Value::Object(Default::default()))
                });
                if let Some(Value::Object(metadata)) = metadata {
                    let own = metadata
                        .entry("annotations")
                        .or_insert_with(|| Value::Object(Default::default()));
                    if let Value::Object(own) = own {
                        for (k, v) in annotations {
                            own.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
    }
    Ok(pieces)
}

fn sealed(path: &str) -> Piece {
    Piece::Comment {
        source: path.to_owned(),
        text: "a Secret sealed with SOPS (age): not shown; decrypt it with an admin identity \
               (sops decrypt) to see it"
            .to_owned(),
    }
}

/// Every object of a YAML file (empty documents skipped).
fn objects(path: &str, text: &str) -> Result<Vec<Piece>, StreamError> {
    Ok(parse_all(path, text)?
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|object| Piece::Object {
            source: path.to_owned(),
            object,
        })
        .collect())
}

fn parse_all(path: &str, text: &str) -> Result<Vec<Value>, StreamError> {
    serde_saphyr::from_multiple(text).map_err(|e| StreamError::Yaml {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn parse_single(path: &str, text: &str) -> Result<Value, StreamError> {
    Ok(parse_all(path, text)?
        .into_iter()
        .find(|v| !v.is_null())
        .unwrap_or(Value::Null))
}

fn parse_one(tree: &Tree, path: &str) -> Result<Value, StreamError> {
    let text = tree.get(path).ok_or_else(|| StreamError::Missing {
        kustomization: path.to_owned(),
        resource: path.to_owned(),
    })?;
    parse_single(path, text)
}

/// The strings of the list `key` of `doc`.
fn strings<'a>(doc: &'a Value, key: &str) -> impl Iterator<Item = String> + 'a {
    doc.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
}

fn is_remote(resource: &str) -> bool {
    resource.contains("://") || resource.starts_with("github.com/")
}

/// A file the tree holds as a patch to merge into an object of the user's (`*-patch.yaml`).
fn is_patch(path: &str) -> bool {
    file_name(path).ends_with("-patch.yaml")
}

/// "Kind namespace/name" of a patch's object.
fn patched(text: &str) -> String {
    let doc = parse_all("", text)
        .ok()
        .and_then(|docs| docs.into_iter().find(|v| !v.is_null()))
        .unwrap_or(Value::Null);
    let meta = &doc["metadata"];
    format!(
        "{} {}/{}",
        doc["kind"].as_str().unwrap_or("object"),
        meta["namespace"].as_str().unwrap_or("-"),
        meta["name"].as_str().unwrap_or("-")
    )
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::RelPath;

    fn tree(files: &[(&str, &str)]) -> Tree {
        let mut tree = Tree::new();
        for (path, text) in files {
            tree.insert(RelPath::new(*path).unwrap(), text).unwrap();
        }
        tree
    }

    #[test]
    fn a_nested_kustomization_is_built_once_inside_its_parent() {
        let t = tree(&[
            ("a/kustomization.yaml", "resources: [b, x.yaml]\n"),
            (
                "a/b/kustomization.yaml",
                "resources: [y.yaml]\ncommonAnnotations: {k: v}\n",
            ),
            ("a/b/y.yaml", "kind: ConfigMap\nmetadata: {name: y}\n"),
            ("a/x.yaml", "kind: ConfigMap\nmetadata: {name: x}\n"),
        ]);
        let text = stream(&t).unwrap();
        assert_eq!(text.matches("# Source: a/b/y.yaml").count(), 1, "{text}");
        assert!(text.find("a/b/y.yaml").unwrap() < text.find("a/x.yaml").unwrap());
        assert!(text.contains("k: v"), "{text}");
    }

    #[test]
    fn a_feature_it_cannot_build_is_an_error() {
        let t = tree(&[("a/kustomization.yaml", "resources: []\nnamePrefix: p-\n")]);
        assert!(matches!(
            stream(&t),
            Err(StreamError::Unsupported { feature, .. }) if feature == "namePrefix"
        ));
    }

    #[test]
    fn a_patch_of_its_own_object_is_an_error() {
        let t = tree(&[
            (
                "a/kustomization.yaml",
                "resources: [x.yaml]\npatches:\n  - target: {kind: ConfigMap, name: x}\n    patch: '[]'\n",
            ),
            ("a/x.yaml", "kind: ConfigMap\nmetadata: {name: x}\n"),
        ]);
        assert!(matches!(stream(&t), Err(StreamError::Unsupported { .. })));
    }

    #[test]
    fn a_missing_resource_names_it() {
        let t = tree(&[("a/kustomization.yaml", "resources: [gone.yaml]\n")]);
        assert!(
            matches!(stream(&t), Err(StreamError::Missing { resource, .. }) if resource == "gone.yaml")
        );
    }
}
