//! The pipeline runs one way, and the source says so: a plain scan of `src/` (no compiler, no
//! heavy tool) that fails on a cycle of references between its files, on I/O, the environment or
//! the clock in the pure core, and on file writes outside the one I/O module.
//!
//! How references are counted: every path that starts with `crate::`, `super::` or `self::`, or
//! with a name a `use` of the file binds, or with one of the file's own submodules, is resolved
//! to the file that *defines* what it names (following `use` and `pub use` re-exports, as rustc
//! does). A `pub use` line itself is no reference: a `mod.rs` that only re-exports is a facade.
//! `#[cfg(test)]` items are left out (unit tests may reach anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One file of `src/`, as the scan sees it.
struct File {
    /// The module path: `["render", "tree"]` for src/render/tree.rs, `[]` for lib.rs.
    module: Vec<String>,
    /// The text without comments, string and char literals and `#[cfg(test)]` items.
    code: String,
    /// Names of items defined at any level of the file (fn, struct, enum, trait, type, const,
    /// static, macro).
    defines: BTreeSet<String>,
    /// Names bound by `use` declarations, to the absolute path they name, and whether the
    /// binding is a re-export (`pub use`).
    uses: BTreeMap<String, (Vec<String>, bool)>,
    /// Absolute module paths of `use …::*` globs.
    globs: Vec<Vec<String>>,
    /// Submodules declared with `mod name;`.
    children: BTreeSet<String>,
}

struct Source {
    /// By path relative to src/, e.g. "render/tree.rs".
    files: BTreeMap<String, File>,
    /// Module path to file.
    by_module: BTreeMap<Vec<String>, String>,
}

