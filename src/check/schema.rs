//! Strict offline validation of Kubernetes objects against a directory of standalone JSON Schemas.
//! Owns schema lookup and caching, CRD defaulting, the relaxed (server-side apply) mode, YAML parsing.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};

/// How strictly `required` is enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every keyword of the schema applies, as for a full object sent to `kubectl apply`.
    #[default]
    Strict,
    /// `required` on the object's fields is ignored, everything else stays strict: for partial
    /// objects meant for server-side apply, which omit required fields on purpose.
    ///
    /// `required` inside `anyOf`/`oneOf`/`allOf`/`not` is kept: there it expresses a choice
    /// between fields (e.g. exactly one probe handler), not a mandatory field.
    RelaxRequired,
}

/// One schema rule an object breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// `apiVersion` of the offending object.
    pub api_version: String,
    /// `kind` of the offending object.
    pub kind: String,
    /// `metadata.name`, if the object has one.
    pub name: Option<String>,
    /// `metadata.namespace`, if the object has one.
    pub namespace: Option<String>,
    /// Where in the object, like `spec.servers[0].tls`; empty for the object itself.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.api_version, self.kind)?;
        match (&self.namespace, &self.name) {
            (Some(namespace), Some(name)) => write!(f, "{namespace}/{name}")?,
            (None, Some(name)) => f.write_str(name)?,
            (_, None) => f.write_str("(unnamed)")?,
        }
        if self.path.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.path, self.message)
        }
    }
}

/// Why an object could not be checked at all.
///
/// None of these means "valid": a caller that skips an object must decide so explicitly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The schema directory does not exist or cannot be read.
    #[error("schema directory {} cannot be read: {source}", path.display())]
    SchemaDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The schema directory path names something other than a directory.
    #[error("schema directory {} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    /// The value is not a Kubernetes object: `field` is missing or not a string.
    #[error("not a Kubernetes object: no string `{field}`")]
    MissingTypeMeta { field: &'static str },
    /// `apiVersion`/`kind` contain characters no schema file name can hold.
    #[error("apiVersion {api_version:?} / kind {kind:?} cannot name a schema")]
    InvalidTypeMeta { api_version: String, kind: String },
    /// The directory has no schema for this kind and version.
    #[error("no schema for {api_version} {kind} (looked for {})", looked_for.display())]
    NoSchema {
        api_version: String,
        kind: String,
        looked_for: PathBuf,
    },
    /// A schema file exists but cannot be read.
    #[error("cannot read schema {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A schema file is not valid JSON.
    #[error("schema {} is not valid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A schema file is not a valid draft-07 schema (or refers outside itself).
    #[error("schema {} does not compile: {message}", path.display())]
    Compile { path: PathBuf, message: String },
    /// The YAML stream is malformed.
    #[error("invalid YAML: {message}")]
    Yaml { message: String },
}

/// A directory of schemas and the validators compiled from it so far.
///
/// The layout is `<group>/<kind in lower case>_<version>.json`, with group `v1` for the core group
/// (see `shared/schemas/README.md`). Validators are compiled on first use and shared; the catalog
/// can be used from several threads.
///
/// Schemas are compiled as draft 7 with every remote or file `$ref` refused (the schemas are
/// standalone) and string `format`s not asserted, as in the reference run of these schemas
/// (Python `jsonschema`); `jsonschema` would otherwise assert them for draft 7.
pub struct SchemaCatalog {
    /// Where schemas are looked up, in order: the first existing file wins.
    locations: Vec<Location>,
    cache: Mutex<HashMap<CacheKey, Arc<Compiled>>>,
}

/// Identifies one compiled validator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    api_version: String,
    kind: String,
    mode: Mode,
}

/// A compiled schema, plus the schema JSON of a CRD-derived kind for defaulting.
struct Compiled {
    validator: jsonschema::Validator,
    crd_schema: Option<Value>,
}

/// The identifying fields of an object.
struct ObjectRef<'a> {
    api_version: &'a str,
    kind: &'a str,
    name: Option<&'a str>,
    namespace: Option<&'a str>,
}

impl fmt::Debug for SchemaCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaCatalog")
            .field("locations", &self.locations)
            .finish_non_exhaustive()
    }
}

