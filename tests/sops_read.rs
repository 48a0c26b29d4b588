//! Reading SOPS files the real sops 3.11 wrote (shared/fixtures/sops): every positive fixture
//! decrypts to what `sops -d` printed, every negative one fails in the class sops reports.

use std::path::PathBuf;

use mesh_render::env::Env;
use mesh_render::seal::{SealError, discover_identities as discover};
use mesh_render::sops::{self, Identities, Rule, SopsError};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/sops");

/// The MAC of k8s-secret-stringdata (the "File has" value in negative-results.txt).
const STRINGDATA_MAC: &str = "326EBB9FF6ADFB679CD2DCA30E3C82C4B3489B1F2BBCD02C21152326104B281D9574E8C2C86873E3D15394DA0D53489BACECAD000C90C3B9B6B2B5F5DD8FED16";

fn path(name: &str) -> PathBuf {
    PathBuf::from(FIXTURES).join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap_or_else(|e| {
        panic!("fixture {name}: {e} (../shared, with its fixtures, must sit beside the repository)")
    })
}

fn admin() -> Identities {
    identities_of(&path("keys/admin.agekey")).expect("admin identity")
}

fn second() -> Identities {
    identities_of(&path("keys/second.agekey")).expect("second identity")
}

/// Single-document fixtures that must decrypt, with the expected output's base name.
const POSITIVE: &[(&str, &str)] = &[
    ("k8s-secret-stringdata.enc.yaml", "k8s-secret-stringdata"),
    ("k8s-secret-data.enc.yaml", "k8s-secret-data"),
    ("value-types.enc.yaml", "value-types"),
    ("multi-recipient.enc.yaml", "multi-recipient"),
    ("unencrypted-suffix.enc.yaml", "unencrypted-suffix"),
    ("encrypted-suffix.enc.yaml", "encrypted-suffix"),
    ("mac-only-encrypted.enc.yaml", "mac-only-encrypted"),
    (
        "mac-only-encrypted-cleartext-edited.enc.yaml",
        "mac-only-encrypted-cleartext-edited",
    ),
    ("reencrypt-1.enc.yaml", "reencrypt"),
    ("reencrypt-2.enc.yaml", "reencrypt"),
    ("reencrypt-set.enc.yaml", "reencrypt-set"),
    ("unprotected-edits.enc.yaml", "unprotected-edits"),
];

#[test]
fn every_positive_fixture_decrypts_to_the_typed_values_sops_printed_as_json() {
    for (file, expected) in POSITIVE {
        let out = sops::decrypt(&read(file), &admin()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let json = out.to_json();
        assert_eq!(json.len(), 1, "{file}");
        let want: serde_json::Value =
            serde_json::from_str(&read(&format!("{expected}.expected.json")))
                .expect("expected json");
        assert_eq!(
            json[0], want,
            "{file} decrypts to other typed values than sops -d --output-type json"
        );
    }
}

#[test]
fn every_positive_fixture_prints_as_yaml_byte_for_byte_like_sops_decrypt() {
    for (file, expected) in POSITIVE {
        let out = sops::decrypt(&read(file), &admin()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            out.to_yaml(),
            read(&format!("{expected}.expected.yaml")),
            "{file}"
        );
    }
}

#[test]
fn multi_document_decrypts_every_document_under_one_mac() {
    let out =
        sops::decrypt(&read("multi-document.enc.yaml"), &admin()).expect("multi-document decrypts");
    assert_eq!(out.documents(), 3);
    let expected = read("multi-document.expected.yaml");
    assert_eq!(out.to_yaml(), expected);
    // Typed comparison with the expected YAML, parsed by another YAML library.
    let want: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&expected).expect("expected yaml parses");
    assert_eq!(out.to_json(), want);
}

