//! The secret checks of a rendered tree: what must be encrypted is, no plaintext key or token
//! anywhere, and with an identity at hand every SOPS file decrypts, its MAC verifies, and each
//! `cacerts` chain verifies against the shared root and is not about to expire.

use crate::vocabulary::{CACERTS_SECRET, SEALED_SUFFIX};
use std::collections::BTreeMap;

use rayon::prelude::*;
use regex::Regex;
use serde_json::Value;
use x509_parser::prelude::*;

use super::report::{Finding, Report};
use super::tree::{BuiltObject, RenderedTree, describe};
use crate::sops::{self, Identities};

/// Plaintext that must never be in a rendered tree, and what each pattern finds: one set,
/// compiled once, that reads each file once.
fn leaks() -> &'static (regex::RegexSet, [&'static str; 3]) {
    static LEAKS: std::sync::OnceLock<(regex::RegexSet, [&'static str; 3])> =
        std::sync::OnceLock::new();
    LEAKS.get_or_init(|| {
        (
            regex::RegexSet::new([
                r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
                r"AGE-SECRET-KEY-1[0-9A-Z]{20,}",
                r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+",
            ])
            .unwrap_or_else(|_| unreachable!()),
            [
                "a plaintext private key",
                "an age identity",
                "a bearer token (JWT)",
            ],
        )
    })
}

/// A credential under a YAML key (`token`, `client-key-data`, `password`) or after `Bearer`,
/// outside `ENC[…]`; the value's length, never the value. Template expressions (an
/// ExternalSecret's `{{ .token }}`) and empty values are not credentials.
fn credential_in_clear(text: &str) -> Option<(&'static str, usize)> {
    // Most files name none of the keys: a substring search spares them the patterns.
    let keyed_possible = ["token", "client-key-data", "password"]
        .iter()
        .any(|key| text.contains(key));
    if !keyed_possible && !text.contains("Bearer") {
        return None;
    }
    static KEYED: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    static BEARER: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let keyed = KEYED.get_or_init(|| {
        Regex::new(r#"(?m)^[ \t]*(?:-[ \t]+)?["']?(token|client-key-data|password)["']?[ \t]*:[ \t]*(.*)$"#)
            .unwrap_or_else(|_| unreachable!())
    });
    let bearer = BEARER.get_or_init(|| {
        Regex::new(r"Bearer[ \t]+([A-Za-z0-9._~+/=-]{8,})").unwrap_or_else(|_| unreachable!())
    });
    let clear = |value: &str| {
        let value = value.split(" #").next().unwrap_or("").trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        !(value.is_empty()
            || value.starts_with("ENC[")
            || value.contains("{{")
            || matches!(value, "null" | "~" | "|" | ">" | "|-" | ">-"))
    };
    for caps in keyed.captures_iter(text) {
        let (key, value) = (caps.get(1)?, caps.get(2)?);
        if clear(value.as_str()) {
            let what = match key.as_str() {
                "token" => "a `token`",
                "password" => "a `password`",
                _ => "a `client-key-data`",
            };
            return Some((what, value.as_str().trim().len()));
        }
    }
    bearer
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|v| ("a `Bearer` token", v.as_str().len()))
}

/// No plaintext key, identity or token in any file.
pub fn check_leaks(tree: &RenderedTree, report: &mut Report) {
    let in_clear: Vec<(&String, (&str, usize))> = tree
        .files
        .par_iter()
        .filter_map(|(path, bytes)| {
            let text = std::str::from_utf8(bytes).ok()?;
            Some((path, credential_in_clear(text)?))
        })
        .collect();
    for (path, (what, len)) in in_clear {
        report.push(Finding::error(
            "secret",
            path,
            format!("holds {what} in plaintext (a value of {len} characters)"),
            "remove it from the tree and rotate it: whoever can read the repository has it",
        ));
    }
    let (patterns, names) = leaks();
    let files: Vec<(&String, &Vec<u8>)> = tree.files.iter().collect();
    let found: Vec<(&String, &str)> = files
        .par_iter()
        .flat_map_iter(|(path, bytes)| {
            let text = String::from_utf8_lossy(bytes);
            patterns
                .matches(&text)
                .into_iter()
                .map(|i| (*path, names[i]))
                .collect::<Vec<_>>()
        })
        .collect();
    for (path, what) in found {
        report.push(Finding::error(
            "secret",
            path,
            format!("holds {what} in plaintext"),
            "remove it from the tree and rotate it: whoever can read the repository has it",
        ));
    }
}

/// Every Secret with data that a layer builds must come from a SOPS file.
pub fn check_encrypted<'a>(
    objects: impl IntoIterator<Item = &'a BuiltObject>,
    report: &mut Report,
) {
    for object in objects {
        let v = &object.value;
        if v["kind"] != "Secret" || v["apiVersion"] != "v1" || object.encrypted {
            continue;
        }
        let has_data = ["data", "stringData"].iter().any(|k| {
            v.get(*k)
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        });
        if has_data {
            report.push(
                Finding::error(
                    "secret",
                    &object.file,
                    "a Secret with data is not SOPS-encrypted",
                    "render again: mesh-render encrypts every Secret it writes",
                )
                .object(describe(v)),
            );
        }
    }
}

/// With identities: every SOPS file decrypts and its MAC verifies; reports failures in the
/// class the real sops would (its exit code). Returns the decrypted documents by file.
pub fn check_decrypt(
    tree: &RenderedTree,
    identities: &Identities,
    report: &mut Report,
) -> BTreeMap<String, Vec<Value>> {
    // Every SOPS file decrypted in parallel (an X25519 unwrap each), reported in path order.
    // A file that must be encrypted and is not: `check_sealed_files` reports it.
    let files: Vec<(&String, &sops::Parsed)> = tree.sops_files.iter().collect();
    let results: Vec<(&String, Result<Vec<Value>, sops::SopsError>)> = files
        .par_iter()
        .map(|(path, parsed)| (*path, parsed.decrypt(identities).map(|d| d.to_json())))
        .collect();
    let mut plain = BTreeMap::new();
    for (path, result) in results {
        match result {
            Ok(values) => {
                plain.insert(path.clone(), values);
            }
            Err(e) if e.sops_exit_code() == 128 => report.push(Finding::warning(
                "secret",
                path,
                format!("not verified: none of the identities at hand is one of its recipients (sops exit 128: {})", failure_class(128)),
                "check with an admin identity (SOPS_AGE_KEY_FILE) to verify it",
            )),
            Err(e) => report.push(Finding::error(
                "secret",
                path,
                format!("{} (sops exit {}: {})", e, e.sops_exit_code(), failure_class(e.sops_exit_code())),
                "render again with an admin identity at hand: the file was tampered with or corrupted",
            )),
        }
    }
    plain
}

/// With identities: the facts each decrypted Secret states in clear (its
/// `facts.mesh-render.dev/` annotations, which anyone can read and, with the public recipients,
/// write) are what its decrypted content holds.
pub fn check_facts(
    plain: &BTreeMap<String, Vec<Value>>,
    memo: &crate::memo::Parsed,
    report: &mut Report,
) {
    for (path, docs) in plain {
        let Some(doc) = docs.first().filter(|d| d["kind"] == "Secret") else {
            continue;
        };
        let problems = crate::facts::disproved(doc, memo);
        if !problems.is_empty() {
            report.push(Finding::error(
                "secret",
                path,
                format!(
                    "the facts it states in clear are not its content: {}",
                    problems.join(", ")
                ),
                "render with an admin identity to seal it again; if nobody on the team changed it, treat it as an attack: a reviewer was shown facts the file does not hold",
            ));
        }
    }
}

/// A file mesh-render sealed (the record has its inputs) or named as a SOPS file.
pub fn must_be_encrypted(tree: &RenderedTree, path: &str) -> bool {
    is_sops_name(path) || tree.record.get(path).is_some_and(|r| r.inputs.is_some())
}

/// `<name>.sops.yaml` (but not sops's own `.sops.yaml` configuration).
pub fn is_sops_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.len() > SEALED_SUFFIX.len() && name.ends_with(SEALED_SUFFIX)
}

