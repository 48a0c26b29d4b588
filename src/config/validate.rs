//! Semantic checks of a parsed mesh description (names, uniqueness, versions, placement) and its
//! defaults; every problem is collected so the user sees them all at once.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use super::error::{Problem, line_col};
use super::mesh::{
    Cluster, Credentials, GitOps, GitOpsTarget, Istio, IstioVersion, LoadBalancer, Mesh,
    PkiSettings, Sample, Secrets, Upstream, Validity,
};
use super::names::{
    self, AgeRecipient, ClusterName, ContextName, ImageRef, Invalid, MeshId, NetworkName, Revision,
    RootFingerprint, TrustDomain,
};
use super::spec::{self, ClusterSpec, LoadBalancerProvider, MeshSpec, Text, Topology, Workload};
use crate::releases::{self, ReleaseLine};

/// Collects problems while building the typed mesh.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(
        &mut self,
        field: impl Into<String>,
        text: Option<&Text>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let at = text.map(|t| line_col(&t.referenced));
        self.0.push(Problem::new(field, problem, fix).at(at));
    }

    /// Records an invalid name; returns the parsed value when valid.
    fn name<T>(
        &mut self,
        field: &str,
        text: &Text,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        match parse(&text.value) {
            Ok(v) => Some(v),
            Err(Invalid { problem, fix }) => {
                self.push(field, Some(text), problem, fix);
                None
            }
        }
    }
}

pub(super) fn validate(spec: MeshSpec) -> Result<Mesh, Vec<Problem>> {
    let mut p = Problems::default();
    let mesh_id = p.name("meshID", &spec.mesh_id, MeshId::parse);
    let trust_domain = match &spec.trust_domain {
        Some(t) => p.name("trustDomain", t, TrustDomain::parse),
        None => TrustDomain::parse("cluster.local").ok(),
    };
    let version = istio_version(
        &mut p,
        "istio.version",
        &spec.istio.version,
        spec.istio.allow_unknown_version,
    );
    // With an invalid version, the other fields are still checked (against the newest line's
    // defaults), so every problem is reported at once.
    let release = version.map_or(releases::newest(), |(_, row, _)| row);
    let hub = match &spec.istio.hub {
        Some(t) => p.name("istio.hub", t, ImageRef::parse).map(Some),
        None => Some(None),
    };
    let revision = match &spec.istio.revision {
        Some(t) => p.name("istio.revision", t, Revision::parse).map(Some),
        None => Some(None),
    };
    let ingress_gateway = ingress_gateway(&mut p, &spec.gateway);
    // During an upgrade the CRDs go with the base chart, at the new release.
    let crds_release = spec
        .istio
        .upgrade
        .as_ref()
        .and_then(|u| IstioVersion::parse(&u.to.value))
        .and_then(|to| releases::line_of(&to))
        .unwrap_or(release);
    let upstream = upstream(&mut p, &spec.upstream, crds_release);
    let gateways = match (spec.gateway.topology, ingress_gateway) {
        (Topology::Dedicated, Some(true)) => 2,
        _ => 1,
    };
    let clusters = clusters(&mut p, &spec.clusters, gateways);
    let sample = clusters
        .as_ref()
        .and_then(|c| sample(&mut p, &spec.sample, c, release));

    let (
        Some(mesh_id),
        Some(trust_domain),
        Some(version),
        Some(revision),
        Some(ingress_gateway),
        Some(hub),
    ) = (
        mesh_id,
        trust_domain,
        version,
        revision,
        ingress_gateway,
        hub,
    )
    else {
        return Err(p.0);
    };
    let upgrade = upgrade(
        &mut p,
        spec.istio.upgrade.as_ref(),
        &version.0,
        revision.as_ref().map(Revision::as_str),
        clusters.as_deref(),
    );
    let secrets = secrets(&mut p, &spec.secrets);
    let gitops = gitops(&mut p, &spec.gitops);
    let pki = pki_settings(&mut p, &spec.pki);
    let (Some(upstream), Some(clusters), Some(sample), Some(secrets), Some(pki), Some(gitops)) =
        (upstream, clusters, sample, secrets, pki, gitops)
    else {
        return Err(p.0);
    };
    if !p.0.is_empty() {
        return Err(p.0);
    }
    Ok(Mesh {
        mesh_id,
        trust_domain,
        istio: Istio {
            version: version.0,
            release: version.1,
            unknown_line: version.2,
            end_of_life_advice: true,
            profile: spec.istio.profile,
            dns_capture: spec.istio.dns_capture,
            rewrite_app_http_probe: spec.istio.rewrite_app_http_probe,
            revision,
            hub,
            upgrade,
        },
        topology: spec.gateway.topology,
        ingress_gateway,
        upstream,
        secrets,
        pki,
        gitops,
        clusters,
        sample,
    })
}

