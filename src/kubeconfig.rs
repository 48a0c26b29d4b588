//! Kubeconfig files read offline: parsing, kubectl's multi-file merge (stricter about conflicts),
//! the contexts in `kubectl config get-contexts` order, and kubeconfig cluster -> mesh cluster names.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Error as YamlError;
use serde_saphyr::budget::BudgetBreach;

use crate::config::names::{ClusterName, suggest_dns1123_label};
use crate::disk::{self, Input};

/// A kubeconfig larger than this is refused before parsing (a thousand clusters with inline
/// certificates stay far below it).
pub const MAX_FILE_BYTES: usize = disk::MAX_INPUT_BYTES as usize;

/// How long `init` waits for a kubeconfig that is not a regular file (`<(…)`).
const STREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The three kinds of named entries of a kubeconfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Cluster,
    Context,
    User,
}

impl EntryKind {
    /// The kubeconfig list that holds entries of this kind.
    pub fn section(self) -> &'static str {
        match self {
            EntryKind::Cluster => "clusters",
            EntryKind::Context => "contexts",
            EntryKind::User => "users",
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryKind::Cluster => "cluster",
            EntryKind::Context => "context",
            EntryKind::User => "user",
        })
    }
}

/// A `clusters[]` entry. Relative paths are already resolved against the directory of the file
/// that defines the entry; empty strings in the file count as absent, as in client-go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEntry {
    pub name: String,
    /// The API server URL; empty if the file gives none.
    pub server: String,
    /// Base64 PEM, exactly as written in the file.
    pub certificate_authority_data: Option<String>,
    pub certificate_authority: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub proxy_url: Option<String>,
    /// Fields this module does not interpret (`extensions`, `disable-compression`, ...), kept so
    /// that two definitions differing only there are still told apart.
    pub other: BTreeMap<String, Value>,
    /// The file that defines the entry.
    pub source: PathBuf,
}

/// A `users[]` entry (client-go's AuthInfo). `Debug` hides the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub name: String,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    /// Base64 PEM, exactly as written in the file.
    pub client_certificate_data: Option<String>,
    /// Base64 PEM, exactly as written in the file.
    pub client_key_data: Option<String>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub exec: Option<ExecConfig>,
    /// The `auth-provider` mapping, uninterpreted.
    pub auth_provider: Option<Value>,
    /// Fields this module does not interpret (`as`, `as-groups`, `extensions`, ...).
    pub other: BTreeMap<String, Value>,
    pub source: PathBuf,
}

/// A user's `exec` credential plugin.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecConfig {
    /// A bare name is looked up in PATH; a path containing a separator is resolved like the
    /// other file references.
    pub command: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub api_version: Option<String>,
    pub install_hint: Option<String>,
    pub provide_cluster_info: bool,
    pub interactive_mode: Option<String>,
}

/// A `contexts[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    pub name: String,
    pub cluster: String,
    /// Empty if the context names no user (kubectl then sends no credentials).
    pub user: String,
    pub namespace: Option<String>,
    pub other: BTreeMap<String, Value>,
    pub source: PathBuf,
}

/// One context with the cluster and user it refers to.
#[derive(Debug, Clone, Copy)]
pub struct ContextView<'a> {
    pub context: &'a ContextEntry,
    pub cluster: &'a ClusterEntry,
    /// `None` only when the context names no user.
    pub user: Option<&'a UserEntry>,
}

/// Kubeconfig files merged: every context refers to a cluster (and user) that exists, and no
/// name is defined differently by two files.
#[derive(Debug, Clone, Default)]
pub struct Kubeconfig {
    clusters: BTreeMap<String, ClusterEntry>,
    users: BTreeMap<String, UserEntry>,
    contexts: BTreeMap<String, ContextEntry>,
    current_context: Option<String>,
    files: Vec<PathBuf>,
    missing: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error(
        "no kubeconfig file to read\n  fix: pass kubeconfig files (e.g. ~/.kube/config), or set KUBECONFIG to a list of them separated by '{}'",
        list_separator()
    )]
    NoFiles,
    #[error(
        "none of the kubeconfig files listed in KUBECONFIG exists: {}\n  fix: correct KUBECONFIG, or pass the kubeconfig files explicitly",
        join_paths(.missing)
    )]
    NoneFound { missing: Vec<PathBuf> },
    #[error("cannot read kubeconfig {}: {source}\n  fix: {}", .path.display(), read_fix(.source))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot resolve the relative paths in kubeconfig {}: {source}\n  fix: run from an existing directory, or pass the kubeconfig by its absolute path",
        .path.display()
    )]
    Resolve {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "kubeconfig {}{}: {problem}\n  fix: {fix}",
        .path.display(),
        at_suffix(*.at)
    )]
    Invalid {
        path: PathBuf,
        /// 1-based line and column, when known.
        at: Option<(u64, u64)>,
        problem: String,
        fix: String,
    },
    #[error(
        "kubeconfig {} defines {kind} {name:?} twice\n  fix: keep one of the two entries under `{}:` (kubectl rejects this file too)",
        .path.display(),
        .kind.section()
    )]
    Duplicate {
        kind: EntryKind,
        name: String,
        path: PathBuf,
    },
    #[error(
        "{kind} {name:?} is defined differently in {} and in {}; kubectl would silently use the one in {}, and the mesh must not depend on the order of files\n  fix: rename the {kind} in one of the files (and every context that refers to it), or make the two definitions identical",
        .first.display(),
        .second.display(),
        .first.display()
    )]
    Conflict {
        kind: EntryKind,
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{}", dangling_message(.context, *.missing_kind, .name, .path))]
    DanglingReference {
        context: String,
        missing_kind: EntryKind,
        /// The name the context refers to; empty when the context names none.
        name: String,
        path: PathBuf,
    },
    #[error("{}", not_dns1123_message(.cluster, .path, .suggestion.as_deref()))]
    NotDns1123 {
        cluster: String,
        path: PathBuf,
        suggestion: Option<String>,
    },
}

