#!/usr/bin/env bash
# A sweep as a Slurm job array: each array task runs one shard of the plan; then
# slurm-merge.sh, submitted to run after the whole array, combines the shards into the folder
# an unsharded sweep writes (summary.csv byte for byte the same). From the checkout's root:
#
#   cargo build --release
#   plan=scenarios/sweeps/jammer-radius.ron
#   job=$(sbatch --parsable --array=1-8 scenarios/sweeps/slurm-array.sh "$plan")
#   job=${job%%;*}        # --parsable prints JOBID or JOBID;CLUSTER
#   sbatch --dependency=afterok:$job scenarios/sweeps/slurm-merge.sh "$plan" "$job"
#
# Task I of the array writes results/shards/<plan>-<JOBID>/shard-I-of-N/ (N the array's size,
# JOBID the array's job id, so that shards of different submissions never mix); the merge
# writes results/sweep-<plan>-<JOBID>/. Each task's log is slurm-amirange-sweep-<JOBID>_<I>.log
# in the folder sbatch was run from (one line per finished run): Slurm opens it before the job
# starts, so it must not name a folder that may not exist yet.
#
# The binary: $AMIRANGE if set, else target/release/amirange in the folder sbatch was run from,
# else `amirange` on PATH.
#
# ---- ADAPT TO YOUR CLUSTER -----------------------------------------------------------------
# The lines below are examples. Set the partition and account your site requires (uncomment
# them, or pass them to sbatch: sbatch -p PART -A ACCOUNT ...), the cores per task, the memory
# (one run of a 1M-meter day peaks at 0.6 to 1.2 GB, see docs/performance.md; a
# task does --cpus-per-task runs at once) and the time for one shard (runs / tasks /
# cpus-per-task, times one run's time; `amirange run` on one grid point tells you that).
#SBATCH --job-name=amirange-sweep
##SBATCH --partition=CHANGE-ME
##SBATCH --account=CHANGE-ME
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --output=slurm-%x-%A_%a.log
# ---- end of what to adapt ------------------------------------------------------------------
set -euo pipefail

die() {
    echo "slurm-array.sh: $*" >&2
    exit 2
}

plan="${1:-}"
[[ -n "$plan" ]] || die "usage: sbatch --array=1-N slurm-array.sh PLAN"
[[ -f "$plan" ]] || die "no sweep plan at $plan (paths are relative to $(pwd))"
name="$(basename "$plan" .ron)"

# The array must be numbered 1, 2, ..., N: the task id is the shard's number, the highest id
# the number of shards. An array from 0, with a step or with gaps would silently lose a shard.
task="${SLURM_ARRAY_TASK_ID:-}"
[[ -n "$task" ]] || die "not an array task (no SLURM_ARRAY_TASK_ID): submit with sbatch --array=1-N"
min="${SLURM_ARRAY_TASK_MIN:-}"
max="${SLURM_ARRAY_TASK_MAX:-}"
step="${SLURM_ARRAY_TASK_STEP:-1}"
[[ -n "$min" && -n "$max" ]] || die "SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_MAX are not set: submit with sbatch --array=1-N"
count="${SLURM_ARRAY_TASK_COUNT:-$max}"
if [[ "$min" != 1 || "$step" != 1 || "$count" != "$max" ]]; then
    die "the array is numbered $min-$max with step $step ($count tasks); it must be --array=1-N with no step and no gaps, each task one shard of N"
fi
job="${SLURM_ARRAY_JOB_ID:?not an array job (no SLURM_ARRAY_JOB_ID)}"

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

# amirange keeps at most --cpus-per-task threads busy (runs at once share them); without it
# the node's whole core count would be used.
threads="${SLURM_CPUS_PER_TASK:-1}"
out="results/shards/${name}-${job}/shard-${task}-of-${count}"
echo "task $task of $count: $bin sweep $plan -> $out ($threads threads)"
# --force: a requeued task replaces its own earlier shard (amirange replaces only a sweep
# folder it wrote).
exec "$bin" sweep "$plan" \
    --shard "${task}/${count}" \
    --threads "$threads" \
    --out "$out" \
    --force
