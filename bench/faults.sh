#!/usr/bin/env bash
# Faults and mutations at benchmark size (issue 21): the fault-injection suite with RUNS random
# interrupts per executor (shell, Docker, Kubernetes on the test cluster; default 20) and the mutation
# target with CASES mutated pipelines (default 5000), both with random seeds (printed, so a
# failure can be replayed with GANTRY_FAULT_SEED / GANTRY_MUTATION_SEED). Figures go to
# docs/benchmarks.md. Usage: bench/faults.sh [RUNS] [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cases=${2:-5000}
fault_seed=${GANTRY_FAULT_SEED:-$(( (RANDOM << 15) | RANDOM ))}
mutation_seed=${GANTRY_MUTATION_SEED:-$(( (RANDOM << 15) | RANDOM ))}
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%F)"
echo "fault seed $fault_seed, mutation seed $mutation_seed"
start=$(date +%s)
GANTRY_MUTATION_SEED=$mutation_seed GANTRY_MUTATION_CASES=$cases \
  cargo test --locked --test integration mutation -- --nocapture 2>&1 | grep -E '^mutation:|panicked|FAILED|failed' || true
echo "mutation: $(( $(date +%s) - start )) s"
start=$(date +%s)
GANTRY_FAULT_SEED=$fault_seed GANTRY_FAULT_RUNS=$runs \
  cargo test --locked --test integration fault_injection -- --nocapture 2>&1 | grep -E '^faults:|left behind|panicked|FAILED|NOTICE' || true
echo "faults: $(( $(date +%s) - start )) s"