impl Kubeconfig {
    /// Reads explicit kubeconfig files, merged in the order given. A missing file is an error
    /// (kubectl's `--kubeconfig` rule); a path listed twice is read once.
    ///
    /// # Errors
    ///
    /// [`KubeconfigError::NoFiles`] for an empty list, `Read` for a missing or unreadable file,
    /// `Invalid` or `Duplicate` for a bad file, `Conflict` when two files define a name
    /// differently, `DanglingReference` when a context refers to an undefined cluster or user.
    pub fn load(paths: &[PathBuf]) -> Result<Self, KubeconfigError> {
        Self::load_as(paths, Input::Regular)
    }

    /// [`Kubeconfig::load`] for `init`, which also reads what is not a regular file (`<(…)`),
    /// waiting for it a few seconds at most.
    pub fn load_streams(paths: &[PathBuf]) -> Result<Self, KubeconfigError> {
        Self::load_as(paths, Input::Stream(STREAM_TIMEOUT))
    }

    fn load_as(paths: &[PathBuf], input: Input) -> Result<Self, KubeconfigError> {
        let paths = deduplicate(paths.iter().cloned());
        if paths.is_empty() {
            return Err(KubeconfigError::NoFiles);
        }
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let text = read_file(&path, input).map_err(|source| KubeconfigError::Read {
                path: path.clone(),
                source,
            })?;
            files.push(parse_file(&text, &path)?);
        }
        merge(files, Vec::new())
    }

    /// Reads the files of a `KUBECONFIG` value the way kubectl does: split on the platform's
    /// list separator, empty entries and repeated paths skipped, missing files skipped (but at
    /// least one must exist). An unset or empty `KUBECONFIG` makes kubectl read
    /// `~/.kube/config`; that fallback is the caller's, through [`Kubeconfig::load`].
    ///
    /// # Errors
    ///
    /// As [`Kubeconfig::load`], except that a missing file is skipped (and listed by
    /// [`Kubeconfig::missing`]); `NoFiles` when the value lists no path, `NoneFound` when none of
    /// the listed files exists.
    // Source: kubernetes/client-go@v0.36.3:tools/clientcmd/loader.go
    // (NewDefaultClientConfigLoadingRules: filepath.SplitList + deduplicate; Load: `len(filename)
    // == 0` skipped, `os.IsNotExist` skipped and only warned about when all are missing).
    pub fn load_env(value: &OsStr) -> Result<Self, KubeconfigError> {
        let paths = deduplicate(std::env::split_paths(value).filter(|p| !p.as_os_str().is_empty()));
        if paths.is_empty() {
            return Err(KubeconfigError::NoFiles);
        }
        let mut files = Vec::with_capacity(paths.len());
        let mut missing = Vec::new();
        for path in paths {
            match read_file(&path, Input::Stream(STREAM_TIMEOUT)) {
                Ok(text) => files.push(parse_file(&text, &path)?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(path),
                Err(source) => return Err(KubeconfigError::Read { path, source }),
            }
        }
        if files.is_empty() {
            return Err(KubeconfigError::NoneFound { missing });
        }
        merge(files, missing)
    }

    /// One kubeconfig given as text; `source` names it in errors and anchors its relative paths.
    ///
    /// # Errors
    ///
    /// As [`Kubeconfig::load`] for one file.
    pub fn parse(text: &str, source: &Path) -> Result<Self, KubeconfigError> {
        if text.len() > MAX_FILE_BYTES {
            return Err(too_large(source, text.len()));
        }
        merge(vec![parse_file(text, source)?], Vec::new())
    }

    /// Every context with its cluster and user, sorted by context name as
    /// `kubectl config get-contexts` prints them.
    // Source: kubernetes/kubectl@v0.36.3:pkg/cmd/config/get_contexts.go (RunGetContexts collects
    // the names of config.Contexts, then sort.Strings: byte order, which BTreeMap<String> keeps).
    pub fn contexts(&self) -> Vec<ContextView<'_>> {
        self.contexts
            .values()
            .filter_map(|context| {
                // `merge` guarantees the cluster exists and a named user exists.
                let cluster = self.clusters.get(&context.cluster)?;
                let user = self.users.get(&context.user);
                Some(ContextView {
                    context,
                    cluster,
                    user,
                })
            })
            .collect()
    }

    pub fn context(&self, name: &str) -> Option<&ContextEntry> {
        self.contexts.get(name)
    }

    pub fn cluster(&self, name: &str) -> Option<&ClusterEntry> {
        self.clusters.get(name)
    }

    pub fn user(&self, name: &str) -> Option<&UserEntry> {
        self.users.get(name)
    }

    /// The first non-empty `current-context` in file order, as kubectl merges it. It may name a
    /// context that does not exist (kubectl allows that too).
    pub fn current_context(&self) -> Option<&str> {
        self.current_context.as_deref()
    }

    /// The files read, in merge order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// `KUBECONFIG` entries skipped because the file does not exist.
    pub fn missing(&self) -> &[PathBuf] {
        &self.missing
    }
}