impl SchemaCatalog {
    /// Opens the schema directory `dir`; schemas are read lazily.
    ///
    /// # Errors
    ///
    /// [`SchemaError::SchemaDir`] if `dir` cannot be read, [`SchemaError::NotADirectory`] if it
    /// is not a directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SchemaError> {
        let root = dir.into();
        let metadata = match std::fs::metadata(&root) {
            Ok(metadata) => metadata,
            Err(source) => return Err(SchemaError::SchemaDir { path: root, source }),
        };
        if !metadata.is_dir() {
            return Err(SchemaError::NotADirectory { path: root });
        }
        Ok(Self {
            locations: vec![Location::Dir(root)],
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Opens several schema locations, searched in order: each a directory laid out as
    /// `<group>/<kind>_<version>.json`, or a kubeconform-style path template.
    ///
    /// # Errors
    ///
    /// If a directory cannot be read, or no location is given.
    pub fn open_locations(locations: &[String]) -> Result<Self, SchemaError> {
        if locations.is_empty() {
            return Err(SchemaError::NotADirectory {
                path: PathBuf::new(),
            });
        }
        let mut parsed = Vec::new();
        for location in locations {
            if location.contains("{{") {
                parsed.push(Location::Template(location.clone()));
            } else {
                let root = PathBuf::from(location);
                match std::fs::metadata(&root) {
                    Ok(m) if m.is_dir() => parsed.push(Location::Dir(root)),
                    Ok(_) => return Err(SchemaError::NotADirectory { path: root }),
                    Err(source) => return Err(SchemaError::SchemaDir { path: root, source }),
                }
            }
        }
        Ok(Self {
            locations: parsed,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The first schema directory (an empty path if there is only templates).
    pub fn root(&self) -> &Path {
        self.locations
            .iter()
            .find_map(|l| match l {
                Location::Dir(root) => Some(root.as_path()),
                Location::Template(_) => None,
            })
            .unwrap_or(Path::new(""))
    }

    /// Validates one object, returning its violations sorted by path, then message.
    ///
    /// For CRD-derived schemas the object's defaults are applied (to a copy) first.
    ///
    /// # Errors
    ///
    /// If the object has no string `apiVersion`/`kind`, if there is no schema for it, or if its
    /// schema cannot be read or compiled.
    pub fn validate(&self, object: &Value, mode: Mode) -> Result<Vec<Violation>, SchemaError> {
        let object_ref = ObjectRef::of(object)?;
        let compiled = self.compiled(&object_ref, mode)?;
        let defaulted;
        let instance = match &compiled.crd_schema {
            Some(schema) => {
                defaulted = with_defaults(schema, object);
                &defaulted
            }
            None => object,
        };
        let mut violations: Vec<Violation> = compiled
            .validator
            .iter_errors(instance)
            .map(|error| object_ref.violation(instance, &error))
            .collect();
        violations.sort_by(|a, b| (&a.path, &a.message).cmp(&(&b.path, &b.message)));
        violations.dedup();
        Ok(violations)
    }

    /// Returns the validator for `object_ref` in `mode`, compiling it on first use.
    ///
    /// The lock is not held while compiling, so two threads may compile the same schema once
    /// each; the first to finish is kept.
    fn compiled(
        &self,
        object_ref: &ObjectRef<'_>,
        mode: Mode,
    ) -> Result<Arc<Compiled>, SchemaError> {
        let key = CacheKey {
            api_version: object_ref.api_version.to_owned(),
            kind: object_ref.kind.to_owned(),
            mode,
        };
        if let Some(compiled) = self.lock_cache().get(&key) {
            return Ok(Arc::clone(compiled));
        }
        let compiled = Arc::new(self.compile(object_ref, mode)?);
        Ok(Arc::clone(self.lock_cache().entry(key).or_insert(compiled)))
    }

    /// Locks the cache; a panic elsewhere cannot leave a half-inserted entry, so poison is ignored.
    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<Compiled>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads and compiles the schema for `object_ref` in `mode`.
    fn compile(&self, object_ref: &ObjectRef<'_>, mode: Mode) -> Result<Compiled, SchemaError> {
        let path = self.schema_path(object_ref.api_version, object_ref.kind)?;
        let mut schema = read_schema(&path, object_ref)?;
        let is_crd = schema
            .pointer("/x-derived-from/type")
            .and_then(Value::as_str)
            == Some("crd");
        if mode == Mode::RelaxRequired {
            strip_required(&mut schema);
        }
        let validator = jsonschema::draft7::options()
            .offline()
            .should_validate_formats(false)
            .build(&schema)
            .map_err(|error| SchemaError::Compile {
                path: path.clone(),
                message: error.to_string(),
            })?;
        Ok(Compiled {
            validator,
            crd_schema: is_crd.then_some(schema),
        })
    }

    /// Maps `apiVersion` and `kind` to `<root>/<group>/<kind lowercased>_<version>.json`.
    fn schema_path(&self, api_version: &str, kind: &str) -> Result<PathBuf, SchemaError> {
        let (group, version) = api_version.split_once('/').unwrap_or(("v1", api_version));
        if ![group, version, kind].into_iter().all(is_file_name_part) {
            return Err(SchemaError::InvalidTypeMeta {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            });
        }
        let candidates: Vec<PathBuf> = self
            .locations
            .iter()
            .map(|l| l.path_for(api_version, kind))
            .collect();
        Ok(candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .unwrap_or_else(|| candidates[0].clone()))
    }
}

/// One place schemas are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory laid out as `<group>/<kind lowercased>_<version>.json` (`v1` for the core group).
    Dir(PathBuf),
    /// A kubeconform-style path template with `{{ .Group }}` (empty for the core group),
    /// `{{ .ResourceKind }}` (lowercased kind), `{{ .ResourceAPIVersion }}`, `{{ .KindSuffix }}`,
    /// `{{ .NormalizedKubernetesVersion }}` (`master`) and `{{ .StrictSuffix }}` (`-strict`).
    Template(String),
}

impl Location {
    fn path_for(&self, api_version: &str, kind: &str) -> PathBuf {
        let (group, version) = match api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", api_version),
        };
        let kind = kind.to_ascii_lowercase();
        match self {
            Location::Dir(root) => {
                let dir = if group.is_empty() { "v1" } else { group };
                root.join(dir).join(format!("{kind}_{version}.json"))
            }
            Location::Template(template) => {
                let mut path = template.clone();
                for (var, value) in [
                    ("Group", group.to_owned()),
                    ("ResourceKind", kind.clone()),
                    ("ResourceAPIVersion", version.to_owned()),
                    (
                        "KindSuffix",
                        if group.is_empty() {
                            String::new()
                        } else {
                            format!("-{}", group.split('.').next().unwrap_or(""))
                        },
                    ),
                    ("NormalizedKubernetesVersion", "master".to_owned()),
                    ("StrictSuffix", "-strict".to_owned()),
                ] {
                    for spelling in [format!("{{{{ .{var} }}}}"), format!("{{{{.{var}}}}}")] {
                        path = path.replace(&spelling, &value);
                    }
                }
                PathBuf::from(path)
            }
        }
    }
}

/// Whether `part` is safe in a schema path: DNS-like characters, no leading dot.
fn is_file_name_part(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with('.')
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Reads one schema file; a missing file is [`SchemaError::NoSchema`].
fn read_schema(path: &Path, object_ref: &ObjectRef<'_>) -> Result<Value, SchemaError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(SchemaError::NoSchema {
                api_version: object_ref.api_version.to_owned(),
                kind: object_ref.kind.to_owned(),
                looked_for: path.to_owned(),
            });
        }
        Err(source) => {
            return Err(SchemaError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes).map_err(|source| SchemaError::Json {
        path: path.to_owned(),
        source,
    })
}

impl<'a> ObjectRef<'a> {
    /// Reads `apiVersion`, `kind` and the name fields of `object`.
    fn of(object: &'a Value) -> Result<Self, SchemaError> {
        let string = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        Ok(Self {
            api_version: string("/apiVersion").ok_or(SchemaError::MissingTypeMeta {
                field: "apiVersion",
            })?,
            kind: string("/kind").ok_or(SchemaError::MissingTypeMeta { field: "kind" })?,
            name: string("/metadata/name"),
            namespace: string("/metadata/namespace"),
        })
    }

    /// Turns a validation error on `instance` (this object) into a [`Violation`].
    fn violation(&self, instance: &Value, error: &jsonschema::ValidationError<'_>) -> Violation {
        Violation {
            api_version: self.api_version.to_owned(),
            kind: self.kind.to_owned(),
            name: self.name.map(str::to_owned),
            namespace: self.namespace.map(str::to_owned),
            path: display_path(instance, error.instance_path()),
            message: short_message(error),
        }
    }
}

/// The error's message, naming an offending object or array by its type instead of printing it.
fn short_message(error: &jsonschema::ValidationError<'_>) -> String {
    match error.instance().as_ref() {
        Value::Object(_) => error.masked_with("object").to_string(),
        Value::Array(_) => error.masked_with("array").to_string(),
        // A scalar is quoted in the message: shown only if it looks like a name.
        _ => crate::shown::parser_message(&error.to_string()),
    }
}

/// Renders a JSON pointer into `instance` as `spec.servers[0].tls`.
///
/// Whether a segment is an index or a key is decided by the instance, so a map key `"8080"`
/// stays a key. Keys that are not plain words are quoted: `metadata.labels["app.kubernetes.io/name"]`.
fn display_path(instance: &Value, location: &jsonschema::paths::Location) -> String {
    let mut path = String::new();
    let mut node = Some(instance);
    for segment in location.segments() {
        let segment = segment.to_string();
        if let Some(Value::Array(items)) = node {
            path.push('[');
            path.push_str(&segment);
            path.push(']');
            node = segment
                .parse()
                .ok()
                .and_then(|index: usize| items.get(index));
        } else {
            push_key(&mut path, &segment);
            node = node.and_then(|value| value.get(&segment));
        }
    }
    path
}

/// Appends `.key`, or `["key"]` (JSON-quoted) when `key` is not a plain word.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'$');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::from(key).to_string());
        path.push(']');
    }
}