#[test]
fn multi_recipient_decrypts_with_either_identity() {
    let text = read("multi-recipient.enc.yaml");
    let a = sops::decrypt(&text, &admin()).expect("admin decrypts");
    let b = sops::decrypt(&text, &second()).expect("second decrypts");
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(b.to_yaml(), read("multi-recipient.expected.yaml"));
}

/// (file, sops exit code) from negative-results.txt.
const NEGATIVE: &[(&str, i32)] = &[
    ("tampered-value.enc.yaml", 25),
    ("tampered-mac.enc.yaml", 51),
    ("tampered-structure.enc.yaml", 25),
    ("tampered-cleartext.enc.yaml", 51),
    ("tampered-order.enc.yaml", 51),
    ("tampered-lastmodified.enc.yaml", 51),
    ("wrong-recipient.enc.yaml", 128),
    ("no-sops-metadata.yaml", 1),
];

#[test]
fn negative_results_table_matches_the_fixture_list() {
    let results = read("negative-results.txt");
    for (file, code) in NEGATIVE {
        let line = format!("== {file}: sops decrypt exit {code}");
        assert!(
            results.contains(&line),
            "negative-results.txt has no line {line:?}"
        );
    }
}

#[test]
fn every_negative_fixture_fails_in_the_class_sops_reports() {
    for (file, code) in NEGATIVE {
        let err = sops::decrypt(&read(file), &admin())
            .err()
            .unwrap_or_else(|| panic!("{file} decrypted"));
        assert_eq!(err.sops_exit_code(), *code, "{file}: {err}");
    }
}

#[test]
fn each_negative_fixture_fails_for_its_own_reason() {
    let err = |f: &str| sops::decrypt(&read(f), &admin()).expect_err(f);
    assert!(
        matches!(err("tampered-value.enc.yaml"), SopsError::ValueDecrypt { ref path, .. } if path == "stringData.ca-key.pem")
    );
    assert!(
        matches!(err("tampered-structure.enc.yaml"), SopsError::ValueDecrypt { ref path, .. } if path == "stringData.ca-key-renamed.pem")
    );
    assert_eq!(err("tampered-mac.enc.yaml"), SopsError::MacDecrypt);
    assert_eq!(err("tampered-lastmodified.enc.yaml"), SopsError::MacDecrypt);
    assert!(matches!(
        err("wrong-recipient.enc.yaml"),
        SopsError::NoDataKey { .. }
    ));
    assert_eq!(err("no-sops-metadata.yaml"), SopsError::NoMetadata);
}

#[test]
fn mac_mismatch_reports_the_file_mac_and_the_one_sops_computed() {
    let results = read("negative-results.txt");
    for file in ["tampered-cleartext.enc.yaml", "tampered-order.enc.yaml"] {
        match sops::decrypt(&read(file), &admin()) {
            Err(SopsError::MacMismatch {
                file: has,
                computed,
            }) => {
                assert_eq!(has, STRINGDATA_MAC, "{file}");
                let line = format!("MAC mismatch. File has {has}, computed {computed}");
                assert!(
                    results.contains(&line),
                    "{file}: sops computed another MAC than {computed}"
                );
            }
            other => panic!("{file}: expected a MAC mismatch, got {other:?}"),
        }
    }
}

#[test]
fn mac_known_answer_for_k8s_secret_stringdata() {
    let out = sops::decrypt(&read("k8s-secret-stringdata.enc.yaml"), &admin()).expect("decrypts");
    assert_eq!(out.mac(), STRINGDATA_MAC);
    // The MAC depends only on the content: the same plaintext encrypted twice gives one MAC.
    let one = sops::decrypt(&read("reencrypt-1.enc.yaml"), &admin()).expect("decrypts");
    let two = sops::decrypt(&read("reencrypt-2.enc.yaml"), &admin()).expect("decrypts");
    assert_eq!(one.mac(), two.mac());
}

