#!/usr/bin/env bash
# The founding scenario end to end, from a clean checkout with Docker up and a cluster (the one
# testing/cluster/up.sh starts): build gantry, build the images from what Debian ships, start a
# real registry (Debian's docker-registry on 127.0.0.1:5000), then run pipelines/dynamic-environments.gitlab-ci.yml
# in a throw-away clone with the Docker executor and again with the Kubernetes executor. After
# each run it checks, through the registry's API and the cluster's API, that the image was pushed
# with its tag, the deals deployment became ready (watched while the pipeline ran), the tests ran
# against it (their output in the test job's log), and that the namespace and every
# gantry-labelled object are gone. Stops what it started; exits 0 only if everything held.
#
# Needs: docker (engine up), cargo, git, kubectl, busybox-static, docker-registry.
# Environment:
#   FOUNDING_EXECUTORS   which runs, default "docker kubernetes"; `serve` adds a run on a push:
#                        `gantry serve` with the repository on the Kubernetes executor gets a
#                        push webhook, and the environment and its namespace are read from its
#                        API while the pipeline runs
#   FOUNDING_REGISTRY    host:port of a registry to use instead of starting one (default: start
#                        docker-registry on 127.0.0.1:5000, or use the one already answering there)
#   FOUNDING_SKIP_BUILD=1  use target/debug/gantry as it is (GANTRY_BIN overrides the path)
#   FOUNDING_KUBECONFIG  the admin kubeconfig of the cluster (default GANTRY_TEST_KUBECONFIG; start
#                        one with testing/cluster/up.sh DIR, then `. DIR/env`); its nodes must
#                        pull from FOUNDING_REGISTRY under the same name as this host (or under
#                        FOUNDING_CLUSTER_REGISTRY)
#   FOUNDING_REGISTRY_LISTEN  the address the started registry listens on (default
#                        FOUNDING_REGISTRY; e.g. 0.0.0.0:5000 for pods to reach it on the host)
#   FOUNDING_CLUSTER_REGISTRY  the registry's host:port as the Kubernetes run's pods and nodes
#                        reach it (default FOUNDING_REGISTRY); that run pushes and pulls there
#   FOUNDING_KUBE_DIND   how the Kubernetes run's `docker:dind` is served: `socket` (the node's
#                        Docker socket, default) or `privileged` (--privileged-dind: a real
#                        engine in the pod, gantry-founding/dind:1, for nodes without Docker)
#   FOUNDING_KEEP=1      keep the work directory (logs, clone) for inspection
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXECUTORS=${FOUNDING_EXECUTORS:-docker kubernetes}
REGISTRY=${FOUNDING_REGISTRY:-127.0.0.1:5000}
CLUSTER_REGISTRY=${FOUNDING_CLUSTER_REGISTRY:-$REGISTRY}
KUBE_DIND=${FOUNDING_KUBE_DIND:-socket}
PROJECT=deals
IMAGE_REPO=iandcrosby/$PROJECT
export NO_COLOR=1

say() { echo "founding: $*"; }
die() { echo "founding: FAIL: $*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/founding.XXXXXX")
registry_pid=
pushed=()
watch_pid=
gantry_pid=
serve_pid=
stop() {
  local code=$?
  set +e
  if [ -n "$serve_pid" ]; then
    # SIGTERM: the server cancels what runs, whose cleanup deletes the namespace, then exits.
    kill -TERM "$serve_pid" 2>/dev/null
    for _ in $(seq 1 1200); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
    say "gantry serve (pid $serve_pid) stopped"
  fi
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  if [ -n "$gantry_pid" ] && kill -0 "$gantry_pid" 2>/dev/null; then
    # Interrupted mid-pipeline: gantry runs the `when: always` cleanup and deletes the namespace
    # (Ctrl-C reached it already; a SIGTERM to this script did not), then the cluster can go.
    kill -INT "$gantry_pid" 2>/dev/null
    for _ in $(seq 1 1200); do kill -0 "$gantry_pid" 2>/dev/null || break; sleep 0.1; done
    say "gantry (pid $gantry_pid) stopped"
  fi
  # The images the cluster pulled into the engine (the job images stay, as a build cache).
  for image in "${pushed[@]}"; do docker rmi "$image" >/dev/null 2>&1; done
  if [ -n "$registry_pid" ]; then
    kill -TERM "$registry_pid" 2>/dev/null
    wait "$registry_pid" 2>/dev/null
    say "stopped the registry (pid $registry_pid)"
  fi
  if [ "${FOUNDING_KEEP:-}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
  exit "$code"
}
trap stop EXIT
trap 'exit 130' INT TERM

# --- What the run needs ---------------------------------------------------------------------
for tool in docker git kubectl; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
BUSYBOX=/usr/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "busybox-static is not installed"
# The registry's HTTP API through busybox wget (no curl needed): the body, or failure on a non-2xx.
http_get() { "$BUSYBOX" wget -q -O- "$1"; }
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info)"