/// Returns a copy of `object` with the `default`s of `schema` applied, as the API server
/// defaults a custom resource.
fn with_defaults(schema: &Value, object: &Value) -> Value {
    let mut object = object.clone();
    apply_defaults(schema, &mut object);
    object
}

/// Fills absent (or non-nullable `null`) fields of `value` that have a `default` in `schema`,
/// walking `properties`, `items` and `additionalProperties`, never into `anyOf`/`oneOf`/`allOf`/`not`.
///
/// Mirrors `k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting.Default`: defaulted
/// values are walked too, so defaults nested in a default apply.
fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(fields) => default_fields(schema, fields),
        Value::Array(items) => {
            if let Some(item_schema) = subschema(schema, "items") {
                for item in items {
                    default_child(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// Defaults the fields of an object: first its own absent properties, then every child.
fn default_fields(schema: &Value, fields: &mut Map<String, Value>) {
    let properties = schema.get("properties").and_then(Value::as_object);
    for (name, property) in properties.into_iter().flatten() {
        if !fields.contains_key(name)
            && let Some(default) = property.get("default")
        {
            fields.insert(name.clone(), default.clone());
        }
    }
    let additional = subschema(schema, "additionalProperties");
    for (name, child) in fields.iter_mut() {
        let child_schema = properties.and_then(|p| p.get(name)).or(additional);
        if let Some(child_schema) = child_schema {
            default_child(child_schema, child);
        }
    }
}

/// Replaces a non-nullable `null` by the schema's default, then defaults inside the value.
fn default_child(schema: &Value, value: &mut Value) {
    let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
    if value.is_null()
        && !nullable
        && let Some(default) = schema.get("default")
    {
        *value = default.clone();
    }
    apply_defaults(schema, value);
}

/// The schema under `keyword` when it is an object (not `true`/`false` or a tuple).
fn subschema<'s>(schema: &'s Value, keyword: &str) -> Option<&'s Value> {
    schema
        .get(keyword)
        .filter(|subschema| subschema.is_object())
}

/// Removes `required` from every structural node of `schema`: the root, `properties`, `items`,
/// `additionalProperties` and `definitions`, but not inside `anyOf`/`oneOf`/`allOf`/`not`.
///
/// Walking by keyword, not by key name, keeps properties named `required` (as in
/// `JSONSchemaProps`) and data such as `enum` or `default` values untouched.
fn strip_required(schema: &mut Value) {
    let Value::Object(node) = schema else {
        return;
    };
    if node.get("required").is_some_and(Value::is_array) {
        node.remove("required");
    }
    for (keyword, child) in node.iter_mut() {
        match keyword.as_str() {
            "properties" | "patternProperties" | "definitions" => {
                if let Value::Object(schemas) = child {
                    schemas.values_mut().for_each(strip_required);
                }
            }
            "items" | "additionalProperties" | "additionalItems" => match child {
                Value::Array(schemas) => schemas.iter_mut().for_each(strip_required),
                _ => strip_required(child),
            },
            // `anyOf`/`oneOf`/`allOf`/`not` hold value checks: a `required` there encodes
            // "exactly one of these fields", not a mandatory field. Other keywords hold data.
            _ => {}
        }
    }
}

/// Parses a multi-document YAML stream (e.g. `kubectl kustomize` output) into JSON values the way
/// Kubernetes reads YAML, skipping empty documents.
///
/// Like `sigs.k8s.io/yaml` (YAML 1.1 resolution): timestamps stay strings, `yes`/`on`/`no`/`off`
/// are booleans, `0644` is octal (420), and duplicate keys are an error.
///
/// # Errors
///
/// [`SchemaError::Yaml`] with the location of the first syntax error.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, SchemaError> {
    let documents: Vec<Value> = serde_saphyr::from_multiple_with_options(text, yaml_options())
        .map_err(|error| SchemaError::Yaml {
            message: error.to_string(),
        })?;
    Ok(documents
        .into_iter()
        .filter(|document| !document.is_null())
        .collect())
}

/// serde-saphyr options for rendered manifests: YAML 1.1 scalars, limits sized for large streams.
///
/// The default budget stops at 1,024 documents and 250,000 nodes, which a rendered mesh with its
/// CRDs can exceed; alias-bomb and nesting limits keep their defaults.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 100_000,
            max_nodes: 20_000_000,
            max_events: 40_000_000,
        },
        legacy_octal_numbers: true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The Gateway API `Gateway` schema of the shared directory.
    fn gateway_api_schema() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/schemas/gateway.networking.k8s.io/gateway_v1.json"
        );
        let text = std::fs::read_to_string(path).expect("shared schema directory beside the crate");
        serde_json::from_str(&text).expect("schema is JSON")
    }

    #[test]
    fn defaulting_fills_gateway_address_type() {
        let schema = gateway_api_schema();
        let gateway = json!({"spec": {"addresses": [{"value": "1.2.3.4"}]}});
        let defaulted = with_defaults(&schema, &gateway);
        assert_eq!(
            defaulted.pointer("/spec/addresses/0"),
            Some(&json!({"type": "IPAddress", "value": "1.2.3.4"}))
        );
    }

    #[test]
    fn defaulting_replaces_null_unless_nullable() {
        let schema = json!({"properties": {
            "plain": {"default": 1},
            "nullable": {"default": 2, "nullable": true},
        }});
        let defaulted = with_defaults(&schema, &json!({"plain": null, "nullable": null}));
        assert_eq!(defaulted, json!({"plain": 1, "nullable": null}));
    }

    #[test]
    fn defaulting_walks_items_additional_properties_and_defaults() {
        let leaf = json!({"properties": {"port": {"default": 80}}});
        let schema = json!({"properties": {
            "list": {"items": leaf},
            "map": {"additionalProperties": leaf},
            "outer": {"default": {}, "properties": {"inner": {"default": "x"}}},
        }});
        let object = json!({"list": [{}], "map": {"a": {"port": 1}, "b": {}}});
        let defaulted = with_defaults(&schema, &object);
        assert_eq!(
            defaulted,
            json!({
                "list": [{"port": 80}],
                "map": {"a": {"port": 1}, "b": {"port": 80}},
                "outer": {"inner": "x"},
            })
        );
    }

    #[test]
    fn defaulting_ignores_value_check_keywords() {
        let branch = json!({"properties": {"hidden": {"default": true}}});
        let schema =
            json!({"anyOf": [branch], "oneOf": [branch], "allOf": [branch], "not": branch});
        assert_eq!(with_defaults(&schema, &json!({})), json!({}));
    }

    #[test]
    fn defaulting_decides_a_one_of_that_would_match_twice() {
        let schema = json!({"items": {
            "properties": {"type": {"default": "IPAddress"}},
            "oneOf": [
                {"properties": {"type": {"enum": ["IPAddress"]}}},
                {"properties": {"type": {"not": {"enum": ["IPAddress"]}}}},
            ],
        }});
        let validator = jsonschema::draft7::new(&schema).expect("schema compiles");
        let addresses = json!([{"value": "1.2.3.4"}]);
        assert!(!validator.is_valid(&addresses));
        assert!(validator.is_valid(&with_defaults(&schema, &addresses)));
    }

    #[test]
    fn strip_required_keeps_value_checks_and_property_names() {
        let mut schema = json!({
            "required": ["spec"],
            "properties": {
                "required": {"type": "array"},
                "spec": {"required": ["a"], "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
            },
            "definitions": {"Props": {"required": ["c"]}},
            "items": {"required": ["d"], "not": {"required": ["e"]}},
        });
        strip_required(&mut schema);
        assert_eq!(
            schema,
            json!({
                "properties": {
                    "required": {"type": "array"},
                    "spec": {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
                },
                "definitions": {"Props": {}},
                "items": {"not": {"required": ["e"]}},
            })
        );
    }

    #[test]
    fn path_uses_instance_to_tell_indexes_from_keys() {
        let instance =
            json!({"spec": {"servers": [{"tls": {}}]}, "data": {"8080": "x", "a.b/c": 1}});
        let location = jsonschema::paths::Location::new()
            .join("spec")
            .join("servers")
            .join(0)
            .join("tls");
        assert_eq!(display_path(&instance, &location), "spec.servers[0].tls");
        let key = jsonschema::paths::Location::new().join("data").join("8080");
        assert_eq!(display_path(&instance, &key), "data.8080");
        let dotted = jsonschema::paths::Location::new()
            .join("data")
            .join("a.b/c");
        assert_eq!(display_path(&instance, &dotted), r#"data["a.b/c"]"#);
    }
}
