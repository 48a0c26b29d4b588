//! Edits of a mesh description that keep the user's text: comments, order and layout stay as they
//! were; only the lines that change are touched (`mesh-render keys` records recipients this way).

use super::mesh::Origin;
use super::parse::parse;

/// Sets `clusters[].gitopsRecipient` of `cluster` in the mesh description `text`: replaces the
/// line if the cluster has one, else inserts it after the cluster's `name:` line.
pub fn set_gitops_recipient(
    text: &str,
    cluster: &str,
    recipient: &str,
    comment: &str,
) -> Result<String, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let name_line = lines
        .iter()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            let Some(value) = t.strip_prefix("name:") else { return false };
            let value = value.split(" #").next().unwrap_or("").trim().trim_matches(|c| c == '"' || c == '\'');
            value == cluster
        })
        .ok_or_else(|| format!("cluster {cluster:?} has no `- name: {cluster}` line (block style) to add its recipient under"))?;
    // The column of the item's keys: after the list dash when `name` is the item's first key.
    let line = lines[name_line];
    let rest = line.trim_start();
    let lead = line.len() - rest.len();
    let indent = match rest.strip_prefix('-') {
        Some(after) => lead + 1 + (after.len() - after.trim_start().len()),
        None => lead,
    };
    let pad = " ".repeat(indent);
    // The cluster's item ends at the next line indented less than its keys, or at the next item.
    let mut end = name_line + 1;
    while end < lines.len() {
        let l = lines[end];
        let body = l.trim_start();
        let col = l.len() - body.len();
        if !body.trim().is_empty() && !body.starts_with('#') && col < indent {
            break;
        }
        end += 1;
    }
    let new_line = format!("{pad}gitopsRecipient: {recipient} # {comment}\n");
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    match (name_line + 1..end).find(|&i| lines[i].trim_start().starts_with("gitopsRecipient:")) {
        Some(i) => out[i] = new_line,
        None => out.insert(name_line + 1, new_line),
    }
    let edited: String = out.concat();
    // The edit must leave a valid description in which the cluster has exactly this recipient.
    let mesh = parse(&edited, &Origin::File("mesh.yaml".into())).map_err(|e| e.to_string())?;
    let ok = mesh.clusters.iter().any(|c| {
        c.name.as_str() == cluster
            && c.gitops_recipient.as_ref().map(|r| r.as_str()) == Some(recipient)
    });
    if ok {
        Ok(edited)
    } else {
        Err(format!(
            "could not place the recipient of {cluster} in the mesh description"
        ))
    }
}

/// Sets `pki.rootFingerprint` in the mesh description `text`: replaces the line if there is one,
/// else inserts it first under a top-level `pki:` line, else appends a `pki:` block.
pub fn set_root_fingerprint(
    text: &str,
    fingerprint: &str,
    comment: &str,
) -> Result<String, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let top = |l: &str, key: &str| {
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().is_empty() || rest.trim_start().starts_with('#'))
    };
    match lines.iter().position(|l| top(l.trim_end(), "pki:")) {
        Some(at) => {
            // The block's keys: the lines after it indented more than nothing.
            let mut end = at + 1;
            while end < lines.len() && (lines[end].starts_with(' ') || lines[end].trim().is_empty())
            {
                end += 1;
            }
            let indent = lines[at + 1..end]
                .iter()
                .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map_or(2, |l| l.len() - l.trim_start().len());
            let line = format!(
                "{}rootFingerprint: {fingerprint} # {comment}\n",
                " ".repeat(indent)
            );
            match (at + 1..end).find(|&i| lines[i].trim_start().starts_with("rootFingerprint:")) {
                Some(i) => out[i] = line,
                None => out.insert(at + 1, line),
            }
        }
        None => {
            if !text.is_empty() && !text.ends_with('\n') {
                out.push("\n".to_owned());
            }
            out.push(format!(
                "pki:\n  rootFingerprint: {fingerprint} # {comment}\n"
            ));
        }
    }
    let edited: String = out.concat();
    let mesh = parse(&edited, &Origin::File("mesh.yaml".into())).map_err(|e| e.to_string())?;
    match mesh.pki.root_fingerprint {
        Some(f) if f.to_string() == fingerprint => Ok(edited),
        _ => Err("could not place pki.rootFingerprint in the mesh description".to_owned()),
    }
}

