"""What each image of the Dockerfile installs, and what its code imports (no image is built).

- ``installs(image)``: the pip arguments of the image's install stages (``install-<image>`` and the stages it
  starts from), as requirements: local folders become their distributions (with extras), model packages and
  ``--no-deps`` installs are data (their own dependencies are not followed, as scripts/image_install.py does).
- ``distributions(requirements)``: those requirements closed over their dependencies with the venv's
  ``importlib.metadata`` (markers evaluated, extras followed).
- ``third_party_imports(entry)``: every import statement reachable from the image's entry module through our own
  modules (``ragplane.*``, ``ragplane_*``), module level or inside functions, except ``if TYPE_CHECKING:`` blocks:
  third-party top-level modules, each with the first place that imports it, and our own modules with the file.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SOURCE_ROOTS = (
    ROOT / "libs" / "proto" / "src",
    ROOT / "libs" / "runtime" / "src",
    *sorted((ROOT / "services").glob("*/src")),
    ROOT / "operators" / "autoscaler" / "src",
)


@cache
def model_packages() -> frozenset[str]:
    """The model packages scripts/image_install.py installs without dependencies."""
    text = (ROOT / "scripts" / "image_install.py").read_text()
    namespace: dict = {}
    block = re.search(r"^MODEL_PACKAGES = frozenset\(.*?^\)$", text, re.M | re.S)
    assert block, "scripts/image_install.py defines MODEL_PACKAGES"
    exec(block.group(0), namespace)  # a literal of names, nothing else
    return frozenset(canonicalize_name(n) for n in namespace["MODEL_PACKAGES"])


# ---- the Dockerfile ----


def stages(text: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (parent, instructions) per stage, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n(\s*#[^\n]*\n)*\s*", " ", text)
    out: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            parts = line.split()
            current = parts[3] if len(parts) >= 4 and parts[2].upper() == "AS" else parts[1]
            out[current] = (parts[1], [])
        elif current is not None:
            out[current][1].append(line)
    return out


def stage_chain(all_stages: dict[str, tuple[str, list[str]]], name: str) -> list[str]:
    """The stage and the stages it starts from, oldest first."""
    chain = []
    while name in all_stages:
        chain.append(name)
        name = all_stages[name][0]
    return chain[::-1]


@dataclass(frozen=True)
class Install:
    requirement: str  # a requirement string, or a local folder relative to the build context
    follow: bool  # whether its dependencies are installed too


def _local_name(folder: str) -> str | None:
    path = ROOT / folder.split("[")[0]
    pyproject = path / "pyproject.toml"
    if not pyproject.is_file():
        return None
    name = tomllib.loads(pyproject.read_text())["project"]["name"]
    extras = folder[len(folder.split("[")[0]) :]
    return f"{name}{extras}"


def _pip_arguments(command: str) -> list[tuple[list[str], bool]]:
    """(arguments, --no-deps) of each pip install (or scripts/image_install.py) in one RUN."""
    out = []
    for part in re.split(r"&&|;|\|\|", command):
        try:
            words = shlex.split(part)
        except ValueError:
            continue
        if "image_install.py" in " ".join(words[:3]):
            start = next(i for i, w in enumerate(words) if w.endswith("image_install.py")) + 1
            out.append((words[start:], False))
        elif "pip" in words and "install" in words:
            out.append((words[words.index("install") + 1 :], "--no-deps" in words))
    return out


_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[\w,-]*\])?([<>=!~].*)?$")
_WITH_VALUE = {"-c", "--constraint", "--index-url", "--extra-index-url", "--find-links", "-r", "-w"}


def installs(image: str, text: str | None = None) -> list[Install]:
    """Everything the install stages of ``image`` install, in order."""
    all_stages = stages(DOCKERFILE.read_text() if text is None else text)
    stage = f"install-{image}" if f"install-{image}" in all_stages else image
    assert stage in all_stages, f"no stage install-{image} in the Dockerfile"
    out: list[Install] = []
    for name in stage_chain(all_stages, stage):
        args = {}
        for instruction in all_stages[name][1]:
            if instruction.upper().startswith("ARG "):
                key, _, value = instruction[4:].partition("=")
                args[key.strip()] = value.strip().strip('"')
            if not instruction.upper().startswith("RUN "):
                continue
            for words, no_deps in _pip_arguments(instruction[4:]):
                skip = False
                for word in words:
                    if skip:
                        skip = False
                        continue
                    if word in _WITH_VALUE:
                        skip = True
                        continue
                    if word.startswith("-"):
                        continue
                    variable = re.fullmatch(r"\$(\w+)|\$\{(\w+)\}", word)
                    if variable:  # a build argument's default, e.g. $MODEL_PACKAGES
                        word = args.get(variable.group(1) or variable.group(2), "")
                    elif word.startswith("$"):  # a shell expansion of options
                        continue
                    for token in word.split():
                        if token.startswith("./"):
                            local = _local_name(token[2:])
                            assert local, f"{token} is not a package folder"
                            # image_install.py installs the package's own requirements; pip does too
                            out.append(Install(local, follow=not no_deps))
                            continue
                        if not _REQUIREMENT.match(token):  # a piece of a shell expansion
                            continue
                        name = re.split(r"[<>=!~;$ ]", token)[0]
                        bare = canonicalize_name(name.split("[")[0])
                        out.append(Install(name, follow=not no_deps and bare not in model_packages()))
    return out


# ---- the venv's metadata ----


def _requirement_key(requirement: Requirement) -> str:
    return canonicalize_name(requirement.name)


@dataclass
class Closure:
    distributions: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)  # required but not installed in the venv


def distributions(requested: list[Install]) -> Closure:
    """The distributions the requested installs put in the image, following dependencies as pip would (model
    packages and --no-deps installs are not followed)."""
    closure = Closure()
    queue: list[tuple[Requirement, bool]] = [(Requirement(i.requirement), i.follow) for i in requested]
    seen: set[tuple[str, frozenset[str], bool]] = set()
    while queue:
        requirement, follow = queue.pop()
        name = _requirement_key(requirement)
        key = (name, frozenset(requirement.extras), follow)
        if key in seen:
            continue
        seen.add(key)
        local = local_packages().get(name)
        if local is not None:  # ours: what pyproject.toml says now (an editable install's metadata may be older)
            project = tomllib.loads(local.read_text())["project"]
            requires = list(project.get("dependencies", []))
            for extra, deps in project.get("optional-dependencies", {}).items():
                requires += [
                    f"{d}; extra == '{extra}'" if ";" not in d else f"{d} and extra == '{extra}'" for d in deps
                ]
        else:
            try:
                requires = metadata.distribution(requirement.name).requires or []
            except metadata.PackageNotFoundError:
                closure.missing.add(name)
                continue
        closure.distributions.add(name)
        if not follow or name in model_packages():
            continue
        for raw in requires:
            dep = Requirement(raw)
            environments = [default_environment() | {"extra": e} for e in (requirement.extras or {""})]
            if dep.marker is not None and not any(dep.marker.evaluate(env) for env in environments):
                continue
            queue.append((dep, True))
    return closure


@cache
def local_packages() -> dict[str, Path]:
    """Our distributions -> their pyproject.toml."""
    return {
        canonicalize_name(tomllib.loads((root.parent / "pyproject.toml").read_text())["project"]["name"]): (
            root.parent / "pyproject.toml"
        )
        for root in SOURCE_ROOTS
    }


@cache
def module_providers() -> dict[str, frozenset[str]]:
    """Top-level importable name -> the distributions that provide it."""
    return {
        top: frozenset(canonicalize_name(d) for d in dists) for top, dists in metadata.packages_distributions().items()
    }


# ---- the code ----


def _is_own(module: str) -> bool:
    top = module.split(".")[0]
    return top == "ragplane" or top.startswith("ragplane_")


@cache
def module_file(module: str) -> Path | None:
    parts = module.split(".")
    for root in SOURCE_ROOTS:
        base = root.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """(imported module, line) of every import in a file, TYPE_CHECKING blocks left out."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if _type_checking(node):
            for child in getattr(node, "orelse", []):
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            out.append((target, node.lineno))
            # `from package import submodule`
            out.extend((f"{target}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


@dataclass
class CodeImports:
    third_party: dict[str, str] = field(default_factory=dict)  # top-level module -> "file:line"
    own_files: set[Path] = field(default_factory=set)
    unresolved_own: dict[str, str] = field(default_factory=dict)  # our module without a source file


def code_imports(entry: str) -> CodeImports:
    """The imports reachable from ``python -m entry`` through our own modules."""
    found = CodeImports()
    queue = [entry, f"{entry}.__main__"]
    parts = entry.split(".")
    queue += [".".join(parts[:i]) for i in range(1, len(parts))]
    seen: set[str] = set()
    stdlib = sys.stdlib_module_names
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        path = module_file(module)
        if path is None:
            continue
        found.own_files.add(path)
        for imported, line in _imports(path, module):
            top = imported.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line}"
            if _is_own(imported):
                pieces = imported.split(".")
                # the module and its packages (``from a.b import c`` may name a function, not a module)
                queue += [".".join(pieces[:i]) for i in range(1, len(pieces) + 1)]
            elif top and top not in stdlib and top != "__future__":
                found.third_party.setdefault(top, where)
    return found


def owning_distribution(path: Path) -> str:
    """The distribution whose source folder holds a file of ours."""
    for root in SOURCE_ROOTS:
        if path.is_relative_to(root):
            return canonicalize_name(tomllib.loads((root.parent / "pyproject.toml").read_text())["project"]["name"])
    raise AssertionError(path)


def missing_imports(image: str, entry: str, text: str | None = None) -> list[str]:
    """The imports of ``entry``'s code that the image's installs do not provide, one line each."""
    closure = distributions(installs(image, text))
    installed = closure.distributions
    problems = [f"{name}: required but not in the venv, cannot be checked" for name in sorted(closure.missing)]
    code = code_imports(entry)
    for path in sorted(code.own_files):
        owner = owning_distribution(path)
        if owner not in installed:
            problems.append(f"{path.relative_to(ROOT)}: from {owner}, which the image does not install")
    providers = module_providers()
    for top, where in sorted(code.third_party.items()):
        dists = providers.get(top)
        if not dists:
            problems.append(f"{top} (imported at {where}): no installed distribution provides it")
        elif not dists & installed:
            problems.append(f"{top} (imported at {where}): from {', '.join(sorted(dists))}, not installed")
    return problems
