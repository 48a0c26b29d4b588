//! Proof of the PKI's state before it is used. A SOPS MAC proves that a file is whole, not who
//! wrote it: anyone holding the admins' public recipients can write a state file with a valid
//! MAC. So each CA is proven by what it is: exactly one certificate; the root self-signed with the
//! profile mesh-render issues (`O=Istio, CN=Root CA`, a CA); each intermediate signed by the root
//! of its generation, naming its cluster (`L=<cluster>`), a CA with path length 0; with an admin
//! identity, the private key matching the certificate. The root's fingerprint
//! (`pki.rootFingerprint` in mesh.yaml) binds the whole PKI to the reviewed description. Pure:
//! takes the state and keys as data.

use std::fmt;
use std::path::PathBuf;

use rcgen::{KeyPair, PublicKeyData};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::rotation::Generation;
use super::state::{CaRecord, Kind, PkiState};
use crate::config::{ClusterName, RootFingerprint};

/// Something wrong with one state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flaw {
    pub path: PathBuf,
    pub problem: String,
}

impl fmt::Display for Flaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

/// The DER of every PEM certificate block in `text`, and whether anything else is there.
fn certificates(text: &str) -> (Vec<Vec<u8>>, bool) {
    let mut blocks = Vec::new();
    let mut rest = text.as_bytes();
    while let Ok((remaining, pem)) = x509_parser::pem::parse_x509_pem(rest) {
        if pem.label != "CERTIFICATE" || remaining.len() == rest.len() {
            return (blocks, true);
        }
        blocks.push(pem.contents);
        rest = remaining;
    }
    let extra = !rest.iter().all(u8::is_ascii_whitespace);
    (blocks, extra)
}

/// The one certificate of a record, or why it is not one.
fn the_certificate(record: &CaRecord) -> Result<Vec<u8>, String> {
    match certificates(&record.cert_pem) {
        (mut blocks, false) if blocks.len() == 1 => Ok(blocks.remove(0)),
        (blocks, _) => Err(format!(
            "its `certificate` field holds {} certificate{}{}, where a state file holds exactly one",
            blocks.len(),
            if blocks.len() == 1 { "" } else { "s" },
            if blocks.len() == 1 {
                " and more text"
            } else {
                ""
            },
        )),
    }
}

/// `O`, `CN` and `L` of a name.
fn name_parts(name: &x509_parser::x509::X509Name<'_>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let all = |iter: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
        iter.filter_map(|a| a.as_str().ok().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    (
        all(&mut name.iter_organization()),
        all(&mut name.iter_common_name()),
        all(&mut name.iter_locality()),
    )
}

fn is_ca(cert: &X509Certificate<'_>) -> Option<Option<u32>> {
    let bc = cert.basic_constraints().ok().flatten()?;
    bc.value.ca.then_some(bc.value.path_len_constraint)
}

/// The proof of the certificates alone (no key needed): every flaw found.
pub fn prove_certificates(state: &PkiState) -> Vec<Flaw> {
    let mut flaws = Vec::new();
    let mut roots = Vec::new();
    for generation in [Generation::Current, Generation::Next] {
        if let Some(root) = state.root_of(generation) {
            match prove_root(root) {
                Ok(der) => roots.push((generation, der)),
                Err(problem) => flaws.push(Flaw {
                    path: root.path.clone(),
                    problem,
                }),
            }
        }
    }
    let intermediates = state
        .intermediates
        .iter()
        .map(|(c, r)| (Generation::Current, c, r))
        .chain(
            state
                .rotation
                .iter()
                .flat_map(|r| r.next_intermediates.iter())
                .map(|(c, r)| (Generation::Next, c, r)),
        );
    for (generation, cluster, record) in intermediates {
        let root = roots.iter().find(|(g, _)| *g == generation).map(|(_, d)| d);
        if let Err(problem) = prove_intermediate(record, cluster, root) {
            flaws.push(Flaw {
                path: record.path.clone(),
                problem,
            });
        }
    }
    flaws
}

fn prove_root(record: &CaRecord) -> Result<Vec<u8>, String> {
    if record.kind != Kind::RootCA {
        return Err("it is not a root CA's state file (`kind` is not RootCA)".into());
    }
    let der = the_certificate(record)?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| format!("its certificate does not parse: {e}"))?;
    let (o, cn, l) = name_parts(cert.subject());
    if o != ["Istio"] || cn != ["Root CA"] || !l.is_empty() {
        return Err(format!(
            "its certificate's subject is `{}`, not the root profile `O=Istio, CN=Root CA`",
            cert.subject()
        ));
    }
    if cert.issuer() != cert.subject() || cert.verify_signature(None).is_err() {
        return Err("its certificate is not self-signed".into());
    }
    if is_ca(&cert).is_none() {
        return Err("its certificate is not a CA".into());
    }
    Ok(der)
}

fn prove_intermediate(
    record: &CaRecord,
    cluster: &ClusterName,
    root_der: Option<&Vec<u8>>,
) -> Result<(), String> {
    if record.kind != Kind::IntermediateCA {
        return Err(
            "it is not an intermediate CA's state file (`kind` is not IntermediateCA)".into(),
        );
    }
    let der = the_certificate(record)?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| format!("its certificate does not parse: {e}"))?;
    let (o, cn, l) = name_parts(cert.subject());
    if o != ["Istio"] || cn != ["Intermediate CA"] || l != [cluster.as_str()] {
        return Err(format!(
            "its certificate's subject is `{}`, not `O=Istio, CN=Intermediate CA, L={cluster}`: an intermediate names the cluster whose file holds it",
            cert.subject()
        ));
    }
    if is_ca(&cert) != Some(Some(0)) {
        return Err("its certificate is not a CA with path length 0".into());
    }
    // Without a valid root there is nothing to chain to: the root's own flaw is reported.
    if let Some(root_der) = root_der {
        let (_, root) = X509Certificate::from_der(root_der)
            .map_err(|e| format!("the root does not parse: {e}"))?;
        if cert.issuer() != root.subject()
            || cert.verify_signature(Some(root.public_key())).is_err()
        {
            return Err("its certificate is not signed by the mesh's root CA".into());
        }
    }
    Ok(())
}

