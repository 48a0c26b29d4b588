//! What `check` found: findings with file, object, field, problem and fix, and how they are
//! printed for people (text) and for CI annotations (JSON).

use serde::Serialize;

/// How bad a finding is: errors fail the check, warnings do not (unless `--strict` promotes
/// the pending ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a rendered tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// What kind of check found it: schema, invariant, secret, structure, drift.
    pub class: &'static str,
    /// The file, relative to the tree.
    pub file: String,
    /// `apiVersion Kind namespace/name`, when the finding is about one object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The field path, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub problem: String,
    pub fix: String,
}

impl Finding {
    pub fn error(
        class: &'static str,
        file: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            severity: Severity::Error,
            class,
            file: file.into(),
            object: None,
            field: None,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    pub fn warning(
        class: &'static str,
        file: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(class, file, problem, fix)
        }
    }

    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }
}

/// Everything a check found, and what it could not check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// What was skipped or assumed, so that nothing unchecked reads as passed.
    pub notes: Vec<String>,
}

impl Report {
    pub fn push(&mut self, finding: Finding) {
        if !self.findings.contains(&finding) {
            self.findings.push(finding);
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }

    /// Sorts findings for stable output: errors first, then by file and message.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            (a.severity, &a.file, &a.object, &a.field, &a.problem)
                .cmp(&(b.severity, &b.file, &b.object, &b.field, &b.problem))
        });
    }

    /// The report for people.
    pub fn to_text(&self, tree: &str) -> String {
        let mut out = format!(
            "mesh-render check {tree}: {} errors, {} warnings\n",
            self.errors(),
            self.warnings()
        );
        for f in &self.findings {
            let severity = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            out.push_str(&format!("{severity}[{}]: {}", f.class, f.file));
            if let Some(object) = &f.object {
                out.push_str(&format!(": {object}"));
            }
            if let Some(field) = &f.field {
                out.push_str(&format!(": {field}"));
            }
            out.push_str(&format!(": {}\n  fix: {}\n", f.problem, f.fix));
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }

    /// The report for CI annotations.
    pub fn to_json(&self, tree: &str) -> String {
        let value = serde_json::json!({
            "tree": tree,
            "errors": self.errors(),
            "warnings": self.warnings(),
            "findings": self.findings,
            "notes": self.notes,
        });
        serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
    }
}
