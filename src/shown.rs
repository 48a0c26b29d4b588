//! How a value read from a file may appear in a message. A token pasted into the wrong field
//! (of mesh.yaml, of a kubeconfig) must not be printed back into a CI log: a value is shown only
//! if it looks like a name (at most 63 characters of `[A-Za-z0-9._:@/-]`), otherwise by its
//! length. `scrub` is the last line of defence at the edge: any run of 64 or more token
//! characters without a `/` (a path has one) is replaced by its length.

use std::borrow::Cow;

/// The longest value shown as it is (a DNS label's length).
const MAX_SHOWN: usize = 63;

fn is_name_like(value: &str) -> bool {
    value.len() <= MAX_SHOWN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:@/-".contains(c))
}

/// `"value"` if it looks like a name; otherwise `a value of N characters`.
pub fn value(value: &str) -> String {
    if is_name_like(value) {
        format!("{value:?}")
    } else {
        format!("a value of {} characters", value.chars().count())
    }
}

/// `message` with every run of 64 or more token characters (`[A-Za-z0-9+=_.~-]`) replaced by
/// `<N characters>`.
pub fn scrub(message: &str) -> Cow<'_, str> {
    let is_token = |c: char| c.is_ascii_alphanumeric() || "+=_.~-".contains(c);
    let mut out = String::new();
    let mut last = 0;
    let mut run_start = None;
    let mut changed = false;
    let bytes: Vec<(usize, char)> = message.char_indices().collect();
    for (i, &(at, c)) in bytes.iter().enumerate() {
        let token = is_token(c);
        if token && run_start.is_none() {
            run_start = Some(at);
        }
        let ends = !token || i + 1 == bytes.len();
        if let (true, Some(start)) = (ends, run_start) {
            let end = if token { at + c.len_utf8() } else { at };
            if end - start > MAX_SHOWN {
                out.push_str(&message[last..start]);
                out.push_str(&format!(
                    "<{} characters>",
                    message[start..end].chars().count()
                ));
                last = end;
                changed = true;
            }
            run_start = None;
        }
    }
    if !changed {
        return Cow::Borrowed(message);
    }
    out.push_str(&message[last..]);
    Cow::Owned(out)
}

/// A parser's message, safe to print: its first line only (the excerpt of the source that
/// follows may quote a secret), each quoted string in it shown as [`value`] shows it.
pub fn parser_message(message: &str) -> String {
    let line = message.lines().next().unwrap_or("");
    let mut out = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('"') {
        let Some(close) = rest[open + 1..].find('"') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&value(&rest[open + 1..open + 1 + close]));
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    scrub(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_shown_and_a_token_by_its_length() {
        assert_eq!(value("kt-k2p"), "\"kt-k2p\"");
        assert_eq!(value("a b"), "a value of 3 characters");
        assert_eq!(value(&"x".repeat(64)), "a value of 64 characters");
    }

    #[test]
    fn a_parser_message_loses_its_excerpt_and_its_odd_quoted_values() {
        let message = "line 9 column 3: invalid type: string \"hunter 2\", expected u32\n9 | password: hunter 2";
        assert_eq!(
            parser_message(message),
            "line 9 column 3: invalid type: string a value of 8 characters, expected u32"
        );
        assert_eq!(
            parser_message("unknown field \"naem\""),
            "unknown field \"naem\""
        );
    }

    #[test]
    fn scrubbing_replaces_long_runs_and_keeps_paths_and_names() {
        let jwt = format!("eyJ{}.eyJ{}.sig", "a".repeat(40), "b".repeat(40));
        let text = format!("apiVersion \"{jwt}\" in /tmp/a/mesh.yaml");
        assert_eq!(
            scrub(&text),
            "apiVersion \"<91 characters>\" in /tmp/a/mesh.yaml"
        );
        assert_eq!(scrub("cluster kt-k2p"), "cluster kt-k2p");
        let tail = format!("ends with {}", "c".repeat(70));
        assert_eq!(scrub(&tail), "ends with <70 characters>");
    }
}
