//! Whole renders through the binary, as a user runs them, for 3 and 50 clusters (two recipients
//! per file): full from empty, a no-op re-render, adding one cluster, and `check`; and the pure
//! render of one cluster. The 200-cluster figures come from `benches/fleet200.rs`.

mod fleet;

use std::fs;
use std::path::Path;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use fleet::Fleet;

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn whole_renders(c: &mut Criterion) {
    // `cargo test --benches` runs each benchmark once as a smoke test: 3 clusters are enough.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if benchmarking { &[3, 50] } else { &[3] };
    for &n in sizes {
        let root = tempfile::tempdir().unwrap();
        let fleet = Fleet::create(root.path(), n);
        fleet.run(&["-q", "base"]);
        let mut group = c.benchmark_group(format!("{n} clusters"));
        group.sample_size(10);
        // Every output is kept until the benchmark ends: deleting thousands of files slows the
        // next creation of as many on ext4 for minutes (recently deleted inodes are skipped).
        let mut kept = Vec::new();
        group.bench_function("full render from empty", |b| {
            b.iter_batched(
                || tempfile::tempdir_in(root.path()).unwrap(),
                |out| {
                    fleet.run(&["-q", &out.path().join("out").display().to_string()]);
                    kept.push(out);
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function("no-op re-render", |b| b.iter(|| fleet.run(&["-q", "base"])));
        // Adding a cluster in its own fleet, so the PKI of the others stays untouched.
        let grow_root = tempfile::tempdir().unwrap();
        let grow = Fleet::create(grow_root.path(), n);
        grow.run(&["-q", "base"]);
        group.bench_function("add one cluster", |b| {
            b.iter_batched(
                || {
                    let out = tempfile::tempdir_in(grow_root.path()).unwrap();
                    copy_dir(&grow_root.path().join("base"), out.path());
                    out
                },
                |out| {
                    let dir = out.path().display().to_string();
                    grow.run(&["-q", "--config", "mesh-plus-one.yaml", &dir]);
                    kept.push(out);
                },
                BatchSize::PerIteration,
            )
        });
        let mut check = vec!["check", "base", "--against", "mesh.yaml"];
        let schemas = Fleet::schemas();
        if let Some(schemas) = &schemas {
            check.extend(["--schemas", schemas.as_str()]);
        }
        group.bench_function("check", |b| b.iter(|| fleet.run(&check)));
        group.finish();
        drop(kept);
    }
}

fn render_one_cluster(c: &mut Criterion) {
    let mesh = fleet::mesh_yaml(
        1,
        "age1lemgh7y8964vxk6y0dl4vgqsnpd9armjh5gnzwg6kjart0tvte3qfg74aq",
        &["age1lemgh7y8964vxk6y0dl4vgqsnpd9armjh5gnzwg6kjart0tvte3qfg74aq".to_owned()],
        &fleet::ca_data(),
    );
    let mesh = mesh_render::config::parse(
        &mesh,
        &mesh_render::config::Origin::File("mesh.yaml".into()),
    )
    .unwrap();
    let inputs = mesh_render::model::SecretPlans::none();
    c.bench_function("render one cluster (pure, no secrets)", |b| {
        b.iter(|| {
            let model = mesh_render::model::Model::from_mesh(&mesh, &inputs);
            mesh_render::render::render(&model).unwrap()
        })
    });
}

criterion_group!(benches, whole_renders, render_one_cluster);
criterion_main!(benches);
