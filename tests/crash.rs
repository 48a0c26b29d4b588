//! Crash safety with real processes on a 30-cluster mesh with credentials (cacerts and 870
//! remote secrets sealed). A run is stopped at each named point of its commit (the debug-only
//! fault hook aborts the process there, as `kill -9` would), and by a real `kill -9` after a
//! seeded random delay (`CRASH_TRIALS=N` trials, default 10; `CRASH_SEED` changes the delays).
//! After each: the next render succeeds, `check --against mesh.yaml` with the admin key is clean,
//! no temporary file or journal is left, and the root is the one the mesh had, unless the
//! interrupted command had committed a new one (a first render, a completed rotation).

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Workspace;

const CLUSTERS: usize = 30;

/// The points a render passes, in order: the PKI issued in memory, half the files staged,
/// all staged, the PKI's files staged, the PKI journal written (its commit point), half its
/// steps done, half the output renamed, every file in place but the record.
const RENDER_POINTS: [&str; 8] = [
    "issued",
    "staging",
    "staged",
    "pki-staged",
    "pki-commit",
    "pki-applying",
    "renaming",
    "record",
];

/// The first point at which the PKI change is committed.
const PKI_COMMITTED: usize = 4;

fn trials() -> usize {
    std::env::var("CRASH_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
}

fn names(clusters: std::ops::RangeInclusive<usize>) -> Vec<String> {
    clusters.map(|i| format!("c{i}")).collect()
}

/// A mesh of the clusters `c<first>..=c<last>`, each with a reader token file, for `admin`.
fn mesh(admin: &str, dir: &Path, clusters: std::ops::RangeInclusive<usize>) -> String {
    let mut doc = format!(
        "apiVersion: mesh-render.dev/v1alpha1\nkind: Mesh\nmeshID: crash\nistio:\n  version: 1.26.3\nsecrets:\n  admins:\n    - {admin}\nclusters:\n"
    );
    let names = names(clusters);
    for name in &names {
        doc.push_str(&format!("  - name: {name}\n    network: net-{name}\n"));
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    common::workspace::with_token_files(&doc, dir, &refs, 10)
}

fn fleet() -> Workspace {
    Workspace::build(|admin, dir| mesh(admin, dir, 1..=CLUSTERS))
}

/// Changes the fleet so that a render issues an intermediate (c31) and retires one (c1).
fn change_fleet(ws: &Workspace) {
    let text = fs::read_to_string(ws.path().join("mesh.yaml")).unwrap();
    let admin = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("- age1"))
        .map(|rest| format!("age1{rest}"))
        .unwrap();
    fs::write(
        ws.path().join("mesh.yaml"),
        mesh(&admin, ws.path(), 2..=CLUSTERS + 1),
    )
    .unwrap();
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A render of `args` stopped at `point`; it must have been stopped there.
fn abort_at(ws: &Workspace, point: &str, args: &[&str]) {
    let o = ws
        .command(true)
        .env("MESH_RENDER_FAULT", format!("abort@{point}"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None, "{point}: not stopped: {}", text(&o));
}

fn root(ws: &Workspace) -> Option<Vec<u8>> {
    fs::read(ws.path().join("pki/root.yaml")).ok()
}

/// Every file under `dir` with the SHA-256 of its bytes.
fn digests(dir: &Path) -> Vec<(String, String)> {
    common::read_all(dir)
        .into_iter()
        .map(|(path, bytes)| (path, mesh_render::digest::sha256_hex(&bytes)))
        .collect()
}

/// The temporary files and journals under `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    common::files_under(dir)
        .into_iter()
        .filter(|f| {
            let name = f.rsplit('/').next().unwrap_or(f);
            (name.starts_with(".mesh-render-") && name.ends_with(".tmp"))
                || name == ".render-journal.json"
                || name == ".pki-journal.json"
        })
        .collect()
}

/// The next render succeeds (its output returned), leaves nothing behind, and the tree checks
/// clean against mesh.yaml with the admin key.
fn recovers(ws: &Workspace, at: &str) -> String {
    let o = ws.run(true, &["out"]);
    assert_eq!(o.status.code(), Some(0), "{at}: {}", text(&o));
    assert_eq!(leftovers(ws.path()), Vec::<String>::new(), "{at}");
    let check = ws.run(
        true,
        &["check", "out", "--against", "mesh.yaml", "--format", "json"],
    );
    let report: serde_json::Value = serde_json::from_slice(&check.stdout)
        .unwrap_or_else(|e| panic!("{at}: {e}: {}", text(&check)));
    assert_eq!(report["errors"], 0, "{at}: {report:#}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_first_render_stopped_at_any_point_is_completed_by_the_next() {
    for (i, point) in RENDER_POINTS.iter().enumerate() {
        let ws = fleet();
        abort_at(&ws, point, &["out"]);
        let committed = i >= PKI_COMMITTED;
        let at = format!("first render stopped at {point}");
        let next = recovers(&ws, &at);
        assert_eq!(
            next.contains("issued the mesh's root CA"),
            !committed,
            "{at}: {next}"
        );
        assert_eq!(
            next.contains("completed the change to"),
            committed && i < 6,
            "{at}: {next}"
        );
    }
}

#[test]
fn a_re_render_that_changes_the_pki_stopped_at_any_point_keeps_the_root_and_is_completed() {
    for point in RENDER_POINTS {
        let ws = fleet();
        ws.ok(true, &["out"]);
        let before = root(&ws);
        change_fleet(&ws);
        abort_at(&ws, point, &["out", "--refresh-credentials"]);
        let at = format!("re-render stopped at {point}");
        recovers(&ws, &at);
        assert_eq!(root(&ws), before, "{at}");
        let pki = ws.path().join("pki");
        assert!(pki.join("intermediates/c31.yaml").is_file(), "{at}");
        assert!(!pki.join("intermediates/c1.yaml").exists(), "{at}");
        assert_eq!(
            fs::read_dir(pki.join("retired")).unwrap().count(),
            1,
            "{at}"
        );
    }
}

#[test]
fn a_rotation_stopped_before_its_commit_point_changes_nothing_and_after_it_completes() {
    let ws = fleet();
    ws.ok(true, &["out"]);
    for stage in ["prepare", "trust-both", "switch", "finish"] {
        ws.ok(true, &["pki", "rotate-root", "--stage", stage]);
        ws.ok(true, &["out"]);
    }
    let (old, next) = (
        root(&ws),
        fs::read(ws.path().join("pki/root-next.yaml")).ok(),
    );
    abort_at(
        &ws,
        "pki-staged",
        &["pki", "rotate-root", "--stage", "done"],
    );
    recovers(&ws, "done stopped before its commit point");
    assert_eq!(root(&ws), old);
    assert!(ws.path().join("pki/rotation.yaml").is_file());
    abort_at(
        &ws,
        "pki-applying",
        &["pki", "rotate-root", "--stage", "done"],
    );
    let next_render = recovers(&ws, "done stopped after its commit point");
    assert!(
        next_render.contains("completed the change to"),
        "{next_render}"
    );
    assert_eq!(root(&ws), next, "the next root is the root");
    assert!(!ws.path().join("pki/rotation.yaml").exists());
    assert!(!ws.path().join("pki/intermediates-next").exists());
}

/// A deterministic stream of delays (xorshift), so a failing trial can be replayed.
struct Delays(u64);

impl Delays {
    fn next(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        max.mul_f64((self.0 % 10_000) as f64 / 10_000.0)
    }
}

/// What a killed run left, for the trials' summary.
fn what_is_left(ws: &Workspace) -> &'static str {
    let left = leftovers(ws.path());
    let has = |name: &str| left.iter().any(|f| f.ends_with(name));
    if has(".render-journal.json") {
        "an output journal"
    } else if has(".pki-journal.json") {
        "a PKI journal"
    } else if !left.is_empty() {
        "temporary files only"
    } else {
        "nothing"
    }
}

/// How long an uninterrupted run of `args` takes in a workspace `prepare` makes.
fn duration(prepare: impl Fn() -> Workspace, args: &[&str]) -> Duration {
    let ws = prepare();
    let start = Instant::now();
    ws.ok(true, args);
    start.elapsed()
}

/// Kills `args` with SIGKILL after `delay`; whether it had finished by then.
fn kill_after(ws: &Workspace, args: &[&str], delay: Duration) -> bool {
    let mut child = ws
        .command(true)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    child.wait().unwrap();
    finished
}

#[test]
fn kill_9_at_random_moments_never_wedges_the_tree_or_loses_the_root() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let mut delays = Delays(seed | 1);
    let first = duration(fleet, &["out"]);
    let changed = || {
        let ws = fleet();
        ws.ok(true, &["out"]);
        change_fleet(&ws);
        ws
    };
    let again = duration(changed, &["out", "--refresh-credentials"]);
    let (mut killed, mut finished) = (0, 0);
    let mut left = std::collections::BTreeMap::new();
    for trial in 0..trials() {
        // Even trials kill a first render, odd ones a re-render that changes the PKI and
        // re-seals every file.
        let (ws, args, max, before) = if trial % 2 == 0 {
            (fleet(), &["out"][..], first, None)
        } else {
            let ws = changed();
            let before = root(&ws);
            (ws, &["out", "--refresh-credentials"][..], again, before)
        };
        let delay = delays.next(max.mul_f64(1.1));
        if kill_after(&ws, args, delay) {
            finished += 1;
        } else {
            killed += 1;
        }
        let at = format!("trial {trial} (seed {seed}): {args:?} killed after {delay:?}");
        *left.entry(what_is_left(&ws)).or_insert(0) += 1;
        recovers(&ws, &at);
        if before.is_some() {
            assert_eq!(root(&ws), before, "{at}");
        }
    }
    eprintln!(
        "kill -9 trials: {} ({killed} killed mid-run, {finished} finished first; a full first render took {first:?}, a re-render {again:?}); every one recovered; left behind: {left:?}",
        killed + finished
    );
}

/// A tmpfs mounted at `dir` with `inodes` inodes, unmounted on drop; `None` where mounting is not
/// allowed (outside CI only: CI runs as root).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, inodes: u64) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size=64m,nr_inodes={inodes}"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .ok()?;
        if o.status.success() {
            Some(Tmpfs(dir.to_owned()))
        } else {
            assert!(
                !common::in_ci(),
                "CI must allow a tmpfs mount: {}",
                text(&o)
            );
            eprintln!(
                "skipped: mounting a tmpfs is not allowed here ({}); CI runs it",
                text(&o).trim()
            );
            None
        }
    }

    fn resize(&self, inodes: u64) {
        let o = Command::new("mount")
            .args(["-o"])
            .arg(format!("remount,nr_inodes={inodes}"))
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }

    fn used_inodes(&self) -> u64 {
        let path = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes()).unwrap();
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut stat) }, 0);
        (stat.f_files - stat.f_ffree) as u64
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The example with credentials: cacerts and remote secrets sealed.
fn small() -> Workspace {
    Workspace::with_token_files()
}

