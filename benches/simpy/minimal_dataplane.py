"""A minimal metering data plane as a researcher would write it in SimPy, for comparison with
amirange's wall time (docs/performance.md, "Against a SimPy data plane").

Written for this repository (not copied from anywhere): every meter is a SimPy process that
wakes each 15 minutes, draws its consumption (a mean-one log-normal factor on a fixed
per-meter mean), and sends the reading over a link to its collector: the link loses it with a
fixed probability, or delivers it after a log-normal latency into the collector's store. No
grid, no routing, no control plane, no attacks, no MDM: far less than amirange does per
meter-interval, so the comparison flatters SimPy.

    pip install simpy==4.1.2
    python benches/simpy/minimal_dataplane.py --meters 100000 --hours 24

prints the meter-intervals simulated and the wall time.
"""

import argparse
import random
import time

import simpy

INTERVAL_S = 900.0


def meter(env, rng, collector, mean_kwh, counters):
    register = 0.0
    while True:
        yield env.timeout(INTERVAL_S)
        kwh = mean_kwh * rng.lognormvariate(-0.045, 0.3)
        register += kwh
        counters["intervals"] += 1
        if rng.random() < 0.98:
            env.process(send(env, rng, collector, register))


def send(env, rng, collector, reading):
    yield env.timeout(rng.lognormvariate(0.0, 0.5))
    yield collector.put(reading)


def drain(env, collector, counters):
    while True:
        yield collector.get()
        counters["delivered"] += 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--meters-per-collector", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = simpy.Environment()
    counters = {"intervals": 0, "delivered": 0}
    n_collectors = max(1, args.meters // args.meters_per_collector)
    collectors = [simpy.Store(env) for _ in range(n_collectors)]
    for c in collectors:
        env.process(drain(env, c, counters))
    for m in range(args.meters):
        mean_kwh = 3500.0 / 35040.0 * rng.lognormvariate(-0.125, 0.5)
        env.process(meter(env, rng, collectors[m % n_collectors], mean_kwh, counters))
    started = time.perf_counter()
    env.run(until=args.hours * 3600.0 + 1.0)
    wall = time.perf_counter() - started
    print(
        f"simpy minimal data plane: {args.meters:,} meters, {args.hours:g} h, "
        f"{counters['intervals']:,} meter-intervals, {counters['delivered']:,} readings delivered, "
        f"{wall:.1f} s wall, {counters['intervals'] / wall:,.0f} meter-intervals/s"
    )


if __name__ == "__main__":
    main()