/// Files that must be encrypted and are not SOPS files at all (checked without any identity).
pub fn check_sealed_files(tree: &RenderedTree, report: &mut Report) {
    for path in tree.files.keys() {
        if !must_be_encrypted(tree, path) {
            continue;
        }
        if !tree.sops_files.contains_key(path) {
            report.push(Finding::error(
                "secret",
                path,
                format!("must be SOPS-encrypted, but is not a SOPS file (sops exit 1: {})", failure_class(1)),
                "render again: if it was decrypted in place, its plaintext may have been committed; rotate what it holds",
            ));
        }
    }
}

/// The failure classes of `sops decrypt`, by exit code (`cmd/sops/codes/codes.go`).
pub fn failure_class(code: i32) -> &'static str {
    match code {
        1 => "sops metadata not found or invalid",
        25 => "a value does not decrypt",
        51 => "the MAC does not decrypt or does not match",
        128 => "no key could recover the data key",
        _ => "unreadable",
    }
}

/// Each decrypted `cacerts`: the chain verifies against its root and no CA expires within the
/// window; its root bundle is added to `bundles` (by file) for [`check_bundles`].
pub fn check_cacerts(
    plain: &BTreeMap<String, Vec<Value>>,
    warning_days: i64,
    now: ::time::OffsetDateTime,
    bundles: &mut BTreeMap<String, String>,
    report: &mut Report,
) {
    for (path, docs) in plain {
        for doc in docs {
            if doc["kind"] != "Secret" || doc["metadata"]["name"] != CACERTS_SECRET {
                continue;
            }
            let data = &doc["stringData"];
            let file = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let keys: Vec<&String> = data
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            let mut keys_sorted: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
            keys_sorted.sort();
            if keys_sorted
                != [
                    "ca-cert.pem",
                    "ca-key.pem",
                    "cert-chain.pem",
                    "root-cert.pem",
                ]
            {
                report.push(Finding::error(
                    "secret",
                    path,
                    format!("cacerts holds {keys_sorted:?}, not istiod's four files"),
                    "render again",
                ));
                continue;
            }
            let (ca_cert, root_bundle, chain) = (
                file("ca-cert.pem"),
                file("root-cert.pem"),
                file("cert-chain.pem"),
            );
            bundles.insert(path.clone(), root_bundle.clone());
            if let Some(problem) = names_its_cluster(path, &ca_cert) {
                report.push(Finding::error(
                    "secret",
                    path,
                    problem,
                    "render again: each cluster's cacerts holds its own intermediate; if nobody on the team moved it, treat it as an attack",
                ));
            }
            if !chain.starts_with(&ca_cert) {
                report.push(Finding::error(
                    "secret",
                    path,
                    "cert-chain.pem does not start with ca-cert.pem",
                    "render again",
                ));
            }
            match verify_chain(&ca_cert, &root_bundle) {
                Ok(not_after) => {
                    for (what, end) in not_after {
                        let days = (end - now).whole_days();
                        if days < 0 {
                            report.push(Finding::error(
                                "secret",
                                path,
                                format!("{what} expired on {}", end.date()),
                                "renew it: mesh-render pki renew, or rotate the root",
                            ));
                        } else if days <= warning_days {
                            report.push(Finding::warning(
                                "secret",
                                path,
                                format!("{what} expires on {}, in {days} days", end.date()),
                                "renew it before then",
                            ));
                        }
                    }
                }
                Err(problem) => report.push(Finding::error(
                    "secret",
                    path,
                    problem,
                    "render again; if it persists, the PKI state is damaged",
                )),
            }
        }
    }
}