# Where cargo puts the binaries (CARGO_TARGET_DIR or a config's target-dir included).
TARGET=$(cd "$ROOT" && command -v cargo >/dev/null && cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p' || true)
GANTRY=${GANTRY_BIN:-${TARGET:-$ROOT/target}/debug/gantry}
if [ "${FOUNDING_SKIP_BUILD:-}" != 1 ]; then
  command -v cargo >/dev/null || die "cargo is not installed"
  say "building gantry"
  (cd "$ROOT" && cargo build --quiet -p gantry --bins) || die "cargo build failed"
fi
[ -x "$GANTRY" ] || die "no gantry binary at $GANTRY"
KC=${FOUNDING_KUBECONFIG:-${GANTRY_TEST_KUBECONFIG:-}}
[ -n "$KC" ] || die "no cluster: start one with testing/cluster/up.sh DIR, then . DIR/env (or set FOUNDING_KUBECONFIG)"

# --- The registry ---------------------------------------------------------------------------
registry_up() { http_get "http://$REGISTRY/v2/" >/dev/null 2>&1; }
if registry_up; then
  say "registry: using the one already serving on $REGISTRY"
else
  [ -n "${FOUNDING_REGISTRY:-}" ] && die "no registry answers on $REGISTRY"
  command -v docker-registry >/dev/null || die "docker-registry is not installed (apt-get install docker-registry)"
  mkdir -p "$work/registry"
  cat >"$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry/storage
  delete:
    enabled: true
http:
  addr: ${FOUNDING_REGISTRY_LISTEN:-$REGISTRY}
EOF
  docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 1 100); do registry_up && break; sleep 0.1; done
  registry_up || { cat "$work/registry/log" >&2; die "the registry did not start on $REGISTRY"; }
  say "registry: started docker-registry on $REGISTRY (pid $registry_pid, storage in $work/registry)"
fi

# --- Images ---------------------------------------------------------------------------------
pushed+=("$REGISTRY/founding/busybox:1" "$REGISTRY/founding/docker:1" "$REGISTRY/founding/kubectl:1" "$REGISTRY/founding/dind:1")
"$ROOT/pipelines/dynamic-environments/images/build-images.sh" "$REGISTRY" 2>"$work/images.log" ||
  { cat "$work/images.log" >&2; die "building the images failed"; }

# --- The cluster ----------------------------------------------------------------------------
kubectl --kubeconfig "$KC" version >/dev/null || die "the cluster in $KC does not answer"
say "cluster: $KC (its nodes must pull from $CLUSTER_REGISTRY)"
k() { kubectl --kubeconfig "$KC" "$@"; }

# --- The project: the pipelines/ files in a fresh repository --------------------------------
repo=$work/$PROJECT
mkdir -p "$repo/pipelines"
cp "$ROOT/pipelines/dynamic-environments.gitlab-ci.yml" "$repo/.gitlab-ci.yml"
cp -R "$ROOT/pipelines/dynamic-environments" "$repo/pipelines/"
g() { git -C "$repo" -c user.name=Founding -c user.email=founding@example.com "$@"; }
g init -q -b master
g add -A
g commit -q -m "deals: the founding scenario"

KINDS=namespaces,pods,deployments,services,configmaps,secrets,serviceaccounts,roles,rolebindings,resourcequotas,limitranges,networkpolicies
# api_empty KUBECTL-ARGS...: the query succeeds and names nothing (what it names is shown).
api_empty() {
  local found
  found=$(k "$@" -o name) || return 1
  [ -z "$found" ] || { printf '    left: %s\n' $found; return 1; }
}
tags_of() { http_get "http://$REGISTRY/v2/$IMAGE_REPO/tags/list" 2>/dev/null || true; }