/// The mesh cluster name `init` gives a kubeconfig cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedName {
    pub name: ClusterName,
    /// Whether it was derived, the kubeconfig's own name not being a DNS-1123 label.
    pub derived: bool,
}

impl ClusterEntry {
    /// This cluster's mesh cluster name: its own name when that is a DNS-1123 label, else the
    /// one [`suggest_mesh_cluster_name`] derives from the distinctive part of the forms cloud
    /// CLIs write (`arn:aws:eks:…:cluster/prod` gives `prod`).
    ///
    /// # Errors
    ///
    /// [`KubeconfigError::NotDns1123`] when no label can be derived (a name of symbols only).
    pub fn imported_name(&self) -> Result<ImportedName, KubeconfigError> {
        if let Ok(name) = ClusterName::parse(&self.name) {
            return Ok(ImportedName {
                name,
                derived: false,
            });
        }
        suggest_mesh_cluster_name(&self.name)
            .and_then(|s| ClusterName::parse(&s).ok())
            .map(|name| ImportedName {
                name,
                derived: true,
            })
            .ok_or_else(|| KubeconfigError::NotDns1123 {
                cluster: self.name.clone(),
                path: self.source.clone(),
                suggestion: None,
            })
    }

    /// This cluster's name as a mesh cluster name; see [`mesh_cluster_name`].
    ///
    /// # Errors
    ///
    /// [`KubeconfigError::NotDns1123`] naming this entry's file.
    pub fn mesh_cluster_name(&self) -> Result<ClusterName, KubeconfigError> {
        mesh_cluster_name(&self.name, &self.source)
    }
}

/// A kubeconfig cluster name as the mesh cluster name, which must be a DNS-1123 label. The
/// error names the file and suggests a rename.
///
/// # Errors
///
/// [`KubeconfigError::NotDns1123`] when `name` is not a DNS-1123 label.
pub fn mesh_cluster_name(name: &str, source: &Path) -> Result<ClusterName, KubeconfigError> {
    ClusterName::parse(name).map_err(|_| KubeconfigError::NotDns1123 {
        cluster: name.to_owned(),
        path: source.to_path_buf(),
        suggestion: suggest_mesh_cluster_name(name),
    })
}

/// The DNS-1123 label to suggest for a kubeconfig cluster name: the distinctive part of the
/// forms cloud CLIs write (`arn:aws:eks:REGION:ACCOUNT:cluster/NAME`,
/// `gke_PROJECT_LOCATION_NAME`, `USER@CLUSTER`), else the whole name, made a label.
pub fn suggest_mesh_cluster_name(name: &str) -> Option<String> {
    let after_at = name.rsplit('@').next().unwrap_or(name);
    let last_segment = after_at
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(after_at);
    let base = match last_segment.strip_prefix("gke_") {
        Some(rest) => rest.splitn(3, '_').nth(2).unwrap_or(last_segment),
        None => last_segment,
    };
    suggest_dns1123_label(base).or_else(|| suggest_dns1123_label(name))
}

// ---------------------------------------------------------------------------------------------
// Parsing one file

#[derive(Default, Deserialize)]
struct RawConfig {
    kind: Option<String>,
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    clusters: Option<Vec<RawNamedCluster>>,
    users: Option<Vec<RawNamedUser>>,
    contexts: Option<Vec<RawNamedContext>>,
    #[serde(rename = "current-context")]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct RawNamedCluster {
    name: Option<String>,
    cluster: Option<RawCluster>,
}

#[derive(Deserialize)]
struct RawNamedUser {
    name: Option<String>,
    user: Option<RawUser>,
}

#[derive(Deserialize)]
struct RawNamedContext {
    name: Option<String>,
    context: Option<RawContext>,
}

