//! The top README shows the mesh at a glance: a table row per cluster (network, context and API
//! server, CNI, load balancer and its address, gateways and ports, sample workloads, GitOps
//! recipient) and a Mermaid diagram that the real Mermaid parser (npm `mermaid` 12 under node,
//! jsdom 24 as its DOM; scripts/test.sh installs both) accepts under its default limits, for the
//! example and for 200 clusters.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Deserialize;

/// What the real Mermaid understood of a diagram (tests/judges/mermaid-parse.mjs).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parsed {
    r#type: String,
    mermaid: String,
    max_text_size: usize,
    max_edges: usize,
    text_size: usize,
    vertices: Vec<Vertex>,
    edges: Vec<Edge>,
    subgraphs: Vec<Subgraph>,
}

#[derive(Debug, Deserialize)]
struct Vertex {
    id: String,
    text: String,
}

#[derive(Debug, Deserialize)]
struct Edge {
    start: String,
    end: String,
    stroke: String,
}

#[derive(Debug, Deserialize)]
struct Subgraph {
    title: String,
    nodes: Vec<String>,
}

impl Parsed {
    fn vertex(&self, id: &str) -> &Vertex {
        self.vertices
            .iter()
            .find(|v| v.id == id)
            .unwrap_or_else(|| panic!("no vertex {id}"))
    }
    /// The id of the vertex whose text starts with `cluster` (a cluster's node).
    fn cluster_node(&self, cluster: &str) -> &Vertex {
        self.vertices
            .iter()
            .find(|v| v.text == cluster || v.text.starts_with(&format!("{cluster}<br>")))
            .unwrap_or_else(|| panic!("the diagram names no cluster {cluster}: {self:?}"))
    }
    fn linked(&self, a: &str, b: &str) -> bool {
        self.edges
            .iter()
            .any(|e| (e.start == a && e.end == b) || (e.start == b && e.end == a))
    }
    fn neighbours(&self, id: &str) -> Vec<&str> {
        self.edges
            .iter()
            .filter_map(|e| {
                if e.start == id {
                    Some(e.end.as_str())
                } else if e.end == id {
                    Some(e.start.as_str())
                } else {
                    None
                }
            })
            .collect()
    }
}

/// The directory holding node_modules with mermaid and jsdom, or None (a skip outside CI).
fn mermaid_dir() -> Option<PathBuf> {
    if !common::judge_available("node", "runs the real Mermaid parser") {
        return None;
    }
    let dir = std::env::var_os("MESH_RENDER_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/node")
        });
    let ok = ["mermaid", "jsdom"].iter().all(|m| {
        dir.join("node_modules")
            .join(m)
            .join("package.json")
            .is_file()
    });
    if !ok {
        assert!(
            !common::in_ci(),
            "mermaid and jsdom are required in CI under {} but are not installed (scripts/test.sh installs them)",
            dir.display()
        );
        eprintln!(
            "SKIPPED outside CI: mermaid and jsdom are not installed under {} (scripts/test.sh installs them)",
            dir.display()
        );
        return None;
    }
    Some(dir)
}

