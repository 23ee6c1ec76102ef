#!/usr/bin/env bash
# Stops the test forge up.sh started under DIR, with every process of its session (git
# commands it runs); DIR keeps its data, so up.sh DIR starts the same forge again. Safe to
# run twice or after a failed up.sh.
#   down.sh DIR
set -uo pipefail
[ $# = 1 ] || { echo "usage: down.sh DIR" >&2; exit 2; }
DIR=$(cd "$1" 2>/dev/null && pwd) || { echo "forge: no directory $1" >&2; exit 0; }
say() { echo "forge: $*" >&2; }
pidfile=$DIR/pids/gitea
[ -f "$pidfile" ] || { say "nothing runs under $DIR"; exit 0; }
pid=$(cat "$pidfile")
# The session's process group (up.sh started it with setsid: its id is the server's).
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null
fi
# Whatever of its process group is left (a git child outliving the server).
for _ in $(seq 1 25); do
  kill -0 -- "-$pid" 2>/dev/null || break
  kill -KILL -- "-$pid" 2>/dev/null; sleep 0.2
done
rm -f "$pidfile"
if kill -0 -- "-$pid" 2>/dev/null; then say "processes of $DIR's forge are left"; exit 1; fi
say "down: $DIR"
