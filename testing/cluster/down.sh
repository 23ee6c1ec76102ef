#!/usr/bin/env bash
# Stops the test cluster up.sh started under DIR and removes what it created on the host:
#   down.sh DIR
# Its pods first (so the kubelet tears their sandboxes and CNI networks down as a cluster
# would), then every process it started (and containerd's shims), kube-proxy's iptables rules
# (`kube-proxy --cleanup`), kube-router's firewall chains and ipsets, the CNI bridge, its NAT rules and cache, the FORWARD rules up.sh
# added, every mount under DIR, the network namespaces and cgroups the node created. DIR keeps
# its logs/ and pki/; the cluster's state (etcd, containerd, kubelet) is removed. Safe to run
# twice or after a failed up.sh.
set -uo pipefail
[ $# = 1 ] || { echo "usage: down.sh DIR" >&2; exit 2; }
DIR=$(cd "$1" 2>/dev/null && pwd) || { echo "cluster: no directory $1" >&2; exit 0; }
say() { echo "cluster: $*" >&2; }
[ -f "$DIR/env" ] || { say "no cluster state in $DIR"; exit 0; }
# shellcheck disable=SC1091
. "$DIR/env"
export PATH=$BIN:$PATH
ctd=$DIR/containerd
kc=$DIR/kubeconfig
[ -f "$kc" ] || kc=$DIR/kubeconfig.tmp
k() { timeout 60 kubectl --kubeconfig "$kc" --request-timeout 10s "$@"; }
ctr_() { timeout 30 ctr --address "$ctd/containerd.sock" --namespace k8s.io "$@"; }
alive() { [ -f "$DIR/pids/$1" ] && kill -0 "$(cat "$DIR/pids/$1")" 2>/dev/null; }
# stop NAME: SIGTERM, up to 15 s, then SIGKILL.
stop() {
  alive "$1" || { rm -f "$DIR/pids/$1"; return 0; }
  local pid; pid=$(cat "$DIR/pids/$1")
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$DIR/pids/$1"
}

# 1. The pods, through the cluster while it still answers: their containers stop and the
# kubelet stops their sandboxes (CNI DEL releases the address and the NAT rules).
if alive kube-apiserver && alive kubelet; then
  k delete pods --all --all-namespaces --grace-period=1 --wait=true >/dev/null 2>&1
  for _ in $(seq 1 150); do
    [ -z "$(ctr_ tasks ls -q 2>/dev/null)" ] && break
    sleep 0.2
  done
fi

# 2. The processes (kube-router and kube-proxy first, then their rules).
for name in kube-router kube-proxy coredns kubelet kube-scheduler kube-controller-manager; do stop "$name"; done
[ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1
# kube-router's firewall by hand (v2.1.0's --cleanup-config reports success but removes none of it,
# its policy cleanup running on an empty controller, then panics in its IPVS cleanup): the jumps
# from the built-in chains, then its chains, then the ipsets they matched.
for chain in INPUT FORWARD OUTPUT; do
  iptables -S "$chain" 2>/dev/null | awk '$1 == "-A" && / -j KUBE-ROUTER-/' |
    while read -r _ rest; do eval "iptables -D $rest" 2>/dev/null; done
done
kr_chains=$(iptables -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-(ROUTER-|POD-FW-|NWPLCY-)/ { print $2 }')
for c in $kr_chains; do iptables -F "$c" 2>/dev/null; done
for c in $kr_chains; do iptables -X "$c" 2>/dev/null; done
command -v ipset >/dev/null &&
  for set in $(ipset list -n 2>/dev/null | grep -E '^KUBE-(SRC|DST)-'); do ipset destroy "$set" 2>/dev/null; done

# 3. Containers the kubelet left, then containerd and its shims.
if alive containerd; then
  for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$task" >/dev/null 2>&1; done
  sleep 0.5
  for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks rm -f "$task" >/dev/null 2>&1; done
  for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$c" >/dev/null 2>&1; done
fi
stop containerd
for pid in $(pgrep -f -- "-address $ctd/containerd.sock" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
stop kube-apiserver
stop etcd

# 4. Mounts under DIR (deepest first) and the network namespaces the node created.
findmnt -rn -o TARGET | awk -v d="$DIR/" 'index($0, d) == 1' | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done
if [ -d /var/run/netns ]; then
  for ns in $(ls /var/run/netns); do
    grep -qxF "$ns" "$DIR/netns-before" 2>/dev/null && continue
    case $ns in cni-*) umount "/var/run/netns/$ns" 2>/dev/null; rm -f "/var/run/netns/$ns" ;; esac
  done
fi

# 5. Network: the bridge, the CNI NAT rules naming this network, up.sh's FORWARD rules.
ip link del "$BRIDGE" 2>/dev/null
iptables-save -t nat 2>/dev/null | awk -v n="\"$CNI_NET\"" '$1 == "-A" && index($0, n) { print }' |
  while read -r _ chain rest; do
    target=$(sed -n 's/.* -j \(CNI-[^ ]*\).*/\1/p' <<<"$rest")
    eval "iptables -t nat -D $chain $rest" 2>/dev/null
    [ -n "$target" ] && { iptables -t nat -F "$target" 2>/dev/null; iptables -t nat -X "$target" 2>/dev/null; }
  done
while iptables -D FORWARD -i "$BRIDGE" -j ACCEPT -m comment --comment gantry-test-cluster 2>/dev/null; do :; done
while iptables -D FORWARD -o "$BRIDGE" -j ACCEPT -m comment --comment gantry-test-cluster 2>/dev/null; do :; done
rm -rf /var/lib/cni/results/"$CNI_NET"-* 2>/dev/null
# The kubelet's own chains (kube-proxy --cleanup leaves them): its firewall and canaries.
for t in filter nat mangle; do
  for c in INPUT OUTPUT; do while iptables -t $t -D $c -j KUBE-FIREWALL 2>/dev/null; do :; done; done
  for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
    iptables -t $t -F $chain 2>/dev/null; iptables -t $t -X $chain 2>/dev/null
  done
done

# 6. The kubelet's cgroups (pods' cgroups first; only empty ones can go).
for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods.slice; do
  [ -d "$root" ] && find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# 7. The cluster's state; logs and certificates stay for a look.
rm -rf "$DIR/etcd" "$ctd" "$DIR/kubelet" "$DIR/cni" "$DIR/pids" "$DIR/kubeconfig" "$DIR/kubeconfig.tmp"
[ "$(cat /run/gantry-cluster.active 2>/dev/null)" = "$DIR" ] && rm -f /run/gantry-cluster.active
left=$(findmnt -rn -o TARGET | awk -v d="$DIR/" 'index($0, d) == 1')
[ -z "$left" ] || { say "mounts left under $DIR: $left"; exit 1; }
say "down: $DIR"
