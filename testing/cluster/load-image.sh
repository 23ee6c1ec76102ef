#!/usr/bin/env bash
# Makes images built in the local Docker engine available to the test cluster's node (its
# containerd), as `kind load docker-image` does for kind:
#   load-image.sh DIR IMAGE...
# Pods then run them with imagePullPolicy Never or IfNotPresent; nothing is pushed anywhere.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: load-image.sh DIR IMAGE..." >&2; exit 2; }
DIR=$1; shift
sock=$DIR/containerd/containerd.sock
[ -S "$sock" ] || { echo "load-image: no test cluster node under $DIR (up.sh $DIR)" >&2; exit 1; }
docker save "$@" | ctr --address "$sock" --namespace k8s.io images import - >/dev/null
