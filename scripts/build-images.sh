#!/usr/bin/env bash
# Build every ragplane image from the one Dockerfile with podman, without a registry (see docs/deploy.md, Images).
#
#   scripts/build-images.sh [IMAGE...]      default: all ten (the eight services, modelserver, autoscaler)
#
# Installs podman, runc and debootstrap with apt when missing (as root, or with sudo). The base is a Debian bookworm
# root filesystem made once with debootstrap (cached under $RAGPLANE_IMAGES_CACHE, default /var/tmp/ragplane-images)
# and imported as localhost/debian-base:bookworm. Images are tagged localhost/ragplane-<image>:$TAG (default dev).
# The shared layers (base, deps, deps-torch, llama.cpp) are built by the first image that needs them and reused.
# pip inside the build uses the same indexes as pip here (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS or
# pip's config); local ones (file:// or folders) are mounted read-only into the build.
# Prints one line per image: name, build seconds, size; then the total.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
ALL_IMAGES=(orchestrator ingest embed retrieve rerank generate guardrail eval gateway modelserver autoscaler)
images=("$@")
[[ ${#images[@]} -gt 0 ]] || images=("${ALL_IMAGES[@]}")
TAG=${TAG:-dev}
cache=${RAGPLANE_IMAGES_CACHE:-/var/tmp/ragplane-images}
base_image=localhost/debian-base:bookworm
PY=${PY:-.venv/bin/python}
[[ -x $PY ]] || PY=python3

if [[ $(id -u) == 0 ]]; then SUDO=; else SUDO=sudo; fi
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq podman runc debootstrap >/dev/null
fi

mkdir -p "$cache"
# crun/runc may not raise RLIMIT_NOFILE here; crun refuses this host's hybrid cgroups.
printf '[containers]\ndefault_ulimits = []\n' >"$cache/containers.conf"
export CONTAINERS_CONF="$cache/containers.conf"
podman=(podman --runtime runc --cgroup-manager=cgroupfs)

if ! "${podman[@]}" image exists "$base_image"; then
  if [[ ! -f $cache/rootfs/.complete ]]; then
    rm -rf "$cache/rootfs"
    $SUDO debootstrap --variant=minbase bookworm "$cache/rootfs" http://deb.debian.org/debian >"$cache/debootstrap.log"
    touch "$cache/rootfs/.complete"
  fi
  # without debootstrap's downloaded packages and apt lists (~120 MB)
  tar -C "$cache/rootfs" --exclude ./.complete --exclude './var/cache/apt/archives/*.deb' \
    --exclude './var/lib/apt/lists/*_*' -c . | "${podman[@]}" import - "$base_image" >/dev/null
fi

# Python: Debian bookworm's python3 is 3.11.2 and the lock needs >= 3.11.5 (soupsieve), and no registry or
# python.org is reachable here; so the base gets the interpreter the project's venv runs (the same CPython the
# tests use) under /usr/local, as python:3.11-slim has it, with the shared libraries its modules link.
venv_home=$(sed -n 's/^home = //p' "$(dirname "$PY")/../pyvenv.cfg" 2>/dev/null || true)
[[ -n $venv_home ]] || venv_home=$(dirname "$(readlink -f "$(command -v python3)")")
prefix=$(cd "$venv_home/.." && pwd)
pyver=$("$venv_home/python3" -c 'import platform; print(platform.python_version())')
python_image=localhost/python:$pyver-bookworm
if ! "${podman[@]}" image exists "$python_image"; then
  ctx="$cache/python-$pyver"
  rm -rf "$ctx" && mkdir -p "$ctx/python/bin" "$ctx/python/lib"
  cp -a "$prefix/bin/python3.11" "$ctx/python/bin/"
  ln -s python3.11 "$ctx/python/bin/python3" && ln -s python3.11 "$ctx/python/bin/python"
  cp -a "$prefix"/lib/libpython3*.so* "$ctx/python/lib/"
  tar -C "$prefix/lib" --exclude 'python3.11/site-packages/*' --exclude python3.11/test \
    --exclude '*/__pycache__' --exclude '*tkinter*' -c python3.11 | tar -C "$ctx/python/lib" -x
  cat >"$ctx/Containerfile" <<CONTAINERFILE
FROM $base_image
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 libffi8 libsqlite3-0 \
      libbz2-1.0 liblzma5 zlib1g libuuid1 libreadline8 libncursesw6 libexpat1 && rm -rf /var/lib/apt/lists/*
COPY python/ /usr/local/
RUN ldconfig && python3 -c 'import ssl, ctypes, sqlite3, bz2, lzma, zlib, uuid, pyexpat, ensurepip, venv'
CONTAINERFILE
  if ! "${podman[@]}" build --network host -t "$python_image" -f "$ctx/Containerfile" "$ctx" \
    >"$cache/python-base.log" 2>&1; then
    tail -n 20 "$cache/python-base.log" >&2
    exit 1
  fi
fi

# pip's indexes as pip here sees them: environment first, then pip's configuration.
pip_setting() {  # NAME (e.g. extra-index-url) -> value or nothing
  local env_name="PIP_$(tr 'a-z-' 'A-Z_' <<<"$1")"
  if [[ -n ${!env_name:-} ]]; then echo "${!env_name}"; return; fi
  "$PY" -m pip config get "global.$1" 2>/dev/null | tr '\n' ' ' || true
}
build_args=(--build-arg "BASE_IMAGE=$python_image")
mounts=()
declare -A mounted=()
for setting in index-url extra-index-url find-links; do
  value=$(pip_setting "$setting" | xargs)
  [[ -n $value ]] || continue
  build_args+=(--build-arg "PIP_$(tr 'a-z-' 'A-Z_' <<<"$setting")=$value")
  for location in $value; do
    dir=${location#file://}
    dir=${dir%/}
    [[ $dir == */simple ]] && dir=${dir%/simple}  # a PEP 503 index links to files beside simple/
    [[ $dir == /* && -d $dir ]] || continue
    [[ -n ${mounted[$dir]:-} ]] && continue
    mounted[$dir]=1
    mounts+=(--volume "$dir:$dir:ro")
  done
done
# A CA bundle pip is told to trust (a TLS-inspecting proxy): mounted, and pip in the build trusts it too.
cert=$(pip_setting cert | xargs)
if [[ -n $cert && -f $cert ]]; then
  mounts+=(--volume "$cert:/opt/host-ca.crt:ro")
  build_args+=(--build-arg "PIP_CERT=/opt/host-ca.crt")
fi
# torch from a local wheel folder when one holds the locked build, else the PyTorch index.
torch=$(sed -n 's/^torch==\(.*\)$/\1/p' requirements.lock)
for dir in "${!mounted[@]}"; do
  if compgen -G "$dir/torch-${torch}-*.whl" >/dev/null || [[ -d $dir/torch ]]; then
    build_args+=(--build-arg "TORCH_INDEX=")
    break
  fi
done

total_start=$(date +%s)
for image in "${images[@]}"; do
  start=$(date +%s)
  log="$cache/build-$image.log"
  if ! "${podman[@]}" build --network host --layers "${mounts[@]}" "${build_args[@]}" \
    --build-arg "SERVICE=$image" -t "localhost/ragplane-$image:$TAG" -f Dockerfile . >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build of $image failed (log: $log)" >&2
    exit 1
  fi
  size=$("${podman[@]}" image inspect --format '{{.Size}}' "localhost/ragplane-$image:$TAG")
  printf '%-13s %5ss  %6s MB\n' "$image" "$(($(date +%s) - start))" "$((size / 1000000))"
done
printf 'total         %5ss\n' "$(($(date +%s) - total_start))"
