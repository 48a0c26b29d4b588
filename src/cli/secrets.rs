//! The secret side of a render: finds the admin identities and recipients, brings the PKI state
//! up to date (issuing what is missing), and seals each cluster's `cacerts` when it must be.

use std::path::Path;

use time::OffsetDateTime;

use crate::config::{AgeRecipient, ClusterName, Mesh, Origin};
use crate::keys::{self, StateDir};
use crate::output::{SealError, Sealer};
use crate::pki::rotation::Generation;
use crate::pki::store::{Change, PkiDir, PkiState};
use crate::render::{self, RelPath, Sealed, Secret};
use crate::sops::{self, Identities, Recipient, Rule};

/// What a render needs to render and seal the secrets.
pub(super) struct Secrets {
    pub pki_dir: PkiDir,
    pub pki: PkiState,
    /// The recipients of the admins (from mesh.yaml, or the local admin identity).
    pub admins: Vec<Recipient>,
    /// Every admin identity at hand: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, sops's keys.txt, the local
    /// admin identity. `None` when there is none (a CI render with public keys only).
    pub identities: Option<Identities>,
    /// What changed, for the user.
    pub notes: Vec<String>,
}

impl Secrets {
    pub fn admin_recipients(&self) -> Vec<AgeRecipient> {
        self.admins
            .iter()
            .filter_map(|r| AgeRecipient::parse(&r.to_string()).ok())
            .collect()
    }

    pub fn sealer(&self, now: OffsetDateTime) -> MeshSealer<'_> {
        MeshSealer { secrets: self, now }
    }
}

/// The PKI directory of a mesh: `pki/` beside its mesh.yaml; the example's lives in the state dir.
pub(super) fn pki_dir(origin: &Origin, state: &StateDir) -> PkiDir {
    match origin {
        Origin::BuiltinExample => PkiDir::new(state.example_pki()),
        Origin::File(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            PkiDir::new(dir.join("pki"))
        }
    }
}

/// Finds identities, settles the admin recipients and brings the PKI up to date.
pub(super) fn prepare(
    mesh: &Mesh,
    origin: &Origin,
    now: OffsetDateTime,
) -> Result<Secrets, String> {
    let state = StateDir::for_mesh(&mesh.mesh_id).map_err(|e| e.to_string())?;
    let pki_dir = pki_dir(origin, &state);
    let mut notes = Vec::new();
    let mut identities = Identities::discover().map_err(|e| e.to_string())?;

    let admins: Vec<Recipient> = if mesh.secrets.admins.is_empty() {
        let path = state.admin_identity();
        let file = match keys::read_identity(&path).map_err(|e| e.to_string())? {
            Some(file) => file,
            None if pki_dir.exists() => {
                return Err(format!(
                    "the PKI in {} is encrypted to a local admin identity, and {} is gone\n  fix: restore {} from your backup; or, if you hold another admin identity of this PKI, list its recipient under secrets.admins in mesh.yaml and point SOPS_AGE_KEY_FILE at it",
                    pki_dir.path().display(),
                    path.display(),
                    path.display()
                ));
            }
            None => {
                let file = keys::create_identity(
                    &path,
                    &format!("mesh-render local admin identity of mesh {}", mesh.mesh_id),
                )
                .map_err(|e| e.to_string())?;
                notes.push(format!(
                    "created a local admin identity at {} (mode 0600); it decrypts this mesh's PKI: back it up, or list real admins under secrets.admins",
                    path.display()
                ));
                file
            }
        };
        identities = Some(match identities {
            Some(mut found) => {
                found.extend(file.identities);
                found
            }
            None => file.identities,
        });
        vec![file.recipient]
    } else {
        mesh.secrets
            .admins
            .iter()
            .map(|r| Recipient::parse(r.as_str()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?
    };

    let clusters: Vec<ClusterName> = mesh.clusters.iter().map(|c| c.name.clone()).collect();
    let (pki, changes) = pki_dir
        .ensure(
            &clusters,
            &admins,
            identities.as_ref(),
            mesh.pki.algorithm,
            mesh.pki.validity,
            now,
        )
        .map_err(|e| e.to_string())?;
    for change in changes {
        notes.push(match change {
            Change::IssuedRoot => {
                format!("issued the mesh's root CA in {}", pki_dir.path().display())
            }
            Change::IssuedIntermediate(c) => format!("issued the intermediate CA of {c}"),
            Change::Retired { cluster, to } => {
                format!(
                    "retired the intermediate CA of removed cluster {cluster} to {}",
                    to.display()
                )
            }
        });
    }
    Ok(Secrets {
        pki_dir,
        pki,
        admins,
        identities,
        notes,
    })
}

/// Seals `cacerts`: decrypts the cluster's intermediate key with an admin identity, renders the
/// Secret in memory and encrypts it to its recipients.
pub(super) struct MeshSealer<'a> {
    secrets: &'a Secrets,
    now: OffsetDateTime,
}

impl Sealer for MeshSealer<'_> {
    fn seal(&self, _path: &RelPath, sealed: &Sealed) -> Result<Vec<u8>, SealError> {
        let fail = |e: &dyn std::fmt::Display| SealError(e.to_string());
        let plaintext = match &sealed.secret {
            Secret::CaCerts { cluster, namespace } => {
                let why = format!("encrypt the cacerts of {cluster}");
                let (pki, dir, ids) = (
                    &self.secrets.pki,
                    &self.secrets.pki_dir,
                    self.secrets.identities.as_ref(),
                );
                // During a root rotation the stage decides the issuer and the trust bundle.
                let stage = pki.material_stage();
                let inter = match stage.issuer() {
                    Generation::Current => dir.intermediate_ca(cluster, ids, &why),
                    Generation::Next => dir.next_intermediate_ca(cluster, ids, &why),
                }
                .map_err(|e| fail(&e))?;
                let root_pem = |g: Generation| {
                    pki.root_of(g).map(|r| r.cert_pem.clone()).ok_or_else(|| {
                        SealError(format!(
                            "the PKI has no {g:?} root for stage {}",
                            stage.name()
                        ))
                    })
                };
                let issuing_root = root_pem(stage.issuer())?;
                let bundle: String = stage
                    .bundle()
                    .iter()
                    .map(|g| root_pem(*g))
                    .collect::<Result<Vec<_>, _>>()?
                    .concat();
                let certs = crate::pki::cacerts(&inter, &issuing_root, &bundle);
                render::state::cacerts_secret(cluster, namespace, &certs).map_err(|e| fail(&e))?
            }
        };
        let recipients: Vec<Recipient> = sealed
            .recipients
            .iter()
            .map(|r| Recipient::parse(r.as_str()))
            .collect::<Result<_, _>>()
            .map_err(|e| fail(&e))?;
        let rule = Rule::EncryptedRegex(sealed.encrypted_regex.to_owned());
        let text = sops::encrypt(
            &plaintext,
            &rule,
            &recipients,
            sops::Timestamp::from(self.now),
        )
        .map_err(|e| fail(&e))?;
        Ok(text.into_bytes())
    }
}