fn gitops(p: &mut Problems, spec: &spec::GitOpsSpec) -> Option<GitOps> {
    let before = p.0.len();
    let (url, branch, path) = match &spec.repository {
        Some(repo) => {
            let url = &repo.url.value;
            let ok = ["https://", "http://", "ssh://", "git@"]
                .iter()
                .any(|s| url.starts_with(s))
                && !url.contains(char::is_whitespace);
            if !ok {
                p.push(
                    "gitops.repository.url",
                    Some(&repo.url),
                    format!("{url:?} is not a Git URL"),
                    "write the repository's https:// or ssh:// URL",
                );
            }
            let branch = repo
                .branch
                .as_ref()
                .map_or("main".to_owned(), |b| b.value.clone());
            let path = repo.path.as_ref().map_or("out".to_owned(), |t| {
                t.value
                    .trim_start_matches("./")
                    .trim_end_matches('/')
                    .to_owned()
            });
            if path.split('/').any(|part| part == "..") || path.starts_with('/') {
                let text = repo.path.as_ref();
                p.push(
                    "gitops.repository.path",
                    text,
                    "the path must stay inside the repository",
                    "give the rendered tree's path relative to the repository root, e.g. out",
                );
            }
            (Some(url.clone()), branch, path)
        }
        None => {
            if spec.target != GitOpsTarget::None {
                p.push(
                    "gitops.repository",
                    None,
                    "a GitOps target needs the repository the tree is committed to",
                    "add `repository: {url: <git URL>, branch: main, path: out}` under gitops",
                );
            }
            (None, "main".to_owned(), "out".to_owned())
        }
    };
    let chart_repository = match &spec.chart_repository {
        Some(t) if !t.value.starts_with("https://") && !t.value.starts_with("oci://") => {
            p.push(
                "gitops.chartRepository",
                Some(t),
                format!(
                    "{:?} is not an https:// or oci:// chart repository",
                    t.value
                ),
                format!("use Istio's ({}) or a mirror of it", GitOps::ISTIO_CHARTS),
            );
            String::new()
        }
        Some(t) => t.value.clone(),
        None => GitOps::ISTIO_CHARTS.to_owned(),
    };
    (p.0.len() == before).then_some(GitOps {
        target: spec.target,
        repository_url: url,
        branch,
        path,
        chart_repository,
        argocd_mode: spec.argocd_mode,
    })
}

fn secrets(p: &mut Problems, spec: &spec::SecretsSpec) -> Option<Secrets> {
    let before = p.0.len();
    let mut admins: Vec<AgeRecipient> = Vec::new();
    for (i, text) in spec.admins.iter().enumerate() {
        let field = format!("secrets.admins[{i}]");
        if let Some(r) = p.name(&field, text, AgeRecipient::parse) {
            if admins.contains(&r) {
                p.push(
                    field,
                    Some(text),
                    "this recipient is listed twice",
                    "list each admin recipient once",
                );
            } else {
                admins.push(r);
            }
        }
    }
    (p.0.len() == before).then_some(Secrets { admins })
}

