//! Behaviour of `check::schema` against the shared schema directory and Istio's samples.

use std::path::{Path, PathBuf};

use mesh_render::check::schema::{Mode, SchemaCatalog, SchemaError, Violation, parse_documents};
use serde_json::{Value, json};

const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/schemas");
const ISTIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/upstream/istio-1.26.0"
);

fn catalog() -> SchemaCatalog {
    SchemaCatalog::open(SCHEMAS).expect("shared schema directory beside the crate")
}

/// Parses one YAML file of objects.
fn objects_in(path: impl AsRef<Path>) -> Vec<Value> {
    let path = path.as_ref();
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    parse_documents(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Parses one YAML object written in a test.
fn object(yaml: &str) -> Value {
    let mut documents = parse_documents(yaml).expect("test YAML parses");
    assert_eq!(documents.len(), 1, "one object expected");
    documents.remove(0)
}

fn violations(object: &Value, mode: Mode) -> Vec<Violation> {
    catalog()
        .validate(object, mode)
        .expect("object can be checked")
}

fn messages(violations: &[Violation]) -> Vec<String> {
    violations.iter().map(ToString::to_string).collect()
}

#[test]
fn istio_samples_validate_clean() {
    let catalog = catalog();
    let files = [
        "samples/bookinfo/platform/kube/bookinfo.yaml",
        "samples/sleep/sleep.yaml",
        "samples/multicluster/expose-services.yaml",
    ];
    let mut checked = 0;
    for file in files {
        for object in objects_in(Path::new(ISTIO).join(file)) {
            let found = catalog
                .validate(&object, Mode::Strict)
                .expect("schema exists");
            assert!(found.is_empty(), "{file}: {:#?}", messages(&found));
            checked += 1;
        }
    }
    assert_eq!(
        checked, 18,
        "14 bookinfo + 3 sleep + 1 expose-services objects"
    );
}

#[test]
fn invalid_deployment_fixture_names_unknown_container_field() {
    let path = Path::new(SCHEMAS).join("testdata/invalid/deployment-unknown-container-field.yaml");
    let found = violations(&objects_in(path)[0], Mode::Strict);
    assert_eq!(
        messages(&found),
        [
            "apps/v1 Deployment broken: spec.template.spec.containers[0]: \
          Additional properties are not allowed ('portz' was unexpected)"
        ]
    );
}

#[test]
fn invalid_istio_gateway_fixture_names_unknown_server_field() {
    let path = Path::new(SCHEMAS).join("testdata/invalid/istio-gateway-unknown-server-field.yaml");
    let found = violations(&objects_in(path)[0], Mode::Strict);
    assert_eq!(
        messages(&found),
        [
            "networking.istio.io/v1 Gateway istio-system/cross-network-gateway: spec.servers[0]: \
          Additional properties are not allowed ('tlsMode' was unexpected)"
        ]
    );
}

#[test]
fn unknown_field_in_namespace_metadata_fails() {
    let namespace =
        object("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mesh\n  lables: {a: b}\n");
    let found = violations(&namespace, Mode::Strict);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "metadata");
    assert!(found[0].message.contains("'lables'"), "{}", found[0]);
}

#[test]
fn string_replicas_on_deployment_fails() {
    let deployment = object(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: "one"
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"#,
    );
    let found = violations(&deployment, Mode::Strict);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "spec.replicas");
    assert!(
        found[0].message.starts_with(r#""one" is not of types"#),
        "{}",
        found[0]
    );
    assert!(found[0].message.contains(r#""integer""#), "{}", found[0]);
}

#[test]
fn gateway_api_address_without_type_passes_thanks_to_crd_default() {
    let gateway = object(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: east-west, namespace: istio-system}
spec:
  gatewayClassName: istio
  addresses: [{value: 1.2.3.4}]
  listeners: [{name: tls, port: 15443, protocol: TLS, tls: {mode: Passthrough}}]
"#,
    );
    assert_eq!(violations(&gateway, Mode::Strict), []);
}

#[test]
fn builtin_defaults_are_not_applied() {
    // `containers[].name` is required and has the Go zero-value hint `default: ""`:
    // applying builtin defaults would hide the missing name.
    let deployment = object(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{image: nginx}]
"#,
    );
    assert_eq!(
        messages(&violations(&deployment, Mode::Strict)),
        [
            r#"apps/v1 Deployment web: spec.template.spec.containers[0]: "name" is a required property"#
        ]
    );
}

#[test]
fn pod_disruption_budget_without_status_passes() {
    let pdb = object(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: istiod}\n\
         spec: {minAvailable: 1, selector: {matchLabels: {app: istiod}}}\n",
    );
    assert_eq!(violations(&pdb, Mode::Strict), []);
}