/// The lines of the top-level `istio:` block: `(first key line, end)` and the keys' indent.
fn istio_block(lines: &[&str]) -> Result<(usize, usize, usize), String> {
    let at = lines
        .iter()
        .position(|l| {
            l.trim_end()
                .strip_prefix("istio:")
                .is_some_and(|rest| rest.trim().is_empty() || rest.trim_start().starts_with('#'))
        })
        .ok_or("the mesh description has no top-level `istio:` block (block style)")?;
    let mut end = at + 1;
    let mut last = at;
    while end < lines.len() && (lines[end].starts_with(' ') || lines[end].trim().is_empty()) {
        if !lines[end].trim().is_empty() {
            last = end;
        }
        end += 1;
    }
    let indent = lines[at + 1..=last]
        .iter()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map_or(2, |l| l.len() - l.trim_start().len());
    Ok((at + 1, last + 1, indent))
}

/// The line range of `key` in the `istio:` block, with the lines nested under it.
fn istio_key(lines: &[&str], key: &str) -> Result<Option<(usize, usize)>, String> {
    let (start, end, indent) = istio_block(lines)?;
    let col = |l: &str| l.len() - l.trim_start().len();
    let Some(at) = (start..end).find(|&i| {
        col(lines[i]) == indent
            && lines[i]
                .trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
    }) else {
        return Ok(None);
    };
    let mut stop = at + 1;
    while stop < end && !lines[stop].trim().is_empty() && col(lines[stop]) > indent {
        stop += 1;
    }
    Ok(Some((at, stop)))
}

/// Sets `istio.<key>` to `value` (one line, with `comment`), replacing the key and what is
/// nested under it, or adding it at the end of the block.
fn set_istio_key(text: &str, key: &str, value: &str, comment: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (_, end, indent) = istio_block(&lines)?;
    let line = format!("{}{key}: {value} # {comment}\n", " ".repeat(indent));
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    match istio_key(&lines, key)? {
        Some((at, stop)) => {
            out.splice(at..stop, [line]);
        }
        None => {
            if end > 0 && !out[end - 1].ends_with('\n') {
                out[end - 1].push('\n');
            }
            out.insert(end, line);
        }
    }
    Ok(out.concat())
}

/// Removes `istio.<key>` and what is nested under it.
fn remove_istio_key(text: &str, key: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    if let Some((at, stop)) = istio_key(&lines, key)? {
        out.drain(at..stop);
    }
    Ok(out.concat())
}

/// Records a canary upgrade in progress: `istio.upgrade: {to, stage, clusters}` on one line.
pub fn set_upgrade(
    text: &str,
    to: &str,
    stage: &str,
    clusters: &[&str],
    comment: &str,
) -> Result<String, String> {
    let value = if clusters.is_empty() {
        format!("{{to: {to}, stage: {stage}}}")
    } else {
        format!(
            "{{to: {to}, stage: {stage}, clusters: [{}]}}",
            clusters.join(", ")
        )
    };
    let edited = set_istio_key(text, "upgrade", &value, comment)?;
    let mesh = parse(&edited, &Origin::File("mesh.yaml".into())).map_err(|e| e.to_string())?;
    match &mesh.istio.upgrade {
        Some(u) if u.to.to_string() == to && u.stage.name() == stage => Ok(edited),
        _ => Err("could not place istio.upgrade in the mesh description".to_owned()),
    }
}