fn pki_settings(p: &mut Problems, spec: &spec::PkiSpec) -> Option<PkiSettings> {
    let before = p.0.len();
    let default = Validity::default();
    let mut days = |field: &str,
                    value: &Option<serde_saphyr::Spanned<u32>>,
                    default: i64,
                    min: u32| match value {
        None => default,
        Some(v) if v.value < min => {
            let at = line_col(&v.referenced);
            p.0.push(
                Problem::new(
                    format!("pki.{field}"),
                    format!("{} days is too short", v.value),
                    format!("use at least {min} days"),
                )
                .at(Some(at)),
            );
            default
        }
        Some(v) => i64::from(v.value),
    };
    let root_days = days(
        "rootValidityDays",
        &spec.root_validity_days,
        default.root_days,
        60,
    );
    let intermediate_days = days(
        "intermediateValidityDays",
        &spec.intermediate_validity_days,
        default.intermediate_days,
        2,
    );
    let expiry_warning_days = days(
        "expiryWarningDays",
        &spec.expiry_warning_days,
        PkiSettings::DEFAULT_EXPIRY_WARNING_DAYS,
        0,
    );
    let root_fingerprint = spec
        .root_fingerprint
        .as_ref()
        .and_then(|text| p.name("pki.rootFingerprint", text, RootFingerprint::parse));
    (p.0.len() == before).then_some(PkiSettings {
        root_fingerprint,
        algorithm: spec.algorithm,
        validity: Validity {
            root_days,
            intermediate_days,
            margin_days: default.margin_days,
        },
        expiry_warning_days,
    })
}

/// `istio.upgrade`: a known, supported target (`upgrade::check_path`), a stage recorded as
/// `mesh-render upgrade` records it, and clusters of the mesh only for a stage that goes cluster
/// by cluster.
fn upgrade(
    p: &mut Problems,
    spec: Option<&spec::UpgradeSpec>,
    version: &IstioVersion,
    revision: Option<&str>,
    clusters: Option<&[Cluster]>,
) -> Option<crate::upgrade::Upgrade> {
    use crate::upgrade::{self, Stage};
    let spec = spec?;
    let before = p.0.len();
    let to = istio_version(p, "istio.upgrade.to", &spec.to, false).map(|(v, _, _)| v);
    let to = to.and_then(|to| match upgrade::check_path(version, revision, &to) {
        Ok(release) => Some((to, release)),
        Err(e) => {
            p.push("istio.upgrade.to", Some(&spec.to), e.to_string(), e.fix());
            None
        }
    });
    let names: Vec<&str> = Stage::ALL[..3].iter().map(|s| s.name()).collect();
    let stage = match Stage::parse(&spec.stage.value) {
        Some(Stage::RemoveOld) => {
            p.push(
                "istio.upgrade.stage",
                Some(&spec.stage),
                "remove-old ends the upgrade; it is never recorded as a stage",
                "run `mesh-render upgrade --stage remove-old`: it sets istio.version and istio.revision and removes istio.upgrade",
            );
            None
        }
        Some(stage) => Some(stage),
        None => {
            p.push(
                "istio.upgrade.stage",
                Some(&spec.stage),
                format!("unknown stage {:?}", spec.stage.value),
                format!("use one of {}", names.join(", ")),
            );
            None
        }
    };
    let mut listed = Vec::new();
    for (i, text) in spec.clusters.iter().enumerate() {
        let field = format!("istio.upgrade.clusters[{i}]");
        let Some(name) = p.name(&field, text, ClusterName::parse) else {
            continue;
        };
        if clusters.is_some_and(|all| !all.iter().any(|c| c.name == name)) {
            p.push(
                field,
                Some(text),
                format!("{name} is not a cluster of this mesh"),
                "name a cluster of the `clusters` list",
            );
        } else if stage.is_some_and(|s| !s.by_cluster()) {
            p.push(
                field,
                Some(text),
                format!(
                    "stage {} goes to every cluster at once",
                    stage.map_or("", Stage::name)
                ),
                "remove istio.upgrade.clusters (it is for move-default and move-gateways)",
            );
        } else {
            listed.push(name);
        }
    }
    if p.0.len() > before {
        return None;
    }
    let ((to, release), stage) = (to?, stage?);
    Some(upgrade::Upgrade {
        to,
        release,
        stage,
        clusters: listed,
    })
}

