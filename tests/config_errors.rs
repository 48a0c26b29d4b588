//! Bad mesh descriptions: each is rejected with the file, the field path, the problem and a fix.

mod common;

use mesh_render::config::{self, ConfigError, Origin};

fn error_for(case: &str) -> ConfigError {
    let (_, text, field) = common::bad_inputs::cases()
        .into_iter()
        .find(|(name, _, _)| *name == case)
        .unwrap_or_else(|| panic!("no bad-input case {case}"));
    let err = config::parse(&text, &Origin::File("mesh.yaml".into()))
        .expect_err("a bad mesh description must be rejected");
    assert!(
        err.problems().iter().any(|p| p.field == field),
        "{case}: expected a problem at {field:?}, got:\n{err}"
    );
    err
}

macro_rules! rejects {
    ($($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            let err = error_for(stringify!($case));
            common::with_snapshots(|| insta::assert_snapshot!(concat!("config_error__", stringify!($case)), err.to_string()));
        }
    )*};
}

rejects!(
    duplicate_cluster_names,
    duplicate_networks,
    non_dns1123_cluster_name,
    unknown_field_close_to_a_known_one,
    unknown_field_far_from_any,
    wrong_type,
    unknown_enum_value,
    unsupported_istio_version,
    istio_line_newer_than_the_table,
    malformed_istio_version,
    unsupported_api_version,
    missing_api_version,
    wrong_kind,
    no_clusters,
    missing_clusters_field,
    empty_file,
    not_yaml,
    not_a_mapping,
    alias_bomb,
    two_documents,
    metallb_without_addresses,
    metallb_address_not_an_ip,
    placement_on_unknown_cluster,
    revision_named_default,
    ingress_gateway_with_combined_topology,
    one_metallb_address_for_two_gateways,
    upstream_url_without_scheme,
    two_credential_sources,
    credentials_server_not_https,
);

#[test]
fn every_bad_input_case_has_its_own_test() {
    let source = include_str!("config_errors.rs");
    for (name, _, _) in common::bad_inputs::cases() {
        assert!(
            source.contains(&format!("    {name},\n")),
            "case {name} has no test in rejects!()"
        );
    }
}

#[test]
fn the_built_in_example_is_valid() {
    let mesh = config::example().expect("the example parses");
    let names: Vec<&str> = mesh.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["kt-k2p", "ncloud-nks", "nhn-nks"]);
    let networks: Vec<&str> = mesh.clusters.iter().map(|c| c.network.as_str()).collect();
    assert_eq!(networks, ["network1", "network2", "network3"]);
    assert_eq!(mesh.mesh_id.as_str(), "usmesh");
}

#[test]
fn an_alias_bomb_fails_fast() {
    // Not a timing assertion: the budget bounds the work, so this returns instead of hanging.
    let err = config::parse(
        &common::bad_inputs::alias_bomb(),
        &Origin::File("mesh.yaml".into()),
    );
    assert!(err.is_err());
}

#[test]
fn a_duplicate_network_fix_suggests_a_name_in_the_meshs_own_pattern() {
    let text = config::EXAMPLE_YAML
        .replace("network: network1", "network: net-1")
        .replace("network: network2", "network: net-2")
        .replace("network: network3", "network: net-2");
    let err = config::parse(&text, &Origin::File("mesh.yaml".into()))
        .expect_err("two clusters on one network must be rejected");
    let text = err.to_string();
    assert!(
        text.contains("clusters[2].network: duplicate network \"net-2\""),
        "{text}"
    );
    assert!(text.contains("e.g. \"net-3\""), "{text}");
}