# deals_ready NAMESPACE FILE: whether the deals Deployment in NAMESPACE has a ready replica;
# if so, FILE says so with the image it runs.
deals_ready() {
  local ready image
  ready=$(k get deployment deals -n "$1" -o jsonpath='{.status.readyReplicas}' 2>/dev/null || true)
  [ "${ready:-0}" -ge 1 ] 2>/dev/null || return 1
  image=$(k get deployment deals -n "$1" -o jsonpath='{.spec.template.spec.containers[0].image}')
  echo "deployment deals ready ($ready) in $1 running $image" >"$2"
}

# One pipeline run with EXECUTOR and every check about it.
run_with() {
  local executor=$1 sha tag ns iid logs out code=0 extra=() run_pid reg=$REGISTRY
  g commit -q --allow-empty -m "run with the $executor executor"
  sha=$(g rev-parse HEAD)
  tag=master-$sha
  # The namespace carries the pipeline's iid: the one this run takes next.
  ns=$PROJECT-master-${sha:0:8}-$(( $(cat "$repo/.gantry/pipeline-iid" 2>/dev/null || echo 0) + 1 ))
  out=$work/run-$executor.log
  if [ "$executor" = kubernetes ]; then
    reg=$CLUSTER_REGISTRY
    extra=(--executor kubernetes)
    case $KUBE_DIND in
      socket) ;;
      # A real engine in the build pod, as on nodes without a Docker socket; the job's docker
      # CLI reaches it on tcp://docker:2375, as GitLab's documentation has it.
      privileged) extra+=(--privileged-dind --image-map docker:dind="$reg/founding/dind:1"
                          --var DOCKER_HOST=tcp://docker:2375) ;;
      *) die "FOUNDING_KUBE_DIND is socket or privileged, not '$KUBE_DIND'" ;;
    esac
  fi
  pushed+=("$reg/$IMAGE_REPO:$tag")
  say "[$executor] running the pipeline at ${sha:0:8} (namespace $ns)"

  # Watch the cluster while the pipeline runs: the deals Deployment ready in the namespace.
  : >"$work/watch-$executor"
  ( until deals_ready "$ns" "$work/watch-$executor"; do sleep 0.5; done ) &
  watch_pid=$!

  (cd "$repo" && exec "$GANTRY" run --kubeconfig "$KC" "${extra[@]}" \
    --var CI_REGISTRY="$reg" \
    --image-map docker:latest="$reg/founding/docker:1" \
    --image-map registry.gitlab.com/gitlab-examples/kubernetes-deploy="$reg/founding/kubectl:1") \
    >"$out" 2>&1 &
  gantry_pid=$!
  wait "$gantry_pid" || code=$?
  run_pid=$gantry_pid
  gantry_pid=
  kill "$watch_pid" 2>/dev/null || true
  wait "$watch_pid" 2>/dev/null || true
  watch_pid=
  sed "s/^/  [$executor] /" "$out"

  iid=$(cat "$repo/.gantry/pipeline-iid" 2>/dev/null || echo 0)
  logs=$repo/.gantry/pipelines/$iid/logs
  failed=0
  check "the pipeline succeeded (exit $code)" test "$code" = 0
  verify "$executor" "$tag" "$ns" "$reg" "$logs" "$run_pid"
}

# check DESCRIPTION COMMAND...: says whether COMMAND held for the current run ($executor);
# a failure sets `failed`.
check() {
  local what=$1; shift
  if "$@"; then say "[$executor] ok: $what"; else say "[$executor] FAILED: $what"; failed=1; fi
}

