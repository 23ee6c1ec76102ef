#!/bin/sh
# Builds the founding pipeline's images from what Debian ships, with no registry to pull from:
#   gantry-founding/busybox:1  FROM scratch + busybox-static (/usr/bin/busybox): the base image of
#                              the deals service, its catalogue dependency and the test probe
#   gantry-founding/docker:1   base + the host's docker CLI: the `build` job's image
#   gantry-founding/kubectl:1  base + the host's kubectl: deploy/test/cleanup's image
#   gantry-founding/dind:1     base + the host's dockerd, containerd and runc: a `docker:dind`
#                              service for clusters whose nodes have no Docker socket (the
#                              Kubernetes executor's --privileged-dind); it serves
#                              tcp://docker:2375 and treats $CI_REGISTRY as a plain-HTTP registry
# With a registry (`build-images.sh 127.0.0.1:5000`) they are also pushed there as
# REGISTRY/founding/{busybox,docker,kubectl,dind}:1: the base is the name the pipeline builds FROM and
# deploys, the job images the names to --image-map the pipeline's images to.
# Needs: docker (engine reachable), busybox-static, docker and kubectl clients (static ones are
# copied as they are; a dynamically linked one, such as Debian's docker.io client, comes with the
# shared libraries and loader `ldd` names).
set -eu
REGISTRY=${1:-}
BUSYBOX=${BUSYBOX:-/usr/bin/busybox}
DOCKER_BIN=${DOCKER_BIN:-$(command -v docker)}
KUBECTL_BIN=${KUBECTL_BIN:-$(command -v kubectl)}

die() { echo "build-images: $*" >&2; exit 1; }
[ -x "$BUSYBOX" ] || BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "no busybox (apt-get install busybox-static)"
[ -n "$DOCKER_BIN" ] || die "no docker CLI on PATH"
[ -n "$KUBECTL_BIN" ] || die "no kubectl on PATH"
ldd "$BUSYBOX" >/dev/null 2>&1 && die "$BUSYBOX is not static (install busybox-static)"

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# add BINARY DEST: BINARY at DEST in the next image's root, with its shared libraries if any.
add() {
  mkdir -p "$ctx/rootfs$(dirname "$2")"
  cp -L "$1" "$ctx/rootfs$2"
  ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r lib; do
      mkdir -p "$ctx/rootfs$(dirname "$lib")"
      cp -L "$lib" "$ctx/rootfs$lib"
    done
}

# build TAG: an image from the Dockerfile on stdin and what `add` put in the context.
build() {
  docker build -q -t "$1" -f - "$ctx" >/dev/null || die "docker build $1 failed"
  rm -rf "$ctx/rootfs"
  echo "built $1"
}

add "$BUSYBOX" /bin/busybox
build gantry-founding/busybox:1 <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "mkdir", "-p", "/usr/bin", "/sbin", "/usr/sbin", "/tmp", "/root", "/etc"]
RUN ["/bin/busybox", "--install", "-s"]
RUN chmod 1777 /tmp && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd \
 && echo 'root:x:0:' > /etc/group && echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> /etc/passwd
ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root
CMD ["sh"]
DOCKERFILE

add "$DOCKER_BIN" /usr/local/bin/docker
build gantry-founding/docker:1 <<'DOCKERFILE'
FROM gantry-founding/busybox:1
COPY rootfs/ /
DOCKERFILE

add "$KUBECTL_BIN" /usr/local/bin/kubectl
build gantry-founding/kubectl:1 <<'DOCKERFILE'
FROM gantry-founding/busybox:1
COPY rootfs/ /
DOCKERFILE

for tool in dockerd containerd containerd-shim-runc-v2 runc; do
  bin=$(command -v "$tool") || die "no $tool on PATH (apt-get install docker.io)"
  add "$bin" "/usr/local/bin/$tool"
done
mkdir -p "$ctx/rootfs/usr/local/bin"
cat >"$ctx/rootfs/usr/local/bin/dockerd-entrypoint.sh" <<'SCRIPT'
#!/bin/sh
# A docker:dind service: an engine on tcp://0.0.0.0:2375 (no TLS, as dind with
# DOCKER_TLS_CERTDIR="") and the pod-local socket. No bridge or iptables of its own: builds and
# containers share the pod's network. $CI_REGISTRY (the job's registry) is plain HTTP.
set -e
insecure=
[ -z "${CI_REGISTRY:-}" ] || insecure="--insecure-registry=$CI_REGISTRY"
mkdir -p /var/run /var/lib/docker
exec dockerd --host=tcp://0.0.0.0:2375 --host=unix:///var/run/docker.sock --tls=false \
  --bridge=none --iptables=false --ip-masq=false --userland-proxy=false $insecure "$@"
SCRIPT
chmod 755 "$ctx/rootfs/usr/local/bin/dockerd-entrypoint.sh"
build gantry-founding/dind:1 <<'DOCKERFILE'
FROM gantry-founding/busybox:1
COPY rootfs/ /
EXPOSE 2375
ENTRYPOINT ["/usr/local/bin/dockerd-entrypoint.sh"]
DOCKERFILE

# Pushed, then untagged again, so whoever uses them (the deals build, gantry's executors, the
# cluster's pods) pulls them from the registry.
if [ -n "$REGISTRY" ]; then
  for name in busybox docker kubectl dind; do
    docker tag "gantry-founding/$name:1" "$REGISTRY/founding/$name:1"
    docker push -q "$REGISTRY/founding/$name:1" >/dev/null || die "docker push to $REGISTRY failed"
    docker rmi "$REGISTRY/founding/$name:1" >/dev/null
    echo "pushed $REGISTRY/founding/$name:1"
  done
fi