/// A `DaemonSet` patch for server-side apply: only an annotation of the pod template.
const PARTIAL_DAEMONSET: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ztunnel, namespace: istio-system}
spec:
  template:
    metadata:
      annotations: {mesh-render/restartedAt: "2025-01-01T00:00:00Z"}
"#;

#[test]
fn strict_mode_reports_missing_required_fields() {
    let found = violations(&object(PARTIAL_DAEMONSET), Mode::Strict);
    assert_eq!(
        messages(&found),
        [r#"apps/v1 DaemonSet istio-system/ztunnel: spec: "selector" is a required property"#]
    );
}

#[test]
fn relaxed_mode_accepts_partial_object() {
    assert_eq!(
        violations(&object(PARTIAL_DAEMONSET), Mode::RelaxRequired),
        []
    );
}

#[test]
fn relaxed_mode_still_rejects_unknown_field() {
    let mut daemonset = object(PARTIAL_DAEMONSET);
    daemonset["spec"]["template"]["metadata"]["annotation"] = json!({"typo": "x"});
    let found = violations(&daemonset, Mode::RelaxRequired);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "spec.template.metadata");
    assert!(
        found[0].message.contains("'annotation' was unexpected"),
        "{}",
        found[0]
    );
}

#[test]
fn relaxed_mode_keeps_required_inside_one_of() {
    // WorkloadGroup's probe allows exactly one handler through `oneOf` + `required`;
    // `spec.template` (a required field) is missing on purpose.
    let mut group = object(
        r#"
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: vm, namespace: apps}
spec:
  probe: {httpGet: {port: 8080}}
"#,
    );
    assert_eq!(violations(&group, Mode::RelaxRequired), []);
    group["spec"]["probe"]["tcpSocket"] = json!({"port": 8080});
    let found = violations(&group, Mode::RelaxRequired);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "spec.probe");
    assert!(found[0].message.contains("more than one"), "{}", found[0]);
}

#[test]
fn unknown_kind_is_no_schema_naming_the_file_looked_for() {
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget"});
    match catalog().validate(&widget, Mode::Strict) {
        Err(SchemaError::NoSchema {
            api_version,
            kind,
            looked_for,
        }) => {
            assert_eq!(
                (api_version.as_str(), kind.as_str()),
                ("example.com/v1", "Widget")
            );
            assert_eq!(
                looked_for,
                Path::new(SCHEMAS).join("example.com/widget_v1.json")
            );
        }
        other => panic!("expected NoSchema, got {other:?}"),
    }
}

#[test]
fn core_group_schemas_are_looked_up_under_v1() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod"});
    match catalog().validate(&pod, Mode::Strict) {
        Err(SchemaError::NoSchema { looked_for, .. }) => {
            assert_eq!(looked_for, Path::new(SCHEMAS).join("v1/pod_v1.json"));
        }
        other => panic!("expected NoSchema, got {other:?}"),
    }
}

#[test]
fn type_meta_that_would_leave_the_directory_is_rejected() {
    let sneaky = json!({"apiVersion": "../../etc/v1", "kind": "Namespace"});
    let result = catalog().validate(&sneaky, Mode::Strict);
    assert!(
        matches!(result, Err(SchemaError::InvalidTypeMeta { .. })),
        "{result:?}"
    );
}

#[test]
fn object_without_kind_is_an_error() {
    let result = catalog().validate(&json!({"apiVersion": "v1"}), Mode::Strict);
    assert!(
        matches!(result, Err(SchemaError::MissingTypeMeta { field: "kind" })),
        "{result:?}"
    );
}

#[test]
fn missing_schema_directory_is_an_error() {
    let missing = PathBuf::from(SCHEMAS).join("no-such-dir");
    let error = SchemaCatalog::open(&missing).expect_err("directory does not exist");
    assert!(matches!(error, SchemaError::SchemaDir { .. }), "{error:?}");
    assert!(error.to_string().contains("no-such-dir"), "{error}");
}

#[test]
fn schema_directory_that_is_a_file_is_an_error() {
    let file = Path::new(SCHEMAS).join("README.md");
    let error = SchemaCatalog::open(file).expect_err("not a directory");
    assert!(
        matches!(error, SchemaError::NotADirectory { .. }),
        "{error:?}"
    );
}

#[test]
fn violations_are_sorted_by_path_then_message() {
    let service = object(
        r#"
apiVersion: v1
kind: Service
metadata: {name: web, colour: blue}
spec:
  ports: [{port: http, bogus: 1}]
  typo: true
"#,
    );
    let found = violations(&service, Mode::Strict);
    let paths: Vec<_> = found.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(
        paths,
        ["metadata", "spec", "spec.ports[0]", "spec.ports[0].port"]
    );
}

