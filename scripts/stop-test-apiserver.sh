#!/usr/bin/env bash
# Stop the API server that scripts/start-test-apiserver.sh started (by the PIDs its kit recorded).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kit=${RAGPLANE_CRD_APISERVER_KIT:-$root/../shared/tools/crd-apiserver}
dir=${RAGPLANE_TEST_APISERVER_DIR:-$root/.cache/test-apiserver}
if [ -x "$kit/stop.sh" ]; then
  "$kit/stop.sh" "$dir"
fi
