"""Dataset loaders: SQuAD-format JSON and ragplane JSONL -> a corpus to ingest and questions.

- SQuAD JSON (v1.1 or v2.0): one document per paragraph, ``doc_id = "<article title>/<paragraph index>"``; a
  question is relevant to the paragraph it was asked about; gold answers are its ``answers[].text`` values
  (questions without any, SQuAD 2.0's impossible ones, are skipped and counted).
- JSONL: one JSON object per line. ``{"question": ..., "answers": [...], "relevant_doc_ids": [...]}`` (``id``
  optional) is a question; ``{"doc_id": ..., "text": ..., "title": ...}`` is a document;
  ``{"corpus": "docs.jsonl"}`` names a file of document lines, relative to the dataset file; a ``check`` given
  to the loader vets that file (the eval service confines it to the caller's dataset folders).

This is the only loader: the CLI's ``ragplane.cli.datasets`` fetches and resolves dataset files, and its
benchmarks import this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Vets a corpus file a dataset names (given the path and how to name it) and returns the path to read.
CorpusCheck = Callable[[Path, str], Path]


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


# -- loaders ------------------------------------------------------------------------------------------


def load_dataset(path: str | Path, check: CorpusCheck | None = None) -> Dataset:
    """Read SQuAD-format JSON (``.json``) or ragplane JSONL (``.jsonl``).

    Args:
        path: the dataset file.
        check: vets each corpus file a JSONL dataset names before it is read (raising to refuse it).

    Raises:
        DatasetError: naming the file (and line) that is malformed.
    """
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        return load_jsonl(path, check)
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
                raise DatasetError(
                    f"{name}: data[{article_index}].paragraphs[{paragraph_index}].context must be a string"
                )
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


def load_jsonl(path: Path, check: CorpusCheck | None = None) -> Dataset:
    """Read ragplane JSONL: question lines, document lines and ``{"corpus": FILE}`` lines.

    Raises:
        DatasetError: naming the file and line.
    """
    dataset = Dataset(name=path.stem)
    _read_jsonl_into(path, dataset, corpus_check=check or _any_corpus)
    doc_ids = {doc.doc_id for doc in dataset.corpus}
    if len(doc_ids) != len(dataset.corpus):
        raise DatasetError(f"{path}: a doc_id appears twice in the corpus")
    if dataset.corpus:
        for question in dataset.questions:
            missing = [d for d in question.relevant_doc_ids if d not in doc_ids]
            if missing:
                raise DatasetError(
                    f"{path}: question {question.id!r} names relevant doc ids not in the corpus: {missing[:5]}"
                )
    return dataset


def _any_corpus(path: Path, label: str) -> Path:
    return path.resolve()


def _read_jsonl_into(path: Path, dataset: Dataset, *, corpus_check: CorpusCheck | None) -> None:
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
            if corpus_check is None:
                raise DatasetError(f"{where}: a corpus file cannot name another corpus file")
            ref = str(record["corpus"])
            corpus_path = corpus_check(path.parent / ref, f"corpus file {ref!r} named by {path.name}:{number}")
            _read_jsonl_into(corpus_path, dataset, corpus_check=None)
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
    return Question(
        str(record.get("id") or default_id), text.strip(), tuple(dict.fromkeys(answers)), tuple(dict.fromkeys(relevant))
    )
