#!/usr/bin/env bash
# The scale budget with attacks on: runs attack scenario files against the 1M-meter city in the
# CLI's benchmark mode (release build, no result files written) and prints one line per file:
# build time, step time, wall time and peak memory.
#
#   benches/attacks-1m.sh                                   every file in scenarios/attacks/
#   benches/attacks-1m.sh scenarios/attacks/replay-*.ron    some of them
#   RUNS=3 benches/attacks-1m.sh ...                        each file 3 times (median wall)
#
# Each file is copied to a temporary folder with its topology replaced by `Preset("city-1m")`
# (the topology of scenarios/bench-1m.ron); everything else (operations, security settings,
# attacks) stays as the file writes it. The first line is the baseline: bench-1m.ron without its
# attack. Expect about 10 to 20 seconds and 0.6 to 1 GB per run on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/amirange
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
runs=${RUNS:-1}
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(scenarios/attacks/*.ron)
fi
# The baseline: the benchmark scenario with its attack list emptied.
awk '/^    attacks: \[/{skip=1; print "    attacks: [],"; next} skip&&/^    \],/{skip=0; next} !skip' \
    scenarios/bench-1m.ron > "$tmp/baseline-no-attack.ron"
printf '%-32s %9s %9s %9s %10s\n' scenario build_s step_s wall_s peak_mb
for f in "$tmp/baseline-no-attack.ron" "${files[@]}"; do
    name=$(basename "$f" .ron)
    if [ "$f" != "$tmp/baseline-no-attack.ron" ]; then
        sed 's/Preset("[a-z0-9-]*")/Preset("city-1m")/' "$f" > "$tmp/$name.ron"
    fi
    walls=()
    for _ in $(seq "$runs"); do
        out=$("$bin" bench "$tmp/$name.ron")
        build=$(awk '/build \(topology\+world\)/{print $(NF-1)}' <<<"$out")
        step=$(awk '/step \(all intervals\)/{print $(NF-1)}' <<<"$out")
        wall=$(awk '/wall total/{print $(NF-1)}' <<<"$out")
        peak=$(awk '/peak memory/{print $(NF-1)}' <<<"$out")
        walls+=("$wall")
    done
    median=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
    printf '%-32s %9s %9s %9s %10s\n' "$name" "$build" "$step" "$median" "$peak"
done
