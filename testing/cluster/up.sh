#!/usr/bin/env bash
# Starts the project's single-node test cluster, every component upstream's, with its state
# under DIR:
#   up.sh DIR
# Builds what is missing (build.sh; cached by version outside the checkout), generates a CA and
# certificates (openssl), starts etcd, kube-apiserver (Node,RBAC; the default admission plugins,
# ResourceQuota, LimitRanger, ServiceAccount and NamespaceLifecycle among them; service-account
# signing keys, so TokenRequest works), kube-controller-manager, kube-scheduler, containerd (its
# own config, socket and root under DIR; pulls 127.0.0.1:5000 over plain HTTP), a kubelet on it
# with a CNI bridge network (Debian's plugins), kube-proxy (iptables) and CoreDNS (cluster DNS,
# as the `kube-dns` Service) and kube-router's firewall alone (NetworkPolicy enforced with
# iptables + ipset: the bridge plugin ignores policies; SIG Network's kube-network-policies needs
# nftables' `queue`, which this project's VM kernels lack: CONFIG_NFT_QUEUE is not set, and
# `nft add rule ... queue num 100 bypass` fails with "Could not process rule: No such file or
# directory"). Writes DIR/kubeconfig (cluster admin) and DIR/env (what it chose) and returns once
# the node is Ready, DNS answers and policies are enforced. down.sh DIR removes all of it.
#
# Needs root, containerd, runc, containernetworking-plugins, iptables, ipset, conntrack, openssl.
# Environment (defaults in brackets):
#   GANTRY_CLUSTER_CACHE     where build.sh caches binaries [/var/cache/gantry-cluster]
#   GANTRY_CLUSTER_BIN       a directory with the binaries, instead of building [build.sh's]
#   GANTRY_CLUSTER_API_PORT  the API server's port on every address of the host [6443]
#   GANTRY_CLUSTER_NODE_IP   the node's address [the host's source address of its default route]
#   GANTRY_CLUSTER_REGISTRY_MIRRORS  more host:port names the node pulls from 127.0.0.1:5000
#                            over plain HTTP [none; 127.0.0.1:5000, localhost:5000, NODE_IP:5000 always]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# = 1 ] || { echo "usage: up.sh DIR" >&2; exit 2; }
mkdir -p "$1"
DIR=$(cd "$1" && pwd)