// Source: kubernetes/client-go@v0.36.3:tools/clientcmd/api/v1/types.go (field names).
#[derive(Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawCluster {
    server: Option<String>,
    certificate_authority_data: Option<String>,
    certificate_authority: Option<String>,
    tls_server_name: Option<String>,
    insecure_skip_tls_verify: Option<bool>,
    proxy_url: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawUser {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
    client_certificate: Option<String>,
    client_key: Option<String>,
    username: Option<String>,
    password: Option<String>,
    exec: Option<RawExec>,
    auth_provider: Option<Value>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawExec {
    command: Option<String>,
    args: Option<Vec<String>>,
    env: Option<Vec<RawExecEnv>>,
    api_version: Option<String>,
    install_hint: Option<String>,
    provide_cluster_info: Option<bool>,
    interactive_mode: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawExecEnv {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawContext {
    cluster: Option<String>,
    user: Option<String>,
    namespace: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// One file's entries, names checked unique, paths resolved.
struct FileConfig {
    path: PathBuf,
    clusters: Vec<ClusterEntry>,
    users: Vec<UserEntry>,
    contexts: Vec<ContextEntry>,
    current_context: Option<String>,
}

/// Bounds for a kubeconfig: anchors are allowed, an alias bomb or deep nesting stops here.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 2_000_000,
            max_nodes: 1_000_000,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_depth: 64,
            max_documents: 1,
            max_total_scalar_bytes: MAX_FILE_BYTES,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 200_000,
            max_replay_stack_depth: 16,
        },
        // sigs.k8s.io/yaml reads YAML 1.1: 0644 is octal, yes/no are booleans (the default).
        legacy_octal_numbers: true,
        with_snippet: false,
    }
}

fn read_file(path: &Path, input: Input) -> std::io::Result<String> {
    let bytes = disk::read_input(path, MAX_FILE_BYTES as u64, input)?;
    String::from_utf8(bytes).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

fn too_large(path: &Path, size: usize) -> KubeconfigError {
    KubeconfigError::Invalid {
        path: path.to_path_buf(),
        at: None,
        problem: format!("the text is {size} bytes; a kubeconfig is at most {MAX_FILE_BYTES}"),
        fix: "check that the path names a kubeconfig file".to_owned(),
    }
}

fn parse_file(text: &str, path: &Path) -> Result<FileConfig, KubeconfigError> {
    let invalid = |at, problem: String, fix: &str| KubeconfigError::Invalid {
        path: path.to_path_buf(),
        at,
        problem,
        fix: fix.to_owned(),
    };
    // An empty file (or one of comments only) is an empty config.
    // Source: kubernetes/client-go@v0.36.3:tools/clientcmd/loader.go (Load: `len(data) == 0`
    // returns the default object).
    let mut field = None;
    let raw: Option<RawConfig> =
        serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
            serde_path_to_error::deserialize(de).map_err(|e| {
                field = Some(e.path().to_string());
                e.into_inner()
            })
        })
        .map_err(|e| yaml_error(&e, field.as_deref(), text, path))?;
    let raw = raw.unwrap_or_default();

    if let Some(kind) = raw
        .kind
        .as_deref()
        .filter(|k| !k.is_empty() && *k != "Config")
    {
        return Err(invalid(
            None,
            format!("kind {kind:?}: this is not a kubeconfig (kind: Config)"),
            "pass a kubeconfig file; `kubectl config view --raw` prints one",
        ));
    }
    if let Some(v) = raw
        .api_version
        .as_deref()
        .filter(|v| !v.is_empty() && *v != "v1")
    {
        return Err(invalid(
            None,
            format!(
                "unsupported apiVersion {}; kubeconfig files are apiVersion v1",
                crate::shown::value(v)
            ),
            "set `apiVersion: v1`",
        ));
    }

    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = std::path::absolute(dir).map_err(|source| KubeconfigError::Resolve {
        path: path.to_path_buf(),
        source,
    })?;
    let base = clean(&base);
    let source = path.to_path_buf();

    let mut clusters = Vec::new();
    for (i, entry) in raw.clusters.unwrap_or_default().into_iter().enumerate() {
        let name = entry_name(entry.name, EntryKind::Cluster, i, path)?;
        let c = entry.cluster.unwrap_or_default();
        clusters.push(ClusterEntry {
            name,
            server: c.server.unwrap_or_default(),
            certificate_authority_data: non_empty(c.certificate_authority_data),
            certificate_authority: resolve(&base, c.certificate_authority),
            tls_server_name: non_empty(c.tls_server_name),
            insecure_skip_tls_verify: c.insecure_skip_tls_verify.unwrap_or(false),
            proxy_url: non_empty(c.proxy_url),
            other: c.other,
            source: source.clone(),
        });
    }
    let mut users = Vec::new();
    for (i, entry) in raw.users.unwrap_or_default().into_iter().enumerate() {
        let name = entry_name(entry.name, EntryKind::User, i, path)?;
        let u = entry.user.unwrap_or_default();
        users.push(UserEntry {
            name,
            token: non_empty(u.token),
            token_file: resolve(&base, u.token_file),
            client_certificate_data: non_empty(u.client_certificate_data),
            client_key_data: non_empty(u.client_key_data),
            client_certificate: resolve(&base, u.client_certificate),
            client_key: resolve(&base, u.client_key),
            username: non_empty(u.username),
            password: non_empty(u.password),
            exec: u.exec.map(|e| exec_config(&base, e)),
            auth_provider: u.auth_provider.filter(|v| !v.is_null()),
            other: u.other,
            source: source.clone(),
        });
    }
    let mut contexts = Vec::new();
    for (i, entry) in raw.contexts.unwrap_or_default().into_iter().enumerate() {
        let name = entry_name(entry.name, EntryKind::Context, i, path)?;
        let c = entry.context.unwrap_or_default();
        contexts.push(ContextEntry {
            name,
            cluster: c.cluster.unwrap_or_default(),
            user: c.user.unwrap_or_default(),
            namespace: non_empty(c.namespace),
            other: c.other,
            source: source.clone(),
        });
    }

    for c in &clusters {
        check_base64(
            &c.certificate_authority_data,
            "certificate-authority-data",
            EntryKind::Cluster,
            &c.name,
            path,
        )?;
    }
    for u in &users {
        check_base64(
            &u.client_certificate_data,
            "client-certificate-data",
            EntryKind::User,
            &u.name,
            path,
        )?;
        check_base64(
            &u.client_key_data,
            "client-key-data",
            EntryKind::User,
            &u.name,
            path,
        )?;
    }

    // Source: kubernetes/client-go@v0.36.3:tools/clientcmd/api/v1/conversion.go (a name listed
    // twice in one file is an error: "duplicate name ... in list").
    unique(clusters.iter().map(|c| &c.name), EntryKind::Cluster, path)?;
    unique(users.iter().map(|u| &u.name), EntryKind::User, path)?;
    unique(contexts.iter().map(|c| &c.name), EntryKind::Context, path)?;

    Ok(FileConfig {
        path: source,
        clusters,
        users,
        contexts,
        current_context: non_empty(raw.current_context),
    })
}

