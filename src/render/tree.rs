//! The rendered tree: a sorted map from relative path to file text. It is the single shape that
//! output writes, diff compares and tests snapshot. Also the tree's one partition: each
//! cluster's own files, and the files the clusters share ([`Scope`]).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use crate::config::{AgeRecipient, ClusterName};
use crate::templates::normalize;

/// A path relative to the output directory, '/'-separated, with no empty, `.` or `..` parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a relative path inside the output directory")]
pub struct BadPath(pub String);

/// `dir/file` of a kustomization's entry, with `./` and `..` resolved textually (never above
/// the tree's root): how both `check` and `template` follow a kustomization's resources.
pub fn join_entry(dir: &str, file: &str) -> String {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in file.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The top-level directories that hold one directory per cluster: `<top>/<cluster>/...` is that
/// cluster's own; everything else in the tree is shared.
pub const CLUSTER_TOPS: [&str; 5] = ["clusters", "values", "istioctl", "flux", "argocd"];

/// The cluster a path belongs to: `<top>/<cluster>/<file...>` under one of [`CLUSTER_TOPS`].
pub fn cluster_of(path: &str) -> Option<&str> {
    let mut parts = path.splitn(3, '/');
    let (top, cluster) = (parts.next()?, parts.next()?);
    parts.next()?;
    CLUSTER_TOPS.contains(&top).then_some(cluster)
}

/// A part of a tree, so that a tree of hundreds of clusters can be read, checked and compared
/// one cluster at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// One cluster's own files ([`cluster_of`]).
    Cluster(String),
    /// The files no one cluster owns (`base/`, the top README, `.sops.yaml`, ...).
    Shared,
}

impl Scope {
    pub fn contains(&self, path: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Cluster(c) => cluster_of(path) == Some(c.as_str()),
            Scope::Shared => cluster_of(path).is_none(),
        }
    }

    /// The entries of `map` (keyed by tree path) in this scope, in path order within each top
    /// directory; a cluster's are found by range, not by a walk over the whole map.
    pub fn entries<'m, K, V>(
        &self,
        map: &'m BTreeMap<K, V>,
    ) -> Box<dyn Iterator<Item = (&'m K, &'m V)> + 'm>
    where
        K: Borrow<str> + Ord,
    {
        match self {
            Scope::All => Box::new(map.iter()),
            Scope::Shared => Box::new(
                map.iter()
                    .filter(|(k, _)| cluster_of((*k).borrow()).is_none()),
            ),
            Scope::Cluster(cluster) => {
                let cluster = cluster.clone();
                Box::new(CLUSTER_TOPS.iter().flat_map(move |top| {
                    let prefix = format!("{top}/{cluster}/");
                    map.range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                        .take_while(move |(k, _)| (*k).borrow().starts_with(&prefix))
                }))
            }
        }
    }
}

impl Borrow<str> for RelPath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl RelPath {
    pub fn new(path: impl Into<String>) -> Result<Self, BadPath> {
        let path = path.into();
        let ok = !path.is_empty()
            && !path.contains('\\')
            && !path.contains('\0')
            && path
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if ok {
            Ok(Self(path))
        } else {
            Err(BadPath(path))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parent directory, if the path has one.
    pub fn parent(&self) -> Option<&str> {
        self.0.rsplit_once('/').map(|(dir, _)| dir)
    }

    /// The final component.
    pub fn file_name(&self) -> &str {
        self.0
            .rsplit_once('/')
            .map_or(self.0.as_str(), |(_, name)| name)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A rendered file: text, or a secret to be sealed (encrypted) when the output is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Text(String),
    Sealed(Sealed),
}

/// A secret file as the renderer describes it: what to seal, for whom, and a digest of every
/// input of its plaintext (never the plaintext itself). While the inputs are unchanged, the file
/// already on disk is kept byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub secret: Secret,
    /// age recipients, admins first.
    pub recipients: std::sync::Arc<[AgeRecipient]>,
    /// sops `encrypted_regex`.
    pub encrypted_regex: &'static str,
    /// `sha256:<hex>` over the inputs: PKI state files, recipients, rule, template. `None` while
    /// they are not known yet: its intermediate CA is to be issued (planned while inspecting).
    pub inputs: Option<String>,
    /// Seal it again even if its inputs and the file are unchanged (`--refresh-credentials`).
    pub force: bool,
}

/// Which secret a sealed file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// The `cacerts` Secret of a cluster.
    CaCerts {
        cluster: ClusterName,
        namespace: String,
    },
    /// The remote secret that lets `target`'s istiod read `source`.
    RemoteSecret {
        source: ClusterName,
        target: ClusterName,
        namespace: String,
    },
}

/// Rendered files by path, sorted; every text is normalized (LF, one trailing newline).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<RelPath, Entry>,
}