/// Whether `key_pem` is the private key of the record's certificate.
pub fn prove_key(record: &CaRecord, key_pem: &str) -> Result<(), String> {
    let der = the_certificate(record)?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| format!("its certificate does not parse: {e}"))?;
    let key = KeyPair::from_pem(key_pem).map_err(|e| format!("its key does not parse: {e}"))?;
    if key.der_bytes() == cert.public_key().subject_public_key.data.as_ref() {
        Ok(())
    } else {
        Err("its private key is not the key of its certificate".into())
    }
}

/// The fingerprint of a record's certificate (SHA-256 of its DER).
pub fn fingerprint(record: &CaRecord) -> Result<RootFingerprint, String> {
    the_certificate(record).map(|der| RootFingerprint::of_der(&der))
}

/// Whether the root is the one mesh.yaml names. Mid-rotation at `finish`, the next root is
/// accepted too: `--stage done` records the next root's fingerprint before it promotes it.
pub fn prove_fingerprint(state: &PkiState, expected: &RootFingerprint) -> Option<Flaw> {
    let root = &state.root;
    let matches = |r: &CaRecord| fingerprint(r).is_ok_and(|f| f == *expected);
    let next_at_finish = state
        .rotation
        .as_ref()
        .filter(|r| r.stage == super::rotation::Stage::Finish)
        .and_then(|r| r.next_root.as_ref());
    if matches(root) || next_at_finish.is_some_and(matches) {
        return None;
    }
    Some(Flaw {
        path: root.path.clone(),
        problem: format!(
            "its certificate's fingerprint is {}, but pki.rootFingerprint in mesh.yaml is {expected}: this is not the mesh's root",
            fingerprint(root).map_or_else(|e| e, |f| f.to_string())
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Algorithm, Validity};
    use crate::pki::ca;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn now() -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
    }

    fn record(kind: Kind, cert_pem: &str, path: &str) -> CaRecord {
        CaRecord {
            kind,
            cert_pem: cert_pem.to_owned(),
            not_after: now(),
            path: Path::new(path).to_owned(),
            digest: String::new(),
        }
    }

    fn state(root: &ca::Ca, inters: &[(&str, &ca::Ca)]) -> PkiState {
        PkiState {
            root: record(Kind::RootCA, &root.cert_pem, "pki/root.yaml"),
            intermediates: inters
                .iter()
                .map(|(c, i)| {
                    (
                        ClusterName::parse(c).unwrap(),
                        record(
                            Kind::IntermediateCA,
                            &i.cert_pem,
                            &format!("pki/intermediates/{c}.yaml"),
                        ),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            rotation: None,
        }
    }

    fn issue() -> (ca::Ca, ca::Ca) {
        let root = ca::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
        let a = ClusterName::parse("a").unwrap();
        let inter =
            ca::issue_intermediate(&root, &a, Algorithm::EcdsaP256, Validity::default(), now())
                .unwrap();
        (root, inter)
    }

    #[test]
    fn an_honest_pki_has_no_flaw() {
        let (root, inter) = issue();
        assert_eq!(prove_certificates(&state(&root, &[("a", &inter)])), vec![]);
        let s = state(&root, &[]);
        assert!(prove_key(&s.root, root.key_pem()).is_ok());
    }

    #[test]
    fn a_second_certificate_appended_to_the_root_is_a_flaw() {
        let (root, _) = issue();
        let (other, _) = issue();
        let mut s = state(&root, &[]);
        s.root.cert_pem = format!("{}{}", root.cert_pem, other.cert_pem);
        let flaws = prove_certificates(&s);
        assert!(
            flaws[0].problem.contains("holds 2 certificates"),
            "{flaws:?}"
        );
    }

    #[test]
    fn an_intermediate_of_another_root_or_cluster_is_a_flaw() {
        let (root, _) = issue();
        let (_, foreign) = issue();
        let flaws = prove_certificates(&state(&root, &[("a", &foreign)]));
        assert!(
            flaws[0].problem.contains("not signed by the mesh's root"),
            "{flaws:?}"
        );
        let (root, inter) = issue();
        let flaws = prove_certificates(&state(&root, &[("b", &inter)]));
        assert!(flaws[0].problem.contains("L=b"), "{flaws:?}");
    }

    #[test]
    fn a_key_of_another_certificate_is_a_flaw() {
        let (root, inter) = issue();
        let s = state(&root, &[]);
        assert!(prove_key(&s.root, inter.key_pem()).is_err());
    }

    #[test]
    fn the_fingerprint_binds_the_root() {
        let (root, _) = issue();
        let (other, _) = issue();
        let s = state(&root, &[]);
        let fp = fingerprint(&s.root).unwrap();
        assert_eq!(prove_fingerprint(&s, &fp), None);
        let wrong = fingerprint(&state(&other, &[]).root).unwrap();
        assert!(prove_fingerprint(&s, &wrong).is_some());
    }
}
