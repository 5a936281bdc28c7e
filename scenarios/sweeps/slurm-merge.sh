#!/usr/bin/env bash
# Merges the shards of one slurm-array.sh submission into the folder an unsharded sweep
# writes. Submit it to start once every array task has succeeded:
#
#   sbatch --dependency=afterok:JOBID scenarios/sweeps/slurm-merge.sh PLAN JOBID
#
# It reads results/shards/<plan>-<JOBID>/shard-*-of-N/ and writes results/sweep-<plan>-<JOBID>/
# (amirange refuses a set that lacks a shard or mixes shard counts, naming the folders). It
# can also be run by hand, without Slurm, with the same two arguments.
#
# ---- ADAPT TO YOUR CLUSTER -----------------------------------------------------------------
# Partition and account as for slurm-array.sh; the merge reads every run's metrics.json, so it
# needs little memory and one core.
#SBATCH --job-name=amirange-merge
##SBATCH --partition=CHANGE-ME
##SBATCH --account=CHANGE-ME
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=00:30:00
#SBATCH --output=slurm-%x-%j.log
# ---- end of what to adapt ------------------------------------------------------------------
set -euo pipefail

die() {
    echo "slurm-merge.sh: $*" >&2
    exit 2
}

plan="${1:-}"
job="${2:-}"
[[ -n "$plan" && -n "$job" ]] || die "usage: sbatch --dependency=afterok:JOBID slurm-merge.sh PLAN JOBID"
name="$(basename "$plan" .ron)"

submit="${SLURM_SUBMIT_DIR:-$(pwd)}"
if [[ -n "${AMIRANGE:-}" ]]; then
    bin="$AMIRANGE"
    [[ -x "$bin" ]] || die "AMIRANGE=$bin is not an executable file"
elif [[ -x "$submit/target/release/amirange" ]]; then
    bin="$submit/target/release/amirange"
elif bin="$(command -v amirange)"; then
    :
else
    die "no amirange binary: run cargo build --release in $submit, or set AMIRANGE=/path/to/amirange"
fi

shards="results/shards/${name}-${job}"
shopt -s nullglob
dirs=("$shards"/shard-*-of-*)
((${#dirs[@]} > 0)) || die "no shards in $shards/ (did array job $job run from $(pwd)?)"
out="results/sweep-${name}-${job}"
echo "merging ${#dirs[@]} shards of $shards into $out"
exec "$bin" merge "${dirs[@]}" --out "$out"
