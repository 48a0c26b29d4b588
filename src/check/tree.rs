//! A rendered tree read back from disk: its paths and render record first ([`TreeIndex`]), then
//! the files of one scope at a time (a cluster's own, or the shared ones: a fleet's tree is too
//! large to hold at once), and its kustomizations resolved in-process (the subset mesh-render
//! writes: local resources and KSOPS generators).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::Value;

use super::report::{Finding, Report};
use crate::disk::{Blocked, Confined, IoError};
use crate::plan::{OnDisk, Seen};
use crate::record::{JOURNAL_FILE, RECORD_FILE, Record};
use crate::render::tree::{Scope, cluster_of, join_entry};

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{} is not a rendered tree: it has no {RECORD_FILE}\n  fix: pass the output directory of `mesh-render` (e.g. out/)", .0.display())]
    NotATree(PathBuf),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a render record: {message}\n  fix: restore it from version control, or render again", .path.display())]
    BadRecord { path: PathBuf, message: String },
    #[error(transparent)]
    Disk(#[from] IoError),
}

/// A rendered tree's paths and record, without the files' bytes.
#[derive(Debug)]
pub struct TreeIndex {
    pub root: PathBuf,
    /// Every regular file (but the record and the journal), by path relative to the root.
    pub paths: BTreeMap<String, ()>,
    pub record: Arc<Record>,
    /// What is neither a file nor a directory, by path, with what it is.
    pub special: Arc<BTreeMap<String, &'static str>>,
    pub journal: bool,
}

/// A rendered tree on disk.
#[derive(Debug)]
pub struct RenderedTree {
    pub root: PathBuf,
    /// Every file (but the record), by path relative to the root.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Its render record, read as the writer reads it (the whole tree's).
    pub record: Arc<Record>,
    /// The files that are SOPS files (valid `sops` metadata), parsed once for every check.
    pub sops_files: BTreeMap<String, crate::sops::Parsed>,
    /// What is neither a file nor a directory (symlinks, never followed; FIFOs, devices), by
    /// path, with what it is (the whole tree's).
    pub special: Arc<BTreeMap<String, &'static str>>,
    /// A render's journal is there: it was interrupted mid-commit.
    pub journal: bool,
}

/// What `special` calls a symlink.
pub const SYMLINK: &str = "a symlink";

/// Every YAML file that parses, by path: its documents, shared with the objects built from them.
pub type Docs = BTreeMap<String, Vec<Arc<Value>>>;

/// An object as a kustomization would build it.
#[derive(Debug, Clone)]
pub struct BuiltObject {
    /// The file it came from.
    pub file: String,
    /// Shared with the parsed file it came from: a fleet's tree holds tens of thousands.
    pub value: Arc<Value>,
    /// Whether the file is SOPS-encrypted.
    pub encrypted: bool,
}

/// A tree read back is a disk the write plan can look at, files and all.
impl OnDisk for RenderedTree {
    fn look<R>(&self, path: &str, f: impl FnOnce(Seen<'_>) -> R) -> Result<R, IoError> {
        // A symlink at the path or at a directory on the way to it is never followed.
        let through_link = path
            .match_indices('/')
            .map(|(i, _)| &path[..i])
            .chain(std::iter::once(path))
            .any(|prefix| self.special.get(prefix) == Some(&SYMLINK));
        Ok(f(match self.files.get(path) {
            _ if through_link => Seen::Symlink,
            Some(bytes) => Seen::File(bytes),
            None if self.special.contains_key(path) => Seen::Directory,
            None => Seen::Absent,
        }))
    }

    fn files(&self) -> Vec<&str> {
        self.files.keys().map(String::as_str).collect()
    }
}

impl TreeIndex {
    /// Reads the record and walks the tree at `root`, reading no file but the record. The
    /// record is read as the writer reads it (`disk::Confined`: never through a symlink).
    pub fn open(root: &Path) -> Result<Self, TreeError> {
        let record_path = root.join(RECORD_FILE);
        if !root.is_dir() {
            return Err(TreeError::NotATree(root.to_owned()));
        }
        let bytes = match Confined::new(root).read(RECORD_FILE)? {
            Ok(Some(bytes)) => bytes,
            Ok(None) | Err(Blocked::NotADirectory(_)) => {
                return Err(TreeError::NotATree(root.to_owned()));
            }
            Err(Blocked::Symlink(_)) => {
                return Err(TreeError::BadRecord {
                    path: record_path,
                    message: "it is a symlink, which mesh-render never follows".to_owned(),
                });
            }
        };
        let record = Record::parse(&bytes).map_err(|e| TreeError::BadRecord {
            path: record_path.clone(),
            message: e.0,
        })?;
        let mut paths = BTreeMap::new();
        let mut special = BTreeMap::new();
        walk(root, root, &mut paths, &mut special)?;
        paths.remove(RECORD_FILE);
        let journal = paths.remove(JOURNAL_FILE).is_some();
        Ok(TreeIndex {
            root: root.to_owned(),
            paths,
            record: Arc::new(record),
            special: Arc::new(special),
            journal,
        })
    }