#[test]
fn reading_needs_no_rule_match_from_a_sops_yaml() {
    // The fixture folder's .sops.yaml has creation rules for multi-recipient* and k8s-secret-*
    // only; decryption never consults it and uses the rule stored in each file's metadata.
    let config = read(".sops.yaml");
    for (file, rule) in [
        (
            "encrypted-suffix.enc.yaml",
            Rule::EncryptedSuffix("_secret".into()),
        ),
        (
            "unencrypted-suffix.enc.yaml",
            Rule::UnencryptedSuffix("_unencrypted".into()),
        ),
        (
            "value-types.enc.yaml",
            Rule::UnencryptedSuffix("_unencrypted".into()),
        ),
    ] {
        let stem = file.split('.').next().unwrap_or(file);
        assert!(!config.contains(stem), "{file} is named in .sops.yaml");
        let meta = sops::metadata(&read(file)).expect(file);
        assert_eq!(meta.rule(), &rule, "{file}");
        sops::decrypt(&read(file), &admin()).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn unprotected_edits_decrypt_because_the_mac_covers_values_only() {
    let out = sops::decrypt(&read("unprotected-edits.enc.yaml"), &admin()).expect("decrypts");
    let doc = &out.to_json()[0];
    assert_eq!(doc["metadata"]["renamed-key"], "cacerts");
    assert_eq!(doc["added_null"], serde_json::Value::Null);
    assert_eq!(doc["added_empty"], "");
}

#[test]
fn mac_only_encrypted_allows_editing_clear_values() {
    let meta =
        sops::metadata(&read("mac-only-encrypted-cleartext-edited.enc.yaml")).expect("metadata");
    assert!(meta.mac_only_encrypted());
    let out = sops::decrypt(
        &read("mac-only-encrypted-cleartext-edited.enc.yaml"),
        &admin(),
    )
    .expect("decrypts");
    assert!(out.to_yaml().contains("app: ingressgateway-edited"));
}

#[test]
fn a_wrong_identity_gives_no_data_key() {
    let (other, _) = sops::generate_identity();
    let err = sops::decrypt(
        &read("k8s-secret-stringdata.enc.yaml"),
        &Identities::from_identity(other),
    )
    .expect_err("must fail");
    match &err {
        SopsError::NoDataKey { recipients, .. } => {
            assert_eq!(recipients, &vec![read("keys/admin.pub").trim().to_string()]);
        }
        other => panic!("expected NoDataKey, got {other:?}"),
    }
    assert_eq!(err.sops_exit_code(), 128);
}

#[test]
fn no_identities_at_all_is_a_clear_error() {
    let err = Identities::parse("# created: 2026-01-01\n# public key: age1...\n\n")
        .expect_err("no key in the text");
    assert!(matches!(err, SopsError::NoIdentities { .. }), "{err:?}");
    assert!(err.to_string().contains("no age identity found"), "{err}");
    // Discovery with an empty environment and no config file finds nothing.
    let empty_home = tempfile::tempdir().expect("tempdir");
    let home = empty_home.path().to_string_lossy().into_owned();
    let found = discover(&Env::with(&[("HOME", home.as_str())])).expect("discover");
    assert!(found.is_none());
}

#[test]
fn identities_are_discovered_where_sops_looks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("sops/age")).expect("mkdir");
    std::fs::copy(path("keys/second.agekey"), config.join("sops/age/keys.txt")).expect("copy");
    let admin_key = read("keys/admin.agekey");
    let config_s = config.to_string_lossy().into_owned();
    let env = Env::with(&[
        ("SOPS_AGE_KEY", admin_key.as_str()),
        ("XDG_CONFIG_HOME", config_s.as_str()),
    ]);
    let ids = discover(&env).expect("discover").expect("found");
    assert_eq!(ids.len(), 2);
    let found: Vec<String> = ids.recipients().iter().map(|r| r.to_string()).collect();
    assert!(found.contains(&read("keys/admin.pub").trim().to_string()));
    assert!(found.contains(&read("keys/second.pub").trim().to_string()));
    // A key file named by SOPS_AGE_KEY_FILE that does not exist is an error, not silence.
    let missing = dir
        .path()
        .join("missing.agekey")
        .to_string_lossy()
        .into_owned();
    let err =
        discover(&Env::with(&[("SOPS_AGE_KEY_FILE", missing.as_str())])).expect_err("missing file");
    assert!(matches!(err, SealError::IdentityFile { .. }), "{err:?}");
}

