#!/usr/bin/env bash
# A sweep as a Slurm job array: each array task runs one shard of the plan, then one merge
# combines them into the folder an unsharded sweep writes (summary.csv byte for byte the same).
#
#   sbatch --array=1-8 scenarios/sweeps/slurm-array.sh scenarios/sweeps/jammer-radius.ron
#   # when every task is done:
#   amirange merge results/shards/jammer-radius-* --out results/sweep-jammer-radius
#
# Each task uses the cores Slurm gives it (--cpus-per-task) for runs at once.
#SBATCH --job-name=amirange-sweep
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --output=results/shards/slurm-%A_%a.log
set -euo pipefail
plan="${1:?usage: sbatch --array=1-N slurm-array.sh PLAN}"
name="$(basename "$plan" .ron)"
# The array's size: SLURM_ARRAY_TASK_COUNT (Slurm 20.11+), else the highest task id.
count="${SLURM_ARRAY_TASK_COUNT:-${SLURM_ARRAY_TASK_MAX:?run under sbatch --array=1-N}}"
mkdir -p results/shards
amirange sweep "$plan" \
    --shard "${SLURM_ARRAY_TASK_ID}/${count}" \
    --jobs "${SLURM_CPUS_PER_TASK:-1}" \
    --out "results/shards/${name}-${SLURM_ARRAY_TASK_ID}-of-${count}" \
    --force --quiet
