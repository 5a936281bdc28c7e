//! Every phase of a whole run, measured apart: the topology (placement and grid, collectors,
//! the radio graph), the world (meters, routes and paths; the operations' plan; attacks and
//! defenses), the stepping by kind of work (data plane, control plane and grid events,
//! interval observers, attacks, detectors and responses), the measures, and rendering and
//! writing the result files. The run is `scenarios/bench-1m.ron` (one day, typical operations,
//! a mass disconnect of every meter at peak) at 10k and 100k meters with the hardened preset,
//! through the same timed run as `amirange bench` ([`amirange::run::bench`]), so the two split
//! a run the same way; the 1M and 10M figures come from `amirange bench` in release.
//!
//! Each benchmark's time is one phase's wall time per run: criterion repeats the whole run and
//! adds up that phase.

use std::time::Duration;

use amirange::run::{BenchRun, bench};
use amirange::scenario::{Overrides, Scenario, load};
use amirange_benches::init_threads;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const SCENARIO: &str = include_str!("../../scenarios/bench-1m.ron");

/// `bench-1m.ron` at `meters` meters with the hardened preset (detectors and responses on).
fn scenario(meters: i64) -> Scenario {
    let overrides = Overrides {
        meters: Some(meters),
        ..Overrides::default()
    };
    let mut scenario = load("scenarios/bench-1m.ron", SCENARIO, &overrides).expect("the bench scenario loads");
    scenario.apply_preset("hardened").expect("a known preset");
    scenario
}

/// A phase's label as a benchmark name: `topology: radio neighbour graph` becomes
/// `topology-radio-neighbour-graph` (criterion drops words from names with spaces).
fn slug(label: &str) -> String {
    label
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn run(scenario: &Scenario, threads: usize) -> BenchRun {
    bench(
        scenario,
        "scenarios/bench-1m.ron",
        threads,
        Default::default(),
        |_, _| {},
    )
    .expect("the bench scenario runs")
}

fn phases(c: &mut Criterion) {
    let threads = init_threads();
    for meters in [10_000i64, 100_000] {
        let scenario = scenario(meters);
        // One run names the phases (in the order they end) for this size.
        let names: Vec<&'static str> = run(&scenario, threads).phases.0.iter().map(|(p, _)| *p).collect();
        let mut group = c.benchmark_group(format!("phases_{meters}_meters_{threads}_threads"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(if meters > 10_000 { 30 } else { 5 }));
        for name in names {
            group.bench_with_input(BenchmarkId::from_parameter(slug(name)), &scenario, |b, scenario| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            run(scenario, threads)
                                .phases
                                .0
                                .iter()
                                .find(|(p, _)| *p == name)
                                .map_or(Duration::ZERO, |(_, t)| *t)
                        })
                        .sum()
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, phases);
criterion_main!(benches);
