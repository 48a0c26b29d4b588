//! The ordered YAML tree sops works on: parsing (typed like Go's yaml.v3, with comments and budgets)
//! and emitting (laid out like sops's yaml.v3 encoder: indent 4, literal blocks, quoting by type).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use granit_parser::{Event, Parser, ScalarStyle, Span, StructureStyle};

use super::timestamp::GoTime;

/// Largest input accepted, in bytes.
pub(crate) const MAX_INPUT_BYTES: usize = 32 * 1024 * 1024;
/// Deepest nesting of collections accepted (after alias expansion).
pub(crate) const MAX_DEPTH: usize = 64;
/// Most nodes (scalars and collections) accepted after alias expansion.
const MAX_NODES: usize = 2_000_000;
/// Most scalar bytes accepted after alias expansion.
const MAX_EXPANDED_BYTES: usize = 128 * 1024 * 1024;

/// A scalar typed the way yaml.v3 types it when it decodes into `interface{}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer between 2^63 and 2^64: yaml.v3 gives uint64, which sops cannot walk.
    Uint(u64),
    Float(f64),
    Time(GoTime),
    Str(String),
}

/// A node of the tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Scalar(Scalar),
    Map(Vec<MapItem>),
    Seq(Vec<SeqItem>),
}

/// An item of a mapping: a comment line (text after `#`) or a key with its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum MapItem {
    Comment(String),
    Entry(String, Node),
}

/// An item of a sequence: a comment line (text after `#`) or a value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SeqItem {
    Comment(String),
    Value(Node),
}

/// One document: the items of its top-level mapping (an empty document has none).
pub(crate) type Document = Vec<MapItem>;

/// Why a YAML text was refused, with the position (1-based line and column) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

