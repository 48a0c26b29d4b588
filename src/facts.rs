//! The non-secret facts a sealed file carries in clear, as annotations of its Secret
//! (`facts.mesh-render.dev/<fact>`): a remote secret's source cluster, API server and the
//! fingerprints of the CA it trusts; a `cacerts`' intermediate subject and not-after and the
//! fingerprints of its roots. SOPS encrypts only `data`/`stringData` under mesh-render's rule, so
//! the annotations stay readable without a key and the file's MAC covers them: a reviewer and
//! `diff` read them keylessly (as a claim), `check` with an admin identity proves them against the
//! decrypted content. Derived here from the content itself, so what is sealed and what is checked
//! agree by construction. The annotation format is code, not an input of the inputs digest: a
//! file gains its facts when it is next sealed, and files sealed before keep their bytes.
//! Pure: values in, values out.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde_json::Value;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::RootFingerprint;

/// The prefix of every fact annotation.
pub const PREFIX: &str = "facts.mesh-render.dev/";

/// The Secret annotation that names a remote secret's source cluster (istioctl's own).
const ISTIO_CLUSTER_ANNOTATION: &str = "networking.istio.io/cluster";

/// One fact, in the order a reviewer reads them: security-relevant first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fact {
    /// A remote secret: the API server the other istiods reach.
    Server,
    /// A remote secret: SHA-256 of each CA certificate the kubeconfig trusts for that server.
    CaFingerprints,
    /// A `cacerts`: SHA-256 of each root in `root-cert.pem` (what every workload trusts).
    RootFingerprints,
    /// A remote secret: the cluster it reads.
    SourceCluster,
    /// A `cacerts`: the intermediate's subject.
    IntermediateSubject,
    /// A `cacerts`: when the intermediate expires (RFC 3339, UTC).
    IntermediateNotAfter,
}

impl Fact {
    pub const ALL: [Fact; 6] = [
        Fact::Server,
        Fact::CaFingerprints,
        Fact::RootFingerprints,
        Fact::SourceCluster,
        Fact::IntermediateSubject,
        Fact::IntermediateNotAfter,
    ];

