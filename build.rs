//! Build script: stamps the commit mesh-render is built from into `--version`
//! (`MESH_RENDER_COMMIT`), from `git` when the source is a work tree, else "unknown commit".
//! Only `--version` shows it: nothing rendered depends on it, so a tree's bytes do not change
//! from one build of the same version to the next.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_owned())
}

fn main() {
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) if !hash.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("commit {hash}, with uncommitted changes")
            } else {
                format!("commit {hash}")
            }
        }
        _ => "unknown commit".to_owned(),
    };
    println!("cargo:rustc-env=MESH_RENDER_COMMIT={commit}");
    // A new commit, a checkout or a change to the index builds a new stamp.
    for path in [".git/HEAD", ".git/index", ".git/refs", ".git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
