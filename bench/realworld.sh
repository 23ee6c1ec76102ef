#!/usr/bin/env bash
# Lints and plans every pipeline of a corpus of real projects with the release gantry and prints
# how many are accepted, split into pipelines that include nothing from the network and the rest.
#
# Usage: bench/realworld.sh [CORPUS_DIR]   (default: $GANTRY_CORPUS, else /work/corpus)
#   GANTRY=path/to/gantry   binary to use (default: target/release/gantry, built if missing)
#   VERBOSE=1               print every error of every refused pipeline
#
# A corpus is one directory per project (`owner+name/`), holding the project's `.gitlab-ci.yml`
# and its `include: local` files at their paths in the repository. Others' files are never
# committed here: collect a corpus outside the repository, for example from clones:
#   for repo in ~/src/*; do
#     d=/work/corpus/$(basename "$repo"); mkdir -p "$d"
#     git -C "$repo" ls-files '.gitlab-ci.yml' '*.yml' '*.yaml' | while read -r f; do
#       mkdir -p "$d/$(dirname "$f")"; git -C "$repo" show "HEAD:$f" > "$d/$f"; done
#   done
# and keep a MANIFEST.tsv (repo, commit, path) beside the folders saying where each file came from.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
corpus=${1:-${GANTRY_CORPUS:-/work/corpus}}
if [[ ! -d $corpus ]]; then
  echo "no corpus at $corpus" >&2
  sed -n '8,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
gantry=$(realpath -m "${GANTRY:-$root/target/release/gantry}")
if [[ ! -x $gantry ]]; then
  (cd "$root" && cargo build --release --quiet)
fi
command -v jq >/dev/null || { echo "bench/realworld.sh needs jq" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

local_total=0 local_ok=0 net_total=0 net_ok=0 net_explained=0
refused=()
for dir in "$corpus"/*/; do
  dir=${dir%/}
  name=$(basename "$dir")
  file=.gitlab-ci.yml
  [[ -f $dir/$file ]] || file=.gitlab-ci.yaml
  [[ -f $dir/$file ]] || continue
  # Lint: JSON diagnostics; an `include-offline` warning means part of the pipeline is remote.
  (cd "$dir" && "$gantry" lint -f "$file" --format json >"$tmp/lint.json" 2>"$tmp/lint.err") || true
  if ! jq -e . "$tmp/lint.json" >/dev/null 2>&1; then
    echo '{"valid":false,"diagnostics":[{"severity":"error","code":"crash","message":"no JSON"}]}' >"$tmp/lint.json"
  fi
  network=$(jq '[.diagnostics[] | select(.code == "include-offline")] | length' "$tmp/lint.json")
  lint_errors=$(jq -r '.diagnostics[] | select(.severity == "error") | "\(.file // "?"):\(.line // 0): \(.code): \(.message)"' "$tmp/lint.json")
  # Plan for the default branch, as a push pipeline; lint errors make plan fail too.
  plan_error=""
  if [[ -z $lint_errors ]]; then
    if ! (cd "$dir" && "$gantry" plan -f "$file" --ref main >/dev/null 2>"$tmp/plan.err"); then
      plan_error=$(grep -m3 -E 'error|×' "$tmp/plan.err" || head -3 "$tmp/plan.err")
      [[ -n $plan_error ]] || plan_error="plan failed"
    fi
  fi
  ok=0
  [[ -z $lint_errors && -z $plan_error ]] && ok=1
  if [[ $network -eq 0 ]]; then
    local_total=$((local_total + 1))
    local_ok=$((local_ok + ok))
    [[ $ok -eq 1 ]] || refused+=("local  $name")
  else
    net_total=$((net_total + 1))
    net_ok=$((net_ok + ok))
    if [[ $ok -eq 0 ]]; then
      # Findings a missing remote include explains are warnings naming it ("which gantry
      # could not read"), so what is left here is an error no remote content could explain.
      refused+=("remote $name")
    fi
    explained=$(jq '[.diagnostics[] | select(.severity == "warning" and ((.help // "") | contains("which gantry could not read")))] | length' "$tmp/lint.json")
    [[ $explained -gt 0 ]] && net_explained=$((net_explained + 1))
  fi
  if [[ $ok -eq 0 && ${VERBOSE:-0} == 1 ]]; then
    echo "== $name"
    [[ -n $lint_errors ]] && printf '%s\n' "$lint_errors" | head -5
    [[ -n $plan_error ]] && printf 'plan: %s\n' "$plan_error"
  fi
done

pct() { if [[ $2 -eq 0 ]]; then echo "n/a"; else awk "BEGIN{printf \"%.1f%%\", 100*$1/$2}"; fi; }
echo
echo "corpus: $corpus ($gantry)"
printf '%-44s %4d/%-4d %s\n' "includes nothing from the network:" "$local_ok" "$local_total" "$(pct "$local_ok" "$local_total")"
printf '%-44s %4d/%-4d %s\n' "includes from the network:" "$net_ok" "$net_total" "$(pct "$net_ok" "$net_total")"
printf '%-44s %4d\n' "  of those, with findings an unread include explains (warnings):" "$net_explained"
if [[ ${#refused[@]} -gt 0 ]]; then
  echo "refused:"
  printf '  %s\n' "${refused[@]}"
fi
