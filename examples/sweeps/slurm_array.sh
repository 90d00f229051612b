#!/usr/bin/env bash
# The smoke sweep as a SLURM job array: 4 tasks, one point each (SLURM_ARRAY_TASK_ID picks the
# shard, SLURM_ARRAY_TASK_COUNT says how many), writing into runs/sweeps/smoke on the shared
# filesystem the repository is on. The last task to finish gathers the report.
#
#   sbatch examples/sweeps/slurm_array.sh            # from the repository root
#
# A task whose point failed exits 1; resubmit the array (or one index, --array=2) and only what
# failed runs again. For another spec, set --array=0-(points - 1), or fewer tasks: each shard then
# runs several points.
#SBATCH --job-name=shears-smoke
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=00:30:00
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
exec deno task sweep examples/sweeps/smoke.yaml --executor index --out runs/sweeps/smoke
