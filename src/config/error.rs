//! Errors of the mesh description: every problem names the file, where in it, the field path,
//! what is wrong and how to fix it.

use std::fmt;

use super::mesh::Origin;

/// One thing wrong with a mesh description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Field path such as `clusters[1].network`; empty for the document as a whole.
    pub field: String,
    /// 1-based line and column, when known.
    pub at: Option<(u64, u64)>,
    pub problem: String,
    pub fix: String,
}

impl Problem {
    pub fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            at: None,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    pub fn at(mut self, at: Option<(u64, u64)>) -> Self {
        self.at = at;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read the mesh description {origin}: {source}\n  fix: pass an existing file with --config FILE, or run without it in a directory that has no mesh.yaml to render the built-in example"
    )]
    Read {
        origin: Origin,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_invalid(.origin, .problems))]
    Invalid {
        origin: Origin,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    pub fn invalid(origin: &Origin, problems: Vec<Problem>) -> Self {
        ConfigError::Invalid {
            origin: origin.clone(),
            problems,
        }
    }

    /// The problems found, for callers and tests that inspect them.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems, .. } => problems,
        }
    }
}

fn render_invalid(origin: &Origin, problems: &[Problem]) -> String {
    let mut out = String::new();
    let count = problems.len();
    let noun = if count == 1 { "problem" } else { "problems" };
    out.push_str(&format!(
        "{origin} is not a valid mesh description ({count} {noun}):"
    ));
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&origin.to_string());
        if let Some((line, col)) = p.at {
            out.push_str(&format!(":{line}:{col}"));
        }
        out.push_str(": ");
        if !p.field.is_empty() {
            out.push_str(&p.field);
            out.push_str(": ");
        }
        out.push_str(&p.problem);
        out.push_str("\n    fix: ");
        out.push_str(&p.fix);
    }
    out
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{} (fix: {})", self.problem, self.fix)
    }
}

/// The line and column of a parser location, as errors show them.
pub(super) fn line_col(loc: &serde_saphyr::Location) -> (u64, u64) {
    (loc.line(), loc.column())
}
