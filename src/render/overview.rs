//! The top README's overview of the mesh: a table row per cluster and a Mermaid flowchart of the
//! clusters by network, each with its cross-network gateway and ports, every gateway linked to
//! one cross-network node, and where the sample's workloads run. Text only, from the model.

use serde::Serialize;

use crate::model::{ClusterPlan, GatewayRole, Model};
use crate::vocabulary::CROSS_NETWORK_PORT;

/// Up to this many clusters the diagram also links every pair of gateways; beyond, only through
/// the cross-network node (a mesh of 200 clusters would need 19,900 links).
pub const PAIRWISE_UP_TO: usize = 8;

/// One row of the overview table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub cluster: String,
    pub network: String,
    pub context: String,
    /// None when mesh.yaml gives no credentials for the cluster.
    pub api_server: Option<String>,
    pub cni: String,
    pub load_balancer: String,
    pub gateways: String,
    pub workloads: String,
    /// None when the cluster has no GitOps identity (only the admins decrypt its files).
    pub recipient: Option<String>,
}

/// The table's rows, in mesh order.
pub fn rows(model: &Model) -> Vec<Row> {
    let topology = serde_json::to_value(model.topology)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    model.clusters.iter().map(|c| row(c, &topology)).collect()
}

fn row(c: &ClusterPlan, topology: &str) -> Row {
    let load_balancer = match &c.fixes.metallb {
        Some(pool) => format!("MetalLB {}", pool.addresses.join(", ")),
        None => "cloud".to_owned(),
    };
    Row {
        cluster: c.name.to_string(),
        network: c.network.to_string(),
        context: c.context.to_string(),
        api_server: c.api_server.clone(),
        cni: serde_json::to_value(c.cni)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        load_balancer,
        gateways: format!(
            "{topology}: {}",
            c.gateways
                .iter()
                .map(|g| format!("{} ({})", g.name, ports(g)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        workloads: workloads(c).unwrap_or_else(|| "none".to_owned()),
        recipient: c.gitops_recipient.clone(),
    }
}

fn ports(g: &crate::model::GatewayPlan) -> String {
    g.ports
        .iter()
        .map(|p| p.port.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn workloads(c: &ClusterPlan) -> Option<String> {
    (!c.workloads.is_empty()).then(|| {
        c.workloads
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The Mermaid flowchart: a subgraph per network holding its clusters, each cluster linked to
/// its cross-network gateway, every gateway to one cross-network node.
pub fn diagram(model: &Model) -> String {
    let mut out = String::from("flowchart LR\n");
    out.push_str(&format!("  x((\"cross-network {CROSS_NETWORK_PORT}\"))\n"));
    // Networks in the order their first cluster appears.
    let mut networks: Vec<&str> = Vec::new();
    for c in &model.clusters {
        if !networks.contains(&c.network.as_str()) {
            networks.push(c.network.as_str());
        }
    }
    for (n, network) in networks.iter().enumerate() {
        out.push_str(&format!("  subgraph n{n}[\"{network}\"]\n"));
        for (i, c) in model.clusters.iter().enumerate() {
            if c.network.as_str() != *network {
                continue;
            }
            let label = match workloads(c) {
                Some(w) => format!("{}<br/>{w}", c.name),
                None => c.name.to_string(),
            };
            out.push_str(&format!("    c{i}[\"{label}\"]\n"));
            if let Some(g) = cross_network_gateway(c) {
                out.push_str(&format!("    g{i}[\"{}<br/>{}\"]\n", g.name, ports(g)));
            }
        }
        out.push_str("  end\n");
    }
    let with_gateway: Vec<usize> = model
        .clusters
        .iter()
        .enumerate()
        .filter(|(_, c)| cross_network_gateway(c).is_some())
        .map(|(i, _)| i)
        .collect();
    for &i in &with_gateway {
        out.push_str(&format!("  c{i} --- g{i}\n  g{i} --- x\n"));
    }
    if model.clusters.len() <= PAIRWISE_UP_TO {
        for (k, &a) in with_gateway.iter().enumerate() {
            for &b in &with_gateway[k + 1..] {
                out.push_str(&format!("  g{a} -.- g{b}\n"));
            }
        }
    }
    out
}

fn cross_network_gateway(c: &ClusterPlan) -> Option<&crate::model::GatewayPlan> {
    c.gateways
        .iter()
        .find(|g| g.role == GatewayRole::CrossNetwork)
}