# verify EXECUTOR TAG NAMESPACE REGISTRY LOGS GANTRY_PID: the checks every run shares (the
# image pushed and pulled, the deployment watched, the tests' output in the job logs under LOGS,
# nothing left in the cluster or in Docker); says PASS or FAIL and returns `failed`.
verify() {
  local executor=$1 tag=$2 ns=$3 reg=$4 logs=$5 run_pid=$6
  check "the registry lists $IMAGE_REPO:$tag" \
    grep -qF "\"$tag\"" <<<"$(tags_of)"
  check "the deployment became ready while the pipeline ran ($(cat "$work/watch-$executor"))" \
    grep -qF "running $reg/$IMAGE_REPO:$tag" "$work/watch-$executor"
  check "the cluster pulled the image from the registry (test job log)" \
    grep -qF "Successfully pulled image \"$reg/$IMAGE_REPO:$tag\"" "$logs/test.log"
  check "the readiness loop saw the deals pod's conditions all True (test job log)" \
    grep -qE '^True( True)+$' "$logs/test.log"
  check "the tests ran against the build under test (test job log)" \
    grep -qF "PASS: the build under test answers ($tag)" "$logs/test.log"
  check "every test passed (test job log)" \
    grep -qF "runTests: all checks passed against http://deals in namespace $ns" "$logs/test.log"
  check "the cleanup job ran" grep -qF "Removing everything deployed in Kubernetes namespace $ns" "$logs/cleanup.log"
  check "the namespace $ns is gone" api_empty get namespace "$ns" --ignore-not-found
  check "no gantry-labelled namespace is left" \
    api_empty get namespaces -l app.kubernetes.io/managed-by=gantry
  check "no gantry-labelled object is left in the cluster" \
    api_empty get "$KINDS" -A -l app.kubernetes.io/managed-by=gantry
  check "no job pod is left in the cluster" api_empty get pods -A -l gantry.job
  check "no container or network of this run is left in Docker" \
    test -z "$(docker ps -aq --filter "label=gantry.pid=$run_pid")$(docker network ls -q --filter "label=gantry.pid=$run_pid")"
  if [ "$failed" = 0 ]; then say "[$executor] PASS"; else say "[$executor] FAIL"; fi
  return "$failed"
}

