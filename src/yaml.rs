//! YAML as data for the files mesh-render renders: an ordered document (keys keep the order they
//! were given, entries may carry comments), its one block-style emitter, and the one rule that
//! decides whether a string is written plain or quoted. Templates embed a document with the
//! `yaml_block` filter; a user value in a template goes through the same rule with `yaml`. (The
//! SOPS engine writes YAML as sops does and keeps its own layout: `sops::yaml`.)

use std::fmt::Write;

/// A YAML value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Yaml {
    Str(String),
    Bool(bool),
    Int(i64),
    Map(Vec<Entry>),
    Seq(Vec<Item>),
}

/// A key and its value, with comment lines written above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub comment: Vec<String>,
    pub key: String,
    pub value: Yaml,
}

/// A sequence item, with comment lines written above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub comment: Vec<String>,
    pub value: Yaml,
}

impl Yaml {
    pub fn str(s: impl Into<String>) -> Yaml {
        Yaml::Str(s.into())
    }

    /// An empty mapping, to fill with [`Yaml::with`].
    pub fn map() -> Yaml {
        Yaml::Map(Vec::new())
    }

    /// This mapping with `key: value` added at the end.
    pub fn with(self, key: &str, value: impl Into<Yaml>) -> Yaml {
        self.with_comment(&[], key, value)
    }

    /// This mapping with `key: value` added at the end, `comment` lines above it.
    pub fn with_comment(self, comment: &[&str], key: &str, value: impl Into<Yaml>) -> Yaml {
        debug_assert!(
            matches!(self, Yaml::Map(_)),
            "entries are added to a mapping"
        );
        let mut entries = match self {
            Yaml::Map(entries) => entries,
            _ => Vec::new(),
        };
        entries.push(Entry {
            comment: comment.iter().map(|c| (*c).to_owned()).collect(),
            key: key.to_owned(),
            value: value.into(),
        });
        Yaml::Map(entries)
    }

    /// This mapping with `key: value` added when `value` is given.
    pub fn with_some(self, key: &str, value: Option<impl Into<Yaml>>) -> Yaml {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// A mapping of string pairs, in order.
    pub fn pairs<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Yaml {
        pairs.into_iter().fold(Yaml::map(), |m, (k, v)| {
            m.with(k.as_ref(), Yaml::str(v.as_ref()))
        })
    }

    /// A sequence without comments.
    pub fn seq(items: impl IntoIterator<Item = Yaml>) -> Yaml {
        Yaml::Seq(
            items
                .into_iter()
                .map(|value| Item {
                    comment: Vec::new(),
                    value,
                })
                .collect(),
        )
    }

    /// The value under `key`, for a mapping.
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Yaml::Map(entries) => entries.is_empty(),
            Yaml::Seq(items) => items.is_empty(),
            _ => false,
        }
    }

    /// The document in block style, every line indented by `indent` spaces, ending in a newline.
    pub fn emit(&self, indent: usize) -> String {
        let mut out = String::new();
        match self {
            Yaml::Map(_) | Yaml::Seq(_) if !self.is_empty() => emit_block(&mut out, self, indent),
            scalar => {
                let _ = writeln!(out, "{}{}", " ".repeat(indent), inline(scalar));
            }
        }
        out
    }
}

impl From<&str> for Yaml {
    fn from(s: &str) -> Self {
        Yaml::Str(s.to_owned())
    }
}

impl From<String> for Yaml {
    fn from(s: String) -> Self {
        Yaml::Str(s)
    }
}

impl From<&String> for Yaml {
    fn from(s: &String) -> Self {
        Yaml::Str(s.clone())
    }
}

impl From<bool> for Yaml {
    fn from(b: bool) -> Self {
        Yaml::Bool(b)
    }
}

impl From<u16> for Yaml {
    fn from(n: u16) -> Self {
        Yaml::Int(n.into())
    }
}

impl From<u32> for Yaml {
    fn from(n: u32) -> Self {
        Yaml::Int(n.into())
    }
}

