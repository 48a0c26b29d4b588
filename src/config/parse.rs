//! From bytes to `spec::MeshSpec`: size and emptiness checks, a bounded YAML parse (serde-saphyr
//! with a budget that stops alias bombs), the header check, then the strict typed parse.

use serde_saphyr::Error as YamlError;
use serde_saphyr::budget::BudgetBreach;

use super::error::{ConfigError, Problem, line_col};
use super::mesh::{API_VERSION, EXAMPLE_YAML, KIND, MAX_FILE_BYTES, Mesh, Origin};
use super::spec::{Header, MeshSpec};

/// Parses and validates a mesh description held in memory.
pub fn parse(text: &str, origin: &Origin) -> Result<Mesh, ConfigError> {
    parse_bytes(text.as_bytes(), origin)
}

/// The built-in example mesh.
pub fn example() -> Result<Mesh, ConfigError> {
    parse_bytes(EXAMPLE_YAML.as_bytes(), &Origin::BuiltinExample)
}

/// Parses and validates a mesh description read from `origin`.
pub fn parse_bytes(bytes: &[u8], origin: &Origin) -> Result<Mesh, ConfigError> {
    let fail = |p: Problem| ConfigError::invalid(origin, vec![p]);
    if bytes.len() > MAX_FILE_BYTES {
        return Err(fail(Problem::new(
            "",
            format!(
                "the file is {} bytes; a mesh description is at most {MAX_FILE_BYTES}",
                bytes.len()
            ),
            "check that --config points at the mesh description",
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        fail(Problem::new(
            "",
            format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
            "save it as UTF-8",
        ))
    })?;
    if is_blank(text) {
        return Err(fail(Problem::new(
            "",
            "the file is empty",
            format!(
                "write a mesh description (apiVersion: {API_VERSION}, kind: {KIND}, meshID, istio, \
                 clusters); the README's mesh.yaml section shows every field"
            ),
        )));
    }
    check_header(text).map_err(fail)?;
    let spec = parse_spec(text).map_err(fail)?;
    let mut mesh = super::validate::validate(spec)
        .map_err(|problems| ConfigError::invalid(origin, problems))?;
    // The built-in example reproduces the seed's 1.26.0 on purpose: no advice to move off it.
    mesh.istio.end_of_life_advice = *origin != Origin::BuiltinExample;
    Ok(mesh)
}

/// Whitespace, comments and document markers only.
fn is_blank(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|line| line.is_empty() || line.starts_with('#') || line == "---" || line == "...")
}

/// Limits for a hand-written file of at most a few hundred clusters. Anchors are fine; an
/// alias bomb (a few lines expanding to millions of nodes) stops at these bounds.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 1_000_000,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_depth: 64,
            max_documents: 1,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 200_000,
            max_replay_stack_depth: 16,
        },
        with_snippet: false,
    }
}

fn check_header(text: &str) -> Result<(), Problem> {
    let header: Header = serde_saphyr::from_str_with_options(text, options())
        .map_err(|e| yaml_problem(&e, String::new()))?;
    let want = |field: &str, value: &str| format!("set `{field}: {value}` at the top of the file");
    match &header.api_version {
        None => {
            return Err(Problem::new(
                "apiVersion",
                "missing: the file does not say which mesh-render format it is",
                want("apiVersion", API_VERSION),
            ));
        }
        Some(v) if v.value != API_VERSION => {
            return Err(Problem::new(
                "apiVersion",
                format!(
                    "unsupported apiVersion {}; this mesh-render reads {API_VERSION}",
                    crate::shown::value(&v.value)
                ),
                want("apiVersion", API_VERSION),
            )
            .at(Some(line_col(&v.referenced))));
        }
        Some(_) => {}
    }
    match &header.kind {
        None => Err(Problem::new("kind", "missing", want("kind", KIND))),
        Some(k) if k.value != KIND => Err(Problem::new(
            "kind",
            format!(
                "unsupported kind {:?}; a mesh description is kind {KIND}",
                k.value
            ),
            want("kind", KIND),
        )
        .at(Some(line_col(&k.referenced)))),
        Some(_) => Ok(()),
    }
}