    /// The clusters that own files, in order.
    pub fn clusters(&self) -> Vec<String> {
        let clusters: BTreeSet<&str> = self.paths.keys().filter_map(|p| cluster_of(p)).collect();
        clusters.into_iter().map(str::to_owned).collect()
    }

    /// Every directory of the tree holding a kustomization.
    pub fn kustomization_dirs(&self) -> BTreeSet<&str> {
        self.paths
            .keys()
            .filter_map(|p| p.strip_suffix("/kustomization.yaml"))
            .collect()
    }

    /// The files of `scope`, read (in parallel), never through a symlink.
    pub fn load(&self, scope: &Scope) -> Result<RenderedTree, TreeError> {
        let confined = Confined::new(&self.root);
        let paths: Vec<&String> = scope.entries(&self.paths).map(|(p, _)| p).collect();
        type Read = Result<Option<Vec<u8>>, Blocked>;
        let read: Vec<(String, Read)> = paths
            .par_iter()
            .map(|path| Ok(((*path).clone(), confined.read(path)?)))
            .collect::<Result<_, IoError>>()?;
        let mut files = BTreeMap::new();
        let mut special = BTreeMap::clone(&self.special);
        for (path, bytes) in read {
            match bytes {
                Ok(Some(bytes)) => {
                    files.insert(path, bytes);
                }
                // Replaced while read (no render runs: `check` holds the tree's lock).
                Ok(None) => {}
                Err(_) => {
                    special.insert(path, SYMLINK);
                }
            }
        }
        let special = if special.len() == self.special.len() {
            Arc::clone(&self.special)
        } else {
            Arc::new(special)
        };
        let sops_files = files
            .par_iter()
            .filter_map(|(path, bytes)| {
                let text = std::str::from_utf8(bytes).ok()?;
                // A SOPS file has a `sops` key: the others need not be parsed here.
                if !text.contains("sops") {
                    return None;
                }
                Some((path.clone(), crate::sops::parse(text).ok()?))
            })
            .collect();
        Ok(RenderedTree {
            root: self.root.clone(),
            files,
            record: Arc::clone(&self.record),
            sops_files,
            special,
            journal: self.journal,
        })
    }
}

impl RenderedTree {
    /// The whole tree, read at once (a small tree, or a test's).
    pub fn open(root: &Path) -> Result<Self, TreeError> {
        TreeIndex::open(root)?.load(&Scope::All)
    }

