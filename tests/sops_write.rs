//! Writing SOPS files: what we encrypt, the real sops 3.11 and age 1.1 decrypt (they are the judges),
//! our reader decrypts what sops wrote, and every encryption is fresh.
//!
//! Tests that need `sops` or `age` fail in CI when the tool is missing, and are skipped elsewhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mesh_render::sops::{self, Identities, Recipient, Rule, SopsError, Timestamp};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/sops");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(PathBuf::from(FIXTURES).join(name)).unwrap_or_else(|e| {
        panic!("fixture {name}: {e} (../shared, with its fixtures, must sit beside the repository)")
    })
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether a tool can be run; in CI a missing tool fails the test, elsewhere it skips it.
fn have(tool: &str, why: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(!in_ci(), "{tool} is not installed, and CI needs it ({why})");
        println!("SKIPPED outside CI: {tool} is not installed ({why})");
    }
    ok
}

fn lastmodified() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-25T11:35:26Z").expect("timestamp")
}

/// A temporary folder with a fresh identity written as an age key file.
struct Keys {
    dir: tempfile::TempDir,
    key_file: PathBuf,
    recipient: Recipient,
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().expect("tempdir");
        let (secret, recipient) = sops::generate_identity();
        let key_file = dir.path().join("key.txt");
        std::fs::write(
            &key_file,
            format!(
                "# public key: {recipient}\n{}\n",
                secret.to_string_secret().as_str()
            ),
        )
        .expect("write key");
        Keys {
            dir,
            key_file,
            recipient,
        }
    }

    fn identities(&self) -> Identities {
        identities_of(&self.key_file).expect("identities")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Runs the real sops in the temporary folder with only this identity.
    fn sops(&self, args: &[&str]) -> Output {
        Command::new("sops")
            .args(args)
            .current_dir(self.dir.path())
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .env("SOPS_AGE_KEY_FILE", &self.key_file)
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_CMD")
            .output()
            .expect("run sops")
    }

    fn sops_ok(&self, args: &[&str]) -> String {
        let out = self.sops(args);
        assert!(
            out.status.success(),
            "sops {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

fn recipients(keys: &[&Keys]) -> Vec<Recipient> {
    keys.iter().map(|k| k.recipient.clone()).collect()
}

/// What the real sops prints for a plaintext it encrypted itself (the intended result).
fn sops_roundtrip(keys: &Keys, plain: &str, rule_args: &[&str], output_json: bool) -> String {
    let input = keys.write("reference.yaml", plain);
    let mut args = vec!["encrypt", "--age", keys.recipient.as_str()];
    args.extend_from_slice(rule_args);
    let input_s = input.to_string_lossy().into_owned();
    args.push(&input_s);
    let encrypted = keys.sops_ok(&args);
    let enc_path = keys.write("reference.enc.yaml", &encrypted);
    let enc_s = enc_path.to_string_lossy().into_owned();
    if output_json {
        keys.sops_ok(&["decrypt", "--output-type", "json", &enc_s])
    } else {
        keys.sops_ok(&["decrypt", &enc_s])
    }
}

fn sops_decrypt(keys: &Keys, encrypted: &str, output_json: bool) -> String {
    let p = keys.write("ours.enc.yaml", encrypted);
    let s = p.to_string_lossy().into_owned();
    if output_json {
        keys.sops_ok(&["decrypt", "--output-type", "json", &s])
    } else {
        keys.sops_ok(&["decrypt", &s])
    }
}

/// Checks that the real sops decrypts our encryption of `plain` exactly as it decrypts its own.
fn assert_sops_reads_ours(
    plain: &str,
    rule: &Rule,
    rule_args: &[&str],
    compare_json: bool,
) -> String {
    let keys = Keys::new();
    let ours = sops::encrypt(
        plain,
        rule,
        std::slice::from_ref(&keys.recipient),
        lastmodified(),
    )
    .expect("encrypt");
    let want_yaml = sops_roundtrip(&keys, plain, rule_args, false);
    assert_eq!(
        sops_decrypt(&keys, &ours, false),
        want_yaml,
        "sops -d of our file differs from sops -d of its own"
    );
    // --output-type json keeps only the first document, and cannot write infinities.
    if compare_json {
        let want_json = sops_roundtrip(&keys, plain, rule_args, true);
        assert_eq!(sops_decrypt(&keys, &ours, true), want_json);
    }
    ours
}

#[test]
fn sops_decrypts_our_cacerts_secret_with_pem_values_under_string_data() {
    if !have("sops", "the real sops judges the files we write") {
        return;
    }
    let plain = fixture("k8s-secret-stringdata.plain.yaml");
    assert_eq!(
        plain.matches("-----BEGIN").count(),
        5,
        "four PEM values, the chain has two certificates"
    );
    let ours = assert_sops_reads_ours(
        &plain,
        &Rule::kubernetes(),
        &["--encrypted-regex", Rule::KUBERNETES_REGEX],
        true,
    );
    // kind and metadata stay clear, the PEM values do not.
    assert!(ours.contains("\nkind: Secret\n") && ours.contains("    name: cacerts\n"));
    assert!(!ours.contains("BEGIN CERTIFICATE") && !ours.contains("PRIVATE KEY"));
    assert_eq!(
        ours.matches("type:str]").count(),
        5,
        "four values and the MAC"
    );
}

#[test]
fn sops_decrypts_our_secret_with_base64_data() {
    if !have("sops", "the real sops judges the files we write") {
        return;
    }
    let plain = fixture("k8s-secret-data.plain.yaml");
    let ours = assert_sops_reads_ours(
        &plain,
        &Rule::kubernetes(),
        &["--encrypted-regex", Rule::KUBERNETES_REGEX],
        true,
    );
    assert!(
        ours.contains("\nimmutable: true\n"),
        "clear values stay clear"
    );
}

#[test]
fn sops_decrypts_our_whole_file_encryption_of_every_value_type() {
    if !have("sops", "the real sops judges the files we write") {
        return;
    }
    let mut plain = fixture("value-types.plain.yaml");
    plain.push_str(concat!(
        "more:\n",
        "  hex_neg: -0x10\n",
        "  octal: 0o17\n",
        "  old_octal: 017\n",
        "  binary: 0b101\n",
        "  underscores: 1_000_000\n",
        "  exp_small: 1.5e-7\n",
        "  big_float: 1.0e+6\n",
        "  dot_float: .5\n",
        "  inf: .inf\n",
        "  neg_inf: -.inf\n",
        "  short_date: 2024-1-5\n",
        "  spaced_time: 2024-01-15 10:30:00\n",
        "  offset_time: 2024-01-15T10:30:00.500+02:00\n",
        "  caps_bool: TRUE\n",
        "  on_word: on\n",
        "  quoted_true: \"true\"\n",
        "  single: 'a: b'\n",
        "  tab: \"a\\tb\"\n",
        "  keep: |+\n",
        "    kept\n",
        "\n",
        "  strip: |-\n",
        "    stripped\n",
        "  leading_space: \"  indented\\nsecond\\n\"\n",
        "  emoji_lines: \"\\U0001F680\\nline\\n\"\n",
        "  unicode_key_ü: ✓\n",
        "  nested_empty: {inner: {}, list: []}\n",
        "  null_in_list: [1, null, ~, \"\"]\n",
    ));
    // sops -d --output-type json cannot write the infinities: compare the JSON without them.
    assert_sops_reads_ours(&plain, &Rule::sops_default(), &[], false);
    let finite: String = plain
        .lines()
        .filter(|l| !l.contains(".inf"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_sops_reads_ours(&finite, &Rule::sops_default(), &[], true);
}

#[test]
fn sops_decrypts_our_multi_document_file() {
    if !have("sops", "the real sops judges the files we write") {
        return;
    }
    let plain = fixture("multi-document.plain.yaml");
    let ours = assert_sops_reads_ours(
        &plain,
        &Rule::kubernetes(),
        &["--encrypted-regex", Rule::KUBERNETES_REGEX],
        false,
    );
    assert_eq!(
        ours.matches("\nsops:\n").count(),
        3,
        "every document gets the sops block"
    );
}

#[test]
fn our_file_is_laid_out_like_the_one_sops_writes() {
    if !have("sops", "the real sops writes the reference layout") {
        return;
    }
    let keys = Keys::new();
    let commented = keys.write("commented.plain.yaml", COMMENTED);
    let commented = commented.to_string_lossy().into_owned();
    for (name, rule, args) in [
        (commented.as_str(), Rule::sops_default(), vec![]),
        (
            commented.as_str(),
            Rule::kubernetes(),
            vec!["--encrypted-regex", Rule::KUBERNETES_REGEX],
        ),
        (
            "k8s-secret-stringdata.plain.yaml",
            Rule::kubernetes(),
            vec!["--encrypted-regex", Rule::KUBERNETES_REGEX],
        ),
        ("value-types.plain.yaml", Rule::sops_default(), vec![]),
        (
            "multi-document.plain.yaml",
            Rule::kubernetes(),
            vec!["--encrypted-regex", Rule::KUBERNETES_REGEX],
        ),
    ] {
        let plain = if name.starts_with('/') {
            std::fs::read_to_string(name).expect("read")
        } else {
            fixture(name)
        };
        let ours = sops::encrypt(
            &plain,
            &rule,
            std::slice::from_ref(&keys.recipient),
            lastmodified(),
        )
        .expect("encrypt");
        let input = keys.write("layout.yaml", &plain);
        let input_s = input.to_string_lossy().into_owned();
        let mut a = vec!["encrypt", "--age", keys.recipient.as_str()];
        a.extend(args.iter().copied());
        a.push(&input_s);
        let theirs = keys.sops_ok(&a);
        assert_eq!(
            mask(&ours),
            mask(&theirs),
            "{name}: layout differs from sops's"
        );
    }
}

/// Comments in the places yaml.v3 gives them to different nodes (head, line, foot comments).
const COMMENTED: &str = "# top
apiVersion: v1
kind: Secret
metadata:
  name: x # the name
  labels:
    a: b
  # end of metadata: yaml.v3 gives it to labels
stringData:
  # head of k
  k: v
  multi: |
    line1
    line2
  # trailing in stringData
type: Opaque
list: [p, q] # goes into the list
items:
  - a
  # between items
  - b
maps:
  - name: one
    # inside one
    v: 1
  # between maps
  - name: two
# end of doc
";

/// Hides what differs between two encryptions: ciphertexts, age blocks, lastmodified.
fn mask(text: &str) -> String {
    let enc = regex::Regex::new(r"ENC\[AES256_GCM,data:[^\]]*,type:([a-z]+)\]").expect("regex");
    let lm = regex::Regex::new(r#"lastmodified: "[^"]*""#).expect("regex");
    let mut out = Vec::new();
    let mut in_armor = false;
    for line in text.lines() {
        if line.trim() == "-----BEGIN AGE ENCRYPTED FILE-----" {
            in_armor = true;
            out.push(line.to_string());
            continue;
        }
        if line.trim() == "-----END AGE ENCRYPTED FILE-----" {
            in_armor = false;
        } else if in_armor {
            continue;
        }
        let line = enc.replace_all(line, "ENC[$1]");
        out.push(lm.replace_all(&line, "lastmodified: X").into_owned());
    }
    out.join("\n")
}

#[test]
fn sops_set_on_our_file_changes_only_that_value_lastmodified_and_mac() {
    if !have("sops", "the real sops edits the file we write") {
        return;
    }
    let keys = Keys::new();
    let plain = fixture("k8s-secret-stringdata.plain.yaml");
    let ours = sops::encrypt(
        &plain,
        &Rule::kubernetes(),
        std::slice::from_ref(&keys.recipient),
        lastmodified(),
    )
    .expect("encrypt");
    let p = keys.write("edit.enc.yaml", &ours);
    let ps = p.to_string_lossy().into_owned();
    keys.sops_ok(&[
        "set",
        &ps,
        r#"["stringData"]["ca-key.pem"]"#,
        r#""replaced""#,
    ]);
    let edited = std::fs::read_to_string(&p).expect("read");
    let before: Vec<&str> = ours.lines().collect();
    let after: Vec<&str> = edited.lines().collect();
    assert_eq!(before.len(), after.len(), "sops set changed the layout");
    let changed: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.trim_start().split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        changed,
        vec!["ca-key.pem", "lastmodified", "mac"],
        "sops set rewrote more than the edited value"
    );
}

/// The `enc:` armored blocks of the metadata of an encrypted file, with their recipients.
fn enc_blocks(encrypted: &str) -> Vec<(String, String)> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(encrypted).expect("yaml");
    docs[0]["sops"]["age"]
        .as_array()
        .expect("age list")
        .iter()
        .map(|e| {
            (
                e["recipient"].as_str().expect("recipient").to_string(),
                e["enc"].as_str().expect("enc").to_string(),
            )
        })
        .collect()
}

fn age_decrypt(key_file: &Path, armored: &str) -> Vec<u8> {
    let mut child = Command::new("age")
        .args(["-d", "-i"])
        .arg(key_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run age");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(armored.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("age");
    assert!(
        out.status.success(),
        "age -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn age_unwraps_each_recipients_enc_to_the_same_32_byte_key() {
    if !have("age", "the real age judges the wrapped data key") {
        return;
    }
    let (a, b) = (Keys::new(), Keys::new());
    let plain = fixture("k8s-secret-stringdata.plain.yaml");
    let ours = sops::encrypt(
        &plain,
        &Rule::kubernetes(),
        &recipients(&[&a, &b]),
        lastmodified(),
    )
    .expect("encrypt");
    let blocks = enc_blocks(&ours);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].0, a.recipient.to_string());
    assert_eq!(blocks[1].0, b.recipient.to_string());
    for (_, enc) in &blocks {
        assert!(
            enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n")
                && enc.ends_with("-----END AGE ENCRYPTED FILE-----\n")
        );
    }
    let key_a = age_decrypt(&a.key_file, &blocks[0].1);
    let key_b = age_decrypt(&b.key_file, &blocks[1].1);
    assert_eq!(key_a.len(), 32);
    assert_eq!(
        key_a, key_b,
        "both recipients must unwrap the same data key"
    );
}

#[test]
fn age_keygen_identities_decrypt_our_files() {
    if !have("age-keygen", "the real age-keygen makes the identity") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("keygen.txt");
    let st = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .expect("age-keygen");
    assert!(st.success());
    let ids = identities_of(&key).expect("identities");
    let recipient = ids.recipients().remove(0);
    let plain = fixture("reencrypt.plain.yaml");
    let ours =
        sops::encrypt(&plain, &Rule::kubernetes(), &[recipient], lastmodified()).expect("encrypt");
    let out = sops::decrypt(&ours, &ids).expect("decrypt");
    assert_eq!(out.to_yaml(), fixture("reencrypt.expected.yaml"));
}

#[test]
fn our_files_round_trip_through_our_own_decrypt() {
    let keys = Keys::new();
    for (plain, rule, expected) in [
        (
            "k8s-secret-stringdata.plain.yaml",
            Rule::kubernetes(),
            "k8s-secret-stringdata.expected.yaml",
        ),
        (
            "k8s-secret-data.plain.yaml",
            Rule::kubernetes(),
            "k8s-secret-data.expected.yaml",
        ),
        (
            "value-types.plain.yaml",
            Rule::sops_default(),
            "value-types.expected.yaml",
        ),
        (
            "unencrypted-suffix.plain.yaml",
            Rule::UnencryptedSuffix("_unencrypted".into()),
            "unencrypted-suffix.expected.yaml",
        ),
        (
            "encrypted-suffix.plain.yaml",
            Rule::EncryptedSuffix("_secret".into()),
            "encrypted-suffix.expected.yaml",
        ),
        (
            "multi-document.plain.yaml",
            Rule::kubernetes(),
            "multi-document.expected.yaml",
        ),
    ] {
        let ours = sops::encrypt(
            &fixture(plain),
            &rule,
            std::slice::from_ref(&keys.recipient),
            lastmodified(),
        )
        .expect("encrypt");
        let out =
            sops::decrypt(&ours, &keys.identities()).unwrap_or_else(|e| panic!("{plain}: {e}"));
        assert_eq!(out.to_yaml(), fixture(expected), "{plain}");
    }
}

#[test]
fn mac_only_encrypted_files_round_trip_and_sops_reads_them() {
    let keys = Keys::new();
    let plain = fixture("mac-only-encrypted.plain.yaml");
    let ours = sops::encrypt_mac_only_encrypted(
        &plain,
        &Rule::kubernetes(),
        std::slice::from_ref(&keys.recipient),
        lastmodified(),
    )
    .expect("encrypt");
    assert!(ours.contains("\n    mac_only_encrypted: true\n"));
    let edited = ours.replace("app: ingressgateway\n", "app: edited\n");
    assert_ne!(edited, ours);
    sops::decrypt(&edited, &keys.identities()).expect("clear values are outside the MAC");
    if have("sops", "the real sops reads mac_only_encrypted files") {
        assert_eq!(
            sops_decrypt(&keys, &ours, false),
            fixture("mac-only-encrypted.expected.yaml")
        );
    }
}

#[test]
fn our_decrypt_reads_a_file_the_real_sops_encrypted() {
    if !have("sops", "the real sops writes the file we read") {
        return;
    }
    let keys = Keys::new();
    let input = keys.write("theirs.yaml", &fixture("k8s-secret-stringdata.plain.yaml"));
    let input_s = input.to_string_lossy().into_owned();
    let theirs = keys.sops_ok(&[
        "encrypt",
        "--age",
        keys.recipient.as_str(),
        "--encrypted-regex",
        Rule::KUBERNETES_REGEX,
        &input_s,
    ]);
    let out = sops::decrypt(&theirs, &keys.identities()).expect("decrypt");
    assert_eq!(
        out.to_yaml(),
        fixture("k8s-secret-stringdata.expected.yaml")
    );
    let meta = sops::metadata(&theirs).expect("metadata");
    assert_eq!(meta.recipients(), vec![keys.recipient.to_string()]);
}

#[test]
fn two_encryptions_differ_in_every_enc_value_and_age_block_and_both_decrypt() {
    let keys = Keys::new();
    let plain = fixture("value-types.plain.yaml");
    let one = sops::encrypt(
        &plain,
        &Rule::sops_default(),
        std::slice::from_ref(&keys.recipient),
        lastmodified(),
    )
    .expect("encrypt");
    let two = sops::encrypt(
        &plain,
        &Rule::sops_default(),
        std::slice::from_ref(&keys.recipient),
        lastmodified(),
    )
    .expect("encrypt");
    let enc = regex::Regex::new(r"ENC\[[^\]]*\]").expect("regex");
    let a: Vec<&str> = enc.find_iter(&one).map(|m| m.as_str()).collect();
    let b: Vec<&str> = enc.find_iter(&two).map(|m| m.as_str()).collect();
    assert_eq!(a.len(), b.len());
    assert!(a.len() > 30);
    for (x, y) in a.iter().zip(&b) {
        assert_ne!(x, y, "an ENC value repeats between two encryptions");
        let iv = |s: &str| {
            s.split(",iv:")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .map(str::to_string)
        };
        assert_ne!(iv(x), iv(y), "an IV repeats");
    }
    let all: std::collections::HashSet<&str> = a.iter().chain(&b).copied().collect();
    assert_eq!(all.len(), a.len() * 2, "no ENC value repeats anywhere");
    assert_ne!(enc_blocks(&one)[0].1, enc_blocks(&two)[0].1);
    let ids = keys.identities();
    let (x, y) = (
        sops::decrypt(&one, &ids).expect("one"),
        sops::decrypt(&two, &ids).expect("two"),
    );
    assert_eq!(x.to_yaml(), y.to_yaml());
    assert_eq!(x.mac(), y.mac(), "the MAC depends only on the content");
}

#[test]
fn a_recipient_not_in_the_file_cannot_decrypt() {
    let (a, outsider) = (Keys::new(), Keys::new());
    let ours = sops::encrypt(
        &fixture("reencrypt.plain.yaml"),
        &Rule::kubernetes(),
        std::slice::from_ref(&a.recipient),
        lastmodified(),
    )
    .expect("encrypt");
    let err = sops::decrypt(&ours, &outsider.identities()).expect_err("outsider");
    assert!(matches!(err, SopsError::NoDataKey { .. }), "{err:?}");
    assert_eq!(err.sops_exit_code(), 128);
}

#[test]
fn metadata_reports_recipients_and_rule_without_any_key() {
    let (a, b) = (Keys::new(), Keys::new());
    let ours = sops::encrypt(
        &fixture("k8s-secret-stringdata.plain.yaml"),
        &Rule::kubernetes(),
        &recipients(&[&a, &b]),
        lastmodified(),
    )
    .expect("encrypt");
    let meta = sops::metadata(&ours).expect("metadata");
    assert_eq!(
        meta.recipients(),
        vec![a.recipient.to_string(), b.recipient.to_string()]
    );
    assert_eq!(meta.rule(), &Rule::kubernetes());
    assert_eq!(meta.lastmodified(), lastmodified());
    assert_eq!(meta.version(), sops::SOPS_VERSION);
    assert!(ours.contains("    lastmodified: \"2026-11-25T11:35:26Z\"\n"));
}

#[test]
fn without_metadata_keeps_kind_and_metadata_clear() {
    let keys = Keys::new();
    let ours = sops::encrypt(
        &fixture("k8s-secret-stringdata.plain.yaml"),
        &Rule::kubernetes(),
        std::slice::from_ref(&keys.recipient),
        lastmodified(),
    )
    .expect("encrypt");
    let docs = sops::without_metadata(&ours).expect("parse");
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d["kind"], "Secret");
    assert_eq!(d["metadata"]["name"], "cacerts");
    assert_eq!(d["metadata"]["namespace"], "istio-system");
    assert!(d.get("sops").is_none());
    for (_, v) in d["stringData"].as_object().expect("stringData") {
        assert!(
            v.as_str()
                .is_some_and(|s| s.starts_with("ENC[AES256_GCM,data:"))
        );
    }
}

#[test]
fn inputs_sops_refuses_are_refused() {
    let keys = Keys::new();
    let r = [keys.recipient.clone()];
    let enc = |t: &str| sops::encrypt(t, &Rule::sops_default(), &r, lastmodified());
    assert_eq!(enc(""), Err(SopsError::EmptyInput));
    assert!(matches!(
        enc("- a\n- b\n"),
        Err(SopsError::InvalidYaml { .. })
    ));
    assert!(matches!(
        enc("just a scalar\n"),
        Err(SopsError::InvalidYaml { .. })
    ));
    assert!(matches!(
        enc("a: 1\na: 2\n"),
        Err(SopsError::InvalidYaml { .. })
    ));
    assert!(matches!(enc("1: x\n"), Err(SopsError::InvalidYaml { .. })));
    assert!(matches!(
        enc("big: 9223372036854775808\n"),
        Err(SopsError::InvalidTree { .. })
    ));
    assert!(matches!(
        enc("a: 1\nsops: {}\n"),
        Err(SopsError::AlreadyEncrypted { document: 1 })
    ));
    assert!(matches!(
        sops::encrypt(
            "a: 1\n",
            &Rule::EncryptedRegex("(".into()),
            &r,
            lastmodified()
        ),
        Err(SopsError::InvalidRule { .. })
    ));
    assert!(matches!(
        Recipient::parse("age1notakey"),
        Err(SopsError::InvalidRecipient { .. })
    ));
    assert!(matches!(
        Recipient::parse("ssh-ed25519 AAAA"),
        Err(SopsError::InvalidRecipient { .. })
    ));
}

#[test]
fn generated_identities_are_redacted_and_round_trip_as_text() {
    let (secret, recipient) = sops::generate_identity();
    let text = secret.to_string_secret();
    assert!(text.starts_with("AGE-SECRET-KEY-1"));
    assert_eq!(secret.expose(), text.as_str());
    assert!(!format!("{secret:?}").contains(text.as_str()));
    let ids = Identities::parse(&text).expect("parses");
    assert_eq!(ids.recipients(), vec![recipient.clone()]);
    assert_eq!(
        Recipient::parse(recipient.as_str()).expect("recipient"),
        recipient
    );
}

/// The identities of an age key file.
fn identities_of(path: &std::path::Path) -> Result<Identities, mesh_render::sops::SopsError> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Identities::parse_from(&text, &path.display().to_string())
}
