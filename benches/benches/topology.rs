//! Topology generation (placement, grid, radio graph) and route formation at 10k and 100k
//! meters; the 1M figure comes from `amirange topo describe city-1m` in release. Throughput is
//! in meters, so criterion reports meters per second.

use std::time::Duration;

use amirange_benches::{build_network, init_threads};
use amirange_sim::network::NetState;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn generate_and_route(c: &mut Criterion) {
    let threads = init_threads();
    let mut group = c.benchmark_group(format!("topology_{threads}_threads"));
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for meters in [10_000u64, 100_000] {
        group.throughput(Throughput::Elements(meters));
        group.bench_with_input(BenchmarkId::new("generate", meters), &meters, |b, &meters| {
            b.iter(|| build_network(meters));
        });
        let network = build_network(meters);
        group.bench_with_input(BenchmarkId::new("route", meters), &network, |b, network| {
            b.iter(|| NetState::new(network));
        });
    }
    group.finish();
}

criterion_group!(benches, generate_and_route);
criterion_main!(benches);