# One pipeline started by a push webhook to `gantry serve`, which runs the repository's jobs as
# pods on the cluster (executor = "kubernetes", the operator's kubeconfig): while it runs, the
# server's environments API lists the environment with its namespace; afterwards the pipeline's
# status is `success`, the environment is stopped, and the shared checks hold.
serve_with() {
  local executor=serve sha before tag ns id status= addr= reg=$CLUSTER_REGISTRY out entry hook
  local token=founding-api-token secret=founding-webhook-secret dind=false
  before=$(g rev-parse HEAD)
  g commit -q --allow-empty -m "push to gantry serve"
  sha=$(g rev-parse HEAD)
  tag=master-$sha
  pushed+=("$reg/$IMAGE_REPO:$tag")
  local images=("docker:latest=$reg/founding/docker:1"
    "registry.gitlab.com/gitlab-examples/kubernetes-deploy=$reg/founding/kubectl:1")
  printf 'variables:\n  CI_REGISTRY: "%s"\n' "$reg" >"$work/serve-variables.yml"
  case $KUBE_DIND in
    socket) ;;
    privileged) dind=true; images+=("docker:dind=$reg/founding/dind:1")
                echo "  DOCKER_HOST: tcp://docker:2375" >>"$work/serve-variables.yml" ;;
    *) die "FOUNDING_KUBE_DIND is socket or privileged, not '$KUBE_DIND'" ;;
  esac
  {
    echo "listen = \"127.0.0.1:0\""
    echo "data_dir = \"$work/serve\""
    echo "api_token = \"$token\""
    echo "webhook_secret = \"$secret\""
    echo "[[repository]]"
    echo "name = \"iandcrosby/$PROJECT\""
    echo "source = \"$repo\""
    echo "executor = \"kubernetes\""
    echo "kubeconfig = \"$KC\""
    echo "variables_file = \"$work/serve-variables.yml\""
    echo "image_map = [$(printf '"%s", ' "${images[@]}")]"
    echo "privileged_dind = $dind"
  } >"$work/serve.toml"
  out=$work/serve.out
  "$GANTRY" serve --config "$work/serve.toml" >"$out" 2>"$work/serve.log" &
  serve_pid=$!
  for _ in $(seq 1 300); do
    addr=$(sed -n 's|.*listening on http://\([^ ]*\).*|\1|p' "$out" | head -1)
    [ -n "$addr" ] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$work/serve.log" >&2; die "gantry serve did not start"; }
  say "[$executor] gantry serve on $addr (pid $serve_pid), pushing ${sha:0:8}"
  api() { "$BUSYBOX" wget -q -O- --header "Authorization: Bearer $token" "http://$addr/api/v1/$1"; }
  hook=$(jq -nc --arg before "$before" --arg after "$sha" --arg project "iandcrosby/$PROJECT" \
    '{object_kind: "push", ref: "refs/heads/master", before: $before, after: $after,
      checkout_sha: $after, user_username: "founding", project: {path_with_namespace: $project}}')
  id=$("$BUSYBOX" wget -q -O- --header "X-Gitlab-Event: Push Hook" --header "X-Gitlab-Token: $secret" \
    --header "Content-Type: application/json" --post-data "$hook" "http://$addr/hooks/gitlab" | jq -r .id)
  [[ $id =~ ^[0-9]+$ ]] || die "the push webhook did not start a pipeline ($(tail -3 "$work/serve.log"))"
  say "[$executor] the push started pipeline #$id"

  # While it runs: the environment and its namespace as the API lists them, then the deals
  # Deployment ready in that namespace.
  : >"$work/env-$executor"
  : >"$work/watch-$executor"
  (
    env_ns=
    while :; do
      if [ -z "$env_ns" ]; then
        entry=$(api "environments?repository=iandcrosby/$PROJECT" 2>/dev/null |
          jq -c --argjson id "$id" '.[]
            | select(.pipeline_id == $id and .namespace != null)' 2>/dev/null | head -1)
        if [ -n "$entry" ]; then
          echo "$entry" >"$work/env-$executor"
          env_ns=$(jq -r .namespace <<<"$entry")
        fi
      elif deals_ready "$env_ns" "$work/watch-$executor"; then
        break
      fi
      sleep 0.5
    done
  ) &
  watch_pid=$!
  for _ in $(seq 1 1800); do
    status=$(api "pipelines/$id" 2>/dev/null | jq -r .status)
    case $status in success | failed | canceled | skipped) break ;; esac
    sleep 0.5
  done
  kill "$watch_pid" 2>/dev/null || true
  wait "$watch_pid" 2>/dev/null || true
  watch_pid=

  # The jobs' logs, as the API serves them.
  local logs=$work/serve-logs job name
  mkdir -p "$logs"
  api "pipelines/$id" >"$work/serve-pipeline.json"
  while read -r job name; do
    api "jobs/$job/log" >"$logs/$name.log" 2>/dev/null || true
    sed "s/^/  [$executor] $name │ /" "$logs/$name.log"
  done < <(jq -r '.jobs[] | select(.retried != true) | "\(.id) \(.name)"' "$work/serve-pipeline.json")

  failed=0
  entry=$(cat "$work/env-$executor")
  ns=$(jq -r '.namespace // empty' <<<"$entry" 2>/dev/null)
  check "the pipeline's status is success ($status)" test "$status" = success
  check "while it ran, the API listed environment test-for-ci in namespace ${ns:-(none)} (${entry:-nothing})" \
    test "$(jq -r '.name + " " + .state' <<<"$entry" 2>/dev/null)" = "test-for-ci available"
  check "afterwards the API lists the environment as stopped" \
    test "$(api "environments?repository=iandcrosby/$PROJECT" | jq -r --arg ns "$ns" \
      '[.[] | select(.namespace == $ns) | .state] | first')" = stopped
  local verified=0
  verify "$executor" "$tag" "${ns:-unknown}" "$reg" "$logs" "$serve_pid" || verified=1
  kill -TERM "$serve_pid" 2>/dev/null
  wait "$serve_pid" 2>/dev/null
  serve_pid=
  return "$verified"
}

status=0
for executor in $EXECUTORS; do
  case $executor in
    docker | kubernetes) run_with "$executor" || status=1 ;;
    serve) serve_with || status=1 ;;
    *) die "unknown executor '$executor' in FOUNDING_EXECUTORS" ;;
  esac
done
if [ "$status" = 0 ]; then say "PASS: the founding scenario held with: $EXECUTORS"
else say "FAIL: see the FAILED lines above"; fi
exit "$status"
