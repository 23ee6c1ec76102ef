#!/bin/sh
# Builds the founding pipeline's images from what Debian ships, with no registry to pull from:
#   gantry-founding/busybox:1  FROM scratch + busybox-static (/usr/bin/busybox): the base image of
#                              the deals service, its catalogue dependency and the test probe
#   gantry-founding/docker:1   base + the host's static docker CLI: the `build` job's image
#   gantry-founding/kubectl:1  base + the host's static kubectl: deploy/test/cleanup's image
# With a registry (`build-images.sh 127.0.0.1:5000`) the base image is also pushed there as
# REGISTRY/founding/busybox:1, which is the name the pipeline builds FROM and deploys.
# Needs: docker (engine reachable), busybox-static, static docker and kubectl binaries.
set -eu
REGISTRY=${1:-}
BUSYBOX=${BUSYBOX:-/usr/bin/busybox}
DOCKER_BIN=${DOCKER_BIN:-$(command -v docker)}
KUBECTL_BIN=${KUBECTL_BIN:-$(command -v kubectl)}

die() { echo "build-images: $*" >&2; exit 1; }
[ -x "$BUSYBOX" ] || die "no $BUSYBOX (apt-get install busybox-static)"
[ -n "$DOCKER_BIN" ] || die "no docker CLI on PATH"
[ -n "$KUBECTL_BIN" ] || die "no kubectl on PATH"
# The job images have no C library: every binary copied in must be static.
for bin in "$BUSYBOX" "$DOCKER_BIN" "$KUBECTL_BIN"; do
  if command -v file >/dev/null 2>&1; then
    file -L "$bin" | grep -q 'statically linked' || die "$bin is not statically linked"
  fi
done

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# One image from a context directory holding FILES and a Dockerfile read from stdin.
build() {
  tag=$1; shift
  rm -rf "$ctx"/* && cp -L "$@" "$ctx"/
  docker build -q -t "$tag" -f - "$ctx" >/dev/null || die "docker build $tag failed"
  echo "built $tag"
}

build gantry-founding/busybox:1 "$BUSYBOX" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "mkdir", "-p", "/usr/bin", "/sbin", "/usr/sbin", "/tmp", "/root", "/etc"]
RUN ["/bin/busybox", "--install", "-s"]
RUN chmod 1777 /tmp && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd \
 && echo 'root:x:0:' > /etc/group && echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> /etc/passwd
ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root
CMD ["sh"]
DOCKERFILE

build gantry-founding/docker:1 "$DOCKER_BIN" <<'DOCKERFILE'
FROM gantry-founding/busybox:1
COPY docker /usr/local/bin/docker
DOCKERFILE

build gantry-founding/kubectl:1 "$KUBECTL_BIN" <<'DOCKERFILE'
FROM gantry-founding/busybox:1
COPY kubectl /usr/local/bin/kubectl
DOCKERFILE

if [ -n "$REGISTRY" ]; then
  docker tag gantry-founding/busybox:1 "$REGISTRY/founding/busybox:1"
  docker push -q "$REGISTRY/founding/busybox:1" >/dev/null || die "docker push to $REGISTRY failed"
  # Untagged again, so whoever uses it (the deals build, the cluster's pods) pulls it.
  docker rmi -f "$REGISTRY/founding/busybox:1" >/dev/null
  echo "pushed $REGISTRY/founding/busybox:1"
fi