/// A version, and the release-table row whose facts it renders with (its line's, or with
/// `allow_unknown` and a line newer than the table, the newest line's).
fn istio_version(
    p: &mut Problems,
    field: &str,
    text: &Text,
    allow_unknown: bool,
) -> Option<(IstioVersion, &'static ReleaseLine, bool)> {
    let newest = releases::newest_supported();
    let known = releases::known_lines();
    let fix = format!("use a patch of a known release line ({known}), e.g. {newest}");
    let Some(version) = IstioVersion::parse(&text.value) else {
        p.push(
            field,
            Some(text),
            format!(
                "{:?} is not an Istio release version (MAJOR.MINOR.PATCH)",
                text.value
            ),
            fix,
        );
        return None;
    };

    if let Some(row) = releases::line_of(&version) {
        return Some((version, row, false));
    }
    let last = releases::newest();
    let newer = (version.major, version.minor) > last.line;
    if newer && allow_unknown {
        return Some((version, last, true));
    }
    p.push(
        field,
        Some(text),
        format!(
            "unknown Istio release line {}.{} ({version}): mesh-render knows {known}",
            version.major, version.minor
        ),
        if newer && field == "istio.version" {
            format!(
                "{fix}; or, to render a newer line with {}'s facts (chart values, hub, Gateway API), set `istio.allowUnknownVersion: true`",
                last.name()
            )
        } else {
            fix
        },
    );
    None
}

fn ingress_gateway(p: &mut Problems, spec: &spec::GatewaySpec) -> Option<bool> {
    match (spec.topology, &spec.ingress) {
        (Topology::Combined, Some(flag)) => {
            let at = line_col(&flag.referenced);
            p.0.push(
                Problem::new(
                    "gateway.ingress",
                    "the combined topology's gateway already carries ingress traffic",
                    "remove `ingress`, or set `topology: dedicated` for separate gateways",
                )
                .at(Some(at)),
            );
            None
        }
        (_, Some(flag)) => Some(flag.value),
        (_, None) => Some(false),
    }
}

fn upstream(
    p: &mut Problems,
    spec: &spec::UpstreamSpec,
    release: &ReleaseLine,
) -> Option<Upstream> {
    let before = p.0.len();
    let mut url = |field: &str, text: &Option<Text>, default: &str| match text {
        None => default.to_owned(),
        Some(t) => {
            let ok = (t.value.starts_with("https://") || t.value.starts_with("http://"))
                && !t.value.chars().any(char::is_whitespace);
            if !ok {
                p.push(
                    format!("upstream.{field}"),
                    Some(t),
                    format!("{:?} is not an http(s) URL", t.value),
                    format!("point it at the release manifest or a mirror of it, e.g. {default}"),
                );
            }
            t.value.clone()
        }
    };
    let upstream = Upstream {
        gateway_api_crds: url(
            "gatewayAPICRDs",
            &spec.gateway_api_crds,
            &release.gateway_api_crds(),
        ),
        metallb: url("metallb", &spec.metallb, Upstream::METALLB),
        metrics_server: url(
            "metricsServer",
            &spec.metrics_server,
            Upstream::METRICS_SERVER,
        ),
    };
    (p.0.len() == before).then_some(upstream)
}

