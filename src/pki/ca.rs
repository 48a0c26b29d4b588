//! Certificate authorities of the mesh: one root, one intermediate per cluster, issued with the
//! profile of Istio's certs Makefile, and the four-file `cacerts` bundle istiod reads.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::config::{Algorithm, ClusterName, Validity};

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("could not generate a {algorithm:?} key: {message}")]
    KeyGeneration {
        algorithm: Algorithm,
        message: String,
    },
    #[error("could not issue the certificate of {subject}: {source}")]
    Issue {
        subject: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("the {what} of {subject} cannot be read: {message}")]
    Load {
        subject: String,
        what: &'static str,
        message: String,
    },
    #[error(
        "the root CA expires at {root_not_after}; an intermediate issued now would outlive it\n  fix: rotate the root first (mesh-render pki rotate-root)"
    )]
    RootTooShort { root_not_after: OffsetDateTime },
}

/// A CA: its certificate (PEM, public) and private key (PEM, zeroized on drop).
pub struct Ca {
    pub cert_pem: String,
    key_pem: Zeroizing<String>,
    pub not_after: OffsetDateTime,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("not_after", &self.not_after)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl Ca {
    /// A CA from its stored PEM certificate and key.
    pub fn from_pem(
        cert_pem: &str,
        key_pem: Zeroizing<String>,
        subject: &str,
    ) -> Result<Self, CaError> {
        let not_after = not_after(cert_pem).map_err(|message| CaError::Load {
            subject: subject.to_owned(),
            what: "certificate",
            message,
        })?;
        KeyPair::from_pem(&key_pem).map_err(|e| CaError::Load {
            subject: subject.to_owned(),
            what: "private key",
            message: e.to_string(),
        })?;
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            key_pem,
            not_after,
        })
    }

    /// The private key in PEM (PKCS#8), for sealing; never log it.
    pub fn key_pem(&self) -> &Zeroizing<String> {
        &self.key_pem
    }
}

/// The notAfter of a PEM certificate.
pub fn not_after(cert_pem: &str) -> Result<OffsetDateTime, String> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).map_err(|e| e.to_string())?;
    let cert = pem.parse_x509().map_err(|e| e.to_string())?;
    Ok(cert.validity().not_after.to_datetime())
}

/// Issues the mesh's self-signed root: `O=Istio, CN=Root CA`, CA without path length, the
/// Makefile's key usages.
pub fn issue_root(
    algorithm: Algorithm,
    validity: Validity,
    now: OffsetDateTime,
) -> Result<Ca, CaError> {
    let subject = "the root CA";
    let key = generate_key(algorithm)?;
    let mut params = ca_params(now, now + Duration::days(validity.root_days))?;
    params.distinguished_name = dn(&[
        (DnType::OrganizationName, "Istio"),
        (DnType::CommonName, "Root CA"),
    ]);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).map_err(|source| CaError::Issue {
        subject: subject.into(),
        source,
    })?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
        not_after: params.not_after,
    })
}

/// Issues a cluster's intermediate under `root`: `O=Istio, CN=Intermediate CA, L=<cluster>`,
/// pathlen 0, SAN `istiod.istio-system.svc`. It never outlives the root: its notAfter is the
/// earlier of its own validity and the root's notAfter minus the margin.
pub fn issue_intermediate(
    root: &Ca,
    cluster: &ClusterName,
    algorithm: Algorithm,
    validity: Validity,
    now: OffsetDateTime,
) -> Result<Ca, CaError> {
    let subject = format!("the intermediate CA of {cluster}");
    let latest = root.not_after - Duration::days(validity.margin_days);
    let not_after = (now + Duration::days(validity.intermediate_days)).min(latest);
    if not_after <= now + Duration::days(1) {
        return Err(CaError::RootTooShort {
            root_not_after: root.not_after,
        });
    }
    let key = generate_key(algorithm)?;
    let mut params = ca_params(now, not_after)?;
    params.distinguished_name = dn(&[
        (DnType::OrganizationName, "Istio"),
        (DnType::CommonName, "Intermediate CA"),
        (DnType::LocalityName, cluster.as_str()),
    ]);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.subject_alt_names = vec![SanType::DnsName(
        "istiod.istio-system.svc"
            .try_into()
            .map_err(|source| CaError::Issue {
                subject: subject.clone(),
                source,
            })?,
    )];
    params.use_authority_key_identifier_extension = true;
    let root_key = KeyPair::from_pem(root.key_pem()).map_err(|e| CaError::Load {
        subject: "the root CA".into(),
        what: "private key",
        message: e.to_string(),
    })?;
    let issuer =
        Issuer::from_ca_cert_pem(&root.cert_pem, root_key).map_err(|source| CaError::Issue {
            subject: subject.clone(),
            source,
        })?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|source| CaError::Issue { subject, source })?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
        not_after,
    })
}

/// The four files of the `cacerts` Secret istiod reads from /etc/cacerts.
pub struct CaCerts {
    pub ca_cert: String,
    pub ca_key: Zeroizing<String>,
    pub root_cert: String,
    pub cert_chain: String,
}

impl fmt::Debug for CaCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCerts")
            .field("ca_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// `cert-chain.pem` is the intermediate then the root (the Makefile's `cat`); `root-cert.pem` is
/// the trust bundle (one root, or two during a root rotation), byte for byte as given.
pub fn cacerts(intermediate: &Ca, issuing_root_pem: &str, trust_bundle: &str) -> CaCerts {
    CaCerts {
        ca_cert: intermediate.cert_pem.clone(),
        ca_key: intermediate.key_pem.clone(),
        root_cert: trust_bundle.to_owned(),
        cert_chain: format!("{}{}", intermediate.cert_pem, issuing_root_pem),
    }
}

fn ca_params(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
    // The Makefile's keyUsage: critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign.
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    Ok(params)
}

/// 16 random bytes with the high bit clear (a positive DER integer).
fn random_serial() -> Result<[u8; 16], CaError> {
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| CaError::KeyGeneration {
        algorithm: Algorithm::EcdsaP256,
        message: e.to_string(),
    })?;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    Ok(serial)
}

fn dn(entries: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in entries {
        dn.push(ty.clone(), *value);
    }
    dn
}

fn generate_key(algorithm: Algorithm) -> Result<KeyPair, CaError> {
    let fail = |message: String| CaError::KeyGeneration { algorithm, message };
    match algorithm {
        Algorithm::EcdsaP256 => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| fail(e.to_string()))
        }
        Algorithm::Rsa4096 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 4096)
                .map_err(|e| fail(e.to_string()))?;
            let der = key.to_pkcs8_der().map_err(|e| fail(e.to_string()))?;
            let der = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
            KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| fail(e.to_string()))
        }
    }
}
