//! One data-plane step (consumption, read cycle, HES ingestion, MDM VEE) over every meter, at
//! 10k, 100k and 1M meters. Throughput is in meter-intervals, so criterion reports
//! meter-intervals per second. Worlds are built outside the timed routine.

use std::time::{Duration, Instant};

use amirange_benches::{SCALES, build_sim, init_threads};
use amirange_sim::config::INTERVAL;
use amirange_sim::time::SimTime;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn step_one_interval(c: &mut Criterion) {
    let threads = init_threads();
    let mut group = c.benchmark_group(format!("data_plane_step_{threads}_threads"));
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    for meters in SCALES {
        let days = 30;
        let mut sim = build_sim(meters, days);
        group.throughput(Throughput::Elements(meters));
        group.bench_with_input(BenchmarkId::from_parameter(meters), &meters, |b, &meters| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let next = SimTime(sim.now().0 + INTERVAL.as_micros());
                    if next > sim.horizon() {
                        // Rebuilding is set-up, not the thing measured.
                        sim = build_sim(meters, days);
                    }
                    let to = SimTime(sim.now().0 + INTERVAL.as_micros());
                    let started = Instant::now();
                    sim.step_until(to).expect("within the horizon");
                    spent += started.elapsed();
                }
                spent
            });
        });
    }
    group.finish();
}

criterion_group!(benches, step_one_interval);
criterion_main!(benches);
