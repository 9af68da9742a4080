#!/usr/bin/env bash
# Run the whole test suite (or the pytest arguments given) with everything the tests need on loopback:
# a Kubernetes API server for the operator tests (when the kit or a cluster is available). The broker and Redis
# are started by the test fixtures themselves.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PY=${PY:-.venv/bin/python}
if [ -z "${RAGPLANE_TEST_KUBECONFIG:-}" ]; then
  eval "$(scripts/start-test-apiserver.sh)"
  trap 'scripts/stop-test-apiserver.sh >/dev/null 2>&1 || true' EXIT
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$PY" -m pytest -p no:cacheprovider "$@"
