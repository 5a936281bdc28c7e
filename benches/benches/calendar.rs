//! The control-plane calendar under the classic "hold" workload: with N events pending, pop the
//! next one and schedule a new one a random time after it. The cost per hold must not grow with
//! N (a calendar queue, not a heap).

use amirange_sim::calendar::EventCalendar;
use amirange_sim::rng::{Purpose, Stream};
use amirange_sim::time::SimTime;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Events are spread over one simulated day, like a day of commands and messages.
const DAY_US: u64 = 86_400_000_000;

fn hold(c: &mut Criterion) {
    let mut group = c.benchmark_group("calendar_hold");
    for pending in [10_000u64, 100_000, 1_000_000] {
        let mut stream = Stream::new(1, Purpose::Test, pending, 0);
        let mut calendar = EventCalendar::new();
        for i in 0..pending {
            calendar.insert(SimTime(stream.below(DAY_US)), i);
        }
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(pending), &pending, |b, _| {
            b.iter(|| {
                let e = calendar.pop().expect("the calendar never drains in a hold model");
                let next = SimTime(e.time.0 + stream.below(DAY_US));
                black_box(calendar.insert(next, e.payload));
            });
        });
    }
    group.finish();
}

criterion_group!(benches, hold);
criterion_main!(benches);