fn clusters(p: &mut Problems, specs: &[ClusterSpec], gateways: usize) -> Option<Vec<Cluster>> {
    if specs.is_empty() {
        p.push(
            "clusters",
            None,
            "the mesh has no clusters",
            "list at least one cluster under `clusters:` (a mesh spans two or more)",
        );
        return None;
    }
    if specs.len() > Mesh::MAX_CLUSTERS {
        p.push(
            "clusters",
            None,
            format!(
                "{} clusters; a mesh has at most {}: every istiod watches every other cluster's API server",
                specs.len(),
                Mesh::MAX_CLUSTERS
            ),
            "split the fleet into several meshes (one description each)",
        );
        return None;
    }
    let before = p.0.len();
    let mut clusters = Vec::with_capacity(specs.len());
    let mut first_name: BTreeMap<&str, usize> = BTreeMap::new();
    let mut first_network: BTreeMap<&str, usize> = BTreeMap::new();
    let mut first_context: BTreeMap<&str, usize> = BTreeMap::new();
    let mut first_recipient: BTreeMap<&str, usize> = BTreeMap::new();
    let networks: Vec<&str> = specs.iter().map(|c| c.network.value.as_str()).collect();
    for (i, c) in specs.iter().enumerate() {
        let at = |f: &str| format!("clusters[{i}].{f}");
        let name = p.name(&at("name"), &c.name, ClusterName::parse);
        if let Some(&j) = first_name.get(c.name.value.as_str()) {
            p.push(
                at("name"),
                Some(&c.name),
                format!(
                    "duplicate cluster name {:?} (clusters[{j}] has it too)",
                    c.name.value
                ),
                "give every cluster its own name",
            );
        } else {
            first_name.insert(&c.name.value, i);
        }
        let network = p.name(&at("network"), &c.network, NetworkName::parse);
        if let Some(&j) = first_network.get(c.network.value.as_str()) {
            p.push(
                at("network"),
                Some(&c.network),
                format!("duplicate network {:?} (clusters[{j}] is on it too); in a multi-network mesh every cluster has its own network", c.network.value),
                format!(
                    "give this cluster its own network, e.g. {:?}",
                    NetworkName::unused_like(&networks)
                ),
            );
        } else {
            first_network.insert(&c.network.value, i);
        }
        let context = match &c.context {
            Some(t) => {
                if let Some(&j) = first_context.get(t.value.as_str()) {
                    p.push(
                        at("context"),
                        Some(t),
                        format!(
                            "duplicate kubeconfig context {:?} (clusters[{j}] uses it too)",
                            t.value
                        ),
                        "each cluster needs the context that reaches it",
                    );
                } else {
                    first_context.insert(&t.value, i);
                }
                p.name(&at("context"), t, ContextName::parse)
            }
            None => ContextName::parse(&c.name.value).ok(),
        };
        let load_balancer = load_balancer(p, i, &c.load_balancer, gateways);
        let gitops_recipient = match &c.gitops_recipient {
            None => Some(None),
            Some(t) => {
                if let Some(&j) = first_recipient.get(t.value.as_str()) {
                    p.push(
                        at("gitopsRecipient"),
                        Some(t),
                        format!("clusters[{j}] has the same GitOps recipient: each cluster could decrypt the other's secrets"),
                        "give every cluster its own identity (`mesh-render keys` creates them)",
                    );
                } else {
                    first_recipient.insert(&t.value, i);
                }
                p.name(&at("gitopsRecipient"), t, AgeRecipient::parse)
                    .map(Some)
            }
        };
        let credentials = match &c.credentials {
            None => Some(None),
            Some(spec) => credentials(p, i, spec, context.as_ref()).map(Some),
        };
        if let (
            Some(name),
            Some(network),
            Some(context),
            Some(load_balancer),
            Some(gitops_recipient),
            Some(credentials),
        ) = (
            name,
            network,
            context,
            load_balancer,
            gitops_recipient,
            credentials,
        ) {
            clusters.push(Cluster {
                name,
                network,
                context,
                cni: c.cni,
                load_balancer,
                metrics_server: c.metrics_server,
                gitops_recipient,
                credentials,
            });
        }
    }
    (p.0.len() == before).then_some(clusters)
}