fn entry_name(
    name: Option<String>,
    kind: EntryKind,
    index: usize,
    path: &Path,
) -> Result<String, KubeconfigError> {
    match name {
        Some(name) if !name.is_empty() => Ok(name),
        _ => Err(KubeconfigError::Invalid {
            path: path.to_path_buf(),
            at: None,
            problem: format!("{}[{index}] has no name", kind.section()),
            fix: format!("give the {kind} a `name:`, or delete the entry"),
        }),
    }
}

fn unique<'a>(
    names: impl Iterator<Item = &'a String>,
    kind: EntryKind,
    path: &Path,
) -> Result<(), KubeconfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(KubeconfigError::Duplicate {
                kind,
                name: name.clone(),
                path: path.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// The `*-data` fields are Go `[]byte`, which encoding/json decodes as padded standard base64
/// (ignoring line breaks); kubectl refuses a file where that fails, and so do we.
fn check_base64(
    value: &Option<String>,
    field: &str,
    kind: EntryKind,
    name: &str,
    path: &Path,
) -> Result<(), KubeconfigError> {
    let Some(value) = value else { return Ok(()) };
    let bytes: Vec<u8> = value
        .bytes()
        .filter(|b| !matches!(b, b'\r' | b'\n'))
        .collect();
    let body = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="))
        .unwrap_or(&bytes);
    let valid = bytes.len().is_multiple_of(4)
        && body
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'));
    if valid {
        return Ok(());
    }
    Err(KubeconfigError::Invalid {
        path: path.to_path_buf(),
        at: None,
        problem: format!("{kind} {name:?}: `{field}` is not base64"),
        fix: format!(
            "write the base64 of the PEM file (`base64 -w0 FILE`), or give the file's path in `{}` instead",
            field.trim_end_matches("-data")
        ),
    })
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// A file reference made absolute against the kubeconfig's directory.
// Source: kubernetes/client-go@v0.36.3:tools/clientcmd/loader.go (ResolveLocalPaths: base is
// filepath.Abs(filepath.Dir(file)); ResolvePaths: empty and absolute paths are left alone, others
// become filepath.Join(base, p), which also cleans the result).
fn resolve(base: &Path, reference: Option<String>) -> Option<PathBuf> {
    let reference = non_empty(reference)?;
    let p = Path::new(&reference);
    Some(if p.is_absolute() {
        p.to_path_buf()
    } else {
        clean(&base.join(p))
    })
}

// Source: kubernetes/client-go@v0.36.3:tools/clientcmd/loader.go (GetAuthInfoFileReferences: the
// exec command is resolved only if it contains a path separator; a bare name is a PATH lookup).
fn exec_config(base: &Path, e: RawExec) -> ExecConfig {
    let command = e.command.unwrap_or_default();
    let command = if command.contains(std::path::MAIN_SEPARATOR) {
        resolve(base, Some(command)).unwrap_or_default()
    } else {
        PathBuf::from(command)
    };
    ExecConfig {
        command,
        args: e.args.unwrap_or_default(),
        env: e
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.name.unwrap_or_default(), v.value.unwrap_or_default()))
            .collect(),
        api_version: non_empty(e.api_version),
        install_hint: non_empty(e.install_hint),
        provide_cluster_info: e.provide_cluster_info.unwrap_or(false),
        interactive_mode: non_empty(e.interactive_mode),
    }
}

/// Lexical clean like Go's filepath.Clean: drops `.`, folds `dir/..`, keeps a leading `..` of a
/// relative path.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Merging

// Source: kubernetes/client-go@v0.36.3:tools/clientcmd/loader.go (Load: "The first file to set a
// particular map key wins"; current-context is a non-map value merged in reverse file order, so
// the first non-empty one wins) and merge.go. Deliberately stricter: the same name defined
// differently in two files is an error, and every context must refer to existing entries.
fn merge(files: Vec<FileConfig>, missing: Vec<PathBuf>) -> Result<Kubeconfig, KubeconfigError> {
    let mut merged = Kubeconfig {
        missing,
        ..Kubeconfig::default()
    };
    for file in files {
        for entry in file.clusters {
            insert(&mut merged.clusters, entry, EntryKind::Cluster)?;
        }
        for entry in file.users {
            insert(&mut merged.users, entry, EntryKind::User)?;
        }
        for entry in file.contexts {
            insert(&mut merged.contexts, entry, EntryKind::Context)?;
        }
        if merged.current_context.is_none() {
            merged.current_context = file.current_context;
        }
        merged.files.push(file.path);
    }
    for context in merged.contexts.values() {
        let dangling = |missing_kind, name: &str| KubeconfigError::DanglingReference {
            context: context.name.clone(),
            missing_kind,
            name: name.to_owned(),
            path: context.source.clone(),
        };
        if !merged.clusters.contains_key(&context.cluster) {
            return Err(dangling(EntryKind::Cluster, &context.cluster));
        }
        if !context.user.is_empty() && !merged.users.contains_key(&context.user) {
            return Err(dangling(EntryKind::User, &context.user));
        }
    }
    Ok(merged)
}

/// An entry with the file it came from.
trait Sourced: Clone + PartialEq {
    fn name(&self) -> &str;
    fn source(&self) -> &Path;
    fn without_source(&self) -> Self;
}

macro_rules! sourced {
    ($($t:ty),*) => {$(
        impl Sourced for $t {
            fn name(&self) -> &str {
                &self.name
            }
            fn source(&self) -> &Path {
                &self.source
            }
            fn without_source(&self) -> Self {
                Self { source: PathBuf::new(), ..self.clone() }
            }
        }
    )*};
}
sourced!(ClusterEntry, UserEntry, ContextEntry);

fn insert<T: Sourced>(
    map: &mut BTreeMap<String, T>,
    entry: T,
    kind: EntryKind,
) -> Result<(), KubeconfigError> {
    match map.get(entry.name()) {
        None => {
            map.insert(entry.name().to_owned(), entry);
            Ok(())
        }
        // Defined identically (e.g. the same file under two spellings): keep the first.
        Some(first) if first.without_source() == entry.without_source() => Ok(()),
        Some(first) => Err(KubeconfigError::Conflict {
            kind,
            name: entry.name().to_owned(),
            first: first.source().to_path_buf(),
            second: entry.source().to_path_buf(),
        }),
    }
}

fn deduplicate(paths: impl Iterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Errors

fn list_separator() -> char {
    if cfg!(windows) { ';' } else { ':' }
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn at_suffix(at: Option<(u64, u64)>) -> String {
    match at {
        Some((line, column)) => format!(" (line {line}, column {column})"),
        None => String::new(),
    }
}

fn read_fix(err: &std::io::Error) -> &'static str {
    match err.kind() {
        std::io::ErrorKind::NotFound => {
            "check the path; kubectl keeps its kubeconfig in ~/.kube/config"
        }
        std::io::ErrorKind::PermissionDenied => "make the file readable by this user",
        std::io::ErrorKind::InvalidData => "pass a kubeconfig file (UTF-8 YAML, at most 32 MiB)",
        _ => "check that the path names a readable kubeconfig file",
    }
}

fn dangling_message(context: &str, kind: EntryKind, name: &str, path: &Path) -> String {
    let path = path.display();
    if name.is_empty() {
        format!(
            "context {context:?} in {path} names no {kind}\n  fix: set it, e.g. `kubectl config \
             set-context {context} --{kind}=NAME --kubeconfig {path}`, or delete the context"
        )
    } else {
        format!(
            "context {context:?} in {path} refers to {kind} {name:?}, which no kubeconfig file \
             defines\n  fix: add {kind} {name:?} to the kubeconfig, point the context at an \
             existing {kind}, or delete the context (`kubectl config delete-context {context} \
             --kubeconfig {path}`)"
        )
    }
}

fn not_dns1123_message(cluster: &str, path: &Path, suggestion: Option<&str>) -> String {
    let rename = match suggestion {
        Some(s) => format!("rename it in the kubeconfig, e.g. to {s:?}"),
        None => "rename it in the kubeconfig to lowercase letters, digits and '-'".to_owned(),
    };
    format!(
        "kubeconfig cluster {cluster:?} in {} is not a DNS-1123 label (lowercase letters, digits \
         and '-', starting and ending with a letter or digit, at most 63 characters), so it \
         cannot be a mesh cluster name\n  fix: {rename}: change the `name:` under `clusters:` \
         and the `cluster:` of every context that refers to it",
        path.display()
    )
}

/// The error itself, under alias and snippet wrappers.
fn root(mut err: &YamlError) -> &YamlError {
    loop {
        match err.without_snippet() {
            YamlError::AliasError { error, .. } => err = error,
            other => return other,
        }
    }
}

/// serde-saphyr appends " at line L, column C"; the location is printed separately.
fn strip_location(msg: &str) -> &str {
    msg.find(" at line ").map_or(msg, |i| &msg[..i])
}

fn yaml_error(err: &YamlError, field: Option<&str>, text: &str, path: &Path) -> KubeconfigError {
    let at = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line(), l.column()));
    let message = crate::shown::parser_message(strip_location(&root(err).to_string()));
    let field = field.filter(|f| !f.is_empty() && *f != ".");
    let (problem, fix) = match root(err) {
        YamlError::MultipleDocuments { .. }
        | YamlError::Budget {
            breach: BudgetBreach::Documents { .. },
            ..
        } => (
            "the file holds more than one YAML document".to_owned(),
            "keep one kubeconfig per file: split the documents into files and pass them all"
                .to_owned(),
        ),
        YamlError::Budget { .. }
        | YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => (
            format!(
                "the YAML is too large or too deeply nested once aliases are expanded ({message})"
            ),
            "write the entries out without anchors and aliases, as kubectl does".to_owned(),
        ),
        YamlError::SerdeInvalidType { .. }
        | YamlError::SerdeInvalidValue { .. }
        | YamlError::SerdeInvalidLength { .. }
        | YamlError::Unexpected { .. }
        | YamlError::InvalidScalar { .. }
        | YamlError::NullIntoString { .. }
        | YamlError::Message { .. } => match top_level_kind(text) {
            Some(found) => (
                format!("the file is a YAML {found}, not a mapping"),
                "a kubeconfig is a mapping with `apiVersion: v1`, `kind: Config`, `clusters`, \
                 `contexts` and `users`; `kubectl config view --raw` prints one"
                    .to_owned(),
            ),
            None => (
                match field {
                    Some(f) => format!("wrong value at `{f}`: {message}"),
                    None => format!("wrong value: {message}"),
                },
                "write the value the kubeconfig format expects here (lists of `name:` entries \
                 under clusters, contexts and users; text values; true/false)"
                    .to_owned(),
            ),
        },
        YamlError::DuplicateMappingKey { key, .. } => (
            match key {
                Some(key) => format!("the key `{key}` appears twice in one mapping"),
                None => "a key appears twice in one mapping".to_owned(),
            },
            "keep one of the two".to_owned(),
        ),
        _ => (
            format!("not valid YAML: {message}"),
            "fix the YAML syntax at this line (indentation, quoting, a missing ':')".to_owned(),
        ),
    };
    KubeconfigError::Invalid {
        path: path.to_path_buf(),
        at,
        problem,
        fix,
    }
}