/// Every cluster's cacerts trusts the same root bundle.
pub fn check_bundles(bundles: &BTreeMap<String, String>, report: &mut Report) {
    let distinct: std::collections::BTreeSet<&String> = bundles.values().collect();
    if distinct.len() > 1 {
        let files: Vec<&String> = bundles.keys().collect();
        report.push(Finding::error(
            "secret",
            files.first().map_or(String::new(), |f| f.to_string()),
            format!("the clusters do not trust the same root bundle ({} different bundles across {} cacerts)", distinct.len(), files.len()),
            "render every cluster from one PKI; mid-rotation, sync every stage to every cluster",
        ));
    }
}

/// Whether the intermediate of a cacerts under `clusters/<cluster>/` names that cluster
/// (`L=<cluster>`, as mesh-render issues it); the problem if not.
fn names_its_cluster(path: &str, ca_cert: &str) -> Option<String> {
    let cluster = path.strip_prefix("clusters/")?.split('/').next()?;
    let der = pem_blocks(ca_cert).into_iter().next()?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    let named: Vec<&str> = cert
        .subject()
        .iter_locality()
        .filter_map(|a| a.as_str().ok())
        .collect();
    (named != [cluster]).then(|| {
        format!(
            "ca-cert.pem is the intermediate CA of {}, not of {cluster}, whose directory holds it",
            named.first().copied().unwrap_or("no cluster")
        )
    })
}