#[test]
fn errors_and_debug_output_never_show_secrets() {
    let admin_secret = read("keys/admin.agekey");
    let secret_line = admin_secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("key line");
    let ids = admin();
    assert!(!format!("{ids:?}").contains(secret_line));
    let out = sops::decrypt(&read("k8s-secret-stringdata.enc.yaml"), &ids).expect("decrypts");
    assert!(!format!("{out:?}").contains("BEGIN"));
    let err = sops::decrypt(&read("tampered-value.enc.yaml"), &ids).expect_err("fails");
    assert!(!err.to_string().contains("PRIVATE KEY"));
    let bad = Identities::parse(&format!("{}X\n", secret_line)).expect_err("bad key");
    assert!(!bad.to_string().contains(&secret_line[20..]), "{bad}");
}

#[test]
fn metadata_is_read_without_any_key() {
    let meta = sops::metadata(&read("multi-recipient.enc.yaml")).expect("metadata");
    assert_eq!(
        meta.recipients(),
        vec![
            read("keys/admin.pub").trim().to_string(),
            read("keys/second.pub").trim().to_string()
        ]
    );
    assert_eq!(meta.rule(), &Rule::kubernetes());
    assert!(meta.rule_in_file());
    assert_eq!(meta.version(), "3.11.0");
    assert!(!meta.mac_only_encrypted());
    let value_types = sops::metadata(&read("value-types.enc.yaml")).expect("metadata");
    assert_eq!(value_types.rule(), &Rule::sops_default());
    assert_eq!(
        sops::metadata(&read("no-sops-metadata.yaml")),
        Err(SopsError::NoMetadata)
    );
}

#[test]
fn without_metadata_keeps_the_structure_and_the_enc_strings() {
    let docs = sops::without_metadata(&read("value-types.enc.yaml")).expect("parses");
    let doc = &docs[0];
    assert!(doc.get("sops").is_none());
    assert!(
        doc["int"]
            .as_str()
            .is_some_and(|s| s.starts_with("ENC[AES256_GCM,") && s.ends_with("type:int]"))
    );
    // The encrypted comment stored as a list item is not data.
    assert_eq!(doc["list_of_scalars"].as_array().map(Vec::len), Some(5));
    assert_eq!(doc["empty_string"], "");
}

#[test]
fn hostile_yaml_fails_cleanly() {
    let deep = format!("sops: {}{}\n", "[".repeat(1000), "]".repeat(1000));
    assert!(matches!(
        sops::decrypt(&deep, &admin()),
        Err(SopsError::InvalidYaml { .. })
    ));
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(matches!(
        sops::without_metadata(&bomb),
        Err(SopsError::InvalidYaml { .. })
    ));
    assert!(matches!(
        sops::metadata("a: [unclosed\n"),
        Err(SopsError::InvalidYaml { .. })
    ));
}

/// The identities of an age key file.
fn identities_of(path: &std::path::Path) -> Result<Identities, mesh_render::sops::SopsError> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Identities::parse_from(&text, &path.display().to_string())
}

#[test]
fn the_data_key_real_sops_wrapped_opens_without_the_age_crates_parser() {
    // check opens tens of thousands of these; the direct reader must take real sops's output.
    for (file, _) in POSITIVE {
        assert!(
            sops::opens_directly(&read(file), &admin()).unwrap(),
            "{file}: its age entry for the admin did not open directly"
        );
    }
    assert!(!sops::opens_directly(&read("wrong-recipient.enc.yaml"), &admin()).unwrap());
}