/// Ends an upgrade: `istio.version` and `istio.revision` become the new release's, and
/// `istio.upgrade` goes.
pub fn finish_upgrade(
    text: &str,
    version: &str,
    revision: &str,
    comment: &str,
) -> Result<String, String> {
    let edited = remove_istio_key(text, "upgrade")?;
    let edited = set_istio_key(&edited, "version", version, comment)?;
    let edited = set_istio_key(&edited, "revision", revision, comment)?;
    let mesh = parse(&edited, &Origin::File("mesh.yaml".into())).map_err(|e| e.to_string())?;
    let ok = mesh.istio.version.to_string() == version
        && mesh.istio.revision.as_ref().map(|r| r.as_str()) == Some(revision)
        && mesh.istio.upgrade.is_none();
    if ok {
        Ok(edited)
    } else {
        Err("could not record the finished upgrade in the mesh description".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "age1lemgh7y8964vxk6y0dl4vgqsnpd9armjh5gnzwg6kjart0tvte3qfg74aq";

    #[test]
    fn a_recipient_goes_under_the_clusters_name_and_comments_survive() {
        let text = crate::config::EXAMPLE_YAML;
        let edited = set_gitops_recipient(text, "ncloud-nks", R1, "mesh-render keys").unwrap();
        assert!(edited.contains(&format!(
            "  - name: ncloud-nks\n    gitopsRecipient: {R1} # mesh-render keys\n"
        )));
        assert_eq!(edited.lines().count(), text.lines().count() + 1);
        assert!(edited.contains("# Ncloud's load balancer answers with a hostname"));
    }

    #[test]
    fn an_existing_recipient_is_replaced_not_duplicated() {
        let once =
            set_gitops_recipient(crate::config::EXAMPLE_YAML, "nhn-nks", R1, "first").unwrap();
        let twice = set_gitops_recipient(&once, "nhn-nks", R1, "second").unwrap();
        assert_eq!(
            twice.matches("gitopsRecipient").count(),
            once.matches("gitopsRecipient").count()
        );
        assert!(twice.contains("# second"));
    }

    const FP: &str = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn a_root_fingerprint_goes_first_under_pki_and_replaces_an_old_one() {
        let text = crate::config::EXAMPLE_YAML;
        let edited = set_root_fingerprint(text, FP, "the render that issued the root").unwrap();
        assert!(
            edited.contains(&format!(
                "pki:\n  rootFingerprint: {FP} # the render that issued the root\n"
            )),
            "{edited}"
        );
        assert_eq!(edited.lines().count(), text.lines().count() + 1);
        let other = FP.replace("00", "ff");
        let again = set_root_fingerprint(&edited, &other, "rotated").unwrap();
        assert_eq!(again.lines().count(), edited.lines().count());
        assert!(again.contains(&other) && !again.contains(FP));
    }

    #[test]
    fn a_description_without_pki_gets_a_pki_block() {
        let text = crate::config::EXAMPLE_YAML;
        let start = text.find("\npki:").unwrap() + 1;
        let end = start + text[start..].find("\n\n").unwrap_or(text.len() - start);
        let without: String = format!("{}{}", &text[..start], &text[end..]);
        assert!(!without.contains("\npki:"), "{without}");
        let edited = set_root_fingerprint(&without, FP, "c").unwrap();
        assert!(edited.ends_with(&format!("pki:\n  rootFingerprint: {FP} # c\n")));
    }

    #[test]
    fn an_unknown_cluster_is_an_error() {
        assert!(set_gitops_recipient(crate::config::EXAMPLE_YAML, "nope", R1, "x").is_err());
    }

    #[test]
    fn an_upgrade_is_recorded_in_the_istio_block_and_comments_survive() {
        let text = crate::config::EXAMPLE_YAML;
        let edited =
            set_upgrade(text, "1.28.10", "install-new", &[], "mesh-render upgrade").unwrap();
        assert!(
            edited.contains("  upgrade: {to: 1.28.10, stage: install-new} # mesh-render upgrade\n"),
            "{edited}"
        );
        assert_eq!(edited.lines().count(), text.lines().count() + 1);
        assert!(edited.contains("# The istiod chart's profile"));
        let moved = set_upgrade(&edited, "1.28.10", "move-default", &["kt-k2p"], "m").unwrap();
        assert_eq!(moved.lines().count(), edited.lines().count());
        assert!(moved.contains("clusters: [kt-k2p]"));
    }

    #[test]
    fn a_finished_upgrade_sets_version_and_revision_and_drops_the_upgrade() {
        let text = crate::config::EXAMPLE_YAML;
        let started = set_upgrade(text, "1.28.10", "move-gateways", &[], "m").unwrap();
        let done = finish_upgrade(&started, "1.28.10", "1-28-10", "mesh-render upgrade").unwrap();
        assert!(!done.contains("\n  upgrade:"), "{done}");
        assert!(done.contains("  version: 1.28.10 # mesh-render upgrade\n"));
        assert!(done.contains("  revision: 1-28-10 # mesh-render upgrade\n"));
        assert!(
            done.contains("# revision: 1-26-0"),
            "the commented example stays"
        );
    }
}