impl YamlError {
    fn at(span: &Span, reason: impl Into<String>) -> Self {
        YamlError {
            line: span.start.line(),
            column: span.start.col() + 1,
            reason: reason.into(),
        }
    }
    fn nowhere(reason: impl Into<String>) -> Self {
        YamlError {
            line: 0,
            column: 0,
            reason: reason.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar resolution (yaml.v3 resolve.go semantics, reimplemented)
// ---------------------------------------------------------------------------------------------

/// Types a plain (unquoted, untagged) scalar like yaml.v3.
pub(crate) fn resolve_plain(s: &str) -> Scalar {
    resolve_plain_non_str(s).unwrap_or_else(|| Scalar::Str(s.to_string()))
}

/// What a plain scalar resolves to when that is not a string; `None` for a string (without
/// copying it: the emitter asks this of every value it writes).
fn resolve_plain_non_str(s: &str) -> Option<Scalar> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Scalar::Null),
        "true" | "True" | "TRUE" => return Some(Scalar::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Scalar::Bool(false)),
        ".nan" | ".NaN" | ".NAN" => return Some(Scalar::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Some(Scalar::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Some(Scalar::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => {
            if is_dot_float(s)
                && let Some(f) = parse_finite_float(s)
            {
                return Some(Scalar::Float(f));
            }
        }
        b'0'..=b'9' | b'+' | b'-' => {
            if let Some(t) = GoTime::parse_yaml(s) {
                return Some(Scalar::Time(t));
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            match go_parse_int(&plain) {
                IntParse::I64(i) => return Some(Scalar::Int(i)),
                IntParse::U64(u) => return Some(Scalar::Uint(u)),
                IntParse::None => {}
            }
            if is_yaml_style_float(&plain)
                && let Some(f) = parse_finite_float(&plain)
            {
                return Some(Scalar::Float(f));
            }
        }
        _ => {}
    }
    None
}

enum IntParse {
    I64(i64),
    U64(u64),
    None,
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint(s, 0, 64)` (which takes no sign).
fn go_parse_int(s: &str) -> IntParse {
    let (neg, signed, body) = match s.as_bytes().first() {
        Some(b'-') => (true, true, &s[1..]),
        Some(b'+') => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    let Some(mag) = go_parse_uint_base0(body) else {
        return IntParse::None;
    };
    if neg {
        if mag <= 1u64 << 63 {
            return IntParse::I64((-(mag as i128)) as i64);
        }
        return IntParse::None;
    }
    if mag < 1u64 << 63 {
        return IntParse::I64(mag as i64);
    }
    if signed {
        // ParseUint refuses a sign.
        return IntParse::None;
    }
    IntParse::U64(mag)
}

/// Go's `strconv.ParseUint(s, 0, 64)` on a string without underscores.
fn go_parse_uint_base0(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let (base, digits) = if b[0] == b'0' {
        if b.len() >= 3 && (b[1] | 0x20) == b'b' {
            (2, &s[2..])
        } else if b.len() >= 3 && (b[1] | 0x20) == b'o' {
            (8, &s[2..])
        } else if b.len() >= 3 && (b[1] | 0x20) == b'x' {
            (16, &s[2..])
        } else {
            (8, &s[1..])
        }
    } else {
        (10, s)
    };
    let mut n: u64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(base)?;
        n = n.checked_mul(base as u64)?.checked_add(d as u64)?;
    }
    Some(n)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$` (yaml.v3's yamlStyleFloat).
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// What Go's ParseFloat accepts for a string starting with '.': `.digits` with an optional exponent.
fn is_dot_float(s: &str) -> bool {
    s.starts_with('.') && is_yaml_style_float(s)
}

/// Parses a float that has already been checked syntactically; overflow (Go's ErrRange) gives None.
fn parse_finite_float(s: &str) -> Option<f64> {
    let f: f64 = s.parse().ok()?;
    if f.is_finite() { Some(f) } else { None }
}

/// Resolves a scalar with an explicit tag (`!!int "42"`, `!!str 1`, `!custom x`), like yaml.v3.
fn resolve_tagged(handle: &str, suffix: &str, text: &str) -> Result<Scalar, String> {
    const CORE: &str = "tag:yaml.org,2002:";
    if handle == "!" && suffix.is_empty() {
        // The non-specific tag: a string.
        return Ok(Scalar::Str(text.to_string()));
    }
    if handle != CORE {
        // Any other tag: yaml.v3 keeps the text as a string.
        return Ok(Scalar::Str(text.to_string()));
    }
    // With a core tag, yaml.v3 resolves the text even when it was quoted (`!!int "42"` is 42).
    let resolved = resolve_plain(text);
    let ok = |s: Scalar| Ok(s);
    match suffix {
        "str" => ok(Scalar::Str(text.to_string())),
        "binary" => {
            use base64::Engine as _;
            let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(cleaned.as_bytes())
                .map_err(|_| "!!binary value contains invalid base64 data".to_string())?;
            String::from_utf8(bytes)
                .map(Scalar::Str)
                .map_err(|_| "!!binary value is not UTF-8 text (not supported)".to_string())
        }
        "null" => match resolved {
            Scalar::Null => ok(Scalar::Null),
            _ => Err("value tagged !!null is not null".into()),
        },
        "bool" => match resolved {
            Scalar::Bool(b) => ok(Scalar::Bool(b)),
            _ => Err("value tagged !!bool is not a boolean".into()),
        },
        "int" => match resolved {
            Scalar::Int(i) => ok(Scalar::Int(i)),
            Scalar::Uint(u) => ok(Scalar::Uint(u)),
            _ => Err("value tagged !!int is not an integer".into()),
        },
        "float" => match resolved {
            Scalar::Float(f) => ok(Scalar::Float(f)),
            Scalar::Int(i) => ok(Scalar::Float(i as f64)),
            _ => Err("value tagged !!float is not a number".into()),
        },
        "timestamp" => match resolved {
            Scalar::Time(t) => ok(Scalar::Time(t)),
            _ => Err("value tagged !!timestamp is not a timestamp".into()),
        },
        "merge" => ok(Scalar::Str(text.to_string())),
        // Unknown core tags (!!set, !!omap, ...) are not resolvable: the text stays a string.
        _ => ok(Scalar::Str(text.to_string())),
    }
}

/// Types a scalar event: quoted and block scalars are strings, plain ones are resolved.
fn type_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<(&str, &str)>,
) -> Result<Scalar, String> {
    let quoted = !matches!(style, ScalarStyle::Plain);
    match tag {
        Some((handle, suffix)) => resolve_tagged(handle, suffix, text),
        None if quoted => Ok(Scalar::Str(text.to_string())),
        None => Ok(resolve_plain(text)),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

enum Frame {
    Map {
        items: Vec<MapItem>,
        keys: HashSet<String>,
        pending_key: Option<String>,
        flow: bool,
        anchor: usize,
    },
    Seq {
        items: Vec<SeqItem>,
        flow: bool,
        anchor: usize,
    },
}

struct Stored {
    node: Node,
    depth: usize,
    nodes: usize,
    bytes: usize,
}

struct Builder {
    stack: Vec<Frame>,
    pending: Vec<(String, usize)>,
    anchors: HashMap<usize, Stored>,
    docs: Vec<Document>,
    doc_root: Option<Node>,
    nodes: usize,
    bytes: usize,
    /// The last event closed a flow collection: a comment on its line belongs inside it (yaml.v3).
    closed_flow: bool,
}

fn node_stats(node: &Node) -> (usize, usize, usize) {
    // (depth, nodes, bytes)
    match node {
        Node::Scalar(Scalar::Str(s)) => (0, 1, s.len()),
        Node::Scalar(_) => (0, 1, 8),
        Node::Map(items) => {
            let (mut d, mut n, mut b) = (0, 1, 0);
            for it in items {
                match it {
                    MapItem::Comment(c) => b += c.len(),
                    MapItem::Entry(k, v) => {
                        let (vd, vn, vb) = node_stats(v);
                        d = d.max(vd);
                        n += vn;
                        b += vb + k.len();
                    }
                }
            }
            (d + 1, n, b)
        }
        Node::Seq(items) => {
            let (mut d, mut n, mut b) = (0, 1, 0);
            for it in items {
                match it {
                    SeqItem::Comment(c) => b += c.len(),
                    SeqItem::Value(v) => {
                        let (vd, vn, vb) = node_stats(v);
                        d = d.max(vd);
                        n += vn;
                        b += vb;
                    }
                }
            }
            (d + 1, n, b)
        }
    }
}

impl Builder {
    fn count(&mut self, nodes: usize, bytes: usize, span: &Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_NODES {
            return Err(YamlError::at(
                span,
                format!("more than {MAX_NODES} nodes (after alias expansion)"),
            ));
        }
        if self.bytes > MAX_EXPANDED_BYTES {
            return Err(YamlError::at(
                span,
                format!("more than {MAX_EXPANDED_BYTES} bytes of values (after alias expansion)"),
            ));
        }
        Ok(())
    }

    /// Moves pending comments into the innermost collection, before the entry that starts now.
    fn flush_pending_into_top(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        match self.stack.last_mut() {
            Some(Frame::Map { items, .. }) => {
                items.extend(pending.into_iter().map(|(c, _)| MapItem::Comment(c)))
            }
            Some(Frame::Seq { items, .. }) => {
                items.extend(pending.into_iter().map(|(c, _)| SeqItem::Comment(c)))
            }
            None => self.pending = pending,
        }
    }

    /// Called before a node event: decides where pending comments go.
    fn before_node(&mut self) {
        match self.stack.last() {
            // A key, a sequence item, or a scalar value (whose comments sops puts before the key).
            Some(Frame::Map {
                pending_key: None, ..
            })
            | Some(Frame::Seq { .. }) => self.flush_pending_into_top(),
            Some(Frame::Map {
                pending_key: Some(_),
                ..
            }) => {}
            None => {}
        }
    }

    fn right_comment(&mut self, text: String) {
        if self.closed_flow {
            // `key: [a, b] # note`: yaml.v3 gives the note to the flow collection, and sops
            // lists it first inside it.
            let target = match self.stack.last_mut() {
                Some(Frame::Map { items, .. }) => match items.last_mut() {
                    Some(MapItem::Entry(_, v)) => Some(v),
                    _ => None,
                },
                Some(Frame::Seq { items, .. }) => match items.last_mut() {
                    Some(SeqItem::Value(v)) => Some(v),
                    _ => None,
                },
                None => self.doc_root.as_mut(),
            };
            match target {
                Some(Node::Map(items)) => {
                    items.insert(0, MapItem::Comment(text));
                    return;
                }
                Some(Node::Seq(items)) => {
                    items.insert(0, SeqItem::Comment(text));
                    return;
                }
                _ => {}
            }
        }
        match self.stack.last_mut() {
            Some(Frame::Map {
                items, pending_key, ..
            }) => {
                if pending_key.is_some() {
                    items.push(MapItem::Comment(text));
                } else if let Some(i) = items
                    .iter()
                    .rposition(|it| matches!(it, MapItem::Entry(..)))
                {
                    items.insert(i, MapItem::Comment(text));
                } else {
                    items.push(MapItem::Comment(text));
                }
            }
            Some(Frame::Seq { items, .. }) => {
                if let Some(i) = items
                    .iter()
                    .rposition(|it| matches!(it, SeqItem::Value(..)))
                {
                    items.insert(i, SeqItem::Comment(text));
                } else {
                    items.push(SeqItem::Comment(text));
                }
            }
            None => self.pending.push((text, 0)),
        }
    }

    /// Attaches a finished node to the parent (or as the document root).
    fn attach(&mut self, node: Node, anchor: usize, span: &Span) -> Result<(), YamlError> {
        if anchor != 0 {
            let (depth, nodes, bytes) = node_stats(&node);
            self.anchors.insert(
                anchor,
                Stored {
                    node: node.clone(),
                    depth,
                    nodes,
                    bytes,
                },
            );
        }
        match self.stack.last_mut() {
            None => {
                if self.doc_root.is_some() {
                    return Err(YamlError::at(span, "more than one root node in a document"));
                }
                self.doc_root = Some(node);
            }
            Some(Frame::Seq { items, .. }) => items.push(SeqItem::Value(node)),
            Some(Frame::Map {
                items,
                keys,
                pending_key,
                ..
            }) => match pending_key.take() {
                Some(key) => items.push(MapItem::Entry(key, node)),
                None => {
                    let key = match node {
                        Node::Scalar(Scalar::Str(k)) => k,
                        Node::Scalar(Scalar::Null) => {
                            return Err(YamlError::at(
                                span,
                                "a mapping key is null (only string keys are supported)",
                            ));
                        }
                        Node::Scalar(_) => {
                            return Err(YamlError::at(
                                span,
                                "a mapping key is not a string (only string keys are supported)",
                            ));
                        }
                        _ => {
                            return Err(YamlError::at(
                                span,
                                "a mapping key is a collection (only string keys are supported)",
                            ));
                        }
                    };
                    if !keys.insert(key.clone()) {
                        return Err(YamlError::at(
                            span,
                            format!("duplicate mapping key {key:?}"),
                        ));
                    }
                    *pending_key = Some(key);
                }
            },
        }
        Ok(())
    }

    fn end_collection(&mut self, span: &Span) -> Result<(), YamlError> {
        // yaml.v3's comment placement: the comments just above the next token, at its column,
        // are that token's head comments (they stay pending); the others are foot comments of
        // the last node, so they go into this collection.
        let next_col = span.start.col();
        let mut pending = std::mem::take(&mut self.pending);
        let head_from = pending
            .iter()
            .rposition(|(_, col)| *col != next_col)
            .map_or(0, |i| i + 1);
        let head = pending.split_off(head_from);
        let foot = pending;
        self.pending = head;
        let frame = self
            .stack
            .pop()
            .ok_or_else(|| YamlError::at(span, "unbalanced collection end"))?;
        let (mut node, anchor) = match frame {
            Frame::Map {
                items,
                pending_key,
                anchor,
                ..
            } => {
                if pending_key.is_some() {
                    return Err(YamlError::at(span, "mapping key without a value"));
                }
                (Node::Map(items), anchor)
            }
            Frame::Seq { items, anchor, .. } => (Node::Seq(items), anchor),
        };
        match &mut node {
            Node::Map(items) => items.extend(foot.into_iter().map(|(c, _)| MapItem::Comment(c))),
            Node::Seq(items) => items.extend(foot.into_iter().map(|(c, _)| SeqItem::Comment(c))),
            Node::Scalar(_) => {}
        }
        self.attach(node, anchor, span)
    }

    fn end_document(&mut self, span: &Span) -> Result<(), YamlError> {
        let root = self.doc_root.take();
        let pending: Vec<MapItem> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(c, _)| MapItem::Comment(c))
            .collect();
        let mut doc = match root {
            Some(Node::Map(items)) => items,
            Some(Node::Scalar(Scalar::Null)) | None => Vec::new(),
            Some(Node::Seq(_)) => {
                return Err(YamlError::at(
                    span,
                    "a document whose top level is a list is not supported (it must be a mapping)",
                ));
            }
            Some(Node::Scalar(_)) => {
                return Err(YamlError::at(
                    span,
                    "a document whose top level is a scalar is not supported (it must be a mapping)",
                ));
            }
        };
        doc.extend(pending);
        self.docs.push(doc);
        self.anchors.clear();
        Ok(())
    }
}

/// Parses a YAML stream into documents whose top level is a mapping, within the budgets.
pub(crate) fn parse_stream(text: &str) -> Result<Vec<Document>, YamlError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(YamlError::nowhere(format!(
            "input is larger than {MAX_INPUT_BYTES} bytes"
        )));
    }
    let options = granit_parser::options! {
        block_nesting_limit: MAX_DEPTH,
        flow_nesting_limit: MAX_DEPTH,
    };
    let parser = Parser::new_from_str_with_options(text, options);
    let mut b = Builder {
        stack: Vec::new(),
        pending: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        doc_root: None,
        nodes: 0,
        bytes: 0,
        closed_flow: false,
    };
    for next in parser {
        let (event, span) = next.map_err(|e| YamlError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            reason: e.info(),
        })?;
        let closes_flow = matches!(event, Event::MappingEnd | Event::SequenceEnd)
            && matches!(
                b.stack.last(),
                Some(Frame::Map { flow: true, .. } | Frame::Seq { flow: true, .. })
            );
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Anchor(..) => {}
            Event::DocumentStart(..) => {
                b.doc_root = None;
            }
            Event::DocumentEnd => b.end_document(&span)?,
            Event::Comment(text, placement) => {
                if matches!(placement, granit_parser::Placement::Right) {
                    b.right_comment(text.into_owned());
                } else {
                    b.pending.push((text.into_owned(), span.start.col()));
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                b.before_node();
                b.count(1, value.len(), &span)?;
                let tag_parts = tag.as_ref().map(|t| (t.handle(), t.suffix()));
                let scalar =
                    type_scalar(&value, style, tag_parts).map_err(|r| YamlError::at(&span, r))?;
                b.attach(Node::Scalar(scalar), anchor, &span)?;
            }
            Event::Alias(id) => {
                b.before_node();
                let depth = b.stack.len();
                let (node, nodes, bytes, adepth) = match b.anchors.get(&id) {
                    Some(s) => (s.node.clone(), s.nodes, s.bytes, s.depth),
                    None => {
                        return Err(YamlError::at(
                            &span,
                            "alias to an anchor that is not complete (recursive alias)",
                        ));
                    }
                };
                if depth + adepth > MAX_DEPTH {
                    return Err(YamlError::at(
                        &span,
                        format!("nesting deeper than {MAX_DEPTH} levels (after alias expansion)"),
                    ));
                }
                b.count(nodes, bytes, &span)?;
                b.attach(node, 0, &span)?;
            }
            Event::UnresolvedAlias(_) => {
                return Err(YamlError::at(&span, "alias to an unknown anchor"));
            }
            Event::MappingStart(style, anchor, _tag) => {
                if let Some(Frame::Map {
                    pending_key: None, ..
                }) = b.stack.last()
                {
                    return Err(YamlError::at(
                        &span,
                        "a mapping key is a collection (only string keys are supported)",
                    ));
                }
                b.before_node();
                b.count(1, 0, &span)?;
                if b.stack.len() >= MAX_DEPTH {
                    return Err(YamlError::at(
                        &span,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                    ));
                }
                b.stack.push(Frame::Map {
                    items: Vec::new(),
                    keys: HashSet::new(),
                    pending_key: None,
                    flow: matches!(style, StructureStyle::Flow),
                    anchor,
                });
            }
            Event::SequenceStart(style, anchor, _tag) => {
                if let Some(Frame::Map {
                    pending_key: None, ..
                }) = b.stack.last()
                {
                    return Err(YamlError::at(
                        &span,
                        "a mapping key is a collection (only string keys are supported)",
                    ));
                }
                b.before_node();
                b.count(1, 0, &span)?;
                if b.stack.len() >= MAX_DEPTH {
                    return Err(YamlError::at(
                        &span,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                    ));
                }
                b.stack.push(Frame::Seq {
                    items: Vec::new(),
                    flow: matches!(style, StructureStyle::Flow),
                    anchor,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => b.end_collection(&span)?,
            // Events a later parser version may add carry no data sops reads.
            _ => {}
        }
        b.closed_flow = closes_flow;
    }
    Ok(b.docs)
}

// ---------------------------------------------------------------------------------------------
// Go number formatting
// ---------------------------------------------------------------------------------------------

/// Shortest round-trip decimal digits of |f| and the position of the decimal point (Go's `digs.dp`).
fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

fn fmt_fixed(neg: bool, digits: &str, dp: i32) -> String {
    let d = digits.as_bytes();
    let nd = d.len() as i32;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if dp > 0 {
        for i in 0..dp {
            out.push(if i < nd { d[i as usize] as char } else { '0' });
        }
    } else {
        out.push('0');
    }
    let prec = (nd - dp).max(0);
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let j = dp + i;
            out.push(if j >= 0 && j < nd {
                d[j as usize] as char
            } else {
                '0'
            });
        }
    }
    out
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the sops plaintext and MAC bytes of a float.
pub(crate) fn go_format_float_f(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let (digits, dp) = shortest_digits(f);
    fmt_fixed(f.is_sign_negative(), &digits, dp)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
fn go_format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        let mut out = String::new();
        if f.is_sign_negative() {
            out.push('-');
        }
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.abs());
        return out;
    }
    fmt_fixed(f.is_sign_negative(), &digits, dp)
}

/// How yaml.v3 writes a float64 (`.inf`, `-.inf`, `.nan` for the specials).
pub(crate) fn yaml_float_text(f: f64) -> String {
    match go_format_float_g(f).as_str() {
        "+Inf" => ".inf".into(),
        "-Inf" => "-.inf".into(),
        "NaN" => ".nan".into(),
        s => s.to_string(),
    }
}

/// The number Go's encoding/json writes for a float64, read back as JSON.
pub(crate) fn go_json_float(f: f64) -> serde_json::Value {
    if !f.is_finite() {
        return serde_json::Value::Null;
    }
    let abs = f.abs();
    let text = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        {
            let (digits, dp) = shortest_digits(f);
            let exp = dp - 1;
            let mut out = String::new();
            if f.is_sign_negative() {
                out.push('-');
            }
            out.push_str(&digits[..1]);
            if digits.len() > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            let _ = write!(out, "e{}{}", if exp < 0 { '-' } else { '+' }, exp.abs());
            out
        }
    } else {
        go_format_float_f(f)
    };
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

// ---------------------------------------------------------------------------------------------
// Emitting (the layout of yaml.v3's encoder as sops drives it, reimplemented)
// ---------------------------------------------------------------------------------------------

const INDENT: usize = 4;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

#[derive(Debug, PartialEq, Eq)]
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

fn is_break_char(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// yaml_emitter_analyze_scalar for block context.
fn analyze(value: &str) -> Analysis {
    // Most values (encrypted ones, base64, names) hold no space, line break or unprintable
    // character: then only their first and last characters can make them indicators.
    let bytes = value.as_bytes();
    if !bytes.is_empty() && bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        let first = bytes[0];
        let block_indicators = value.starts_with("---")
            || value.starts_with("...")
            || matches!(
                first,
                b'#' | b','
                    | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'&'
                    | b'*'
                    | b'!'
                    | b'|'
                    | b'>'
                    | b'\''
                    | b'"'
                    | b'%'
                    | b'@'
                    | b'`'
            )
            || (bytes.len() == 1 && matches!(first, b'?' | b':' | b'-'))
            || (bytes.len() > 1 && bytes[bytes.len() - 1] == b':');
        return Analysis {
            multiline: false,
            block_plain_allowed: !block_indicators,
            single_allowed: true,
            block_allowed: true,
        };
    }
    analyze_chars(value)
}

/// `analyze`, character by character: for any value.
fn analyze_chars(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = false;
    let mut line_breaks = false;
    let mut special = false;
    let mut tabs = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if value.starts_with("---") || value.starts_with("...") {
        block_indicators = true;
    }
    let mut preceded_by_ws = true;
    // One pass without collecting the characters: the emitter analyses every value it writes,
    // and encrypted values are long.
    let mut chars = value.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let last = next.is_none();
        let followed_by_ws = matches!(next, None | Some(' ' | '\t'));
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if first {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break_char(c) {
            line_breaks = true;
            if first {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = c == ' ' || c == '\t' || is_break_char(c);
        first = false;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || tabs || special {
        a.block_plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks {
        a.block_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

fn is_base60_float(s: &str) -> bool {
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let b = s.as_bytes();
    if b.is_empty() || !(b[0] == b'+' || b[0] == b'-' || b[0].is_ascii_digit()) || !s.contains(':')
    {
        return false;
    }
    let mut i = 0;
    if b[i] == b'+' || b[i] == b'-' {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let g = &b[start..i];
        let ok = match g.len() {
            1 => true,
            2 => g[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// The style yaml.v3 gives a string (encoder.stringv, then the emitter's checks).
fn string_style(s: &str, simple_key: bool) -> Style {
    let can_plain = !s.is_empty()
        && resolve_plain_non_str(s).is_none()
        && !(is_base60_float(s) || is_old_bool(s));
    let requested = if s.contains('\n') {
        Style::Literal
    } else if can_plain {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    let mut style = requested;
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain {
        if !a.block_plain_allowed {
            style = Style::Single;
        }
        if s.is_empty() && simple_key {
            style = Style::Single;
        }
    }
    if style == Style::Single && !a.single_allowed {
        style = Style::Double;
    }
    if style == Style::Literal
        && (!a.block_allowed || simple_key || s.contains(['\u{2028}', '\u{2029}']))
    {
        style = Style::Double;
    }
    style
}

fn single_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        let u = c as u32;
        if !is_printable(c) || c == '\u{FEFF}' || is_break_char(c) || c == '"' || c == '\\' {
            out.push('\\');
            match u {
                0x00 => out.push('0'),
                0x07 => out.push('a'),
                0x08 => out.push('b'),
                0x09 => out.push('t'),
                0x0A => out.push('n'),
                0x0B => out.push('v'),
                0x0C => out.push('f'),
                0x0D => out.push('r'),
                0x1B => out.push('e'),
                0x22 => out.push('"'),
                0x5C => out.push('\\'),
                0x85 => out.push('N'),
                0xA0 => out.push('_'),
                0x2028 => out.push('L'),
                0x2029 => out.push('P'),
                _ if u <= 0xFF => {
                    let _ = write!(out, "x{u:02X}");
                }
                _ if u <= 0xFFFF => {
                    let _ = write!(out, "u{u:04X}");
                }
                _ => {
                    let _ = write!(out, "U{u:08X}");
                }
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// The text and style of a scalar as yaml.v3 writes it.
fn scalar_text(s: &Scalar) -> (String, Style) {
    match s {
        Scalar::Null => ("null".into(), Style::Plain),
        Scalar::Bool(b) => ((if *b { "true" } else { "false" }).into(), Style::Plain),
        Scalar::Int(i) => (i.to_string(), Style::Plain),
        Scalar::Uint(u) => (u.to_string(), Style::Plain),
        Scalar::Float(f) => (yaml_float_text(*f), Style::Plain),
        Scalar::Time(t) => (t.to_rfc3339_nano(), Style::Plain),
        Scalar::Str(s) => (s.clone(), string_style(s, false)),
    }
}

struct Emitter {
    out: String,
    /// The last thing written was a keep-chomped literal (yaml.v3 then ends the stream with `...`).
    open_ended: bool,
}

fn next_indent(indent: usize) -> usize {
    INDENT * ((indent + INDENT) / INDENT)
}

impl Emitter {
    fn line_start(&mut self, indent: usize) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    fn comment(&mut self, indent: usize, text: &str) {
        self.line_start(indent);
        self.out.push('#');
        self.out.push_str(text);
        self.out.push('\n');
        self.open_ended = false;
    }

    fn key(&mut self, key: &str) {
        let style = string_style(key, true);
        match style {
            Style::Plain => self.out.push_str(key),
            Style::Single => self.out.push_str(&single_quoted(key)),
            _ => self.out.push_str(&double_quoted(key)),
        }
        self.out.push(':');
    }

    /// Writes a scalar after an indicator (`key:` or `-`); `content_indent` is for literal blocks.
    fn scalar(&mut self, s: &Scalar, content_indent: usize, parent_indent: usize) {
        let (text, mut style) = scalar_text(s);
        self.open_ended = false;
        if style == Style::Literal {
            let needs_hint = text.starts_with(' ') || text.starts_with(is_break_char);
            if needs_hint && content_indent.checked_sub(parent_indent) != Some(INDENT) {
                // yaml.v3 would write an indentation hint that does not match the layout here.
                style = Style::Double;
            }
        }
        match style {
            Style::Plain => {
                self.out.push(' ');
                self.out.push_str(&text);
            }
            Style::Single => {
                self.out.push(' ');
                self.out.push_str(&single_quoted(&text));
            }
            Style::Double => {
                self.out.push(' ');
                self.out.push_str(&double_quoted(&text));
            }
            Style::Literal => {
                self.out.push_str(" |");
                if text.starts_with(' ') || text.starts_with(is_break_char) {
                    let _ = write!(self.out, "{INDENT}");
                }
                let chars: Vec<char> = text.chars().collect();
                let n = chars.len();
                let keep = if n == 0 || !is_break_char(chars[n - 1]) {
                    self.out.push('-');
                    false
                } else if n == 1 || is_break_char(chars[n - 2]) {
                    self.out.push('+');
                    true
                } else {
                    false
                };
                let mut at_break = true;
                for c in chars {
                    if c == '\n' {
                        self.out.push('\n');
                        at_break = true;
                    } else {
                        if at_break {
                            if !self.out.ends_with('\n') {
                                self.out.push('\n');
                            }
                            for _ in 0..content_indent {
                                self.out.push(' ');
                            }
                        }
                        self.out.push(c);
                        at_break = false;
                    }
                }
                self.open_ended = keep;
            }
        }
    }

    fn map(&mut self, items: &[MapItem], indent: usize, skip_leading_comments: bool) {
        let mut leading = skip_leading_comments;
        for item in items {
            match item {
                MapItem::Comment(c) => {
                    if !leading {
                        self.comment(indent, c);
                    }
                }
                MapItem::Entry(k, v) => {
                    leading = false;
                    self.line_start_same_line_ok(indent);
                    self.key(k);
                    self.value_after_key(v, indent);
                }
            }
        }
    }

    /// Like line_start, but stays on the current line when it already ends at `indent` after "- ".
    fn line_start_same_line_ok(&mut self, indent: usize) {
        let col = self.out.len() - self.out.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line = &self.out[self.out.len() - col..];
        if col == indent && line.ends_with("- ") {
            return;
        }
        self.line_start(indent);
    }

    fn value_after_key(&mut self, v: &Node, key_indent: usize) {
        match v {
            Node::Scalar(s) => self.scalar(s, next_indent(key_indent), key_indent),
            Node::Map(items) if !has_entries_map(items) => {
                self.empty(" {}", items, next_indent(key_indent))
            }
            Node::Seq(items) if !has_values_seq(items) => self.empty(
                " []",
                seq_comments_as_map(items).as_slice(),
                next_indent(key_indent),
            ),
            Node::Map(items) => {
                self.out.push('\n');
                self.map(items, next_indent(key_indent), false);
            }
            Node::Seq(items) => {
                self.out.push('\n');
                self.seq(items, next_indent(key_indent));
            }
        }
    }

    /// An empty collection is written in flow style; comments it holds go on the lines after it.
    fn empty(&mut self, text: &str, comments: &[MapItem], indent: usize) {
        self.out.push_str(text);
        self.open_ended = false;
        for c in comments {
            if let MapItem::Comment(c) = c {
                self.comment(indent, c);
            }
        }
    }

    fn seq(&mut self, items: &[SeqItem], indent: usize) {
        for item in items {
            match item {
                SeqItem::Comment(c) => self.comment(indent, c),
                SeqItem::Value(v) => {
                    // Comments that open a nested collection are written above the dash.
                    match v {
                        Node::Map(inner) if has_entries_map(inner) => {
                            for it in inner {
                                match it {
                                    MapItem::Comment(c) => self.comment(indent, c),
                                    MapItem::Entry(..) => break,
                                }
                            }
                        }
                        Node::Seq(inner) if has_values_seq(inner) => {
                            for it in inner {
                                match it {
                                    SeqItem::Comment(c) => self.comment(indent, c),
                                    SeqItem::Value(..) => break,
                                }
                            }
                        }
                        _ => {}
                    }
                    self.line_start_same_line_ok(indent);
                    self.out.push('-');
                    self.open_ended = false;
                    let inner_indent = indent + 2;
                    match v {
                        Node::Scalar(s) => self.scalar(s, inner_indent, indent),
                        Node::Map(inner) if !has_entries_map(inner) => {
                            self.empty(" {}", inner, inner_indent)
                        }
                        Node::Seq(inner) if !has_values_seq(inner) => {
                            self.empty(" []", seq_comments_as_map(inner).as_slice(), inner_indent)
                        }
                        Node::Map(inner) => {
                            self.out.push(' ');
                            self.map(inner, inner_indent, true);
                        }
                        Node::Seq(inner) => {
                            self.out.push(' ');
                            let first_value = inner
                                .iter()
                                .position(|it| matches!(it, SeqItem::Value(_)))
                                .unwrap_or(0);
                            self.seq(&inner[first_value..], inner_indent);
                        }
                    }
                }
            }
        }
    }
}

fn has_entries_map(items: &[MapItem]) -> bool {
    items.iter().any(|i| matches!(i, MapItem::Entry(..)))
}

fn has_values_seq(items: &[SeqItem]) -> bool {
    items.iter().any(|i| matches!(i, SeqItem::Value(..)))
}

fn seq_comments_as_map(items: &[SeqItem]) -> Vec<MapItem> {
    items
        .iter()
        .filter_map(|i| match i {
            SeqItem::Comment(c) => Some(MapItem::Comment(c.clone())),
            SeqItem::Value(_) => None,
        })
        .collect()
}

/// Writes documents the way sops (yaml.v3, indent 4) writes them: `---` between documents.
pub(crate) fn emit_stream(docs: &[Document]) -> String {
    let mut e = Emitter {
        out: String::new(),
        open_ended: false,
    };
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            e.line_start(0);
            e.out.push_str("---\n");
        }
        if has_entries_map(doc) {
            e.map(doc, 0, false);
        } else {
            for item in doc {
                if let MapItem::Comment(c) = item {
                    e.comment(0, c);
                }
            }
            e.line_start(0);
            e.out.push_str("{}");
            e.open_ended = false;
        }
        if !e.out.ends_with('\n') {
            e.out.push('\n');
        }
    }
    if e.open_ended {
        e.out.push_str("...\n");
    }
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_scalar_analysis_agrees_with_the_character_by_character_one() {
        // Every string up to four characters over the characters that decide a style.
        let alphabet: Vec<char> = "a-:?#.,[&!'\"%|>=/ ".chars().collect();
        let mut strings = vec![String::new()];
        let mut checked = 0;
        for _ in 0..4 {
            let mut longer = Vec::new();
            for s in &strings {
                for c in &alphabet {
                    let t = format!("{s}{c}");
                    assert_eq!(analyze(&t), analyze_chars(&t), "{t:?}");
                    checked += 1;
                    longer.push(t);
                }
            }
            strings = longer;
        }
        assert!(checked > 100_000);
        for long in [
            "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]",
            "---x",
            "...",
            "a:",
            "x#y",
        ] {
            assert_eq!(analyze(long), analyze_chars(long), "{long:?}");
        }
    }

    fn typed(s: &str) -> Scalar {
        resolve_plain(s)
    }

    #[test]
    fn plain_scalars_are_typed_like_yaml_v3() {
        assert_eq!(typed("0x1F"), Scalar::Int(31));
        assert_eq!(typed("0o17"), Scalar::Int(15));
        assert_eq!(typed("017"), Scalar::Int(15));
        assert_eq!(typed("0b101"), Scalar::Int(5));
        assert_eq!(typed("1_000"), Scalar::Int(1000));
        assert_eq!(typed("-17"), Scalar::Int(-17));
        assert_eq!(typed("08"), Scalar::Float(8.0));
        assert_eq!(
            typed("9223372036854775808"),
            Scalar::Uint(9223372036854775808)
        );
        assert_eq!(typed("99999999999999999999999"), Scalar::Float(1e23));
        assert_eq!(typed("1e400"), Scalar::Str("1e400".into()));
        assert_eq!(typed("1.50"), Scalar::Float(1.5));
        assert_eq!(typed(".5"), Scalar::Float(0.5));
        assert_eq!(typed("yes"), Scalar::Str("yes".into()));
        assert_eq!(typed("True"), Scalar::Bool(true));
        assert_eq!(typed("~"), Scalar::Null);
        assert_eq!(typed("1.2.3"), Scalar::Str("1.2.3".into()));
        assert!(matches!(typed("2024-01-15"), Scalar::Time(_)));
        assert!(matches!(typed("2024-1-5"), Scalar::Time(_)));
        assert!(matches!(typed("2024-01-15 10:30:00"), Scalar::Time(_)));
        assert_eq!(typed("2024-02-30"), Scalar::Str("2024-02-30".into()));
    }

    #[test]
    fn floats_are_formatted_like_go() {
        assert_eq!(go_format_float_f(1000.0), "1000");
        assert_eq!(go_format_float_f(1.5e-7), "0.00000015");
        assert_eq!(go_format_float_f(1e23), "100000000000000000000000");
        assert_eq!(go_format_float_f(-0.5), "-0.5");
        assert_eq!(go_format_float_f(f64::INFINITY), "+Inf");
        assert_eq!(yaml_float_text(1000.0), "1000");
        assert_eq!(yaml_float_text(1e6), "1e+06");
        assert_eq!(yaml_float_text(1.5e-7), "1.5e-07");
        assert_eq!(yaml_float_text(0.0001), "0.0001");
        assert_eq!(yaml_float_text(2.5e-3), "0.0025");
        assert_eq!(yaml_float_text(f64::NEG_INFINITY), "-.inf");
    }

    #[test]
    fn strings_are_quoted_when_they_would_read_back_as_another_type() {
        assert_eq!(string_style("42", false), Style::Double);
        assert_eq!(string_style("yes", false), Style::Double);
        assert_eq!(string_style("y", false), Style::Double);
        assert_eq!(string_style("", false), Style::Double);
        assert_eq!(string_style("a: b", false), Style::Single);
        assert_eq!(string_style("hello world", false), Style::Plain);
        assert_eq!(string_style("a\tb", false), Style::Double);
        assert_eq!(string_style("line\n", false), Style::Literal);
        assert_eq!(double_quoted("\u{1F680} x"), "\"\\U0001F680 x\"");
    }

    #[test]
    fn hostile_nesting_and_alias_bombs_fail_cleanly() {
        let deep = "[".repeat(500) + &"]".repeat(500);
        assert!(parse_stream(&deep).is_err());
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let err = parse_stream(&bomb).unwrap_err();
        assert!(err.reason.contains("alias expansion"), "{err:?}");
    }

    #[test]
    fn comments_keep_their_place() {
        let docs = parse_stream("# top\na: 1 # right\nl:\n  # in list\n  - x\n").unwrap();
        let out = emit_stream(&docs);
        assert_eq!(out, "# top\n# right\na: 1\nl:\n    # in list\n    - x\n");
    }
}
