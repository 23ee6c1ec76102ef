#!/bin/sh
# Integration test: from a pod inside the namespace, the deals service answers over HTTP.
# (Pods of other namespaces cannot reach it: gantry's NetworkPolicy admits only this one.)
set -eu
NAMESPACE=$1
kubectl --namespace "$NAMESPACE" rollout status deployment/deals --timeout=120s
kubectl --namespace "$NAMESPACE" delete pod deals-probe --ignore-not-found
kubectl --namespace "$NAMESPACE" run deals-probe --restart=Never \
  --image="${PROBE_IMAGE:-busybox:1.36}" --command -- wget -qO- http://deals/
for _ in $(seq 1 120); do
  phase=$(kubectl --namespace "$NAMESPACE" get pod deals-probe -o jsonpath='{.status.phase}')
  [ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
  sleep 1
done
kubectl --namespace "$NAMESPACE" logs deals-probe
[ "$phase" = Succeeded ]
