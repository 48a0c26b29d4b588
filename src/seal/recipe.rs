//! What each sealed file is made of, decided once: for a cluster's `cacerts`, which intermediate
//! signs and which roots it trusts at the PKI's rotation stage; for a remote secret, which
//! credential description it holds. The same recipe yields the inputs digest a render records and
//! the material the sealer encrypts, so the two cannot drift apart. Pure: public state in, plans
//! out.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{AgeRecipient, ClusterName, Mesh};
use crate::digest::Inputs;
use crate::model::{SealedPlan, SecretPlans};
use crate::pki::rotation::Stage;
use crate::pki::state::{CaRecord, PkiState};
use crate::pki::{self, Ca, CaCerts};
use crate::templates;
use crate::vocabulary::{ISTIO_NAMESPACE, SECRET_ENCRYPTED_REGEX};

use super::plaintext::{CACERTS_TEMPLATE, REMOTE_SECRET_TEMPLATES};

/// The recipe tags: a new tag re-seals every file of its kind on the next keyed render.
const CACERTS_RECIPE: &str = "mesh-render sealed cacerts v2";
const REMOTE_SECRET_RECIPE: &str = "mesh-render sealed remote secret v1";

/// What the sealed files depend on that is not secret: enough to plan them (and to know which
/// may be kept) without any private key.
#[derive(Debug, Clone)]
pub struct PublicInputs<'a> {
    /// The recipients every secret is encrypted to (the admins, or the local admin identity).
    pub admins: &'a [AgeRecipient],
    /// The PKI's public state; without it no secret is planned.
    pub pki: Option<&'a PkiState>,
    /// Digests of credential files that are safe to record (SOPS-encrypted token files), by
    /// cluster: part of their remote secrets' inputs.
    pub credential_digests: &'a BTreeMap<ClusterName, String>,
    /// Seal every remote secret again (a token rotated in a plain file, which no digest covers).
    pub refresh_credentials: bool,
    /// Now, for expiry warnings.
    pub now: time::OffsetDateTime,
    /// Inspecting: a render would first issue what the PKI lacks, so a cluster without its
    /// intermediate CA (or a mesh without a PKI) gets its `cacerts` planned with inputs not yet
    /// known, as a render would write it.
    pub issue_pending: bool,
}

/// A cluster's `cacerts` at the PKI's rotation stage: the intermediate that signs (its key and
/// certificate become `ca-key.pem` and `ca-cert.pem`), the root above it (`cert-chain.pem`), and
/// the roots `root-cert.pem` trusts, in order.
#[derive(Debug, Clone)]
pub struct CaCertsRecipe<'p> {
    pub stage: Stage,
    pub intermediate: &'p CaRecord,
    pub issuing_root: &'p CaRecord,
    pub bundle: Vec<&'p CaRecord>,
}

/// The recipe of `cluster`'s `cacerts`, or `None` while the PKI lacks what its stage needs.
pub fn cacerts<'p>(pki: &'p PkiState, cluster: &ClusterName) -> Option<CaCertsRecipe<'p>> {
    let stage = pki.material_stage();
    Some(CaCertsRecipe {
        stage,
        intermediate: pki.intermediate_of(cluster, stage.issuer())?,
        issuing_root: pki.root_of(stage.issuer())?,
        bundle: stage
            .bundle()
            .iter()
            .map(|g| pki.root_of(*g))
            .collect::<Option<_>>()?,
    })
}

