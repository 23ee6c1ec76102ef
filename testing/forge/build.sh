#!/usr/bin/env bash
# Builds the test forge, upstream Gitea with SQLite, from the Go module pinned in this
# directory's go.mod/go.sum into a cache outside the checkout keyed by its version:
#   ${GANTRY_FORGE_CACHE:-/var/cache/gantry-forge}/gitea-<v>/{gitea,options,templates}
# `options/` and `templates/` (the server reads them at run time; the module has no bindata)
# are copied beside the binary from the module cache. A build already in the cache is not
# redone, so a second run takes milliseconds; an interrupted one resumes. Prints the cache
# directory on its last line. One `go build`, niced (the machines have two cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# Gitea's module is gitea.dev (its source comes from code.gitea.io/gitea, see go.mod).
version=$(awk '$1 == "gitea.dev" { print $2; exit } $1 == "require" && $2 == "gitea.dev" { print $3; exit }' go.mod)
[ -n "$version" ] || { echo "build.sh: go.mod names no gitea.dev version" >&2; exit 1; }
cache=${GANTRY_FORGE_CACHE:-/var/cache/gantry-forge}/gitea-$version
mkdir -p "$cache"

if [ ! -x "$cache/gitea" ]; then
  start=$(date +%s)
  echo "build.sh: building gitea $version ..." >&2
  # SQLite is mattn/go-sqlite3: cgo. The version variables are what Gitea's Makefile stamps.
  tags="sqlite sqlite_unlock_notify"
  ldflags="-s -w -X main.MakeVersion=gantry -X main.Version=${version#v} -X 'main.Tags=$tags'"
  # Into a temporary name first: an interrupted build never leaves a half-written binary
  # that the next run would take for a finished one.
  CGO_ENABLED=1 GOFLAGS="-trimpath -buildvcs=false -mod=readonly" \
    nice -n 19 go build -tags "$tags" -ldflags "$ldflags" -o "$cache/.gitea.partial" gitea.dev
  mv "$cache/.gitea.partial" "$cache/gitea"
  echo "build.sh: gitea built in $(( $(date +%s) - start ))s" >&2
fi
if [ ! -f "$cache/.assets" ]; then
  src=$(GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' gitea.dev)
  for d in options templates; do
    rm -rf "$cache/$d"
    cp -r "$src/$d" "$cache/$d"
    chmod -R u+w "$cache/$d"
  done
  touch "$cache/.assets"
fi
echo "$cache"