fn parse_spec(text: &str) -> Result<MeshSpec, Problem> {
    // The parser's own error carries the location; serde_path_to_error knows the field path.
    let mut path = None;
    serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        serde_path_to_error::deserialize::<_, MeshSpec>(de).map_err(|e| {
            path = Some(e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|err| yaml_problem(&err, path.as_deref().map(tidy_path).unwrap_or_default()))
}

/// `serde_path_to_error` writes the root as "." and keeps unknown keys in the path.
fn tidy_path(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        path.to_owned()
    }
}

/// The error itself, under any alias and snippet wrappers.
fn root(mut err: &YamlError) -> &YamlError {
    loop {
        match err.without_snippet() {
            YamlError::AliasError { error, .. } => err = error,
            other => return other,
        }
    }
}

/// Turns a parser or serde error into a problem with a fix a user can act on.
fn yaml_problem(err: &YamlError, field: String) -> Problem {
    let at = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| line_col(&l));
    let alias_bomb = || {
        (
            format!(
                "the YAML is too large once its aliases are expanded ({})",
                strip_location(&root(err).to_string())
            ),
            "write the values out, or use fewer and smaller anchors (a few-line file that \
             expands to millions of nodes is an alias bomb)"
                .to_owned(),
        )
    };
    let (problem, fix) = match root(err) {
        YamlError::SerdeUnknownField {
            field: name,
            expected,
            ..
        } => unknown_field(name, expected),
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => (
            format!("unknown value {variant:?}"),
            match closest(variant, expected) {
                Some(c) => format!("did you mean {c:?}? (allowed: {})", expected.join(", ")),
                None => format!("use one of: {}", expected.join(", ")),
            },
        ),
        YamlError::SerdeMissingField { field: name, .. } => {
            let field = if field.is_empty() {
                (*name).to_owned()
            } else {
                format!("{field}.{name}")
            };
            return Problem {
                field,
                at,
                problem: format!("missing required field `{name}`"),
                fix: format!("add `{name}`; the README's mesh.yaml section describes it"),
            };
        }
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | YamlError::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => (
            format!("wrong type: found {unexpected}, expected {expected}"),
            format!("write {expected} here"),
        ),
        YamlError::Unexpected { expected, .. } => {
            let wanted = match *expected {
                "string scalar" | "scalar" | "bool expected" | "str expected" | "missing bool"
                | "missing string" => {
                    "a single value (text, number or true/false), not a list or mapping"
                }
                "sequence start" => "a list",
                "mapping start" | "empty mapping start" => "a mapping (key: value lines)",
                other => other,
            };
            (
                format!("wrong type: expected {wanted}"),
                format!("write {wanted} here"),
            )
        }
        YamlError::InvalidScalar { ty, .. } => {
            let wanted = match *ty {
                "boolean" | "bool" => "true or false",
                other => other,
            };
            (
                format!("wrong type: expected {wanted}"),
                format!("write {wanted} here"),
            )
        }
        YamlError::NullIntoString { .. } => (
            "empty value where text is expected".to_owned(),
            "write a value, or remove the field to take its default".to_owned(),
        ),
        YamlError::DuplicateMappingKey { .. } => (
            strip_location(&root(err).to_string()),
            "keep one of the two entries".to_owned(),
        ),
        YamlError::MultipleDocuments { .. }
        | YamlError::Budget {
            breach: BudgetBreach::Documents { .. },
            ..
        } => (
            "the file holds more than one YAML document".to_owned(),
            "keep one mesh description per file (remove the extra `---` documents)".to_owned(),
        ),
        YamlError::Budget { .. }
        | YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => alias_bomb(),
        other => (
            format!(
                "not valid YAML: {}",
                crate::shown::parser_message(&strip_location(&other.to_string()))
            ),
            "fix the YAML syntax at this line (indentation, quoting, a missing ':')".to_owned(),
        ),
    };
    Problem {
        field,
        at,
        problem,
        fix,
    }
}

fn unknown_field(name: &str, expected: &[&str]) -> (String, String) {
    let problem = format!("unknown field `{name}`");
    let fix = match closest(name, expected) {
        Some(c) => format!("did you mean `{c}`?"),
        None if expected.is_empty() => "remove it".to_owned(),
        None => format!("remove it; the fields here are: {}", expected.join(", ")),
    };
    (problem, fix)
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                *c,
            )
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

/// serde-saphyr appends " at line L column C"; we print the location ourselves.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_but_not_strangers() {
        let fields = [
            "name",
            "network",
            "context",
            "cni",
            "loadBalancer",
            "metricsServer",
        ];
        assert_eq!(closest("netwrok", &fields), Some("network"));
        assert_eq!(closest("loadbalancer", &fields), Some("loadBalancer"));
        assert_eq!(closest("zone", &fields), None);
    }

    #[test]
    fn blank_means_comments_and_markers_only() {
        assert!(is_blank("# nothing\n---\n\n"));
        assert!(!is_blank("a: 1\n"));
    }
}
