#!/usr/bin/env bash
# Start a real Kubernetes API server (etcd + apiextensions-apiserver) on loopback for the operator tests and print
#   export RAGPLANE_TEST_KUBECONFIG=<path>
# on stdout, so callers can `eval "$(scripts/start-test-apiserver.sh)"`.
#
# The server comes from the crd-apiserver kit at ../shared/tools/crd-apiserver (relative to the repository root),
# or from $RAGPLANE_CRD_APISERVER_KIT. When no kit is there, it prints nothing on stdout, says so on stderr and
# exits 0: the operator tests then skip with a stated reason. Any other cluster works too: point
# RAGPLANE_TEST_KUBECONFIG at its kubeconfig yourself and skip this script.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kit=${RAGPLANE_CRD_APISERVER_KIT:-$root/../shared/tools/crd-apiserver}
dir=${RAGPLANE_TEST_APISERVER_DIR:-$root/.cache/test-apiserver}

if [ ! -x "$kit/start.sh" ]; then
  echo "start-test-apiserver: no API server kit at $kit; operator cluster tests will be skipped" >&2
  exit 0
fi
# A server left over from an interrupted run would keep its ports and processes: stop it first.
"$kit/stop.sh" "$dir" >/dev/null 2>&1 || true
kubeconfig=$("$kit/start.sh" "$dir")
echo "export RAGPLANE_TEST_KUBECONFIG=$kubeconfig"