    /// The annotation's name after [`PREFIX`].
    pub fn name(self) -> &'static str {
        match self {
            Fact::Server => "server",
            Fact::CaFingerprints => "ca-fingerprints",
            Fact::RootFingerprints => "root-fingerprints",
            Fact::SourceCluster => "source-cluster",
            Fact::IntermediateSubject => "intermediate-subject",
            Fact::IntermediateNotAfter => "intermediate-not-after",
        }
    }

    /// The whole annotation key.
    pub fn key(self) -> String {
        format!("{PREFIX}{}", self.name())
    }

    /// Whether a change of it changes whom a cluster trusts or reaches (the tamper issue's
    /// security-relevant changes: API servers, CA data, roots).
    pub fn security(self) -> bool {
        matches!(
            self,
            Fact::Server | Fact::CaFingerprints | Fact::RootFingerprints
        )
    }

    fn from_name(name: &str) -> Option<Fact> {
        Fact::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A sealed file's facts, by fact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts(BTreeMap<Fact, String>);

impl Facts {
    pub fn get(&self, fact: Fact) -> Option<&str> {
        self.0.get(&fact).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (Fact, &str)> {
        self.0.iter().map(|(f, v)| (*f, v.as_str()))
    }
}

/// The facts of a remote secret for `source`, from its kubeconfig's server and
/// `certificate-authority-data` (base64 PEM; empty when it trusts the system's CAs).
pub fn remote_secret(source: &str, server: &str, ca_data: &str) -> Facts {
    let fingerprints = base64::engine::general_purpose::STANDARD
        .decode(ca_data.trim())
        .ok()
        .and_then(|pem| String::from_utf8(pem).ok())
        .map(|pem| fingerprints(&pem))
        .unwrap_or_default();
    Facts(BTreeMap::from([
        (Fact::SourceCluster, source.to_owned()),
        (Fact::Server, server.to_owned()),
        (Fact::CaFingerprints, list(&fingerprints)),
    ]))
}

/// The facts of a `cacerts` from its `ca-cert.pem` (the intermediate) and `root-cert.pem`.
pub fn cacerts(ca_cert_pem: &str, root_cert_pem: &str) -> Result<Facts, String> {
    let der = first_certificate(ca_cert_pem).ok_or("its ca-cert.pem holds no certificate")?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| format!("its ca-cert.pem does not parse: {e}"))?;
    let not_after = crate::sops::Timestamp::from(cert.validity().not_after.to_datetime());
    Ok(Facts(BTreeMap::from([
        (Fact::IntermediateSubject, cert.subject().to_string()),
        (Fact::IntermediateNotAfter, not_after.to_string()),
        (Fact::RootFingerprints, list(&fingerprints(root_cert_pem))),
    ])))
}

/// The facts of a decrypted sealed Secret, from its content (never from its annotations).
pub fn of_content(doc: &Value, memo: &crate::memo::Parsed) -> Result<Facts, String> {
    let data = &doc["stringData"];
    if let Some(ca_cert) = data["ca-cert.pem"].as_str() {
        return cacerts(ca_cert, data["root-cert.pem"].as_str().unwrap_or(""));
    }
    let source = doc["metadata"]["annotations"][ISTIO_CLUSTER_ANNOTATION]
        .as_str()
        .ok_or_else(|| format!("it has no {ISTIO_CLUSTER_ANNOTATION} annotation"))?;
    let kubeconfig = data[source]
        .as_str()
        .ok_or_else(|| format!("it holds no kubeconfig under stringData.{source}"))?;
    let kubeconfig = memo
        .yaml(kubeconfig)
        .ok_or_else(|| format!("its stringData.{source} is not a kubeconfig"))?;
    let cluster = &kubeconfig["clusters"][0]["cluster"];
    Ok(remote_secret(
        source,
        cluster["server"].as_str().unwrap_or(""),
        cluster["certificate-authority-data"].as_str().unwrap_or(""),
    ))
}

/// What a Secret's annotations claim, and the fact annotations this release does not know.
pub fn claimed(doc: &Value) -> (Facts, Vec<String>) {
    let mut facts = Facts::default();
    let mut unknown = Vec::new();
    if let Some(annotations) = doc["metadata"]["annotations"].as_object() {
        for (key, value) in annotations {
            let Some(name) = key.strip_prefix(PREFIX) else {
                continue;
            };
            match (Fact::from_name(name), value.as_str()) {
                (Some(fact), Some(value)) => {
                    facts.0.insert(fact, value.to_owned());
                }
                _ => unknown.push(key.clone()),
            }
        }
    }
    (facts, unknown)
}

/// Removes every fact annotation from a Secret (to compare the rest with what is sealed).
pub fn strip(doc: &mut Value) {
    if let Some(annotations) = doc["metadata"]["annotations"].as_object_mut() {
        annotations.retain(|key, _| !key.starts_with(PREFIX));
    }
}

/// Every way the facts a Secret's annotations claim differ from its content, as field paths.
/// A Secret without fact annotations (sealed before they existed) claims nothing.
pub fn disproved(doc: &Value, memo: &crate::memo::Parsed) -> Vec<String> {
    let (claims, unknown) = claimed(doc);
    let mut problems: Vec<String> = unknown
        .into_iter()
        .map(|key| format!("metadata.annotations.{key} (not a fact mesh-render writes)"))
        .collect();
    if claims.is_empty() {
        return problems;
    }
    match of_content(doc, memo) {
        Ok(actual) => {
            for fact in Fact::ALL {
                if claims.get(fact) != actual.get(fact) {
                    problems.push(format!(
                        "metadata.annotations.{} (not what the decrypted content holds)",
                        fact.key()
                    ));
                }
            }
        }
        Err(why) => problems.push(format!("its facts cannot be read from its content: {why}")),
    }
    problems
}

/// `plain` (a sealed Secret's plaintext, as its template renders it) with `facts` as annotations,
/// placed first under `metadata.annotations`.
pub fn annotate(plain: &str, facts: &Facts) -> Option<String> {
    const AT: &str = "\n  annotations:\n";
    let at = plain.find(AT)? + AT.len();
    let mut lines = String::new();
    for (fact, value) in facts.iter() {
        let quoted = serde_json::to_string(value).ok()?;
        lines.push_str(&format!("    {}: {quoted}\n", fact.key()));
    }
    Some(format!("{}{lines}{}", &plain[..at], &plain[at..]))
}

/// How one fact changed between two versions of a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FactChange {
    pub fact: Fact,
    /// None: the file did not state it (sealed before facts, or new).
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The facts that differ from `before` to `after`, security-relevant first.
pub fn changes(before: &Facts, after: &Facts) -> Vec<FactChange> {
    Fact::ALL
        .into_iter()
        .filter(|f| before.get(*f) != after.get(*f))
        .map(|fact| FactChange {
            fact,
            before: before.get(fact).map(str::to_owned),
            after: after.get(fact).map(str::to_owned),
        })
        .collect()
}

/// One fact's change, shared by every file it changes in (an API server moved changes the
/// remote secret of that cluster in every other cluster).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FactGroup {
    pub fact: &'static str,
    pub security: bool,
    pub before: Option<String>,
    pub after: Option<String>,
    pub files: Vec<String>,
}

impl FactGroup {
    /// One line for a reviewer: `security fact: server: A -> B (2 encrypted files: x, y)`.
    pub fn line(&self) -> String {
        const SHOWN: usize = 3;
        let value = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not stated)".to_owned());
        let mut files = self.files[..self.files.len().min(SHOWN)].join(", ");
        if self.files.len() > SHOWN {
            files.push_str(&format!(" and {} more", self.files.len() - SHOWN));
        }
        format!(
            "{}: {}: {} -> {} ({} encrypted file{}: {files})",
            if self.security {
                "security fact"
            } else {
                "fact"
            },
            self.fact,
            value(&self.before),
            value(&self.after),
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" },
        )
    }
}