/// What the document is when it is not a mapping (only computed on the error path).
fn top_level_kind(text: &str) -> Option<&'static str> {
    match serde_saphyr::from_str_with_options::<Value>(text, options()).ok()? {
        Value::Array(_) => Some("list"),
        Value::String(_) => Some("string"),
        Value::Number(_) => Some("number"),
        Value::Bool(_) => Some("boolean"),
        Value::Object(_) | Value::Null => None,
    }
}

impl fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("UserEntry")
            .field("name", &self.name)
            .field("token", &hidden(&self.token))
            .field("token_file", &self.token_file)
            .field(
                "client_certificate_data",
                &self.client_certificate_data.as_ref().map(|d| d.len()),
            )
            .field("client_key_data", &hidden(&self.client_key_data))
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("exec", &self.exec)
            .field(
                "auth_provider",
                &self.auth_provider.as_ref().map(|_| "<redacted>"),
            )
            .field("other", &self.other.keys().collect::<Vec<_>>())
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Debug for ExecConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecConfig")
            .field("command", &self.command)
            .field("args", &self.args.len())
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("api_version", &self.api_version)
            .field("install_hint", &self.install_hint)
            .field("provide_cluster_info", &self.provide_cluster_info)
            .field("interactive_mode", &self.interactive_mode)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_folds_like_go_filepath_clean() {
        assert_eq!(clean(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
        assert_eq!(clean(Path::new("/../x")), PathBuf::from("/x"));
        assert_eq!(clean(Path::new("../x/..")), PathBuf::from(".."));
        assert_eq!(clean(Path::new("./")), PathBuf::from("."));
    }
}

/// The credential a remote secret can carry for istiod, taken from a kubeconfig context.
#[derive(Clone, PartialEq, Eq)]
pub struct ReaderCredential {
    pub server: String,
    /// Base64 PEM of the API server's CA.
    pub ca_data: String,
    pub tls_server_name: Option<String>,
    pub auth: ReaderAuth,
    /// Whether the credential is a token of `istio-reader-service-account` (read from the token's
    /// claims, not verified): anything else hands more than read access to every other cluster.
    pub is_reader_token: bool,
}

/// What istiod accepts in a remote secret's kubeconfig (Istio 1.26 `pkg/kube/util.go`
/// sanitizes the rest away unless `PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS` allows it).
#[derive(Clone, PartialEq, Eq)]
pub enum ReaderAuth {
    Token(String),
    ClientCertificate {
        certificate_data: String,
        key_data: String,
    },
}

impl fmt::Debug for ReaderCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReaderCredential")
            .field("server", &self.server)
            .field("auth", &"<redacted>")
            .finish()
    }
}