/// Parses `diagram` with the real Mermaid; panics with Mermaid's message if it does not parse.
fn parse(dir: &std::path::Path, diagram: &str) -> Parsed {
    let script = include_str!("judges/mermaid-parse.mjs");
    let mut child = Command::new("node")
        .args(["--input-type=module", "-e", script])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(diagram.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Mermaid refuses the diagram: {}\n{diagram}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the judge prints JSON")
}

fn readme(tree: &mesh_render::render::Tree) -> String {
    tree.get("README.md").expect("a top README").to_owned()
}

/// The text of the README's only ```mermaid block.
fn mermaid_block(readme: &str) -> String {
    let start = readme
        .find("```mermaid\n")
        .expect("the README has a Mermaid block")
        + "```mermaid\n".len();
    let len = readme[start..].find("```").expect("the block ends");
    readme[start..start + len].to_owned()
}

/// The overview table's rows, as cells, keyed by the cluster in the first cell.
fn table(readme: &str) -> Vec<Vec<String>> {
    let section = &readme[readme
        .find("## The mesh at a glance")
        .expect("the overview section")..];
    section
        .lines()
        .skip_while(|l| !l.starts_with("| Cluster"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// A mesh of `n` clusters, each on its own network, with a sample workload on the first three.
fn fleet(n: usize) -> String {
    let mut doc = String::from(
        "apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nmeshID: fleet\nistio:\n  version: 1.26.3\nclusters:\n",
    );
    for i in 1..=n {
        doc.push_str(&format!(
            "  - name: cluster-{i:03}\n    network: network-{i:03}\n    context: ctx-{i:03}\n"
        ));
    }
    doc
}

#[test]
fn the_top_readme_opens_with_a_row_per_cluster_naming_what_a_reviewer_checks() {
    let readme = readme(&common::render_example());
    let overview = readme.find("## The mesh at a glance").unwrap();
    let first_section = readme.find("\n## ").unwrap() + 1;
    assert_eq!(overview, first_section, "the overview is the first section");
    let rows = table(&readme);
    let clusters: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(clusters, ["`kt-k2p`", "`ncloud-nks`", "`nhn-nks`"]);
    let kt = &rows[0];
    assert_eq!(kt.len(), 8, "{kt:?}");
    assert_eq!(kt[1], "`network1`");
    assert!(kt[2].starts_with("`kt-k2p`"), "context: {kt:?}");
    assert_eq!(kt[3], "calico");
    // The seed's MetalLB address, which no README showed before.
    assert_eq!(kt[4], "MetalLB 203.0.113.10/32");
    assert!(
        kt[5].starts_with("combined: istio-ingressgateway (") && kt[5].contains(" 15443 "),
        "{kt:?}"
    );
    assert_eq!(kt[6], "reviews-v1");
    assert_eq!(rows[1][3], "cilium");
    assert_eq!(rows[1][4], "cloud");
    assert_eq!(rows[2][6], "reviews-v3, sleep");
}

#[test]
fn the_overview_names_each_clusters_api_server_and_gitops_recipient_when_given() {
    let recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    let mesh = common::example_with(
        "  - name: ncloud-nks\n",
        &format!("  - name: ncloud-nks\n    gitopsRecipient: {recipient}\n"),
    );
    let mesh = mesh.replacen(
        "  - name: kt-k2p\n",
        &format!(
            "  - name: kt-k2p\n    credentials: {{tokenFile: {{server: https://203.0.113.7:6443, caData: {}, token: kt-k2p.token}}}}\n",
            common::ca_data()
        ),
        1,
    );
    let rows = table(&readme(&common::render_text(&mesh)));
    assert!(
        rows[0][2].ends_with(", `https://203.0.113.7:6443`"),
        "{:?}",
        rows[0]
    );
    assert!(rows[1][2].ends_with(", not given"), "{:?}", rows[1]);
    assert_eq!(rows[1][7], format!("`{recipient}`"));
    assert_eq!(rows[0][7], "none (admins only)");
}

#[test]
fn the_example_diagram_parses_with_the_real_mermaid_and_draws_every_network_gateway_and_workload() {
    let Some(dir) = mermaid_dir() else { return };
    let readme = readme(&common::render_example());
    let parsed = parse(&dir, &mermaid_block(&readme));
    eprintln!("judged by mermaid {}", parsed.mermaid);
    assert_eq!(parsed.r#type, "flowchart-v2");
    let hub = parsed.vertex("x");
    assert_eq!(hub.text, "cross-network 15443");
    for (cluster, network, workloads) in [
        ("kt-k2p", "network1", "reviews-v1"),
        ("ncloud-nks", "network2", "reviews-v2"),
        ("nhn-nks", "network3", "reviews-v3, sleep"),
    ] {
        let node = parsed.cluster_node(cluster);
        assert_eq!(node.text, format!("{cluster}<br>{workloads}"));
        let group = parsed
            .subgraphs
            .iter()
            .find(|s| s.title == network)
            .unwrap_or_else(|| panic!("no subgraph for {network}"));
        // The cluster's gateway: its only neighbour other than the hub, in the same network.
        let gateways: Vec<&str> = parsed
            .neighbours(&node.id)
            .into_iter()
            .filter(|n| *n != "x")
            .collect();
        assert_eq!(gateways.len(), 1, "{cluster}: {gateways:?}");
        let gateway = parsed.vertex(gateways[0]);
        assert!(
            gateway.text.starts_with("istio-ingressgateway<br>") && gateway.text.contains("15443"),
            "{gateway:?}"
        );
        assert!(group.nodes.contains(&node.id) && group.nodes.contains(&gateway.id));
        assert!(
            parsed.linked(&gateway.id, "x"),
            "{cluster}'s gateway reaches the hub"
        );
    }
    // Three clusters: every pair of gateways is linked too, dotted.
    let dotted = parsed.edges.iter().filter(|e| e.stroke == "dotted").count();
    assert_eq!(dotted, 3);
}

#[test]
fn a_diagram_of_more_than_eight_clusters_links_gateways_only_through_the_cross_network_node() {
    let at_most = common::render_text(&fleet(mesh_render::render::overview::PAIRWISE_UP_TO));
    let beyond = common::render_text(&fleet(mesh_render::render::overview::PAIRWISE_UP_TO + 1));
    let pairs = |tree| mermaid_block(&readme(tree)).matches(" -.- ").count();
    assert_eq!(pairs(&at_most), 8 * 7 / 2);
    assert_eq!(pairs(&beyond), 0);
}

#[test]
fn a_diagram_of_200_clusters_stays_within_mermaids_default_limits_and_names_every_cluster() {
    let Some(dir) = mermaid_dir() else { return };
    let tree = common::render_text(&fleet(200));
    let diagram = mermaid_block(&readme(&tree));
    let parsed = parse(&dir, &diagram);
    eprintln!(
        "200 clusters: {} of {} characters, {} of {} edges (mermaid {})",
        parsed.text_size,
        parsed.max_text_size,
        parsed.edges.len(),
        parsed.max_edges,
        parsed.mermaid
    );
    assert_eq!(parsed.text_size, diagram.encode_utf16().count());
    assert!(parsed.text_size <= parsed.max_text_size);
    assert!(parsed.edges.len() <= parsed.max_edges);
    assert_eq!(parsed.subgraphs.len(), 200);
    for i in 1..=200 {
        let node = parsed.cluster_node(&format!("cluster-{i:03}"));
        let group = parsed
            .subgraphs
            .iter()
            .find(|s| s.title == format!("network-{i:03}"))
            .unwrap();
        assert!(group.nodes.contains(&node.id));
    }
}
