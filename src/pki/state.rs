//! The PKI as state, apart from where it is kept: the records of the root and intermediates
//! (certificate and digest, never a key), a rotation in progress, and the text of the state
//! files (`pki/root.yaml`, `pki/intermediates/<cluster>.yaml`, `pki/rotation.yaml`) as they are
//! written and read back. Nothing here reads or writes a file; `store` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::context;
use serde::Deserialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::ca::{self, Ca};
use super::rotation::{Generation, Stage};
use crate::config::{Algorithm, ClusterName};
use crate::digest;
use crate::sops::{self, Rule};
use crate::templates::{self, TemplateError};

/// Which CA a state file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub enum Kind {
    RootCA,
    IntermediateCA,
}

/// A CA as the state holds it, without its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaRecord {
    pub kind: Kind,
    pub cert_pem: String,
    pub not_after: OffsetDateTime,
    /// The state file it was read from.
    pub path: PathBuf,
    /// SHA-256 of the state file's bytes: what a rendered `cacerts` depends on.
    pub digest: String,
}

/// The public view of the PKI: everything a render needs without a private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiState {
    pub root: CaRecord,
    pub intermediates: BTreeMap<ClusterName, CaRecord>,
    /// A root rotation in progress.
    pub rotation: Option<RotationState>,
}

/// A root rotation in progress: its stage, the next root and the intermediates it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationState {
    pub stage: Stage,
    pub next_root: Option<CaRecord>,
    pub next_intermediates: BTreeMap<ClusterName, CaRecord>,
}

impl PkiState {
    /// The root of a generation (the next one only exists from `trust-both` on).
    pub fn root_of(&self, generation: Generation) -> Option<&CaRecord> {
        match generation {
            Generation::Current => Some(&self.root),
            Generation::Next => self.rotation.as_ref()?.next_root.as_ref(),
        }
    }

    /// A cluster's intermediate of a generation.
    pub fn intermediate_of(
        &self,
        cluster: &ClusterName,
        generation: Generation,
    ) -> Option<&CaRecord> {
        match generation {
            Generation::Current => self.intermediates.get(cluster),
            Generation::Next => self.rotation.as_ref()?.next_intermediates.get(cluster),
        }
    }

    /// The stage whose `cacerts` are rendered: a mesh without rotation renders as `prepare` does
    /// for the CA material (current issuer, current root only).
    pub fn material_stage(&self) -> Stage {
        self.rotation.as_ref().map_or(Stage::Prepare, |r| r.stage)
    }
}

/// A state file that is not what mesh-render writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadState {
    pub message: String,
}

/// The fields of a CA state file, as the template writes them (the key stays encrypted).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateFile {
    kind: Kind,
    certificate: String,
}

/// pki/rotation.yaml.
#[derive(Debug, Deserialize)]
struct RotationFile {
    stage: Stage,
}

/// The rule of every CA state file: everything but the key stays readable.
pub fn state_rule() -> Rule {
    Rule::EncryptedRegex("^key$".to_owned())
}

/// Reads a CA state file's public part from its bytes, as kept at `path`.
pub fn parse_record(bytes: &[u8], path: &Path) -> Result<CaRecord, BadState> {
    let bad = |message: String| BadState { message };
    let text = std::str::from_utf8(bytes).map_err(|e| bad(e.to_string()))?;
    let docs = sops::without_metadata(text).map_err(|e| bad(e.to_string()))?;
    let doc = docs.into_iter().next().ok_or_else(|| bad("empty".into()))?;
    let state: StateFile = serde_json::from_value(doc).map_err(|e| bad(e.to_string()))?;
    let not_after = ca::not_after(&state.certificate).map_err(bad)?;
    Ok(CaRecord {
        kind: state.kind,
        cert_pem: state.certificate,
        not_after,
        path: path.to_owned(),
        digest: digest::sha256_hex(bytes),
    })
}

/// Reads the stage of pki/rotation.yaml.
pub fn parse_rotation(text: &str) -> Result<Stage, BadState> {
    let file: RotationFile = serde_saphyr::from_str(text).map_err(|e| BadState {
        message: e.to_string(),
    })?;
    Ok(file.stage)
}

/// The key of a decrypted CA state file.
pub fn key_of(plain: &sops::Decrypted) -> Result<Zeroizing<String>, BadState> {
    let docs = plain.to_json();
    docs.first()
        .and_then(|d| d.get("key"))
        .and_then(|k| k.as_str())
        .map(|k| Zeroizing::new(k.to_owned()))
        .ok_or_else(|| BadState {
            message: "no `key` field".into(),
        })
}

/// The plaintext of a CA state file: certificate and key of one CA (the key is then encrypted).
pub fn ca_state_text(
    kind: Kind,
    cluster: Option<&ClusterName>,
    algorithm: Algorithm,
    ca: &Ca,
) -> Result<Zeroizing<String>, TemplateError> {
    let (kind_name, description) = match (kind, cluster) {
        (Kind::RootCA, _) => ("RootCA", "the mesh's root CA".to_owned()),
        (Kind::IntermediateCA, Some(c)) => (
            "IntermediateCA",
            format!("the intermediate CA of cluster {c}"),
        ),
        (Kind::IntermediateCA, None) => ("IntermediateCA", "an intermediate CA".to_owned()),
    };
    let not_after = ca
        .not_after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let algorithm = match algorithm {
        Algorithm::EcdsaP256 => "ecdsa-p256",
        Algorithm::Rsa4096 => "rsa-4096",
    };
    let text = templates::render(
        "state/ca.yaml",
        context! {
            kind => kind_name,
            description,
            cluster => cluster.map(ToString::to_string),
            algorithm,
            not_after,
            certificate => ca.cert_pem.trim_end(),
            key => ca.key_pem().trim_end(),
        },
    )?;
    Ok(Zeroizing::new(templates::normalize(&text)))
}

/// The text of pki/rotation.yaml at `stage`.
pub fn rotation_text(stage: Stage) -> Result<String, TemplateError> {
    let text = templates::render("state/rotation.yaml", context! { stage => stage.name() })?;
    Ok(templates::normalize(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rotation_file_reads_back_its_stage() {
        for stage in Stage::ALL {
            let text = rotation_text(stage).unwrap();
            assert_eq!(parse_rotation(&text), Ok(stage));
        }
    }

    #[test]
    fn a_file_that_is_not_a_state_file_is_bad_state() {
        assert!(parse_record(b"kind: RootCA\n", Path::new("pki/root.yaml")).is_err());
        assert!(parse_record(&[0xff, 0xfe], Path::new("pki/root.yaml")).is_err());
    }
}
