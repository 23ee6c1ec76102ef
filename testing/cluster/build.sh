#!/usr/bin/env bash
# Builds the test cluster's upstream binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, kubectl, etcd and the pod sandbox's pause) from the Go
# modules pinned in this directory's go.mod/go.sum, CoreDNS from coredns/go.mod and kube-router
# (the NetworkPolicy firewall) from kube-router/go.mod, into a cache outside the checkout keyed
# by their versions:
#   ${GANTRY_CLUSTER_CACHE:-/var/cache/gantry-cluster}/k8s-<v>-etcd-<v>-coredns-<v>/bin
# kube-router's version is in its binary's name instead (kube-router-<v>, with a `kube-router`
# link to it), so a new kube-router never rebuilds the rest.
# A binary already in the cache is not rebuilt, so a second run takes milliseconds and an
# interrupted build resumes where it stopped. Prints the bin directory on its last line.
# One `go build` at a time (the machines have two cores), niced.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# version MODULE GO.MOD: the version GO.MOD requires (in a require block or on one line).
version() { awk -v m="$1" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$2"; }
k8s_version=$(version k8s.io/kubernetes go.mod)
etcd_version=$(version go.etcd.io/etcd/server/v3 go.mod)
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] || { echo "build.sh: go.mod names no k8s.io/kubernetes or etcd version" >&2; exit 1; }
coredns_version=$(version github.com/coredns/coredns coredns/go.mod)
kube_router_version=$(version github.com/cloudnativelabs/kube-router/v2 kube-router/go.mod)
[ -n "$coredns_version" ] && [ -n "$kube_router_version" ] || { echo "build.sh: coredns/ or kube-router/go.mod names no version" >&2; exit 1; }
cache=${GANTRY_CLUSTER_CACHE:-/var/cache/gantry-cluster}/k8s-$k8s_version-etcd-$etcd_version-coredns-$coredns_version
bin=$cache/bin
mkdir -p "$bin"

# The version the components report (kubectl version, the Node's kubeletVersion): what
# upstream's release build stamps with -X, fixed date so builds are reproducible.
minor=${k8s_version#v1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=$k8s_version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor"
ldflags+=" -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
# kube-router's own version variables (what `kube-router --version` prints).
krpkg=github.com/cloudnativelabs/kube-router/v2/pkg/version
ldflags+=" -X $krpkg.Version=$kube_router_version -X $krpkg.BuildDate=1970-01-01T00:00:00Z"

export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false -mod=readonly"
# NAME MODULE-DIR PACKAGE
targets=(
  "pause . ./pause"
  "etcd . go.etcd.io/etcd/server/v3"
  "kube-apiserver . k8s.io/kubernetes/cmd/kube-apiserver"
  "kube-controller-manager . k8s.io/kubernetes/cmd/kube-controller-manager"
  "kube-scheduler . k8s.io/kubernetes/cmd/kube-scheduler"
  "kubelet . k8s.io/kubernetes/cmd/kubelet"
  "kube-proxy . k8s.io/kubernetes/cmd/kube-proxy"
  "kubectl . k8s.io/kubernetes/cmd/kubectl"
  "coredns coredns ."
  "kube-router-$kube_router_version kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
)
for t in "${targets[@]}"; do
  read -r name dir pkg <<<"$t"
  [ -x "$bin/$name" ] && continue
  start=$(date +%s)
  echo "build.sh: building $name ($pkg) ..." >&2
  # Into a temporary name first: an interrupted build never leaves a half-written binary
  # that the next run would take for a finished one.
  (cd "$dir" && nice -n 10 go build -tags providerless -ldflags "$ldflags" -o "$bin/.$name.partial" "$pkg")
  mv "$bin/.$name.partial" "$bin/$name"
  echo "build.sh: $name built in $(( $(date +%s) - start ))s" >&2
done
ln -sfn "kube-router-$kube_router_version" "$bin/kube-router"
echo "$bin"