impl CaCertsRecipe<'_> {
    /// The inputs digest: the state files' digests, the template, the rule and the recipients.
    pub fn inputs(&self, recipients: &[AgeRecipient]) -> String {
        let template = templates::source(CACERTS_TEMPLATE).unwrap_or_default();
        Inputs::new(CACERTS_RECIPE)
            .parts([
                template,
                SECRET_ENCRYPTED_REGEX,
                ISTIO_NAMESPACE,
                &self.intermediate.digest,
                &self.issuing_root.digest,
                "trust bundle:",
            ])
            .parts(self.bundle.iter().map(|r| r.digest.as_str()))
            .finish(recipients.iter().map(AgeRecipient::as_str))
    }

    /// The facts the sealed file states in clear, from the public certificates alone (what
    /// `diff` shows before anything is sealed).
    pub fn facts(&self) -> Result<crate::facts::Facts, String> {
        let bundle: String = self.bundle.iter().map(|r| r.cert_pem.as_str()).collect();
        crate::facts::cacerts(&self.intermediate.cert_pem, &bundle)
    }

    /// The four files, from the signing intermediate with its key (decrypted from
    /// `self.intermediate.path`) and the records' certificates.
    pub fn material(&self, intermediate: &Ca) -> CaCerts {
        let bundle: String = self.bundle.iter().map(|r| r.cert_pem.as_str()).collect();
        pki::cacerts(intermediate, &self.issuing_root.cert_pem, &bundle)
    }
}

/// The inputs of `source`'s remote secret hashed up to the recipients: the same in every cluster
/// that holds it, so it is hashed once per source, not once per pair.
fn remote_secret_inputs(
    source: &crate::config::Cluster,
    credential_digest: Option<&str>,
) -> Option<Inputs> {
    let credentials = source.credentials.as_ref().filter(|c| !c.is_external())?;
    let description = credentials.description();
    let [secret, kubeconfig] =
        REMOTE_SECRET_TEMPLATES.map(|t| templates::source(t).unwrap_or_default());
    Some(Inputs::new(REMOTE_SECRET_RECIPE).parts([
        secret,
        kubeconfig,
        SECRET_ENCRYPTED_REGEX,
        source.name.as_str(),
        description.as_str(),
        credential_digest.unwrap_or(""),
    ]))
}

/// The admins, then the cluster's own GitOps recipient.
pub fn recipients_for(
    cluster: &crate::config::Cluster,
    admins: &[AgeRecipient],
) -> Vec<AgeRecipient> {
    let mut recipients = admins.to_vec();
    if let Some(own) = cluster
        .gitops_recipient
        .as_ref()
        .filter(|own| !recipients.contains(own))
    {
        recipients.push(own.clone());
    }
    recipients
}

/// Every sealed file of the mesh, planned: each cluster's `cacerts` (where the PKI has what its
/// stage needs) and the remote secrets it holds (one per other cluster with a credential source
/// mesh-render reads), encrypted to the admins and the cluster's own GitOps recipient.
pub fn plans<'a>(mesh: &Mesh, inputs: &PublicInputs<'a>) -> SecretPlans<'a> {
    let mut plans = SecretPlans {
        pki: inputs.pki,
        now: inputs.now,
        cacerts: BTreeMap::new(),
        remote_secrets: BTreeMap::new(),
    };
    if inputs.pki.is_none() && !inputs.issue_pending {
        return plans;
    }
    let sources: Vec<(&ClusterName, Inputs)> = mesh
        .clusters
        .iter()
        .filter_map(|source| {
            let digest = inputs
                .credential_digests
                .get(&source.name)
                .map(String::as_str);
            Some((&source.name, remote_secret_inputs(source, digest)?))
        })
        .collect();
    for cluster in &mesh.clusters {
        let recipients: Arc<[AgeRecipient]> = recipients_for(cluster, inputs.admins).into();
        let recipe = inputs.pki.and_then(|pki| cacerts(pki, &cluster.name));
        if recipe.is_some() || inputs.issue_pending {
            plans.cacerts.insert(
                cluster.name.clone(),
                SealedPlan {
                    inputs: recipe.map(|r| r.inputs(&recipients)),
                    recipients: Arc::clone(&recipients),
                    force: false,
                },
            );
        }
        let held: Vec<(ClusterName, SealedPlan)> = sources
            .iter()
            .filter(|(source, _)| **source != cluster.name)
            .map(|(source, hashed)| {
                let plan = SealedPlan {
                    inputs: Some(
                        hashed
                            .clone()
                            .finish(recipients.iter().map(AgeRecipient::as_str)),
                    ),
                    recipients: Arc::clone(&recipients),
                    force: inputs.refresh_credentials,
                };
                ((*source).clone(), plan)
            })
            .collect();
        plans.remote_secrets.insert(cluster.name.clone(), held);
    }
    plans
}