impl Tree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file; a second file at the same path is a renderer bug, reported as an error.
    pub fn insert(&mut self, path: RelPath, text: &str) -> Result<(), RelPath> {
        if self.files.contains_key(&path) {
            return Err(path);
        }
        self.files.insert(path, Entry::Text(normalize(text)));
        Ok(())
    }

    /// Adds a secret to seal; a second file at the same path is a renderer bug.
    pub fn insert_sealed(&mut self, path: RelPath, sealed: Sealed) -> Result<(), RelPath> {
        if self.files.contains_key(&path) {
            return Err(path);
        }
        self.files.insert(path, Entry::Sealed(sealed));
        Ok(())
    }

    /// Moves every file of `others` into this tree, built in bulk (one sort, no rebalancing
    /// per file); a path two trees hold is a renderer bug.
    pub fn merge(&mut self, others: Vec<Tree>) -> Result<(), RelPath> {
        let mut files: Vec<(RelPath, Entry)> = std::mem::take(&mut self.files)
            .into_iter()
            .chain(others.into_iter().flat_map(|tree| tree.files))
            .collect();
        files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = files.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(pair[0].0.clone());
        }
        self.files = files.into_iter().collect();
        Ok(())
    }

    /// The text of a text file.
    pub fn get(&self, path: &str) -> Option<&str> {
        match self.entry(path)? {
            Entry::Text(text) => Some(text),
            Entry::Sealed(_) => None,
        }
    }

    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.files.get(path)
    }

    /// The files in `scope` (in path order within each top directory).
    pub fn iter_in<'a>(
        &'a self,
        scope: &Scope,
    ) -> impl Iterator<Item = (&'a RelPath, &'a Entry)> + 'a {
        scope.entries(&self.files)
    }

    /// Every file, text or sealed, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&RelPath, &Entry)> {
        self.files.iter()
    }

    /// The text files, in path order.
    pub fn texts(&self) -> impl Iterator<Item = (&RelPath, &str)> {
        self.files.iter().filter_map(|(p, e)| match e {
            Entry::Text(t) => Some((p, t.as_str())),
            Entry::Sealed(_) => None,
        })
    }

    pub fn paths(&self) -> impl Iterator<Item = &RelPath> {
        self.files.keys()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_holds_one_clusters_own_files_or_the_shared_ones() {
        let map: BTreeMap<String, ()> = [
            "README.md",
            "argocd/a/app.yaml",
            "base/metallb/kustomization.yaml",
            "clusters/a/README.md",
            "clusters/ab/README.md",
            "clusters/b/10-istio-system/namespace.yaml",
            "values/a/istiod.yaml",
            "values/a",
        ]
        .into_iter()
        .map(|p| (p.to_owned(), ()))
        .collect();
        let of = |scope: Scope| -> Vec<&str> {
            scope
                .entries(&map)
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            of(Scope::Cluster("a".into())),
            [
                "clusters/a/README.md",
                "values/a/istiod.yaml",
                "argocd/a/app.yaml"
            ]
        );
        assert_eq!(
            of(Scope::Shared),
            ["README.md", "base/metallb/kustomization.yaml", "values/a"]
        );
        assert_eq!(of(Scope::All).len(), map.len());
        assert!(Scope::Cluster("a".into()).contains("flux/a/x.yaml"));
        assert!(!Scope::Cluster("a".into()).contains("clusters/ab/README.md"));
    }

    #[test]
    fn an_entry_resolves_dot_and_dot_dot_inside_the_tree() {
        assert_eq!(
            join_entry("clusters/a/10", "ns.yaml"),
            "clusters/a/10/ns.yaml"
        );
        assert_eq!(
            join_entry("clusters/a/10", "../20/x.yaml"),
            "clusters/a/20/x.yaml"
        );
        assert_eq!(join_entry("clusters/a/10", "../../../base/x"), "base/x");
        assert_eq!(join_entry("", "./x.yaml"), "x.yaml");
    }

    fn tree_of(paths: &[&str]) -> Tree {
        let mut tree = Tree::new();
        for path in paths {
            tree.insert(RelPath::new(*path).unwrap(), path).unwrap();
        }
        tree
    }

    #[test]
    fn merged_trees_hold_every_file_in_path_order() {
        let mut tree = tree_of(&["b/1", "z"]);
        tree.merge(vec![tree_of(&["a/2", "c"]), tree_of(&["b/0"])])
            .unwrap();
        let paths: Vec<&str> = tree.paths().map(RelPath::as_str).collect();
        assert_eq!(paths, ["a/2", "b/0", "b/1", "c", "z"]);
        assert_eq!(tree.get("c"), Some("c\n"));
    }

    #[test]
    fn a_path_in_two_merged_trees_is_reported() {
        let mut tree = tree_of(&["a", "b"]);
        let err = tree
            .merge(vec![tree_of(&["c"]), tree_of(&["b"])])
            .unwrap_err();
        assert_eq!(err.as_str(), "b");
    }

    #[test]
    fn rel_path_rejects_escapes_and_absolutes() {
        for bad in ["", "/etc/passwd", "a/../b", "./a", "a//b", "a\\b", "a/"] {
            assert!(RelPath::new(bad).is_err(), "{bad:?}");
        }
        assert!(RelPath::new("clusters/a/10-istio-system/namespace.yaml").is_ok());
    }

    #[test]
    fn a_path_cannot_be_rendered_twice() {
        let mut t = Tree::new();
        let p = RelPath::new("a.yaml").unwrap();
        t.insert(p.clone(), "a").unwrap();
        assert_eq!(t.insert(p.clone(), "b"), Err(p));
    }
}