/// Verifies the intermediate's signature against one root of the bundle; returns the notAfter of
/// the intermediate and of that root.
fn verify_chain(
    ca_cert: &str,
    bundle: &str,
) -> Result<Vec<(&'static str, ::time::OffsetDateTime)>, String> {
    let inter_der = pem_blocks(ca_cert)
        .into_iter()
        .next()
        .ok_or("ca-cert.pem holds no certificate")?;
    let (_, inter) = X509Certificate::from_der(&inter_der)
        .map_err(|e| format!("ca-cert.pem does not parse: {e}"))?;
    for root_der in pem_blocks(bundle) {
        let Ok((_, root)) = X509Certificate::from_der(&root_der) else {
            continue;
        };
        if inter.verify_signature(Some(root.public_key())).is_ok() {
            let is_ca = inter
                .basic_constraints()
                .ok()
                .flatten()
                .is_some_and(|bc| bc.value.ca);
            if !is_ca {
                return Err("ca-cert.pem is not a CA".to_owned());
            }
            return Ok(vec![
                (
                    "the intermediate CA",
                    inter.validity().not_after.to_datetime(),
                ),
                ("the root CA", root.validity().not_after.to_datetime()),
            ]);
        }
    }
    Err("ca-cert.pem is not signed by any root in root-cert.pem".to_owned())
}

fn pem_blocks(text: &str) -> Vec<Vec<u8>> {
    let mut blocks = Vec::new();
    let mut rest = text.as_bytes();
    while let Ok((remaining, pem)) = x509_parser::pem::parse_x509_pem(rest) {
        blocks.push(pem.contents);
        if remaining.len() == rest.len() {
            break;
        }
        rest = remaining;
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClusterName;
    use crate::config::{Algorithm, Validity};
    use crate::pki::ca;

    fn now() -> ::time::OffsetDateTime {
        ::time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
    }

    /// A decrypted `cacerts` of cluster `a` whose intermediate is issued by `issuer` and whose
    /// bundle is `bundle`.
    fn cacerts(issuer: &ca::Ca, bundle: &str, validity: Validity) -> Value {
        let cluster = ClusterName::parse("a").unwrap();
        let inter = ca::issue_intermediate(issuer, &cluster, Algorithm::EcdsaP256, validity, now())
            .unwrap();
        let files = ca::cacerts(&inter, &issuer.cert_pem, bundle);
        serde_json::json!({
            "kind": "Secret",
            "metadata": {"name": "cacerts"},
            "stringData": {
                "ca-cert.pem": files.ca_cert,
                "ca-key.pem": files.ca_key.as_str(),
                "root-cert.pem": files.root_cert,
                "cert-chain.pem": files.cert_chain,
            }
        })
    }

    fn report_for(doc: Value, warning_days: i64) -> Report {
        let mut report = Report::default();
        let plain = BTreeMap::from([("c.sops.yaml".to_owned(), vec![doc])]);
        check_cacerts(
            &plain,
            warning_days,
            now(),
            &mut BTreeMap::new(),
            &mut report,
        );
        report
    }

    #[test]
    fn a_chain_under_its_root_verifies() {
        let root = ca::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
        let report = report_for(cacerts(&root, &root.cert_pem, Validity::default()), 90);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn an_intermediate_not_signed_by_any_root_of_the_bundle_is_an_error() {
        let root = ca::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
        let other = ca::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
        let report = report_for(cacerts(&root, &other.cert_pem, Validity::default()), 90);
        assert_eq!(report.errors(), 1, "{:?}", report.findings);
        assert_eq!(
            report.findings[0].problem,
            "ca-cert.pem is not signed by any root in root-cert.pem"
        );
    }

    #[test]
    fn a_bundle_of_two_roots_verifies_an_intermediate_of_either() {
        let root = ca::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
        let next = ca::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
        let bundle = format!("{}{}", root.cert_pem, next.cert_pem);
        let report = report_for(cacerts(&next, &bundle, Validity::default()), 90);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn an_intermediate_expiring_within_the_window_is_a_warning() {
        let root = ca::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
        let short = Validity {
            intermediate_days: 30,
            ..Validity::default()
        };
        let report = report_for(cacerts(&root, &root.cert_pem, short), 90);
        assert_eq!(
            (report.errors(), report.warnings()),
            (0, 1),
            "{:?}",
            report.findings
        );
        assert!(
            report.findings[0]
                .problem
                .starts_with("the intermediate CA expires on 2026-01-31"),
            "{:?}",
            report.findings
        );
    }
}
