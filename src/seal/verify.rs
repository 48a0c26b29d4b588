//! Proof of a sealed file by its plaintext. A valid MAC and a recorded digest prove only that
//! someone with the public recipients wrote the file; what proves it is that it decrypts to what
//! the render would seal from mesh.yaml and `pki/`. `check` asks the sealer for the expected
//! plaintext and compares it here with the decrypted file: exactly, or, for a remote secret whose
//! credential is not at hand, everything but the fields that credential fills. Differences are
//! named by field path, never by value. The clear facts of a file (`facts`) are left out here and
//! proven against the file's own content.

use serde_json::Value;
use zeroize::Zeroizing;

/// What the render would seal for one file.
pub enum Expected {
    /// Its plaintext.
    Exact(Zeroizing<String>),
    /// Its plaintext around stand-ins: the kubeconfig under `stringData.<key>` is compared
    /// without the `masked` fields (`*` matches every element), whose input is not at hand.
    Structural {
        plain: Zeroizing<String>,
        key: String,
        masked: &'static [&'static str],
        why: String,
    },
}

/// What comparing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Exactly what the render would seal.
    Proven,
    /// As the render would seal it but for fields whose input is not at hand.
    Unverified { why: String },
    /// Not what the render would seal: the field paths that differ.
    Differs(Vec<String>),
}

/// Compares a decrypted document with what the render would seal.
pub fn compare(expected: &Expected, decrypted: &Value, memo: &crate::memo::Parsed) -> Verdict {
    let parse = |text: &str| memo.yaml(text).map_or(Value::Null, |v| Value::clone(&v));
    // The facts a file states in clear are proven against its own content by `check`
    // (`facts::disproved`); what the render seals is compared without them, so a file sealed
    // before it carried facts is proven as well.
    let mut decrypted = decrypted.clone();
    crate::facts::strip(&mut decrypted);
    let decrypted = &decrypted;
    match expected {
        Expected::Exact(plain) => match differences(
            memo.yaml(plain).as_deref().unwrap_or(&Value::Null),
            decrypted,
        ) {
            paths if paths.is_empty() => Verdict::Proven,
            paths => Verdict::Differs(paths),
        },
        Expected::Structural {
            plain,
            key,
            masked,
            why,
        } => {
            let mut want = parse(plain);
            let mut have = decrypted.clone();
            let inner = |doc: &mut Value| {
                let text = doc["stringData"][key.as_str()].take();
                let mut kubeconfig = parse(text.as_str().unwrap_or(""));
                for path in *masked {
                    mask(&mut kubeconfig, &path.split('.').collect::<Vec<_>>());
                }
                kubeconfig
            };
            let (want_inner, have_inner) = (inner(&mut want), inner(&mut have));
            let mut paths = differences(&want, &have);
            paths.extend(
                differences(&want_inner, &have_inner)
                    .into_iter()
                    .map(|p| format!("stringData.{key} (kubeconfig) {p}")),
            );
            if paths.is_empty() {
                Verdict::Unverified { why: why.clone() }
            } else {
                Verdict::Differs(paths)
            }
        }
    }
}

/// Removes the field at `path` (`*`: every element or key).
fn mask(value: &mut Value, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let children: Vec<&mut Value> = match (value, *first) {
        (Value::Array(items), "*") => items.iter_mut().collect(),
        (Value::Object(map), "*") => map.values_mut().collect(),
        (Value::Object(map), key) if rest.is_empty() => {
            map.remove(key);
            return;
        }
        (Value::Object(map), key) => map.get_mut(key).into_iter().collect(),
        _ => return,
    };
    for child in children {
        mask(child, rest);
    }
}

/// The paths at which `a` and `b` differ.
fn differences(a: &Value, b: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    walk(a, b, "", &mut paths);
    paths
}

fn walk(a: &Value, b: &Value, at: &str, paths: &mut Vec<String>) {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                walk(
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                    &join(key),
                    paths,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                walk(p, q, &join(&i.to_string()), paths);
            }
        }
        _ if a == b => {}
        _ => paths.push(if at.is_empty() {
            "(the document)".into()
        } else {
            at.to_owned()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memo::Parsed;
    use serde_json::json;

    fn secret(kubeconfig: &str) -> Value {
        json!({"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"c1": kubeconfig}})
    }

    const KUBECONFIG: &str = "clusters:\n- cluster:\n    server: https://a\n  name: c1\nusers:\n- name: c1\n  user:\n    token: real\n";

    #[test]
    fn the_same_document_is_proven_and_a_changed_field_is_named_not_shown() {
        let text = serde_saphyr::to_string(&secret(KUBECONFIG)).unwrap();
        let expected = Expected::Exact(Zeroizing::new(text));
        assert_eq!(
            compare(&expected, &secret(KUBECONFIG), &Parsed::new()),
            Verdict::Proven
        );
        let changed = secret(&KUBECONFIG.replace("real", "attacker"));
        assert_eq!(
            compare(&expected, &changed, &Parsed::new()),
            Verdict::Differs(vec!["stringData.c1".into()])
        );
    }

    #[test]
    fn without_the_credential_only_its_fields_are_left_out() {
        let stand_in =
            serde_saphyr::to_string(&secret(&KUBECONFIG.replace("real", "stand-in"))).unwrap();
        let expected = Expected::Structural {
            plain: Zeroizing::new(stand_in),
            key: "c1".into(),
            masked: &["users.*.user"],
            why: "not at hand".into(),
        };
        assert!(matches!(
            compare(&expected, &secret(KUBECONFIG), &Parsed::new()),
            Verdict::Unverified { .. }
        ));
        let moved = secret(&KUBECONFIG.replace("https://a", "https://attacker"));
        assert_eq!(
            compare(&expected, &moved, &Parsed::new()),
            Verdict::Differs(vec![
                "stringData.c1 (kubeconfig) clusters.0.cluster.server".into()
            ])
        );
    }
}
