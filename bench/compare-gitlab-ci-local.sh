#!/usr/bin/env bash
# Side by side: gitlab-ci-local 4.70.0 `--list` versus `gantry lint` and `gantry plan` on the
# same generated pipelines (100, 2,000 and 10,000 jobs; see benches/pipeline.rs).
# Prints wall time and peak memory of each whole command, and the ratio.
# Usage: bench/compare-gitlab-ci-local.sh [SIZES...]   (default: 100 2000 10000)
# Needs node/npm (the npm registry) and python3; installs gitlab-ci-local into a temp dir.
# COMPARE_TIMEOUT (seconds, default 600) bounds each gitlab-ci-local run. (Not GCL_*: gitlab-ci-local
# reads every GCL_* environment variable as one of its own options.)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-100 2000 10000}")
read -r -a sizes <<<"${sizes[*]}"
timeout_s=${COMPARE_TIMEOUT:-600}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building gantry (release)…" >&2
cargo build --release --quiet
gantry=$PWD/target/release/gantry
cargo bench --quiet --bench pipeline -- --emit "$work/pipelines" >/dev/null

echo "installing gitlab-ci-local 4.70.0…" >&2
npm install --silent --prefix "$work/gcl" gitlab-ci-local@4.70.0 >/dev/null 2>&1
gcl=$work/gcl/node_modules/.bin/gitlab-ci-local

# Runs a command in a directory; prints "seconds peak_MiB exit_code" (peak of the child tree).
measure() {
  python3 - "$timeout_s" "$@" <<'PY'
import resource, subprocess, sys, time
limit = float(sys.argv[1]); cwd = sys.argv[2]; cmd = sys.argv[3:]
start = time.monotonic()
try:
    done = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=limit)
    code = done.returncode
    if code != 0:
        sys.stderr.write(f"{cmd[0]} failed ({code}): {done.stderr.decode(errors='replace')[-600:]}\n")
except subprocess.TimeoutExpired:
    code = "timeout"
elapsed = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{elapsed:.3f} {peak:.0f} {code}")
PY
}

printf '%7s | %22s | %22s | %22s | %9s\n' jobs "gitlab-ci-local --list" "gantry lint" "gantry plan" "ratio"
for n in "${sizes[@]}"; do
  dir=$work/pipelines/$n
  git -C "$dir" init -q
  git -C "$dir" remote add origin git@gitlab.example.com:bench/project.git
  git -C "$dir" add .
  git -C "$dir" -c user.name=bench -c user.email=bench@example.com commit -qm bench
  # gantry first: gitlab-ci-local can leave the machine busy for a moment after it exits.
  read -r lt lm lc < <(measure "$dir" "$gantry" lint)
  read -r pt pm pc < <(measure "$dir" "$gantry" plan --ref main)
  read -r gt gm gc < <(measure "$dir" "$gcl" --list)
  ratio=$(python3 -c "print(f'{$gt/$pt:.0f}x' if '$gc' != 'timeout' else '> ' + str(round($timeout_s/$pt)) + 'x')")
  gshow=$( [ "$gc" = timeout ] && echo "> ${timeout_s} s" || echo "${gt} s, ${gm} MiB" )
  printf '%7s | %22s | %22s | %22s | %9s\n' "$n" "$gshow" "${lt} s, ${lm} MiB" "${pt} s, ${pm} MiB" "$ratio"
done