#[test]
fn every_schema_in_the_index_compiles_in_both_modes() {
    let catalog = catalog();
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(SCHEMAS).join("index.json")).expect("index.json"),
    )
    .expect("index.json is JSON");
    let entries = index.as_array().expect("index is a list");
    assert_eq!(entries.len(), 84);
    for entry in entries {
        let stub = json!({"apiVersion": entry["apiVersion"], "kind": entry["kind"]});
        for mode in [Mode::Strict, Mode::RelaxRequired] {
            if let Err(error) = catalog.validate(&stub, mode) {
                panic!("{error}");
            }
        }
    }
}

#[test]
fn one_catalog_validates_from_many_threads_at_once_with_the_same_results() {
    // check validates a fleet's objects in parallel over one catalog (schemas compiled once).
    let catalog = catalog();
    let good = object("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n");
    let bad = object("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\nspec:\n  nope: 1\n");
    let alone = (
        catalog.validate(&good, Mode::Strict).unwrap().len(),
        catalog.validate(&bad, Mode::Strict).unwrap().len(),
    );
    assert_eq!(alone.0, 0);
    assert!(alone.1 > 0, "an unknown field is a violation");
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    (0..50)
                        .map(|_| {
                            (
                                catalog.validate(&good, Mode::Strict).unwrap().len(),
                                catalog.validate(&bad, Mode::Strict).unwrap().len(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            assert!(handle.join().unwrap().iter().all(|r| *r == alone));
        }
    });
}

#[test]
fn parse_skips_empty_documents() {
    let documents = parse_documents("---\n# only a comment\n---\na: 1\n---\n---\nb: 2\n...\n")
        .expect("valid stream");
    assert_eq!(documents, [json!({"a": 1}), json!({"b": 2})]);
}

#[test]
fn parse_keeps_timestamps_as_strings() {
    let documents = parse_documents("at: 2025-01-01T00:00:00Z\nday: 2025-01-01\n").expect("valid");
    assert_eq!(
        documents,
        [json!({"at": "2025-01-01T00:00:00Z", "day": "2025-01-01"})]
    );
}

#[test]
fn parse_resolves_scalars_like_kubernetes_yaml() {
    let documents = parse_documents("a: yes\nb: off\nmode: 0644\nport: \"80\"\n").expect("valid");
    assert_eq!(
        documents,
        [json!({"a": true, "b": false, "mode": 420, "port": "80"})]
    );
}

#[test]
fn parse_reports_malformed_yaml() {
    let result = parse_documents("a: [1, 2\nb: 3\n");
    assert!(
        matches!(result, Err(SchemaError::Yaml { .. })),
        "{result:?}"
    );
}

#[test]
fn parse_rejects_duplicate_keys() {
    let result = parse_documents("a: 1\na: 2\n");
    assert!(
        matches!(result, Err(SchemaError::Yaml { .. })),
        "{result:?}"
    );
}

#[test]
fn istio_crds_validate_as_custom_resource_definitions() {
    let path = Path::new(ISTIO).join("manifests/charts/base/files/crd-all.gen.yaml");
    let catalog = catalog();
    let crds = objects_in(path);
    assert_eq!(crds.len(), 14);
    for crd in &crds {
        let found = catalog.validate(crd, Mode::Strict).expect("schema exists");
        assert!(found.is_empty(), "{:#?}", messages(&found));
    }
}

#[test]
fn unknown_keyword_inside_a_crd_schema_fails_through_internal_ref() {
    // `openAPIV3Schema` is checked by `#/definitions/JSONSchemaProps`, recursively.
    let crd = object(
        r"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, prefixItems: []}
",
    );
    assert_eq!(
        messages(&violations(&crd, Mode::Strict)),
        [
            "apiextensions.k8s.io/v1 CustomResourceDefinition widgets.example.com: \
             spec.versions[0].schema.openAPIV3Schema.properties.spec: \
             Additional properties are not allowed ('prefixItems' was unexpected)"
        ]
    );
}

#[test]
fn remote_refs_are_refused_not_fetched() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("v1")).expect("group directory");
    for (kind, reference) in [
        ("remote", "https://example.com/schema.json"),
        ("local", "file:///etc/hostname"),
    ] {
        let schema =
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "$ref": reference});
        let file = dir.path().join(format!("v1/{kind}_v1.json"));
        std::fs::write(&file, schema.to_string()).expect("schema written");
        let catalog = SchemaCatalog::open(dir.path()).expect("directory exists");
        let result = catalog.validate(&json!({"apiVersion": "v1", "kind": kind}), Mode::Strict);
        match result {
            Err(SchemaError::Compile { path, .. }) => assert_eq!(path, file),
            other => panic!("{reference}: expected Compile, got {other:?}"),
        }
    }
}