/// Why a kubeconfig context cannot give a remote-secret credential.
#[derive(Debug, thiserror::Error)]
#[error("kubeconfig {}, context {context:?}: {problem}\n  fix: {fix}", .file.display())]
pub struct ReaderCredentialError {
    pub file: PathBuf,
    pub context: String,
    pub problem: String,
    pub fix: String,
}

/// The fix for every credential istiod cannot use.
const READER_TOKEN_FIX: &str = "use the reader's token instead: apply the cluster's 20-reader layer, then read it with `kubectl -n istio-system get secret istio-reader-service-account-istio-remote-secret-token -o jsonpath='{.data.token}' | base64 -d` and set credentials.tokenFile for this cluster";

impl Kubeconfig {
    /// The credential of `context` in the form a remote secret carries. Exec plugins, token
    /// files, file-path certificates and auth providers are refused: istiod runs in another
    /// cluster, without the operator's files or plugins, and rejects them.
    pub fn reader_credential(
        &self,
        context: &str,
    ) -> Result<ReaderCredential, ReaderCredentialError> {
        let file = self.files().first().cloned().unwrap_or_default();
        let fail = |file: &Path, problem: String, fix: &str| ReaderCredentialError {
            file: file.to_owned(),
            context: context.to_owned(),
            problem,
            fix: fix.to_owned(),
        };
        let ctx = self.context(context).ok_or_else(|| {
            fail(&file, "no such context".to_owned(), "name a context that `kubectl config get-contexts` lists, in credentials.kubeconfig.context")
        })?;
        let cluster = self.cluster(&ctx.cluster).ok_or_else(|| {
            fail(
                &ctx.source,
                format!("its cluster {:?} is not defined", ctx.cluster),
                "define the cluster or fix the context",
            )
        })?;
        if cluster.server.is_empty() {
            return Err(fail(
                &cluster.source,
                format!("cluster {:?} has no server", cluster.name),
                "add the API server URL",
            ));
        }
        use base64::Engine;
        let ca_data = match (
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (Some(data), _) => data.clone(),
            (None, Some(path)) => {
                let pem =
                    disk::read_input(path, disk::MAX_INPUT_BYTES, Input::Regular).map_err(|e| {
                        fail(
                            &cluster.source,
                            format!("cannot read certificate-authority {}: {e}", path.display()),
                            "fix the path",
                        )
                    })?;
                base64::engine::general_purpose::STANDARD.encode(pem)
            }
            (None, None) => {
                return Err(fail(
                    &cluster.source,
                    format!(
                        "cluster {:?} has no CA (certificate-authority-data)",
                        cluster.name
                    ),
                    "add the cluster's CA; istiod verifies the API server with it",
                ));
            }
        };
        let user = self.user(&ctx.user).ok_or_else(|| {
            fail(
                &ctx.source,
                "the context names no user".to_owned(),
                READER_TOKEN_FIX,
            )
        })?;
        let refuse = |what: &str| {
            fail(
                &user.source,
                format!(
                    "user {:?} authenticates with {what}, which istiod cannot use from another cluster",
                    user.name
                ),
                READER_TOKEN_FIX,
            )
        };
        if user.exec.is_some() {
            return Err(refuse(
                "an exec credential plugin (the plugin and its files exist only on this machine)",
            ));
        }
        if user.auth_provider.is_some() {
            return Err(refuse("an auth provider"));
        }
        if user.token_file.is_some() {
            return Err(refuse(
                "a token file (the file exists only on this machine)",
            ));
        }
        if user.client_certificate.is_some() || user.client_key.is_some() {
            return Err(refuse(
                "client certificate files (the files exist only on this machine)",
            ));
        }
        let auth = match (
            &user.token,
            &user.client_certificate_data,
            &user.client_key_data,
        ) {
            (Some(token), _, _) => ReaderAuth::Token(token.clone()),
            (None, Some(certificate_data), Some(key_data)) => ReaderAuth::ClientCertificate {
                certificate_data: certificate_data.clone(),
                key_data: key_data.clone(),
            },
            _ => return Err(refuse("no inline token or client certificate")),
        };
        let is_reader_token = matches!(&auth, ReaderAuth::Token(t) if is_reader_token(t));
        Ok(ReaderCredential {
            server: cluster.server.clone(),
            ca_data,
            tls_server_name: cluster.tls_server_name.clone(),
            auth,
            is_reader_token,
        })
    }
}

/// Whether a bearer token is a service-account token of istio-reader-service-account, judged
/// from its (unverified) JWT claims.
pub fn is_reader_token(token: &str) -> bool {
    use base64::Engine;
    let Some(payload) = token.split('.').nth(1) else {
        return false;
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return false;
    };
    let Ok(claims) = serde_json::from_slice::<Value>(&bytes) else {
        return false;
    };
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    sub.ends_with(":istio-reader-service-account") && sub.starts_with("system:serviceaccount:")
}
