#!/usr/bin/env bash
# Shell job overhead, two builds A/B (issue 25): `gantry run -j 1 -q --executor shell` of JOBS
# (default 1,000) `true` jobs, OLD and NEW alternated ROUNDS times (default 5), whole commands,
# each build in its own copy of the same one-commit repository (their run state may differ),
# both on the working directory's disk (under target/, not tmpfs). One warm-up run each fills
# the workspace slot. Prints each run, both medians of wall and of CPU time, the NEW/OLD ratios,
# machine, load and date.
#
#   git worktree add /tmp/gantry-974e09e 974e09e   # the build before the orphan-reaping work
#   (cd /tmp/gantry-974e09e && cargo build --release)
#   cargo build --release
#   bench/shell-ab.sh /tmp/gantry-974e09e/target/release/gantry target/release/gantry
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bench/shell-ab.sh OLD_GANTRY NEW_GANTRY [ROUNDS]" >&2; exit 2; }
old=$(realpath "$1")
new=$(realpath "$2")
rounds=${3:-5}
jobs=${JOBS:-1000}
cd "$(dirname "$0")/.."
mkdir -p target
work=$(mktemp -d "$PWD/target/shell-ab.XXXXXX")
trap 'rm -rf "$work"' EXIT

repo() {
  mkdir -p "$1"
  for i in $(seq 0 $((jobs - 1))); do printf 'j%d:\n  script: ["true"]\n' "$i"; done > "$1/.gitlab-ci.yml"
  git -C "$1" -c init.defaultBranch=main init -q
  git -C "$1" add .
  git -C "$1" -c user.name=b -c user.email=b@e commit -qm bench
}
repo "$work/old"
repo "$work/new"

# "WALL CPU" seconds of one run of build $1 in repository $2 (CPU: user + system of gantry and
# every process it waited for, from GNU time: less moved than wall time by other work on the
# machine); fails when the run fails.
run() {
  (cd "$2" && /usr/bin/time -f '%e %U %S' -o "$work/time" "$1" run -j 1 -q --executor shell > /dev/null 2> "$work/err") || {
    cat "$work/err" >&2
    echo "run of $1 failed" >&2
    exit 1
  }
  awk '{print $1, $2 + $3}' "$work/time"
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%F %H:%M UTC')"
echo "old: $old"
echo "new: $new"
echo "$jobs \`true\` jobs, -j 1, $rounds alternating rounds (after one warm-up run each)"
run "$old" "$work/old" > /dev/null
run "$new" "$work/new" > /dev/null
: > "$work/a"
: > "$work/b"
for r in $(seq 1 "$rounds"); do
  a=$(run "$old" "$work/old")
  b=$(run "$new" "$work/new")
  echo "$a" >> "$work/a"
  echo "$b" >> "$work/b"
  printf 'round %d: old %.2f s (cpu %.2f s), new %.2f s (cpu %.2f s)\n' "$r" $a $b
done
ma=$(cut -d' ' -f1 "$work/a" | median)
mb=$(cut -d' ' -f1 "$work/b" | median)
ca=$(cut -d' ' -f2 "$work/a" | median)
cb=$(cut -d' ' -f2 "$work/b" | median)
awk -v a="$ma" -v b="$mb" -v ca="$ca" -v cb="$cb" -v n="$jobs" 'BEGIN {
  printf "median wall: old %.2f s (%.2f ms/job), new %.2f s (%.2f ms/job), new/old %.2f\n", a, a * 1000 / n, b, b * 1000 / n, b / a
  printf "median cpu:  old %.2f s (%.2f ms/job), new %.2f s (%.2f ms/job), new/old %.2f\n", ca, ca * 1000 / n, cb, cb * 1000 / n, cb / ca
}'
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
