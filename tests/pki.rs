//! The mesh PKI: certificates as Istio's Makefile issues them, chains openssl accepts, one root
//! for every cluster, and intermediates that never outlive their root.

mod common;

use std::process::Command;

use ::time::{Duration, OffsetDateTime};
use mesh_render::config::ClusterName;
use mesh_render::config::{Algorithm, Validity};
use mesh_render::pki;
use x509_parser::prelude::*;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn cluster(name: &str) -> ClusterName {
    ClusterName::parse(name).unwrap()
}

fn parse(pem: &str) -> X509Certificate<'static> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let der: &'static [u8] = Box::leak(pem.contents.into_boxed_slice());
    X509Certificate::from_der(der).unwrap().1
}

fn openssl_verify(root: &str, chain_untrusted: &str, leaf: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), root).unwrap();
    std::fs::write(dir.path().join("untrusted.pem"), chain_untrusted).unwrap();
    std::fs::write(dir.path().join("leaf.pem"), leaf).unwrap();
    Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "verify",
            "-x509_strict",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "untrusted.pem",
            "leaf.pem",
        ])
        .output()
        .expect("openssl runs")
}

#[test]
fn openssl_accepts_every_clusters_chain_to_the_shared_root() {
    if !common::judge_available("openssl", "it verifies certificate chains") {
        return;
    }
    let root = pki::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
    for name in ["kt-k2p", "ncloud-nks", "nhn-nks"] {
        let inter = pki::issue_intermediate(
            &root,
            &cluster(name),
            Algorithm::EcdsaP256,
            Validity::default(),
            now(),
        )
        .unwrap();
        let bundle = pki::cacerts(&inter, &root.cert_pem, &root.cert_pem);
        // The intermediate verifies against root-cert.pem; cert-chain.pem is intermediate + root.
        let o = openssl_verify(&bundle.root_cert, &bundle.cert_chain, &bundle.ca_cert);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            bundle.cert_chain.starts_with(&bundle.ca_cert)
                && bundle.cert_chain.ends_with(&root.cert_pem)
        );
    }
}

#[test]
fn openssl_rejects_an_intermediate_under_another_root() {
    if !common::judge_available("openssl", "it verifies certificate chains") {
        return;
    }
    let root = pki::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
    let other = pki::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
    let inter = pki::issue_intermediate(
        &root,
        &cluster("a"),
        Algorithm::EcdsaP256,
        Validity::default(),
        now(),
    )
    .unwrap();
    assert!(
        !openssl_verify(&other.cert_pem, &inter.cert_pem, &inter.cert_pem)
            .status
            .success()
    );
}

#[test]
fn the_root_has_the_makefiles_subject_and_extensions() {
    let root = pki::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
    let cert = parse(&root.cert_pem);
    assert_eq!(cert.subject().to_string(), "O=Istio, CN=Root CA");
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca && bc.value.path_len_constraint.is_none());
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    let ku = ku.value;
    assert!(
        ku.digital_signature()
            && ku.non_repudiation()
            && ku.key_encipherment()
            && ku.key_cert_sign()
    );
    assert!(
        cert.extensions()
            .iter()
            .any(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
    );
    let days = (cert.validity().not_after.to_datetime() - cert.validity().not_before.to_datetime())
        .whole_days();
    assert_eq!(days, 3650);
}

#[test]
fn an_intermediate_is_a_ca_with_pathlen_0_and_the_key_usages_istio_needs() {
    let root = pki::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
    let inter = pki::issue_intermediate(
        &root,
        &cluster("ncloud-nks"),
        Algorithm::EcdsaP256,
        Validity::default(),
        now(),
    )
    .unwrap();
    let cert = parse(&inter.cert_pem);
    assert_eq!(
        cert.subject().to_string(),
        "O=Istio, CN=Intermediate CA, L=ncloud-nks"
    );
    assert_eq!(cert.issuer().to_string(), "O=Istio, CN=Root CA");
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.digital_signature());
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert_eq!(
        format!("{:?}", san.value.general_names),
        r#"[DNSName("istiod.istio-system.svc")]"#
    );
}

#[test]
fn an_intermediate_never_outlives_its_root() {
    let v = Validity {
        root_days: 400,
        intermediate_days: 3650,
        margin_days: 30,
    };
    let root = pki::issue_root(Algorithm::EcdsaP256, v, now()).unwrap();
    let inter =
        pki::issue_intermediate(&root, &cluster("a"), Algorithm::EcdsaP256, v, now()).unwrap();
    assert_eq!(inter.not_after, root.not_after - Duration::days(30));
    assert!(
        parse(&inter.cert_pem).validity().not_after.to_datetime()
            < parse(&root.cert_pem).validity().not_after.to_datetime()
    );
}

#[test]
fn an_intermediate_cannot_be_issued_under_a_root_about_to_expire() {
    let v = Validity {
        root_days: 20,
        intermediate_days: 365,
        margin_days: 30,
    };
    let root = pki::issue_root(Algorithm::EcdsaP256, v, now()).unwrap();
    assert!(pki::issue_intermediate(&root, &cluster("a"), Algorithm::EcdsaP256, v, now()).is_err());
}

#[test]
fn every_cluster_gets_its_own_key() {
    let root = pki::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
    let a = pki::issue_intermediate(
        &root,
        &cluster("a"),
        Algorithm::EcdsaP256,
        Validity::default(),
        now(),
    )
    .unwrap();
    let b = pki::issue_intermediate(
        &root,
        &cluster("b"),
        Algorithm::EcdsaP256,
        Validity::default(),
        now(),
    )
    .unwrap();
    assert_ne!(a.key_pem().as_str(), b.key_pem().as_str());
    assert!(a.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn rsa_4096_is_selectable() {
    let root = pki::issue_root(Algorithm::Rsa4096, Validity::default(), now()).unwrap();
    let inter = pki::issue_intermediate(
        &root,
        &cluster("a"),
        Algorithm::EcdsaP256,
        Validity::default(),
        now(),
    )
    .unwrap();
    let cert = parse(&root.cert_pem);
    let spki = cert.public_key();
    assert_eq!(
        spki.algorithm.algorithm,
        x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION
    );
    match spki.parsed().unwrap() {
        x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 4096),
        other => panic!("not RSA: {other:?}"),
    }
    assert_eq!(
        parse(&inter.cert_pem).issuer().to_string(),
        "O=Istio, CN=Root CA"
    );
}

#[test]
fn a_ca_reloaded_from_pem_signs_new_intermediates() {
    let root = pki::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
    let reloaded = pki::Ca::from_pem(&root.cert_pem, root.key_pem().clone(), "root").unwrap();
    assert_eq!(reloaded.not_after, root.not_after);
    let inter = pki::issue_intermediate(
        &reloaded,
        &cluster("a"),
        Algorithm::EcdsaP256,
        Validity::default(),
        now(),
    )
    .unwrap();
    assert_eq!(
        parse(&inter.cert_pem).issuer().to_string(),
        "O=Istio, CN=Root CA"
    );
}
