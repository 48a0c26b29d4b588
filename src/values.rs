//! The values of Istio's `base`, `istiod` and `gateway` charts for one cluster, as typed data,
//! decided once: the values files, the IstioOperator files, Flux's HelmRelease `values` and Argo
//! CD's `valuesObject` all serialize these (as `yaml::Yaml` documents), so they cannot disagree.
//! The model builds them; nothing here knows the model.

use crate::config::{ClusterName, NetworkName};
use crate::vocabulary::{NETWORK_LABEL, NETWORK_VIEW_ENV};
use crate::yaml::{Item, Yaml};

/// The `base` chart's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseValues {
    pub istio_namespace: String,
    /// The revision the default validation webhook points at.
    pub default_revision: Option<String>,
}

impl BaseValues {
    pub fn chart(&self) -> Yaml {
        let doc = Yaml::map().with(
            "global",
            Yaml::map().with("istioNamespace", &self.istio_namespace),
        );
        match &self.default_revision {
            Some(rev) => doc.with_comment(
                &["The default validation webhook points at this revision's istiod."],
                "defaultRevision",
                rev,
            ),
            None => doc,
        }
    }
}

/// The `istiod` chart's values: one cluster's control plane in the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IstiodValues {
    /// The chart's `profile`; `None` for the default.
    pub profile: Option<&'static str>,
    pub revision: Option<String>,
    /// The revision tags pointing at this control plane (`revisionTags`).
    pub revision_tags: Vec<String>,
    /// Its own injector webhooks are not rendered (`global.operatorManageWebhooks`): during an
    /// upgrade, a control plane without a revision hands injection to the `default` tag.
    pub hands_over_injector: bool,
    pub hub: Option<String>,
    pub mesh_id: String,
    pub cluster: ClusterName,
    pub network: NetworkName,
    pub trust_domain: String,
    /// Sidecars capture DNS (`ISTIO_META_DNS_CAPTURE`).
    pub dns_capture: bool,
    pub rewrite_app_http_probe: bool,
    /// A root rotation is in progress, at this stage: istiod accepts a new root bundle that
    /// contains the old one (`ISTIO_MULTIROOT_MESH`), proxies take their config over XDS.
    pub rotation_stage: Option<&'static str>,
}

impl IstiodValues {
    /// `global`: the mesh, the cluster and its network.
    fn global(&self) -> Yaml {
        let global = Yaml::map();
        let global = if self.hands_over_injector {
            global.with_comment(
                &[
                    "During the upgrade this control plane renders no injector of its own: the",
                    "`default` tag is the new revision's; its own tag keeps the gateways.",
                ],
                "operatorManageWebhooks",
                true,
            )
        } else {
            global
        };
        global
            .with_some("hub", self.hub.as_ref())
            .with("meshID", &self.mesh_id)
            .with(
                "multiCluster",
                Yaml::map().with("clusterName", self.cluster.as_str()),
            )
            .with("network", self.network.as_str())
    }

    /// `meshConfig`, the same in the chart's values and an IstioOperator's spec.
    pub fn mesh_config(&self) -> Yaml {
        let mut metadata = Vec::new();
        if self.dns_capture {
            metadata.push(("ISTIO_META_DNS_CAPTURE", "true"));
        }
        if self.rotation_stage.is_some() {
            metadata.push(("PROXY_CONFIG_XDS_AGENT", "true"));
        }
        let config = Yaml::map()
            .with("trustDomain", &self.trust_domain)
            .with("enablePrometheusMerge", true);
        if metadata.is_empty() {
            config
        } else {
            config.with(
                "defaultConfig",
                Yaml::map().with("proxyMetadata", Yaml::pairs(metadata)),
            )
        }
    }

    fn sidecar_injector(&self) -> Yaml {
        Yaml::map().with("rewriteAppHTTPProbe", self.rewrite_app_http_probe)
    }

    /// istiod's own env: what a rotation in progress needs.
    fn env(&self) -> Option<Yaml> {
        self.rotation_stage
            .map(|_| Yaml::pairs([("ISTIO_MULTIROOT_MESH", "true")]))
    }

    /// The chart's values.
    pub fn chart(&self) -> Yaml {
        let doc = Yaml::map()
            .with_some("profile", self.profile)
            .with_some("revision", self.revision.as_ref());
        let doc = match self.tags() {
            Some(tags) if self.revision_tags.iter().any(|t| t == "default") => doc.with_comment(
                &[
                    "The revision tag `default`: namespaces labelled `istio-injection: enabled`",
                    "get this control plane's sidecars.",
                ],
                "revisionTags",
                tags,
            ),
            Some(tags) => doc.with_comment(
                &["During the upgrade the gateways are pinned to this control plane by this tag."],
                "revisionTags",
                tags,
            ),
            None => doc,
        };
        let doc = doc
            .with("global", self.global())
            .with("meshConfig", self.mesh_config())
            .with("sidecarInjectorWebhook", self.sidecar_injector());
        match (self.env(), self.rotation_stage) {
            (Some(env), Some(stage)) => doc.with_comment(
                &[
                    &format!(
                        "A root rotation is in progress (stage {stage}): istiod accepts a new root"
                    ),
                    "bundle that contains the old one.",
                ],
                "env",
                env,
            ),
            _ => doc,
        }
    }

    fn tags(&self) -> Option<Yaml> {
        (!self.revision_tags.is_empty())
            .then(|| Yaml::seq(self.revision_tags.iter().map(|t| Yaml::from(t.as_str()))))
    }

