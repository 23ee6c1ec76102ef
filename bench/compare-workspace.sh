#!/usr/bin/env bash
# Side by side in one run: gitlab-ci-local 4.70.0 and `gantry run --executor shell -j 1` on the
# same repository of 5,000 small files (20 MB) with 20 jobs of `true` (issue 12). Both isolate
# jobs from the work tree: gitlab-ci-local with --shell-isolation (an rsync'd copy per job),
# gantry with its workspace pool. Prints each whole command's wall time (median of RUNS, after
# one untimed warm-up run each) and the ratio.
# Usage: bench/compare-workspace.sh            (RUNS=5 FILES=5000 JOBS=20 to change the shape)
# Needs gitlab-ci-local (`npm install -g gitlab-ci-local@4.70.0`, or COMPARE_GCL=/path/to/it)
# and rsync (`apt-get install rsync`), python3, git.
# The repository is created under target/ of this checkout: the working directory's filesystem,
# never tmpfs (file creation is what is measured).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
files=${FILES:-5000}
jobs=${JOBS:-20}
gcl=${COMPARE_GCL:-$(command -v gitlab-ci-local || true)}
[ -n "$gcl" ] || { echo "gitlab-ci-local not found: npm install -g gitlab-ci-local@4.70.0" >&2; exit 2; }
command -v rsync >/dev/null || { echo "rsync not found: apt-get install rsync" >&2; exit 2; }

echo "building gantry as \`cargo bench\` does (same binary, no second build)…" >&2
cargo bench --quiet --bench run --no-run 2>/dev/null
gantry=$PWD/target/release/gantry
mkdir -p target
work=$(mktemp -d -p "$PWD/target" bench-workspace.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "filesystem: $(df --output=fstype "$work" | tail -1) ($(df --output=source "$work" | tail -1)) at $work"

repo=$work/repo
mkdir -p "$repo"
python3 - "$repo" "$files" "$jobs" <<'PY'
import os, random, sys
root, files, jobs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(12)
for i in range(files):
    d = os.path.join(root, "src", f"d{i // 100:03}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05}.txt"), "w") as f:
        f.write("".join(rnd.choice("abcdefghij\n") for _ in range(4000)))
with open(os.path.join(root, ".gitlab-ci.yml"), "w") as f:
    for j in range(jobs):
        f.write(f"j{j}:\n  script: [\"true\"]\n")
PY
git -C "$repo" init -q
git -C "$repo" add .
git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -qm bench
echo "repository: $files files, $(du -sm --exclude=.git "$repo" | cut -f1) MB, $jobs jobs of \`true\`"

# Prints the wall seconds of one whole command run in the repository.
timed() {
  python3 - "$repo" "$@" <<'PY'
import subprocess, sys, time
cwd, cmd = sys.argv[1], sys.argv[2:]
t = time.monotonic()
done = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if done.returncode != 0:
    sys.exit(f"{cmd[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-600:]}")
print(f"{time.monotonic() - t:.3f}")
PY
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

gantry_cmd=("$gantry" run --executor shell -j 1 -q)
gcl_cmd=("$gcl" --shell-isolation --concurrency 1 --quiet --no-color)
# Warm-up: page cache, gitlab-ci-local's first-run state (it is 3x slower the first time).
timed "${gcl_cmd[@]}" >/dev/null
timed "${gantry_cmd[@]}" >/dev/null
g=(); c=()
for _ in $(seq "$runs"); do
  g+=("$(timed "${gantry_cmd[@]}")")
  c+=("$(timed "${gcl_cmd[@]}")")
done
gm=$(median "${g[@]}"); cm=$(median "${c[@]}")
echo "gantry run -j 1:          ${g[*]} s  (median $gm s, $(python3 -c "print(f'{$gm*1e3/$jobs:.1f}')") ms/job)"
echo "gitlab-ci-local (isol.):  ${c[*]} s  (median $cm s)"
python3 -c "print(f'ratio gitlab-ci-local / gantry: {$cm/$gm:.1f}x')"
