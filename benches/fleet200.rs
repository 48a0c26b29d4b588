//! The 200-cluster figures: one full render from empty, a no-op re-render, adding one cluster and
//! `check`, each timed once with the peak memory of the process (too long for criterion's
//! repetitions). `cargo bench --bench fleet200` runs it; `cargo test --benches` runs the same
//! steps on 3 clusters as a smoke test. `FLEET_CLUSTERS=N` overrides the size; `FLEET_DIR=DIR`
//! builds the fleet in DIR and keeps it (to profile single runs there).

mod fleet;

use std::time::{Duration, Instant};

use fleet::Fleet;

/// Runs `mesh-render args` and returns its wall time and peak resident memory (KiB).
fn measure(fleet: &Fleet, args: &[&str]) -> (Duration, i64) {
    let start = Instant::now();
    let child = fleet
        .command()
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("mesh-render runs");
    let (status, max_rss) = wait_with_rusage(child);
    let elapsed = start.elapsed();
    let ok = status == 0 || args.first() == Some(&"check") && status == 1;
    assert!(ok, "mesh-render {args:?} exited with {status}");
    (elapsed, max_rss)
}

#[cfg(unix)]
fn wait_with_rusage(child: std::process::Child) -> (i32, i64) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills; `pid` is our child, reaped exactly once
    // here (the `Child` is dropped without waiting).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    drop(child);
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

#[cfg(not(unix))]
fn wait_with_rusage(mut child: std::process::Child) -> (i32, i64) {
    let status = child.wait().expect("wait");
    (status.code().unwrap_or(-1), 0)
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let n = std::env::var("FLEET_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benchmarking { 200 } else { 3 });
    // Under target/, on the disk a user's tree is on (not a tmpfs /tmp).
    let scratch = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fleet-bench");
    std::fs::create_dir_all(&scratch).unwrap();
    let root = tempfile::tempdir_in(&scratch).unwrap();
    let kept = std::env::var_os("FLEET_DIR").map(std::path::PathBuf::from);
    let dir = kept.as_deref().unwrap_or(root.path());
    let fleet = Fleet::create(dir, n);
    // The PKI is issued once beforehand, as in a real repository.
    fleet.run(&["-q", "warm-up"]);

    let mut rows = Vec::new();
    rows.push(("full render from empty", measure(&fleet, &["-q", "out"])));
    let files = count_files(&dir.join("out"));
    rows.push(("no-op re-render", measure(&fleet, &["-q", "out"])));
    rows.push((
        "add one cluster",
        measure(&fleet, &["-q", "--config", "mesh-plus-one.yaml", "out"]),
    ));
    let schemas = Fleet::schemas();
    let mut check = vec!["check", "out", "--against", "mesh-plus-one.yaml"];
    if let Some(schemas) = &schemas {
        check.extend(["--schemas", schemas.as_str()]);
    }
    rows.push((
        "check --against (decrypting, proving every file)",
        measure(&fleet, &check),
    ));
    // The same without proving each sealed file by its plaintext: the proof's own cost.
    check.push("--no-verify-secrets");
    rows.push((
        "check --against --no-verify-secrets",
        measure(&fleet, &check),
    ));

    println!(
        "{n} clusters, {files} files, {} remote secrets, 2 recipients per file, {} threads",
        n * (n - 1),
        std::thread::available_parallelism().map_or(1, |p| p.get())
    );
    for (what, (time, rss)) in rows {
        println!(
            "  {what:<42} {:>8.2} s  {:>6} MiB peak",
            time.as_secs_f64(),
            rss / 1024
        );
    }
}