/// The changes of many files, grouped by change, security-relevant facts first, files in
/// path order.
pub fn group(per_file: impl IntoIterator<Item = (String, Vec<FactChange>)>) -> Vec<FactGroup> {
    let mut groups: BTreeMap<FactChange, Vec<String>> = BTreeMap::new();
    for (path, changes) in per_file {
        for change in changes {
            groups.entry(change).or_default().push(path.clone());
        }
    }
    groups
        .into_iter()
        .map(|(change, mut files)| {
            files.sort();
            FactGroup {
                fact: change.fact.name(),
                security: change.fact.security(),
                before: change.before,
                after: change.after,
                files,
            }
        })
        .collect()
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(",")
    }
}

/// The DER of each PEM certificate block in `text`.
fn certificates(text: &str) -> Vec<Vec<u8>> {
    let mut blocks = Vec::new();
    let mut rest = text.as_bytes();
    while let Ok((remaining, pem)) = x509_parser::pem::parse_x509_pem(rest) {
        if remaining.len() == rest.len() {
            break;
        }
        if pem.label == "CERTIFICATE" {
            blocks.push(pem.contents);
        }
        rest = remaining;
    }
    blocks
}

fn first_certificate(text: &str) -> Option<Vec<u8>> {
    certificates(text).into_iter().next()
}

fn fingerprints(pem: &str) -> Vec<String> {
    certificates(pem)
        .iter()
        .map(|der| RootFingerprint::of_der(der).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memo::Parsed;
    use serde_json::json;

    #[test]
    fn facts_go_first_under_annotations_and_the_rest_is_unchanged() {
        let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n  annotations:\n    networking.istio.io/cluster: c1\n  name: s\nstringData:\n  c1: x\n";
        let facts = remote_secret("c1", "https://203.0.113.1:6443", "");
        let annotated = annotate(plain, &facts).unwrap();
        let doc: Value = serde_saphyr::from_str(&annotated).unwrap();
        assert_eq!(
            doc["metadata"]["annotations"]["facts.mesh-render.dev/server"],
            "https://203.0.113.1:6443"
        );
        assert_eq!(
            doc["metadata"]["annotations"]["facts.mesh-render.dev/ca-fingerprints"],
            "none"
        );
        let mut stripped = doc.clone();
        strip(&mut stripped);
        assert_eq!(stripped, serde_saphyr::from_str::<Value>(plain).unwrap());
        assert_eq!(claimed(&doc).0, facts);
    }

    #[test]
    fn a_claim_that_is_not_the_content_is_named() {
        let kubeconfig = "clusters:\n- cluster:\n    server: https://real:6443\n  name: c1\n";
        let doc = |server: &str| {
            json!({"metadata": {"annotations": {
                "networking.istio.io/cluster": "c1",
                "facts.mesh-render.dev/source-cluster": "c1",
                "facts.mesh-render.dev/server": server,
                "facts.mesh-render.dev/ca-fingerprints": "none",
            }}, "stringData": {"c1": kubeconfig}})
        };
        assert!(disproved(&doc("https://real:6443"), &Parsed::new()).is_empty());
        assert_eq!(
            disproved(&doc("https://elsewhere:6443"), &Parsed::new()),
            [
                "metadata.annotations.facts.mesh-render.dev/server (not what the decrypted content holds)"
            ]
        );
    }

    #[test]
    fn a_file_without_facts_claims_nothing_and_an_unknown_fact_is_named() {
        let doc = json!({"metadata": {"annotations": {"a": "b"}}, "stringData": {}});
        assert!(disproved(&doc, &Parsed::new()).is_empty());
        let doc = json!({"metadata": {"annotations": {"facts.mesh-render.dev/owner": "me"}}});
        assert_eq!(
            disproved(&doc, &Parsed::new()),
            ["metadata.annotations.facts.mesh-render.dev/owner (not a fact mesh-render writes)"]
        );
    }

    #[test]
    fn one_change_in_many_files_is_one_line_naming_the_first_files() {
        let before = remote_secret("c3", "https://a:6443", "");
        let after = remote_secret("c3", "https://b:6443", "");
        let groups = group(
            ["c1", "c2", "c4", "c5"]
                .map(|c| (format!("clusters/{c}/rs.yaml"), changes(&before, &after))),
        );
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0].line(),
            "security fact: server: https://a:6443 -> https://b:6443 (4 encrypted files: clusters/c1/rs.yaml, clusters/c2/rs.yaml, clusters/c4/rs.yaml and 1 more)"
        );
    }

    #[test]
    fn changes_list_security_relevant_facts_first() {
        let before = remote_secret("c1", "https://a:6443", "");
        let after = remote_secret("c2", "https://b:6443", "");
        let changed: Vec<Fact> = changes(&before, &after).iter().map(|c| c.fact).collect();
        assert_eq!(changed, [Fact::Server, Fact::SourceCluster]);
    }
}
