#!/bin/sh
# Integration tests of the deals service deployed in NAMESPACE, from inside the cluster network:
# a probe pod in the namespace sends real HTTP requests to the `deals` Service, and its answers
# are checked here. Any wrong or missing answer fails the job.
# Usage: runTests.sh NAMESPACE [EXPECTED_VERSION]
#   PROBE_IMAGE  an image with busybox sh and wget (default busybox:1.36)
set -eu
NAMESPACE=$1
EXPECTED_VERSION=${2:-}
PROBE_IMAGE=${PROBE_IMAGE:-busybox:1.36}
k() { kubectl --namespace "$NAMESPACE" "$@"; }
failures=0
check() { # check DESCRIPTION PATTERN TEXT: PATTERN (fixed string) must occur in TEXT
  if printf '%s' "$3" | grep -qF -- "$2"; then echo "PASS: $1"
  else echo "FAIL: $1 (no '$2' in the answer)"; failures=$((failures + 1)); fi
}

k rollout status deployment/deals --timeout=120s
k rollout status deployment/catalogue --timeout=120s

# One probe pod, one request per line of its log; "== GET <path> <wget exit code>" ends each.
# It first waits (30 s at most) until the Service answers at all: where NetworkPolicy is enforced
# (the namespace admits only its own pods), a new pod's address is allowed asynchronously, so
# its first connection can be refused though the deployment is ready.
probe=deals-probe-$$
k run "$probe" --restart=Never --image="$PROBE_IMAGE" --command -- sh -c '
  i=0; until wget -q -O /dev/null http://deals/healthz 2>/dev/null || [ $i -ge 30 ]; do i=$((i + 1)); sleep 1; done
  for path in /healthz /cgi-bin/deals /no-such-page; do
    body=$(wget -q -O- "http://deals$path" 2>/dev/null); code=$?
    echo "$body"; echo "== GET $path $code"
  done'
phase=
for _ in $(seq 1 120); do
  phase=$(k get pod "$probe" -o jsonpath='{.status.phase}')
  [ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
  sleep 1
done
log=$(k logs "$probe")
k delete pod "$probe" --wait=false >/dev/null
echo "probe pod $probe: $phase"
echo "$log"
[ "$phase" = Succeeded ] || { echo "FAIL: the probe pod did not complete ($phase)"; exit 1; }

# answer PATH: the body the probe got for PATH; status PATH: wget's exit code (0 = HTTP 2xx).
answer() { printf '%s\n' "$log" |
  awk -v p="$1" '$1 == "==" { if ($3 == p) { printf "%s", body; exit } body = ""; next }
                 { body = body $0 "\n" }'; }
status() { printf '%s\n' "$log" | awk -v p="$1" '$1 == "==" && $3 == p { print $4 }'; }

check "GET /healthz answers" "ok" "$(answer /healthz)"
[ "$(status /healthz)" = 0 ] || { echo "FAIL: GET /healthz status"; failures=$((failures + 1)); }
deals=$(answer /cgi-bin/deals)
[ "$(status /cgi-bin/deals)" = 0 ] && echo "PASS: GET /cgi-bin/deals is 200" ||
  { echo "FAIL: GET /cgi-bin/deals is not 200 (catalogue unreachable?)"; failures=$((failures + 1)); }
check "deals answers as the deals service" '"service":"deals"' "$deals"
[ -z "$EXPECTED_VERSION" ] ||
  check "the build under test answers ($EXPECTED_VERSION)" "\"version\":\"$EXPECTED_VERSION\"" "$deals"
# 20% off every catalogue item, prices in cents (the catalogue is templates/my-sock-shop.yaml).
check "deal for holy" '{"id":"holy","name":"Holy","price":9999,"deal_price":7999}' "$deals"
check "deal for crossed" '{"id":"crossed","name":"Crossed","price":1750,"deal_price":1400}' "$deals"
check "deal for colourful" '{"id":"colourful","name":"Colourful","price":1800,"deal_price":1440}' "$deals"
[ "$(status /no-such-page)" != 0 ] && echo "PASS: an unknown page is an error" ||
  { echo "FAIL: GET /no-such-page succeeded"; failures=$((failures + 1)); }

if [ "$failures" -ne 0 ]; then echo "runTests: $failures check(s) failed"; exit 1; fi
echo "runTests: all checks passed against http://deals in namespace $NAMESPACE"