/// A scalar (or an empty collection) on one line.
fn inline(value: &Yaml) -> String {
    match value {
        Yaml::Str(s) => scalar(s),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Int(n) => n.to_string(),
        Yaml::Map(_) => "{}".to_owned(),
        Yaml::Seq(_) => "[]".to_owned(),
    }
}

fn is_block(value: &Yaml) -> bool {
    matches!(value, Yaml::Map(_) | Yaml::Seq(_)) && !value.is_empty()
}

fn comments(out: &mut String, lines: &[String], pad: &str) {
    for line in lines {
        let _ = writeln!(out, "{pad}# {line}");
    }
}

fn emit_block(out: &mut String, value: &Yaml, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Yaml::Map(entries) => {
            for e in entries {
                comments(out, &e.comment, &pad);
                if is_block(&e.value) {
                    let _ = writeln!(out, "{pad}{}:", e.key);
                    emit_block(out, &e.value, indent + 2);
                } else {
                    let _ = writeln!(out, "{pad}{}: {}", e.key, inline(&e.value));
                }
            }
        }
        Yaml::Seq(items) => {
            for item in items {
                comments(out, &item.comment, &pad);
                if is_block(&item.value) {
                    // The item's first line goes after the dash; the rest lines up with it.
                    let mut inner = String::new();
                    emit_block(&mut inner, &item.value, indent + 2);
                    let _ = write!(out, "{pad}- {}", &inner[indent + 2..]);
                } else {
                    let _ = writeln!(out, "{pad}- {}", inline(&item.value));
                }
            }
        }
        scalar => {
            let _ = writeln!(out, "{pad}{}", inline(scalar));
        }
    }
}

/// A string as a YAML scalar: plain when it reads back as the same string under YAML 1.1 and 1.2,
/// double-quoted (JSON syntax, valid YAML) otherwise.
pub fn scalar(s: &str) -> String {
    if plain_is_safe(s) {
        s.to_owned()
    } else {
        serde_json::Value::String(s.to_owned()).to_string()
    }
}

/// Whether `s` may be written as a plain scalar: the one rule for the files mesh-render renders.
pub fn plain_is_safe(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
    ];
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '/');
    let rest_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./:@-+=".contains(c));
    // Numbers (1.26, 0x1F, 1e3) and YAML 1.1 sexagesimal numbers (1:20) must stay strings.
    let numeric = s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o")
        || s.chars()
            .all(|c| c.is_ascii_digit() || c == ':' || c == '_' || c == '.');
    first_ok && rest_ok && !numeric && !RESERVED.contains(&s)
}

/// A document is handed to templates as an object, so the `yaml_block` filter gets the data
/// itself (not text to re-read).
impl minijinja::value::Object for Yaml {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_written_in_block_style_in_the_order_given() {
        let doc = Yaml::map()
            .with("name", "gw")
            .with_comment(&["why"], "labels", Yaml::pairs([("b", "1.2"), ("a", "x")]))
            .with(
                "ports",
                Yaml::seq([Yaml::map().with("name", "tls").with("port", 15443u16)]),
            )
            .with("on", true);
        assert_eq!(
            doc.emit(2),
            "  name: gw\n  # why\n  labels:\n    b: \"1.2\"\n    a: x\n  ports:\n    - name: tls\n      port: 15443\n  on: true\n"
        );
    }

    #[test]
    fn strings_that_would_read_back_as_something_else_are_quoted() {
        for s in [
            "yes", "on", "1.26", "1", "12:30", "0x1F", "", "a b", "#x", "-x", "null", "1e3",
        ] {
            assert!(scalar(s).starts_with('"'), "{s:?} -> {}", scalar(s));
        }
        assert_eq!(scalar("network1"), "network1");
    }

    #[test]
    fn a_commented_sequence_item_keeps_its_comment_above_the_dash() {
        let doc = Yaml::map().with(
            "env",
            Yaml::Seq(vec![Item {
                comment: vec!["routed inside".into()],
                value: Yaml::map().with("name", "A").with("value", "b"),
            }]),
        );
        assert_eq!(
            doc.emit(0),
            "env:\n  # routed inside\n  - name: A\n    value: b\n"
        );
    }
}