    pub fn text(&self, path: &str) -> Option<&str> {
        self.files
            .get(path)
            .and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The directories holding a kustomization, under the given top-level directories.
    pub fn kustomization_dirs(&self, tops: &[&str]) -> Vec<String> {
        self.files
            .keys()
            .filter_map(|p| p.strip_suffix("/kustomization.yaml"))
            .filter(|d| tops.iter().any(|t| d.starts_with(&format!("{t}/"))))
            .map(str::to_owned)
            .collect()
    }

    /// Resolves the kustomization in `dir` the way kustomize would for the forms mesh-render
    /// writes: `resources` (local files) and `generators` (KSOPS). Problems become findings; the
    /// files it lists are added to `listed`.
    pub fn build(
        &self,
        dir: &str,
        docs: &Docs,
        report: &mut Report,
        listed: &mut BTreeSet<String>,
    ) -> Vec<BuiltObject> {
        let kpath = format!("{dir}/kustomization.yaml");
        let Some(text) = self.text(&kpath) else {
            return Vec::new();
        };
        let kustomization: Value = match serde_saphyr::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                report.push(Finding::error(
                    "structure",
                    &kpath,
                    format!(
                        "not valid YAML: {}",
                        crate::shown::parser_message(&e.to_string())
                    ),
                    "render again",
                ));
                return Vec::new();
            }
        };
        let mut objects = Vec::new();
        let list = |key: &str| -> Vec<String> {
            kustomization
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        for resource in list("resources") {
            if resource.contains("://") {
                report.note(format!("{kpath} references {resource}: an upstream release pinned by URL, not validated (that needs the network)"));
                continue;
            }
            let path = join_entry(dir, &resource);
            listed.insert(path.clone());
            self.objects_of(&kpath, &path, docs, report, &mut objects);
        }
        for generator in list("generators") {
            let path = join_entry(dir, &generator);
            listed.insert(path.clone());
            let Some(gtext) = self.text(&path) else {
                report.push(Finding::error(
                    "structure",
                    &kpath,
                    format!("lists generator {generator}, which does not exist"),
                    "render again",
                ));
                continue;
            };
            let config: Value = serde_saphyr::from_str(gtext).unwrap_or(Value::Null);
            let files: Vec<String> = config
                .get("files")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            if config.get("kind").and_then(Value::as_str) != Some("ksops") || files.is_empty() {
                report.push(Finding::error(
                    "structure",
                    &path,
                    "not a KSOPS generator with files",
                    "render again",
                ));
            }
            for file in files {
                let fpath = join_entry(dir, &file);
                listed.insert(fpath.clone());
                self.objects_of(&path, &fpath, docs, report, &mut objects);
            }
        }
        objects
    }

    /// Parses the objects of one listed file.
    fn objects_of(
        &self,
        lister: &str,
        path: &str,
        docs: &Docs,
        report: &mut Report,
        objects: &mut Vec<BuiltObject>,
    ) {
        let Some(text) = self.text(path) else {
            report.push(Finding::error(
                "structure",
                lister,
                format!("lists {path}, which does not exist"),
                "render again, or remove the entry",
            ));
            return;
        };
        let encrypted = self.sops_files.contains_key(path);
        if let Some(values) = docs.get(path) {
            objects.extend(values.iter().map(|value| BuiltObject {
                file: path.to_owned(),
                value: Arc::clone(value),
                encrypted,
            }));
            return;
        }
        match super::schema::parse_documents(text) {
            Ok(values) => objects.extend(values.into_iter().map(|value| BuiltObject {
                file: path.to_owned(),
                value: Arc::new(value),
                encrypted,
            })),
            Err(e) => report.push(Finding::error(
                "structure",
                path,
                format!(
                    "not valid YAML: {}",
                    crate::shown::parser_message(&e.to_string())
                ),
                "render again",
            )),
        }
    }
}

/// Every regular file under `dir`; directories entered; symlinks (never followed) and
/// other special files noted in `special`.
fn walk(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, ()>,
    special: &mut BTreeMap<String, &'static str>,
) -> Result<(), TreeError> {
    let entries = fs::read_dir(dir).map_err(|source| TreeError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let kind = entry.file_type().map_err(|source| TreeError::Io {
            path: path.clone(),
            source,
        })?;
        if kind.is_symlink() {
            special.insert(rel, SYMLINK);
        } else if kind.is_dir() {
            walk(root, &path, files, special)?;
        } else if kind.is_file() {
            files.insert(rel, ());
        } else {
            special.insert(rel, "not a regular file");
        }
    }
    Ok(())
}

/// `apiVersion Kind namespace/name` of an object.
pub fn describe(object: &Value) -> String {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
    let ns = s("/metadata/namespace");
    let name = s("/metadata/name");
    let id = if ns.is_empty() {
        name.to_owned()
    } else {
        format!("{ns}/{name}")
    };
    format!("{} {} {id}", s("/apiVersion"), s("/kind"))
}