    /// An IstioOperator's `spec.values`: the same settings, where istioctl takes them.
    pub fn operator_values(&self) -> Yaml {
        let values = Yaml::map()
            .with_some("revisionTags", self.tags())
            .with("global", self.global())
            .with("sidecarInjectorWebhook", self.sidecar_injector());
        match self.env() {
            Some(env) => values.with("pilot", Yaml::map().with("env", env)),
            None => values,
        }
    }
}

/// A port of a gateway's Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: &'static str,
    pub port: u16,
    pub target_port: u16,
}

/// The `gateway` chart's values for one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayValues {
    /// Release, Deployment and Service name.
    pub name: String,
    /// The `istio:` label selecting its pods.
    pub istio_label: String,
    pub revision: Option<String>,
    /// The network whose cross-network traffic it carries (`None`: an ingress-only gateway).
    pub network: Option<NetworkName>,
    /// Whether the chart's `networkGateway` shapes it: the chart then labels it with its network,
    /// sets the network-view env and exposes exactly `ports` itself.
    pub network_gateway: bool,
    pub ports: Vec<Port>,
    pub service_annotations: Vec<(String, String)>,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target_cpu_percent: u32,
    /// For an IstioOperator's `values.global`.
    pub mesh_id: String,
    pub cluster: ClusterName,
    pub cluster_network: NetworkName,
}

impl GatewayValues {
    /// The network label and env the gateway carries, and whether the chart sets them itself:
    /// the one decision both forms follow.
    fn network_settings(&self) -> Option<(&NetworkName, bool)> {
        self.network.as_ref().map(|n| (n, self.network_gateway))
    }

    fn labels(&self, with_network: bool) -> Yaml {
        let labels = Yaml::map()
            .with("app", &self.name)
            .with("istio", &self.istio_label);
        match self.network_settings() {
            Some((network, _)) if with_network => labels.with(NETWORK_LABEL, network.as_str()),
            _ => labels,
        }
    }

    fn ports(&self) -> Yaml {
        Yaml::seq(self.ports.iter().map(|p| {
            Yaml::map()
                .with("name", p.name)
                .with("port", p.port)
                .with("targetPort", p.target_port)
                .with("protocol", "TCP")
        }))
    }

    fn annotations(&self) -> Option<Yaml> {
        (!self.service_annotations.is_empty())
            .then(|| Yaml::pairs(self.service_annotations.iter().map(|(k, v)| (k, v))))
    }

    /// The chart's values.
    pub fn chart(&self) -> Yaml {
        let mut doc = Yaml::map()
            .with("name", &self.name)
            .with_some("revision", self.revision.as_ref());
        let network = self.network_settings();
        let set_here = matches!(network, Some((_, false)));
        if let Some((network, true)) = network {
            let ports: Vec<String> = self.ports.iter().map(|p| p.port.to_string()).collect();
            let exposes = format!("{}.", ports.join(", "));
            let label_line =
                format!("{NETWORK_LABEL}, sets {NETWORK_VIEW_ENV}, and exposes exactly");
            doc = doc.with_comment(
                &[
                    "The chart makes this the network's gateway: it labels the Service and pods with",
                    &label_line,
                    &exposes,
                ],
                "networkGateway",
                network.as_str(),
            );
        }
        doc = doc.with("labels", self.labels(set_here));
        if let Some((network, false)) = network {
            doc = doc.with("env", Yaml::pairs([(NETWORK_VIEW_ENV, network.as_str())]));
        }
        let mut service = Yaml::map().with("type", "LoadBalancer");
        if let Some(annotations) = self.annotations() {
            service = service.with("annotations", annotations);
        }
        if !self.network_gateway {
            service = service.with("ports", self.ports());
        }
        doc.with("service", service).with(
            "autoscaling",
            Yaml::map()
                .with("enabled", true)
                .with("minReplicas", self.min_replicas)
                .with("maxReplicas", self.max_replicas)
                .with("targetCPUUtilizationPercentage", self.target_cpu_percent),
        )
    }

    /// An IstioOperator gateway component's `label`: IstioOperator has no `networkGateway`, so
    /// the network label is written wherever the gateway carries a network.
    pub fn operator_label(&self) -> Yaml {
        self.labels(true)
    }

    /// An IstioOperator gateway component's `k8s`.
    pub fn operator_k8s(&self) -> Yaml {
        let mut k8s = Yaml::map();
        if let Some((network, _)) = self.network_settings() {
            k8s = k8s.with(
                "env",
                Yaml::Seq(vec![Item {
                    comment: vec![
                        "traffic through this gateway is routed inside its own network".to_owned(),
                    ],
                    value: Yaml::map()
                        .with("name", NETWORK_VIEW_ENV)
                        .with("value", network.as_str()),
                }]),
            );
        }
        if let Some(annotations) = self.annotations() {
            k8s = k8s.with("serviceAnnotations", annotations);
        }
        k8s.with(
            "service",
            Yaml::map()
                .with("type", "LoadBalancer")
                .with("ports", self.ports()),
        )
    }

    /// An IstioOperator's `spec.values` for the gateway.
    pub fn operator_values(&self) -> Yaml {
        Yaml::map()
            .with(
                "gateways",
                Yaml::map().with(
                    "istio-ingressgateway",
                    Yaml::map()
                        .with("injectionTemplate", "gateway")
                        .with("autoscaleEnabled", true)
                        .with("autoscaleMin", self.min_replicas)
                        .with("autoscaleMax", self.max_replicas)
                        .with(
                            "cpu",
                            Yaml::map().with("targetAverageUtilization", self.target_cpu_percent),
                        ),
                ),
            )
            .with(
                "global",
                Yaml::map()
                    .with("meshID", &self.mesh_id)
                    .with(
                        "multiCluster",
                        Yaml::map().with("clusterName", self.cluster.as_str()),
                    )
                    .with("network", self.cluster_network.as_str()),
            )
    }
}
