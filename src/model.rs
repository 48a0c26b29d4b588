//! The derived topology: from a validated mesh description, what each cluster receives — its
//! layers in apply order, the gateway's ports and labels, the sample workloads it runs.

use serde::Serialize;

use crate::config::{self, ClusterName, Cni, ContextName, Mesh, NetworkName, Topology, Workload};

/// One layer of a cluster: a kustomize directory applied on its own, in this order. The numeric
/// prefix leaves room for the layers later stages add (reader token, provider fixes) and shows
/// where the Helm releases go between them (see out/README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Layer {
    /// The `istio-system` namespace, labelled with the cluster's network.
    IstioSystem,
    /// The cross-network Gateway (and, later, the remote secrets).
    Mesh,
    /// The sample that proves cross-cluster traffic.
    Sample,
}

impl Layer {
    pub fn dir(self) -> &'static str {
        match self {
            Layer::IstioSystem => "10-istio-system",
            Layer::Mesh => "40-mesh",
            Layer::Sample => "50-sample",
        }
    }
}

/// A Helm chart of Istio's, installed between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Chart {
    Base,
    Istiod,
    Gateway,
}

impl Chart {
    pub const ALL: [Chart; 3] = [Chart::Base, Chart::Istiod, Chart::Gateway];

    /// The chart's name in Istio's Helm repository, also the values file's stem.
    pub fn name(self) -> &'static str {
        match self {
            Chart::Base => "base",
            Chart::Istiod => "istiod",
            Chart::Gateway => "gateway",
        }
    }
}

/// Everything the renderer needs, derived once.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    pub mesh_id: String,
    pub trust_domain: String,
    pub istio: IstioPlan,
    pub gateway: GatewayPlan,
    pub gateway_api_crds_url: String,
    pub clusters: Vec<ClusterPlan>,
    pub sample: Option<SamplePlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IstioPlan {
    pub version: String,
    /// The istiod chart's `profile` value; `None` for the chart's default.
    pub profile: Option<&'static str>,
    pub dns_capture: bool,
    pub rewrite_app_http_probe: bool,
    pub namespace: &'static str,
}

/// The gateway that carries cross-network traffic.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayPlan {
    /// Release, Deployment and Service name.
    pub name: &'static str,
    /// The `istio:` label the cross-network Gateway selects.
    pub istio_label: &'static str,
    pub ports: Vec<ServicePort>,
    pub autoscaling: Autoscaling,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePort {
    pub name: &'static str,
    pub port: u16,
    pub target_port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct Autoscaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target_cpu_percent: u32,
}

/// The port every multi-network gateway listens on for AUTO_PASSTHROUGH (istiod's
/// `DefaultNetworkGatewayPort`).
pub const CROSS_NETWORK_PORT: u16 = 15443;

#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlan {
    pub name: ClusterName,
    pub network: NetworkName,
    pub context: ContextName,
    pub cni: Cni,
    pub metrics_server: bool,
    pub layers: Vec<Layer>,
    /// Sample workloads this cluster runs, in a fixed order.
    pub workloads: Vec<Workload>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SamplePlan {
    pub namespace: String,
    pub reviews_hub: String,
    pub reviews_tag: String,
    pub sleep_image: String,
}

impl Model {
    pub fn from_mesh(mesh: &Mesh) -> Self {
        let sample_enabled = mesh.sample.enabled;
        let clusters = mesh
            .clusters
            .iter()
            .map(|c| {
                let workloads = if sample_enabled {
                    placed_workloads(&mesh.sample, &c.name)
                } else {
                    Vec::new()
                };
                let mut layers = vec![Layer::IstioSystem, Layer::Mesh];
                if sample_enabled {
                    layers.push(Layer::Sample);
                }
                ClusterPlan {
                    name: c.name.clone(),
                    network: c.network.clone(),
                    context: c.context.clone(),
                    cni: c.cni,
                    metrics_server: c.metrics_server,
                    layers,
                    workloads,
                }
            })
            .collect();
        Model {
            mesh_id: mesh.mesh_id.to_string(),
            trust_domain: mesh.trust_domain.to_string(),
            istio: IstioPlan {
                version: mesh.istio.version.to_string(),
                profile: profile_value(mesh.istio.profile),
                dns_capture: mesh.istio.dns_capture,
                rewrite_app_http_probe: mesh.istio.rewrite_app_http_probe,
                namespace: "istio-system",
            },
            gateway: gateway_plan(mesh.topology),
            gateway_api_crds_url: mesh.gateway_api.crds_url.clone(),
            clusters,
            sample: sample_enabled.then(|| SamplePlan {
                namespace: mesh.sample.namespace.clone(),
                reviews_hub: mesh.sample.reviews_hub.to_string(),
                reviews_tag: mesh.sample.reviews_tag.clone(),
                sleep_image: mesh.sample.sleep_image.to_string(),
            }),
        }
    }
}

fn placed_workloads(sample: &config::Sample, cluster: &ClusterName) -> Vec<Workload> {
    sample
        .placement
        .iter()
        .find(|(name, _)| name == cluster)
        .map(|(_, w)| w.clone())
        .unwrap_or_default()
}

fn profile_value(profile: config::Profile) -> Option<&'static str> {
    match profile {
        config::Profile::Default => None,
        config::Profile::Demo => Some("demo"),
        config::Profile::Preview => Some("preview"),
        config::Profile::Stable => Some("stable"),
    }
}

fn gateway_plan(topology: Topology) -> GatewayPlan {
    match topology {
        // The seed's ingressgateway.yaml: one gateway for ingress and east-west, with the port
        // names the seed gives them; autoscaling as the gateway chart's defaults (1-5 at 80%).
        Topology::Combined => GatewayPlan {
            name: "istio-ingressgateway",
            istio_label: "ingressgateway",
            ports: vec![
                port("status-port", 15021, 15021),
                port("http2", 80, 8080),
                port("https", 443, 8443),
                port("tcp", 31400, 31400),
                port("mtls", CROSS_NETWORK_PORT, CROSS_NETWORK_PORT),
                port("tcp-istiod", 15012, 15012),
                port("tcp-webhook", 15017, 15017),
            ],
            autoscaling: Autoscaling {
                min_replicas: 1,
                max_replicas: 5,
                target_cpu_percent: 80,
            },
        },
    }
}

fn port(name: &'static str, port: u16, target_port: u16) -> ServicePort {
    ServicePort {
        name,
        port,
        target_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Model {
        Model::from_mesh(&config::example().expect("example parses"))
    }

    #[test]
    fn combined_gateway_exposes_the_cross_network_port() {
        let m = example();
        assert!(m.gateway.ports.iter().any(|p| p.port == CROSS_NETWORK_PORT));
        assert_eq!(m.gateway.istio_label, "ingressgateway");
    }

    #[test]
    fn example_places_reviews_in_order_and_sleep_last() {
        let m = example();
        let placed: Vec<Vec<Workload>> = m.clusters.iter().map(|c| c.workloads.clone()).collect();
        assert_eq!(
            placed,
            [
                vec![Workload::ReviewsV1],
                vec![Workload::ReviewsV2],
                vec![Workload::ReviewsV3, Workload::Sleep]
            ]
        );
    }

    #[test]
    fn disabled_sample_drops_the_sample_layer() {
        let mut mesh = config::example().expect("example parses");
        mesh.sample.enabled = false;
        let m = Model::from_mesh(&mesh);
        assert!(m.sample.is_none());
        assert!(
            m.clusters
                .iter()
                .all(|c| !c.layers.contains(&Layer::Sample))
        );
    }
}
