//! Where the output directory sits in a Git work tree, if it sits in one: the path that the
//! tree's Flux Kustomizations and Argo CD Applications must name (`gitops.repository.path`).

use std::path::{Path, PathBuf};

use crate::config::{GitOpsTarget, Mesh};

/// The work tree holding `out` and `out`'s path in it (`/`-separated; `.` for the root).
fn position(out: &Path) -> Option<(PathBuf, String)> {
    let out = std::fs::canonicalize(out).ok()?;
    let root = out.ancestors().find(|dir| dir.join(".git").exists())?;
    let relative = out.strip_prefix(root).ok()?;
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let relative = if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    };
    Some((root.to_owned(), relative))
}

/// What is wrong when `out` is in a Git work tree at another path than the one its wiring
/// names: the problem and the fix. Nothing outside a work tree, or without a GitOps target.
pub(super) fn misplaced(out: &Path, mesh: &Mesh) -> Option<(String, String)> {
    if mesh.gitops.target == GitOpsTarget::None {
        return None;
    }
    let (root, at) = position(out)?;
    let named = &mesh.gitops.path;
    let named_at = if named.is_empty() {
        "."
    } else {
        named.as_str()
    };
    if at == named_at {
        return None;
    }
    Some((
        format!(
            "{} is at `{at}` in the Git work tree {}, but gitops.repository.path is `{named_at}`: \
             every {} the tree holds points at `{named_at}/…`, which is not this tree",
            out.display(),
            root.display(),
            match mesh.gitops.target {
                GitOpsTarget::Argocd => "Application",
                _ => "Kustomization",
            },
        ),
        format!(
            "set gitops.repository.path: {at} in the mesh description, or render into {named_at}"
        ),
    ))
}