fn credentials(
    p: &mut Problems,
    i: usize,
    spec: &spec::CredentialsSpec,
    context: Option<&ContextName>,
) -> Option<Credentials> {
    let field = format!("clusters[{i}].credentials");
    let before = p.0.len();
    let set = [
        spec.token_file.is_some(),
        spec.kubeconfig.is_some(),
        spec.external_secrets.is_some(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        p.push(
            field,
            None,
            "more than one credential source is set",
            "keep one of `tokenFile`, `kubeconfig`, `externalSecrets`",
        );
        return None;
    }
    if let Some(e) = &spec.external_secrets {
        let server = https_server(p, &format!("{field}.externalSecrets.server"), &e.server);
        let remote_key = match &e.remote_key {
            Some(k) if k.value.trim().is_empty() || k.value.contains(char::is_whitespace) => {
                p.push(
                    format!("{field}.externalSecrets.remoteKey"),
                    Some(k),
                    "not a usable store key",
                    "use a key without spaces, or leave it out for the default",
                );
                None
            }
            Some(k) => Some(k.value.clone()),
            None => None,
        };
        if e.store.name.value.trim().is_empty() {
            p.push(
                format!("{field}.externalSecrets.store.name"),
                Some(&e.store.name),
                "the store name is empty",
                "name the (Cluster)SecretStore every cluster reads",
            );
        }
        return (p.0.len() == before).then(|| Credentials::ExternalSecrets {
            server: server.unwrap_or_default(),
            tls_server_name: e.tls_server_name.as_ref().map(|s| s.value.clone()),
            store_kind: e.store.kind,
            store_name: e.store.name.value.clone(),
            remote_key,
        });
    }
    match (&spec.token_file, &spec.kubeconfig) {
        (Some(t), None) => {
            let server = &t.server.value;
            https_server(p, &format!("{field}.tokenFile.server"), &t.server);
            use base64::Engine;
            let ca = base64::engine::general_purpose::STANDARD
                .decode(t.ca_data.value.trim())
                .ok();
            if !ca
                .as_deref()
                .is_some_and(|pem| pem.starts_with(b"-----BEGIN CERTIFICATE-----"))
            {
                p.push(
                    format!("{field}.tokenFile.caData"),
                    Some(&t.ca_data),
                    "not base64 of a PEM certificate",
                    "paste the reader token Secret's ca.crt as it is stored (kubectl ... -o jsonpath='{.data.ca\\.crt}'), or a kubeconfig's certificate-authority-data",
                );
            }
            if t.token.value.trim().is_empty() {
                p.push(
                    format!("{field}.tokenFile.token"),
                    Some(&t.token),
                    "the token file path is empty",
                    "name the file that holds the reader token",
                );
            }
            (p.0.len() == before).then(|| Credentials::TokenFile {
                server: server.clone(),
                ca_data: t.ca_data.value.trim().to_owned(),
                token: PathBuf::from(&t.token.value),
                tls_server_name: t.tls_server_name.as_ref().map(|s| s.value.clone()),
            })
        }
        (None, Some(k)) => {
            let context = match &k.context {
                Some(text) => p.name(
                    &format!("{field}.kubeconfig.context"),
                    text,
                    ContextName::parse,
                ),
                None => context.cloned(),
            }?;
            if k.file.value.trim().is_empty() {
                p.push(
                    format!("{field}.kubeconfig.file"),
                    Some(&k.file),
                    "the kubeconfig path is empty",
                    "name the kubeconfig file",
                );
                return None;
            }
            Some(Credentials::Kubeconfig {
                file: PathBuf::from(&k.file.value),
                context,
            })
        }
        (None, None) => {
            p.push(field, None, "no credential source given", "set one of `tokenFile`, `kubeconfig` or `externalSecrets`, or remove `credentials` to leave this cluster's remote secrets pending");
            None
        }
        (Some(_), Some(_)) => None,
    }
}

/// An https URL of an API server, or a problem at `field`.
fn https_server(p: &mut Problems, field: &str, text: &Text) -> Option<String> {
    let server = &text.value;
    let ok = server
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
    if !ok {
        p.push(
            field,
            Some(text),
            format!("{server:?} is not an https URL of an API server"),
            "write the API server URL the other clusters reach, e.g. https://203.0.113.20:6443",
        );
        return None;
    }
    Some(server.clone())
}

fn load_balancer(
    p: &mut Problems,
    i: usize,
    spec: &spec::LoadBalancerSpec,
    gateways: usize,
) -> Option<LoadBalancer> {
    let field = format!("clusters[{i}].loadBalancer.addresses");
    match spec.provider {
        LoadBalancerProvider::Cloud => {
            if let Some(first) = spec.addresses.first() {
                p.push(
                    field,
                    Some(first),
                    "addresses are only used with `provider: metallb`; a cloud load balancer picks its own",
                    "remove `addresses`, or set `provider: metallb`",
                );
                return None;
            }
            Some(LoadBalancer::Cloud)
        }
        LoadBalancerProvider::Metallb => {
            if spec.addresses.is_empty() {
                p.push(
                    field,
                    None,
                    "MetalLB needs the address to announce for the gateway",
                    "list the gateway's public IP under `addresses`, e.g. [203.0.113.10]",
                );
                return None;
            }
            let mut addresses = Vec::with_capacity(spec.addresses.len());
            for (k, a) in spec.addresses.iter().enumerate() {
                match a.value.parse::<IpAddr>() {
                    Ok(ip) => addresses.push(ip),
                    Err(_) => p.push(
                        format!("{field}[{k}]"),
                        Some(a),
                        format!("{:?} is not an IP address", a.value),
                        "write one IPv4 or IPv6 address per entry (no CIDR suffix or range), e.g. 203.0.113.10",
                    ),
                }
            }
            if addresses.len() == spec.addresses.len() && addresses.len() < gateways {
                p.push(
                    field,
                    spec.addresses.first(),
                    format!("{gateways} gateways need {gateways} addresses (the east-west gateway takes the first, the ingress gateway the second)"),
                    "list one address per gateway",
                );
                return None;
            }
            (addresses.len() == spec.addresses.len()).then_some(LoadBalancer::Metallb { addresses })
        }
    }
}

fn sample(
    p: &mut Problems,
    spec: &spec::SampleSpec,
    clusters: &[Cluster],
    release: &ReleaseLine,
) -> Option<Sample> {
    let before = p.0.len();
    let namespace = match &spec.namespace {
        Some(t) => p.name("sample.namespace", t, |s| {
            names::dns1123_label(s, "namespace").map(|()| s.to_owned())
        }),
        None => Some(Sample::DEFAULT_NAMESPACE.to_owned()),
    };
    let image = |p: &mut Problems, field: &str, t: &Option<Text>, default: &str| match t {
        Some(t) => p.name(field, t, ImageRef::parse),
        None => ImageRef::parse(default).ok(),
    };
    let reviews_hub = image(
        p,
        "sample.reviews.hub",
        &spec.reviews.hub,
        release.sample_reviews_hub,
    );
    let sleep_image = image(
        p,
        "sample.sleep.image",
        &spec.sleep.image,
        release.sample_curl_image,
    );
    let reviews_tag = match &spec.reviews.tag {
        Some(t) if !is_image_tag(&t.value) => {
            p.push(
                "sample.reviews.tag",
                Some(t),
                format!("{:?} is not an image tag", t.value),
                "use letters, digits, '_', '.' and '-' (at most 128), e.g. 1.20.3",
            );
            None
        }
        Some(t) => Some(t.value.clone()),
        None => Some(Sample::DEFAULT_REVIEWS_TAG.to_owned()),
    };
    let placement = match &spec.placement {
        Some(map) => explicit_placement(p, map, clusters),
        None => default_placement(clusters),
    };
    if p.0.len() != before {
        return None;
    }
    Some(Sample {
        enabled: spec.enabled,
        namespace: namespace?,
        reviews_hub: reviews_hub?,
        reviews_tag: reviews_tag?,
        sleep_image: sleep_image?,
        placement,
    })
}

/// The seed's placement: reviews v1, v2, v3 over the clusters in order (cycling), sleep last.
pub(super) fn default_placement(clusters: &[Cluster]) -> Vec<(ClusterName, Vec<Workload>)> {
    clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.name.clone(),
                Workload::default_placement(i, clusters.len()),
            )
        })
        .collect()
}