#[test]
fn running_out_of_inodes_anywhere_in_a_re_render_never_wedges_the_tree() {
    let mut ran = 0;
    for spare in 0.. {
        let ws = small();
        let Some(fs) = Tmpfs::mount(&ws.out(), 100_000) else {
            return;
        };
        ws.ok(true, &["out"]);
        ws.edit_mesh("profile: demo", "profile: default");
        fs.resize(fs.used_inodes() + spare);
        let o = ws.run(true, &["out", "--refresh-credentials"]);
        let at = format!("re-render with {spare} spare inodes");
        fs.resize(100_000);
        recovers(&ws, &at);
        ran += 1;
        if o.status.success() {
            eprintln!("re-render: failed with 0..{spare} spare inodes, recovered each time");
            break;
        }
        assert_eq!(o.status.code(), Some(1), "{at}: {}", text(&o));
        assert!(
            text(&o).contains("No space left on device"),
            "{at}: {}",
            text(&o)
        );
    }
    assert!(ran > 3, "the sweep reached the point where the render fits");
}

#[test]
fn running_out_of_inodes_in_a_first_render_leaves_nothing_half_made() {
    for inodes in 1.. {
        let ws = small();
        let Some(fs) = Tmpfs::mount(&ws.out(), inodes) else {
            return;
        };
        let o = ws.run(true, &["out"]);
        let at = format!("first render with {inodes} inodes");
        if o.status.success() {
            eprintln!("first render: failed with 1..{inodes} inodes, recovered each time");
            break;
        }
        assert_eq!(o.status.code(), Some(1), "{at}: {}", text(&o));
        fs.resize(100_000);
        recovers(&ws, &at);
        assert!(inodes < 10_000, "{at}");
    }
}

#[test]
fn running_out_of_inodes_in_the_pki_leaves_it_as_it_was() {
    for spare in 0.. {
        let ws = Workspace::example();
        let Some(fs) = Tmpfs::mount(&ws.path().join("pki"), 100_000) else {
            return;
        };
        ws.ok(true, &["out"]);
        let before = digests(&ws.path().join("pki"));
        // A cluster renamed: one intermediate issued, one retired.
        let mesh = fs::read_to_string(ws.path().join("mesh.yaml")).unwrap();
        fs::write(
            ws.path().join("mesh.yaml"),
            mesh.replace("kt-k2p", "kt-k2q"),
        )
        .unwrap();
        fs.resize(fs.used_inodes() + spare);
        let o = ws.run(true, &["out"]);
        let at = format!("a new cluster's intermediate with {spare} spare inodes in pki/");
        if o.status.success() {
            eprintln!("pki/: failed with 0..{spare} spare inodes, unchanged each time");
            break;
        }
        assert_eq!(o.status.code(), Some(1), "{at}: {}", text(&o));
        assert_eq!(digests(&ws.path().join("pki")), before, "{at}");
        fs.resize(100_000);
        recovers(&ws, &at);
        assert!(spare < 100, "{at}");
    }
}