say() { echo "cluster: $*" >&2; }
die() { echo "cluster: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (containerd, the kubelet and kube-proxy manage the host)"
for tool in containerd containerd-shim-runc-v2 ctr runc openssl iptables ipset conntrack ip; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
CNI_BIN=${GANTRY_CLUSTER_CNI_BIN:-/usr/lib/cni}
[ -x "$CNI_BIN/bridge" ] || die "no CNI plugins in $CNI_BIN (apt-get install containernetworking-plugins)"

# One test cluster per machine: a node owns the host's iptables chains and cgroups.
ACTIVE=/run/gantry-cluster.active
if [ -f "$ACTIVE" ]; then
  other=$(cat "$ACTIVE")
  if [ -d "$other/pids" ] && (for p in "$other"/pids/*; do kill -0 "$(cat "$p")" 2>/dev/null && exit 0; done; exit 1); then
    die "a test cluster already runs under $other (testing/cluster/down.sh $other)"
  fi
fi
start=$(date +%s)
echo "$DIR" >"$ACTIVE"

# GANTRY_CLUSTER_BIN: binaries built elsewhere (same names), instead of build.sh's.
bin=${GANTRY_CLUSTER_BIN:-$("$here/build.sh" | tail -1)}
export PATH=$bin:$PATH
say "binaries in $bin ($(kube-apiserver --version))"

API_PORT=${GANTRY_CLUSTER_API_PORT:-6443}
ETCD_PORT=${GANTRY_CLUSTER_ETCD_PORT:-23790}
NODE_IP=${GANTRY_CLUSTER_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit } }')}
[ -n "$NODE_IP" ] || die "cannot tell the host's address (set GANTRY_CLUSTER_NODE_IP)"
NODE=gantry-node
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_IP=10.96.0.10
DNS_PORT=1053
POD_CIDR=10.88.0.0/16
BRIDGE=gantry-cni0
CNI_NET=gantry-test-cluster
mkdir -p "$DIR"/{pki,logs,pids,etcd,containerd,cni/net.d,kubelet,config}
cat >"$DIR/env" <<EOF
DIR=$DIR
BIN=$bin
NODE=$NODE
NODE_IP=$NODE_IP
API_PORT=$API_PORT
POD_CIDR=$POD_CIDR
SERVICE_CIDR=$SERVICE_CIDR
BRIDGE=$BRIDGE
CNI_NET=$CNI_NET
EOF
# The network namespaces that exist before the node: down.sh removes only the ones it left.
ls /var/run/netns 2>/dev/null >"$DIR/netns-before" || :

# start NAME COMMAND...: runs COMMAND in its own session (it outlives this script), logging to
# DIR/logs/NAME.log; its pid in DIR/pids/NAME.
start() {
  local name=$1; shift
  setsid "$@" >"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/pids/$name"
}
# wait_for WHAT SECONDS LOG COMMAND...: until COMMAND succeeds; else the log's tail and failure.
wait_for() {
  local what=$1 secs=$2 log=$3; shift 3
  for _ in $(seq 1 $((secs * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  tail -30 "$DIR/logs/$log.log" >&2 || :
  die "$what did not come up in ${secs}s (log: $DIR/logs/$log.log)"
}
fail_cleanup() { local code=$?; [ "$code" = 0 ] || say "start failed; stop what started with: $here/down.sh $DIR"; }
trap fail_cleanup EXIT

# --- Certificates ---------------------------------------------------------------------------
pki=$DIR/pki
if [ ! -f "$pki/ca.crt" ]; then
  (
    cd "$pki"
    key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
    key ca
    openssl req -x509 -new -key ca.key -days 3650 -subj "/CN=gantry-test-cluster-ca" -out ca.crt
    # cert NAME SUBJECT EXTENDED-KEY-USAGE [SUBJECT-ALT-NAMES]
    cert() {
      key "$1"
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
      { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$3"; [ -z "${4:-}" ] || echo "subjectAltName=$4"; } >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    # Also the Docker bridge's address (172.17.0.1): gantry's Docker-executor jobs reach a
    # loopback API server through a forwarder there, and a GitLab 9 pipeline's own
    # `kubectl config set-cluster --server=$KUBE_URL` checks the certificate against that address
    # (kind's and k3d's certificates do not cover it: see the README's test cluster section).
    bridge_ip=$(ip -4 -o addr show docker0 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }')
    cert apiserver "/CN=kube-apiserver" serverAuth \
      "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$NODE_IP${bridge_ip:+,IP:$bridge_ip}"
    cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client/O=system:masters" clientAuth
    cert admin "/CN=gantry-test-admin/O=system:masters" clientAuth
    cert controller-manager "/CN=system:kube-controller-manager" clientAuth
    cert scheduler "/CN=system:kube-scheduler" clientAuth
    cert kube-proxy "/CN=system:kube-proxy" clientAuth
    cert coredns "/CN=system:gantry-coredns" clientAuth
    cert kubelet-client "/CN=system:node:$NODE/O=system:nodes" clientAuth
    cert kubelet "/CN=$NODE" serverAuth "DNS:$NODE,IP:$NODE_IP,IP:127.0.0.1"
    # The service-account token signer (TokenRequest, bound tokens).
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub
  )
fi

# kubeconfig FILE USER [SERVER]: a kubeconfig with USER's client certificate.
kubeconfig() {
  local server=${3:-https://127.0.0.1:$API_PORT}
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gantry-test
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$pki/$2.crt")
    client-key-data: $(base64 -w0 "$pki/$2.key")
contexts:
- name: gantry-test
  context: {cluster: gantry-test, user: $2}
current-context: gantry-test
EOF
}
cfg=$DIR/config
for user in controller-manager scheduler kube-proxy coredns kubelet-client; do kubeconfig "$cfg/$user.kubeconfig" "$user"; done
# kube-router watches pods, namespaces and policies cluster-wide: the admin's credentials.
kubeconfig "$cfg/kube-router.kubeconfig" admin
kubeconfig "$DIR/kubeconfig.tmp" admin
k() { kubectl --kubeconfig "$DIR/kubeconfig.tmp" "$@"; }

# --- Control plane --------------------------------------------------------------------------
start etcd etcd --name gantry-test --data-dir "$DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "gantry-test=http://127.0.0.1:$((ETCD_PORT + 1))" \
  --listen-metrics-urls "" --quota-backend-bytes 2147483648 --log-level warn
wait_for etcd 30 etcd timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$ETCD_PORT"

start kube-apiserver kube-apiserver \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --advertise-address "$NODE_IP" --bind-address 0.0.0.0 --secure-port "$API_PORT" \
  --authorization-mode Node,RBAC \
  --enable-admission-plugins NodeRestriction \
  --allow-privileged=true \
  --client-ca-file "$pki/ca.crt" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$pki/ca.crt" \
  --kubelet-preferred-address-types InternalIP \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --event-ttl 1h --profiling=false
wait_for kube-apiserver 90 kube-apiserver k get --raw /readyz

common_auth=(--authentication-kubeconfig "$cfg/controller-manager.kubeconfig"
  --authorization-kubeconfig "$cfg/controller-manager.kubeconfig")
start kube-controller-manager kube-controller-manager \
  --kubeconfig "$cfg/controller-manager.kubeconfig" "${common_auth[@]}" \
  --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
  --root-ca-file "$pki/ca.crt" --service-account-private-key-file "$pki/sa.key" \
  --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false --profiling=false
start kube-scheduler kube-scheduler \
  --kubeconfig "$cfg/scheduler.kubeconfig" \
  --authentication-kubeconfig "$cfg/scheduler.kubeconfig" \
  --authorization-kubeconfig "$cfg/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --profiling=false

# --- The node: containerd, CNI, kubelet, kube-proxy -----------------------------------------
ctd=$DIR/containerd
mkdir -p "$ctd/certs.d"
# The host's registry under the node's own address too: pods (a dind build pushing) cannot
# reach the host's loopback, so a pipeline run on the cluster names it NODE_IP:5000.
for name in 127.0.0.1:5000 localhost:5000 "$NODE_IP:5000" ${GANTRY_CLUSTER_REGISTRY_MIRRORS:-}; do
  mkdir -p "$ctd/certs.d/$name"
  cat >"$ctd/certs.d/$name/hosts.toml" <<EOF
server = "http://127.0.0.1:5000"
[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
done
cat >"$ctd/config.toml" <<EOF
version = 2
root = "$ctd/root"
state = "$ctd/state"
[grpc]
  address = "$ctd/containerd.sock"
[ttrpc]
  address = "$ctd/containerd.sock.ttrpc"
[debug]
  address = "$ctd/debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$ctd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "gantry.test/pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Pods' network namespaces under DIR too, where down.sh finds what is left.
  netns_mounts_under_state_dir = true
  # Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE, which some machines (this
  # project's sandboxes) withhold from root: never below containerd's own, as rootless nodes do.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$DIR/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$ctd/certs.d"
EOF
cat >"$DIR/cni/net.d/10-gantry.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NET",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
start containerd containerd --config "$ctd/config.toml"
ctr_() { ctr --address "$ctd/containerd.sock" --namespace k8s.io "$@"; }
wait_for containerd 30 containerd ctr_ version

# import_image NAME ROOTFS CONFIG-JSON-MEMBERS: ROOTFS as a one-layer OCI image NAME in the node's
# image store (nothing to pull: the pod sandbox and a busybox for tests).
import_image() {
  ctr_ images check "name==$1" 2>/dev/null | grep -qF "$1" && return 0
  local img layer config manifest
  img=$(mktemp -d)
  mkdir -p "$img/layout/blobs/sha256"
  tar -C "$2" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -cf "$img/layer.tar" .
  blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$img/layout/blobs/sha256/$d"; echo "$d"; }
  size() { stat -c %s "$1"; }
  layer=$(blob "$img/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{%s,"Env":["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$3" "$layer" >"$img/config.json"
  config=$(blob "$img/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
    "$config" "$(size "$img/config.json")" "$layer" "$(size "$img/layer.tar")" >"$img/manifest.json"
  manifest=$(blob "$img/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"io.containerd.image.name":"%s"}}]}' \
    "$manifest" "$(size "$img/manifest.json")" "$1" >"$img/layout/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$img/layout/oci-layout"
  tar -C "$img/layout" -cf "$img/image.tar" .
  ctr_ images import "$img/image.tar" >/dev/null || die "importing the image $1 failed"
  rm -rf "$img"
}
rootfs=$(mktemp -d)
cp "$bin/pause" "$rootfs/pause"
import_image gantry.test/pause:1 "$rootfs" '"Entrypoint":["/pause"]'
rm -rf "$rootfs"
BUSYBOX=/usr/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=/bin/busybox
if [ -x "$BUSYBOX" ]; then
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs"/{bin,etc,tmp,root,www}
  chmod 1777 "$rootfs/tmp"
  cp "$BUSYBOX" "$rootfs/bin/busybox"
  for applet in $("$BUSYBOX" --list); do [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  import_image gantry.test/busybox:1 "$rootfs" '"Cmd":["sh"]'
  rm -rf "$rootfs"
fi

# Bridged pod traffic passes the host's FORWARD chain (br_netfilter), whose policy a Docker
# engine sets to DROP: accept what enters or leaves the pods' bridge (down.sh removes these).
for dir in -i -o; do
  iptables -C FORWARD "$dir" "$BRIDGE" -j ACCEPT -m comment --comment gantry-test-cluster 2>/dev/null ||
    iptables -I FORWARD 1 "$dir" "$BRIDGE" -j ACCEPT -m comment --comment gantry-test-cluster
done

cat >"$cfg/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$ctd/containerd.sock
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
failSwapOn: false
serializeImagePulls: false
registerNode: true
# A shared machine: no evictions or image reclaim for others' disk use (the kubelet would
# delete the imported pause image, which cannot be pulled back). Every disk signal at 0%:
# unnamed ones take the kubelet's defaults.
evictionHard: {memory.available: "100Mi", nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%", imagefs.inodesFree: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
start kubelet kubelet --config "$cfg/kubelet.yaml" --kubeconfig "$cfg/kubelet-client.kubeconfig" \
  --root-dir "$DIR/kubelet" --hostname-override "$NODE" --node-ip "$NODE_IP" \
  --cert-dir "$DIR/kubelet/pki"
node_ready() {
  [ "$(k get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for "the node $NODE" 120 kubelet node_ready

cat >"$cfg/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $cfg/kube-proxy.kubeconfig}
hostnameOverride: $NODE
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
EOF
start kube-proxy kube-proxy --config "$cfg/kube-proxy.yaml"
wait_for kube-proxy 60 kube-proxy timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/10256"

# --- NetworkPolicy: kube-router's firewall alone (no routing, no service proxy, no CNI) -------
# Pods no policy selects keep every connection; a policy's pods get chains KUBE-POD-FW-*, fed
# from KUBE-ROUTER-{INPUT,FORWARD,OUTPUT} at the top of the built-in chains (down.sh removes them).
start kube-router kube-router --kubeconfig "$cfg/kube-router.kubeconfig" --hostname-override "$NODE" \
  --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
  --enable-cni=false --enable-ipv4=true --enable-ipv6=false \
  --service-cluster-ip-range "$SERVICE_CIDR" --health-port 0 --metrics-port 0
# Ready once its first full sync ends with the rule that accepts what the policies allow.
netpol_ready() { iptables -S KUBE-ROUTER-FORWARD | grep -q -- '--mark 0x20000/0x20000 -j ACCEPT'; }
wait_for "kube-router's firewall" 60 kube-router netpol_ready
cat >>"$DIR/env" <<EOF
# NetworkPolicy is enforced (kube-router's firewall, iptables + ipset).
NETWORK_POLICY=kube-router
EOF

# --- Cluster DNS: CoreDNS on the host (port DNS_PORT), behind the kube-dns Service ----------
k apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:gantry-coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:gantry-coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:gantry-coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:gantry-coredns"}
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: $DNS_IP
  ports:
  - {name: dns, port: 53, targetPort: $DNS_PORT, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: $DNS_PORT, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: gantry-test-cluster}
addressType: IPv4
endpoints:
- addresses: [$NODE_IP]
  conditions: {ready: true}
ports:
- {name: dns, port: $DNS_PORT, protocol: UDP}
- {name: dns-tcp, port: $DNS_PORT, protocol: TCP}
EOF
cat >"$cfg/Corefile" <<EOF
.:$DNS_PORT {
    errors
    health 127.0.0.1:18080
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $cfg/coredns.kubeconfig gantry-test
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 5
}
EOF
start coredns coredns -conf "$cfg/Corefile"
wait_for coredns 30 coredns timeout 2 bash -c "exec 3<>/dev/tcp/$NODE_IP/$DNS_PORT"

# The default namespace's ServiceAccount: pods can be created once it exists.
wait_for "the default ServiceAccount" 60 kube-controller-manager k get serviceaccount default -n default
mv "$DIR/kubeconfig.tmp" "$DIR/kubeconfig"
trap - EXIT
say "up in $(( $(date +%s) - start ))s: node $NODE Ready, NetworkPolicy enforced; KUBECONFIG=$DIR/kubeconfig"
