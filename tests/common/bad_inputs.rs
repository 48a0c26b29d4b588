//! The bad mesh descriptions every front door must reject: each with the field its error names.

use super::example_with;

/// A billion-laughs document: nine levels of ten aliases each, a few hundred bytes that expand to
/// a billion nodes if a parser replays them.
pub fn alias_bomb() -> String {
    let mut doc =
        String::from("apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nmeshID: usmesh\n");
    doc.push_str("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..9 {
        let prev = format!("*l{}", level - 1);
        let items = [prev.as_str(); 10].join(", ");
        doc.push_str(&format!("l{level}: &l{level} [{items}]\n"));
    }
    doc.push_str(
        "istio: {version: 1.26.0}\nclusters:\n  - name: a\n    network: n1\n    context: *l8\n",
    );
    doc
}

/// (case name, mesh.yaml text, the field path its error must name; "" for the whole file).
pub fn cases() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "duplicate_cluster_names",
            example_with("- name: nhn-nks", "- name: kt-k2p"),
            "clusters[2].name",
        ),
        (
            "duplicate_networks",
            example_with("network: network2", "network: network1"),
            "clusters[1].network",
        ),
        (
            "non_dns1123_cluster_name",
            example_with("- name: ncloud-nks", "- name: Ncloud_NKS"),
            "clusters[1].name",
        ),
        (
            "unknown_field_close_to_a_known_one",
            example_with("    network: network3", "    netwrok: network3"),
            "clusters[2].netwrok",
        ),
        (
            "unknown_field_far_from_any",
            example_with("meshID: usmesh", "meshID: usmesh\nregion: eu-1"),
            "region",
        ),
        (
            "wrong_type",
            example_with("metricsServer: true", "metricsServer: sometimes"),
            "clusters[0].metricsServer",
        ),
        (
            "unknown_enum_value",
            example_with("cni: cilium", "cni: cillium"),
            "clusters[1].cni",
        ),
        (
            "unsupported_istio_version",
            example_with("version: 1.26.0", "version: 1.27.1"),
            "istio.version",
        ),
        (
            "istio_line_newer_than_the_table",
            example_with("version: 1.26.0", "version: 1.31.0"),
            "istio.version",
        ),
        (
            "malformed_istio_version",
            example_with("version: 1.26.0", "version: latest"),
            "istio.version",
        ),
        (
            "unsupported_api_version",
            example_with(
                "apiVersion: mesh-render.dev/v1alpha1",
                "apiVersion: mesh-render.dev/v2",
            ),
            "apiVersion",
        ),
        (
            "missing_api_version",
            example_with("apiVersion: mesh-render.dev/v1alpha1\n", ""),
            "apiVersion",
        ),
        (
            "wrong_kind",
            example_with("kind: Mesh", "kind: Cluster"),
            "kind",
        ),
        ("no_clusters", no_clusters(), "clusters"),
        (
            "missing_clusters_field",
            missing_clusters_field(),
            "clusters",
        ),
        ("empty_file", "# nothing here yet\n\n".to_owned(), ""),
        (
            "not_yaml",
            "apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nclusters: [a, b\n  - c: d\n"
                .to_owned(),
            "",
        ),
        ("not_a_mapping", "- just\n- a list\n".to_owned(), ""),
        ("alias_bomb", alias_bomb(), ""),
        (
            "two_documents",
            format!(
                "{}---\n{}",
                mesh_render::config::EXAMPLE_YAML,
                mesh_render::config::EXAMPLE_YAML
            ),
            "",
        ),
        (
            "metallb_without_addresses",
            example_with(
                "      addresses:\n        - 203.0.113.10 # a documentation address: replace it with your public IP\n",
                "",
            ),
            "clusters[0].loadBalancer.addresses",
        ),
        (
            "metallb_address_not_an_ip",
            example_with("- 203.0.113.10 #", "- 203.0.113.0/24 #"),
            "clusters[0].loadBalancer.addresses[0]",
        ),
        (
            "placement_on_unknown_cluster",
            example_with(
                "nhn-nks: [reviews-v3, sleep]",
                "nhn-nk: [reviews-v3, sleep]",
            ),
            "sample.placement.nhn-nk",
        ),
        (
            "revision_named_default",
            example_with("  # revision: 1-26-0", "  revision: default"),
            "istio.revision",
        ),
        (
            "ingress_gateway_with_combined_topology",
            example_with(
                "  topology: combined\n",
                "  topology: combined\n  ingress: true\n",
            ),
            "gateway.ingress",
        ),
        (
            "one_metallb_address_for_two_gateways",
            example_with(
                "  topology: combined\n",
                "  topology: dedicated\n  ingress: true\n",
            ),
            "clusters[0].loadBalancer.addresses",
        ),
        (
            "upstream_url_without_scheme",
            example_with(
                "metallb: https://raw.githubusercontent.com",
                "metallb: raw.githubusercontent.com",
            ),
            "upstream.metallb",
        ),
        (
            "two_credential_sources",
            example_with(
                "  - name: nhn-nks\n",
                "  - name: nhn-nks\n    credentials:\n      kubeconfig: {file: a.yaml}\n      externalSecrets: {server: https://198.51.100.1:6443, store: {name: s}}\n",
            ),
            "clusters[2].credentials",
        ),
        (
            "credentials_server_not_https",
            example_with(
                "  - name: nhn-nks\n",
                "  - name: nhn-nks\n    credentials:\n      externalSecrets: {server: http://198.51.100.1:6443, store: {name: s}}\n",
            ),
            "clusters[2].credentials.externalSecrets.server",
        ),
    ]
}

fn no_clusters() -> String {
    let example = mesh_render::config::EXAMPLE_YAML;
    let start = example.find("clusters:\n").unwrap();
    let end = example.find("sample:\n").unwrap();
    format!("{}clusters: []\n\n{}", &example[..start], &example[end..]).replace("placement:\n    kt-k2p: [reviews-v1]\n    ncloud-nks: [reviews-v2]\n    nhn-nks: [reviews-v3, sleep]\n", "")
}

fn missing_clusters_field() -> String {
    no_clusters().replace("clusters: []\n", "")
}