fn explicit_placement(
    p: &mut Problems,
    map: &BTreeMap<String, Vec<Workload>>,
    clusters: &[Cluster],
) -> Vec<(ClusterName, Vec<Workload>)> {
    let known: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    for (name, workloads) in map {
        let field = format!("sample.placement.{name}");
        if !known.contains(&name.as_str()) {
            let fix = match known
                .iter()
                .min_by_key(|k| strsim::damerau_levenshtein(name, k))
            {
                Some(k) if strsim::damerau_levenshtein(name, k) <= 2 => {
                    format!("did you mean {k:?}?")
                }
                _ => format!("use one of the cluster names: {}", known.join(", ")),
            };
            p.push(
                field.clone(),
                None,
                format!("{name:?} is not a cluster of this mesh"),
                fix,
            );
        }
        let mut seen = Vec::new();
        for (k, w) in workloads.iter().enumerate() {
            if seen.contains(w) {
                p.push(
                    format!("{field}[{k}]"),
                    None,
                    format!("{} is listed twice for this cluster", w.name()),
                    "list each workload once per cluster",
                );
            }
            seen.push(*w);
        }
    }
    clusters
        .iter()
        .map(|c| {
            let mut w = map.get(c.name.as_str()).cloned().unwrap_or_default();
            w.sort();
            (c.name.clone(), w)
        })
        .collect()
}

/// The OCI distribution tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_image_tag(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}