fn src_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.strip_suffix(".rs").unwrap();
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Blanks comments, string literals (plain and raw) and char literals, keeping line structure.
fn strip_literals(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').map_or(b.len(), |n| i + n);
            i = end;
        } else if rest.starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if text[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if text[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let open_len = 2 + hashes + usize::from(rest.starts_with("br"));
            let body = &text[i + open_len..];
            let end = body
                .find(&close)
                .map_or(b.len(), |n| i + open_len + n + close.len());
            out.push_str("\"\"");
            i = end;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && is_char_literal(rest) {
            let len = rest[1..].find('\'').map_or(1, |n| n + 2);
            i += len;
            out.push_str("' '");
        } else {
            let ch = rest.chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn raw_string_start(rest: &str) -> Option<usize> {
    let after = rest.strip_prefix("br").or_else(|| rest.strip_prefix('r'))?;
    let hashes = after.len() - after.trim_start_matches('#').len();
    after[hashes..].starts_with('"').then_some(hashes)
}

/// `'x'`, `'\n'`, `'\u{1F600}'`, `'\''` — not a lifetime like `'a`.
fn is_char_literal(rest: &str) -> bool {
    let mut chars = rest[1..].chars();
    match chars.next() {
        Some('\\') => rest[2..].find('\'').is_some_and(|n| n <= 10),
        Some(_) => chars.next() == Some('\''),
        None => false,
    }
}

/// Removes every item annotated `#[cfg(test)]` (a `mod tests { … }` or a single item).
fn strip_test_items(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let rest = &out[at..];
        let end = match (rest.find('{'), rest.find(';')) {
            (Some(open), semi) if semi.is_none_or(|s| open < s) => {
                let mut depth = 0;
                let mut end = rest.len();
                for (k, ch) in rest[open..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (_, Some(semi)) => semi + 1,
            _ => rest.len(),
        };
        out.replace_range(at..at + end, " ");
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `a::b::{c, d::e as f, g::*}` into its leaves: (path, bound name). A leaf `self`
/// binds the path itself; `*` is kept as the last segment.
fn use_leaves(tree: &str, prefix: &[String], out: &mut Vec<(Vec<String>, Option<String>)>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    // Split off a brace group at the top level.
    if let Some(open) = top_level_brace(tree) {
        let head = tree[..open].trim().trim_end_matches("::").trim();
        let mut base = prefix.to_vec();
        base.extend(segments(head));
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        for part in split_top_level(inner) {
            use_leaves(&part, &base, out);
        }
        return;
    }
    let (path, alias) = match tree.split_once(" as ") {
        Some((p, a)) => (p.trim(), Some(a.trim().to_owned())),
        None => (tree, None),
    };
    let mut full = prefix.to_vec();
    let segs = segments(path);
    if segs == ["self"] {
        let name = alias.or_else(|| full.last().cloned());
        out.push((full, name));
        return;
    }
    full.extend(segs);
    let name = alias.or_else(|| full.last().cloned().filter(|s| s != "*"));
    out.push((full, name));
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn top_level_brace(s: &str) -> Option<usize> {
    s.find('{')
}

fn split_top_level(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for ch in s.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    parts.push(current);
    parts
}

/// The absolute module path a `use` path or code path means, from `module`.
fn absolute(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String>;
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            base = Vec::new();
            rest = &path[1..];
        }
        Some("self") => {
            base = module.to_vec();
            rest = &path[1..];
        }
        Some("super") => {
            base = module.to_vec();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

impl Source {
    fn read() -> Self {
        let root = src_dir();
        let mut paths = Vec::new();
        rust_files(&root, &mut paths);
        let mut files = BTreeMap::new();
        let mut by_module = BTreeMap::new();
        for path in paths {
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "main.rs" {
                continue; // the binary's own crate: it reaches the library as `mesh_render::`
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let module = module_of(&rel);
            let code = strip_test_items(&strip_literals(&text));
            by_module.insert(module.clone(), rel.clone());
            files.insert(rel, parse_file(module, code));
        }
        Source { files, by_module }
    }

    /// The file that defines what the absolute path `path` names (or the module it names).
    fn resolve(&self, path: &[String], depth: usize) -> Option<&str> {
        if depth > 16 {
            return None;
        }
        let mut module: Vec<String> = Vec::new();
        for (i, seg) in path.iter().enumerate() {
            let file_name = self.by_module.get(&module)?;
            let file = &self.files[file_name];
            if file.children.contains(seg) {
                module.push(seg.clone());
                continue;
            }
            if file.defines.contains(seg) {
                return Some(file_name);
            }
            if let Some((target, _)) = file.uses.get(seg) {
                let mut next = target.clone();
                next.extend(path[i + 1..].iter().cloned());
                return self.resolve(&next, depth + 1).or(Some(file_name));
            }
            for glob in &file.globs {
                let mut next = glob.clone();
                next.extend(path[i..].iter().cloned());
                if let Some(found) = self.resolve(&next, depth + 1)
                    && found != file_name
                {
                    return Some(found);
                }
            }
            // Not ours (an external crate through a re-export) or not found: the module itself.
            return Some(file_name);
        }
        self.by_module.get(&module).map(String::as_str)
    }

    /// Every reference of every file: (from, to, the path as written).
    fn references(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut all = BTreeMap::new();
        for (name, file) in &self.files {
            let mut edges: BTreeMap<String, String> = BTreeMap::new();
            let mut add = |target: Option<&str>, how: String| {
                if let Some(t) = target
                    && t != name
                {
                    edges.entry(t.to_owned()).or_insert(how);
                }
            };
            for (bound, (target, reexport)) in &file.uses {
                if !reexport {
                    add(
                        self.resolve(target, 0),
                        format!("use {}", target.join("::")),
                    );
                }
                let _ = bound;
            }
            for glob in &file.globs {
                add(self.resolve(glob, 0), format!("use {}::*", glob.join("::")));
            }
            for path in code_paths(&file.code) {
                let first = path[0].as_str();
                let full = if matches!(first, "crate" | "self" | "super") {
                    absolute(&file.module, &path)
                } else if let Some((target, _)) = file.uses.get(first) {
                    let mut p = target.clone();
                    p.extend(path[1..].iter().cloned());
                    Some(p)
                } else if file.children.contains(first) {
                    let mut p = file.module.clone();
                    p.extend(path.iter().cloned());
                    Some(p)
                } else {
                    None
                };
                if let Some(full) = full {
                    add(self.resolve(&full, 0), path.join("::"));
                }
            }
            all.insert(name.clone(), edges);
        }
        all
    }
}

fn parse_file(module: Vec<String>, code: String) -> File {
    let mut defines = BTreeSet::new();
    let mut children = BTreeSet::new();
    let words: Vec<&str> = code
        .split(|c: char| !is_ident_char(c) && c != '!')
        .filter(|w| !w.is_empty())
        .collect();
    for pair in words.windows(2) {
        let name = pair[1].trim_end_matches('!');
        match pair[0] {
            "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union" => {
                defines.insert(name.to_owned());
            }
            "macro_rules!" => {
                defines.insert(name.to_owned());
            }
            _ => {}
        }
    }
    // `mod name;` declares a child file; `mod name { … }` an inline module (none outside tests).
    for line in code.lines() {
        let line = line.trim();
        let decl = line
            .strip_prefix("pub ")
            .or_else(|| line.strip_prefix("pub(crate) "))
            .unwrap_or(line);
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            children.insert(name.trim().to_owned());
        }
    }
    let mut uses = BTreeMap::new();
    let mut globs = Vec::new();
    let mut at = 0;
    while let Some(found) = code[at..].find("use ") {
        let start = at + found;
        at = start + 4;
        let before = code[..start].trim_end();
        let reexport = before.ends_with("pub")
            || before.ends_with(')') && {
                let line_start = before.rfind('\n').map_or(0, |n| n + 1);
                before[line_start..].trim_start().starts_with("pub(")
            };
        let at_statement_start = before.is_empty()
            || before.ends_with(';')
            || before.ends_with('{')
            || before.ends_with('}')
            || before.ends_with(']')
            || before.ends_with("pub")
            || before.ends_with(')');
        if !at_statement_start || start > 0 && is_ident_char(code[..start].chars().last().unwrap())
        {
            continue;
        }
        let Some(end) = code[start..].find(';') else {
            break;
        };
        let tree = &code[start + 4..start + end];
        let mut leaves = Vec::new();
        use_leaves(tree, &[], &mut leaves);
        for (path, name) in leaves {
            let Some(full) = absolute(&module, &path).or_else(|| {
                // A path from one of this file's submodules, or `mod`-relative.
                let first = path.first()?;
                children.contains(first).then(|| {
                    let mut p = module.clone();
                    p.extend(path.iter().cloned());
                    p
                })
            }) else {
                continue; // std, or an external crate
            };
            if full.last().map(String::as_str) == Some("*") {
                globs.push(full[..full.len() - 1].to_vec());
            } else if let Some(name) = name {
                uses.insert(name, (full, reexport));
            }
        }
        at = start + end;
    }
    File {
        module,
        code,
        defines,
        uses,
        globs,
        children,
    }
}

/// Every `a::b::c` path in code (outside `use` declarations), as segments.
fn code_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !is_ident_char(chars[i])
            || (i > 0 && (is_ident_char(chars[i - 1]) || chars[i - 1] == ':'))
        {
            i += 1;
            continue;
        }
        let mut segs = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && is_ident_char(chars[j]) {
                j += 1;
            }
            if start == j {
                break;
            }
            segs.push(chars[start..j].iter().collect::<String>());
            let mut k = j;
            while k < chars.len() && chars[k] == ' ' {
                k += 1;
            }
            if k + 1 < chars.len() && chars[k] == ':' && chars[k + 1] == ':' {
                j = k + 2;
                while j < chars.len() && chars[j] == ' ' {
                    j += 1;
                }
            } else {
                break;
            }
        }
        if segs.len() > 1 && segs[0] != "use" {
            paths.push(segs);
        }
        i = j.max(i + 1);
    }
    paths
}

/// Strongly connected components of more than one file.
fn cycles(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flat_map(|e| e.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found
}

#[test]
fn no_two_files_of_src_depend_on_each_other_even_through_others() {
    let source = Source::read();
    let edges = source.references();
    let found = cycles(&edges);
    let mut report = String::new();
    for component in &found {
        report.push_str(&format!("cycle among {}:\n", component.join(", ")));
        for from in component {
            for (to, how) in &edges[from] {
                if component.contains(to) {
                    report.push_str(&format!("    {from} -> {to}   ({how})\n"));
                }
            }
        }
    }
    assert!(found.is_empty(), "{report}");
}

/// The pure core: config, model, render, gitops, the SOPS format, and what they build on.
fn pure_core(file: &str) -> bool {
    ["config/", "render/", "gitops/", "sops/"]
        .iter()
        .any(|dir| file.starts_with(dir))
        || matches!(
            file,
            "model.rs"
                | "record.rs"
                | "digest.rs"
                | "templates.rs"
                | "env.rs"
                | "pki/state.rs"
                | "pki/ca.rs"
                | "pki/rotation.rs"
                | "pki/proof.rs"
                | "shown.rs"
                | "template.rs"
                | "facts.rs"
                | "releases.rs"
                | "upgrade.rs"
                | "memo.rs"
        )
}

#[test]
fn the_pure_core_touches_no_file_system_environment_or_clock() {
    let source = Source::read();
    let forbidden = [
        "std::fs",
        "fs::",
        "std::env",
        "env::var",
        "std::process",
        "now_utc",
        "SystemTime",
        "Instant",
        "File::open",
        "OpenOptions",
        "tempfile",
        "std::io::stdin",
    ];
    let mut found = Vec::new();
    for (name, file) in source.files.iter().filter(|(n, _)| pure_core(n)) {
        for word in forbidden {
            if file.code.contains(word) {
                found.push(format!("{name} uses {word}"));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_pure_core_depends_on_no_module_that_does_io() {
    let source = Source::read();
    let edges = source.references();
    let impure = |to: &str| {
        to.starts_with("cli/")
            || to.starts_with("seal/")
            || to.starts_with("check/")
            || matches!(
                to,
                "output.rs" | "disk.rs" | "keys.rs" | "pki/store.rs" | "kubeconfig.rs"
            )
    };
    let mut found = Vec::new();
    for (from, targets) in edges.iter().filter(|(n, _)| pure_core(n)) {
        for (to, how) in targets {
            if impure(to) {
                found.push(format!("{from} -> {to} ({how})"));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn only_the_io_module_writes_files() {
    let source = Source::read();
    let writes = [
        "fs::write",
        "File::create",
        "OpenOptions",
        "fs::rename",
        "fs::remove_file",
        "fs::remove_dir",
        "fs::create_dir",
        "DirBuilder",
        "set_permissions",
        "tempfile",
        "persist",
        "syncfs",
        "hard_link",
        "unix::fs::symlink",
        "fs::symlink(",
    ];
    let mut found = Vec::new();
    for (name, file) in source.files.iter().filter(|(n, _)| *n != "disk.rs") {
        for word in writes {
            if file.code.contains(word) {
                found.push(format!("{name} uses {word}"));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

// The scan itself, on small inputs: a scan that finds nothing proves nothing.

#[test]
fn the_scan_sees_through_comments_strings_and_braced_uses() {
    let code = strip_literals("let s = \"crate::a::b\"; // crate::c\nuse super::{x, y::z as w};\n");
    assert!(!code.contains("crate::a"));
    let file = parse_file(vec!["m".into(), "n".into()], code);
    assert_eq!(file.uses["x"].0, ["m", "x"]);
    assert_eq!(file.uses["w"].0, ["m", "y", "z"]);
}

#[test]
fn the_scan_finds_a_cycle_through_a_re_export() {
    let mut edges = BTreeMap::new();
    let edge = |to: &str| BTreeMap::from([(to.to_owned(), "x".to_owned())]);
    edges.insert("a.rs".to_owned(), edge("b.rs"));
    edges.insert("b.rs".to_owned(), edge("c.rs"));
    edges.insert("c.rs".to_owned(), edge("a.rs"));
    edges.insert("d.rs".to_owned(), edge("a.rs"));
    assert_eq!(cycles(&edges), [["a.rs", "b.rs", "c.rs"]]);
}

#[test]
fn the_scan_resolves_a_name_to_the_file_that_defines_it() {
    let source = Source::read();
    let path = |p: &str| -> Vec<String> { p.split("::").map(str::to_owned).collect() };
    // A type re-exported by a facade resolves to where it is defined.
    assert_eq!(
        source.resolve(&path("render::Tree"), 0),
        Some("render/tree.rs")
    );
    assert_eq!(
        source.resolve(&path("config::ClusterName"), 0),
        Some("config/names.rs")
    );
}
