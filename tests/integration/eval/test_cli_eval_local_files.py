"""``ragplane eval run PATH`` with a file of the user's own, as a subprocess against a real eval server.

The eval service reads datasets only from its dataset folders. Against the local stack (``ragplane up``'s state
under ``$RAGPLANE_HOME`` names the eval service and its data folder) the CLI stages the file, and the corpus it
names, into ``<data_dir>/datasets/<tenant>/`` and the run works; against any other eval service it says where
the file has to go. The stack's state here is written as ``ragplane up`` writes it, pointing at an eval server
run in process (its peers are the fakes of conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings

pytestmark = pytest.mark.integration

RAGPLANE = str(Path(sys.executable).parent / "ragplane")
QUESTIONS = [
    {"id": "j1", "question": "What is the capital of France?", "answers": ["Paris"], "relevant_doc_ids": ["france"]},
    {"id": "j2", "question": "Name a river in Poland.", "answers": ["Vistula"], "relevant_doc_ids": ["poland"]},
]
DOCUMENTS = [
    {"doc_id": "france", "title": "France", "text": "Paris is the capital of France."},
    {"doc_id": "poland", "title": "Poland", "text": "The Vistula is the longest river in Poland."},
]


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@pytest.fixture
async def service(fake_peers, embedding_judge, tmp_path):
    """An eval server with the default dataset folders under its data folder; yields (address, data folder)."""
    data_dir = tmp_path / "stack-data"
    env = {**fake_peers.env(), "RAGPLANE_EVAL_ONLINE": "false", "RAGPLANE_DATA_DIR": str(data_dir)}
    settings = load_settings(Settings, env, allow_dev_key=True)
    async with serve(EvalApp(settings, judge=embedding_judge), settings) as running:
        yield running.address, data_dir


def _write_stack_state(home: Path, eval_address: str, data_dir: Path) -> None:
    """What ``ragplane up`` leaves under $RAGPLANE_HOME/run for a running stack (its eval service only)."""
    run = home / "run"
    run.mkdir(parents=True)
    port = int(eval_address.rsplit(":", 1)[1])
    eval_component = {"name": "eval", "pid": os.getpid(), "port": port, "kind": "service", "metrics_port": None}
    (run / "stack.json").write_text(json.dumps([{**eval_component, "log": ""}]))
    (run / "env.json").write_text(
        json.dumps({"RAGPLANE_DATA_DIR": str(data_dir), "RAGPLANE_API_KEYS": "dev-key=default"})
    )


async def _ragplane(home: Path, *args: str) -> tuple[int, str, str]:
    env = dict(
        os.environ,
        COLUMNS="200",
        RAGPLANE_API_KEY="dev-key",
        RAGPLANE_HOME=str(home),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    env.pop("RAGPLANE_EVAL_ADDR", None)
    process = await asyncio.create_subprocess_exec(
        RAGPLANE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("corpus_ref", ["docs.jsonl", "../corpora/docs.jsonl"])
async def test_a_local_file_runs_on_the_local_stack_with_the_corpus_it_names(service, tmp_path, corpus_ref):
    address, data_dir = service
    home = tmp_path / "home"
    _write_stack_state(home, address, data_dir)
    user = tmp_path / "user" / "evals"
    dataset = _jsonl(user / "mine.jsonl", [{"corpus": corpus_ref}, *QUESTIONS])
    _jsonl(user / corpus_ref, DOCUMENTS)
    before = dataset.read_text()

    code, out, err = await _ragplane(
        home,
        "eval",
        "run",
        str(dataset),
        "--retrieval-only",
        "--addr",
        address,
        "--out",
        str(tmp_path / "out"),
        "--json",
    )

    assert code == 0, err
    report = json.loads(out)["report"]
    assert report["dataset"] == "mine" and report["questions"] == 2
    assert report["metrics"]["run.documents"] == 2 and report["metrics"]["retrieval.hybrid.hit@5"] == 1.0
    staged = list((data_dir / "datasets" / "default").rglob("mine.jsonl"))
    assert len(staged) == 1, staged  # in the tenant's folder of the stack, where the service may read it
    assert dataset.read_text() == before  # the user's file is left as it was

    code, out, err = await _ragplane(
        home, "eval", "run", str(dataset), "--retrieval-only", "--addr", address, "--out", str(tmp_path / "again")
    )
    assert code == 0, err
    assert len(list((data_dir / "datasets" / "default").rglob("mine.jsonl"))) == 1  # a rerun reuses the copy


async def test_a_local_file_sent_to_another_eval_service_is_refused_naming_where_it_must_go(service, tmp_path):
    address, _ = service
    home = tmp_path / "no-stack"  # no local stack running
    dataset = _jsonl(tmp_path / "user" / "mine.jsonl", [*DOCUMENTS, *QUESTIONS])

    code, _, err = await _ragplane(
        home, "eval", "run", str(dataset), "--retrieval-only", "--addr", address, "--out", str(tmp_path / "out")
    )

    assert code == 1
    assert "INVALID_ARGUMENT" in err and "outside the dataset folders" in err
    assert "RAGPLANE_EVAL_DATASET_DIRS" in err and "<tenant>" in err


async def test_a_file_already_in_the_stacks_tenant_folder_is_run_in_place(service, tmp_path):
    address, data_dir = service
    home = tmp_path / "home"
    _write_stack_state(home, address, data_dir)
    dataset = _jsonl(data_dir / "datasets" / "default" / "own.jsonl", [*DOCUMENTS, *QUESTIONS])

    code, out, err = await _ragplane(
        home,
        "eval",
        "run",
        str(dataset),
        "--retrieval-only",
        "--addr",
        address,
        "--out",
        str(tmp_path / "out"),
        "--json",
    )

    assert code == 0, err
    assert json.loads(out)["report"]["questions"] == 2
    assert not (data_dir / "datasets" / "default" / "staged").exists()
