"""RunDataset reads datasets only from the configured folders, and each tenant only its own (and shared) files.

A real eval server (fakes of its peers, see conftest.py) with two tenants. Under a dataset root ``R``:
``R/<tenant>/...`` belongs to that tenant, files directly in ``R`` are shared; anything else is refused with
INVALID_ARGUMENT naming ``dataset_path`` before the file is opened.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import grpc
import pytest
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane.v1 import eval_pb2, eval_pb2_grpc
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings

pytestmark = pytest.mark.integration

SQUAD = Path(__file__).parents[2] / "unit" / "eval" / "fixtures" / "tiny_squad.json"
KEYS = "key-a=tenant-a,key-b=tenant-b"
A = [("authorization", "Bearer key-a")]
B = [("authorization", "Bearer key-b")]


@pytest.fixture
def root(tmp_path) -> Path:
    """A dataset root with tenant-a's private dataset and one shared dataset."""
    root = tmp_path / "datasets"
    (root / "tenant-a").mkdir(parents=True)
    (root / "tenant-b").mkdir()
    shutil.copy(SQUAD, root / "tenant-a" / "private.json")
    shutil.copy(SQUAD, root / "shared.json")
    return root


async def _serve(fake_peers, embedding_judge, tmp_path, **env):
    env = {**fake_peers.env(), "RAGPLANE_EVAL_ONLINE": "false", "RAGPLANE_DATA_DIR": str(tmp_path), **env}
    settings = load_settings(Settings, env, api_keys=KEYS, allow_dev_key=True)
    return serve(EvalApp(settings, judge=embedding_judge), settings)


@pytest.fixture
async def stub(fake_peers, embedding_judge, tmp_path, root):
    async with await _serve(
        fake_peers,
        embedding_judge,
        tmp_path,
        RAGPLANE_EVAL_DATASET_DIRS=str(root),
        RAGPLANE_EVAL_DATASET_MAX_BYTES="65536",
    ) as running:
        yield running.stub(eval_pb2_grpc.EvalServiceStub)


async def _run(stub, path: str, metadata) -> list[eval_pb2.RunDatasetResponse]:
    request = eval_pb2.RunDatasetRequest(dataset_path=path, retrieval_only=True)
    return [event async for event in stub.RunDataset(request, metadata=metadata, timeout=120)]


async def _refused(stub, path: str, metadata) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _run(stub, path, metadata)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert info.value.details().startswith("dataset_path: "), info.value.details()
    return info.value.details()


async def test_a_server_file_outside_the_dataset_folders_is_refused_by_default(fake_peers, embedding_judge, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(SQUAD, elsewhere / "squad.json")
    async with await _serve(fake_peers, embedding_judge, tmp_path) as running:
        stub = running.stub(eval_pb2_grpc.EvalServiceStub)
        for path in ("/etc/passwd", str(elsewhere / "squad.json")):
            assert "outside the dataset folders" in await _refused(stub, path, B)
    assert not fake_peers.state.ingested


async def test_another_tenants_dataset_is_refused_by_path_by_dot_dot_and_by_symlink(stub, root, tmp_path):
    private = root / "tenant-a" / "private.json"
    (root / "tenant-b" / "link.json").symlink_to(private)
    outside = tmp_path / "outside.json"
    shutil.copy(SQUAD, outside)
    (root / "tenant-b" / "out.json").symlink_to(outside)
    for path in (
        str(private),
        str(root / "tenant-b" / ".." / "tenant-a" / "private.json"),
        "../tenant-a/private.json",
        str(root / "tenant-b" / "link.json"),
        str(root / "tenant-b" / "out.json"),
    ):
        details = await _refused(stub, path, B)
        # Named as the caller gave it: where a link points is not disclosed.
        assert "outside the dataset folders" in details and str(outside) not in details, details


async def test_a_corpus_reference_that_leaves_the_tenants_folder_is_refused(stub, root):
    (root / "tenant-a" / "docs.jsonl").write_text('{"doc_id": "secret", "text": "tenant a only"}\n')
    for ref in ("../tenant-a/docs.jsonl", str(root / "tenant-a" / "docs.jsonl")):
        dataset = root / "tenant-b" / "escape.jsonl"
        lines = [{"corpus": ref}, {"question": "What is secret?", "answers": ["x"], "relevant_doc_ids": ["secret"]}]
        dataset.write_text("".join(json.dumps(line) + "\n" for line in lines))
        details = await _refused(stub, str(dataset), B)
        assert "corpus" in details and "outside the dataset folders" in details, details


async def test_a_dataset_over_the_size_cap_is_refused_before_it_is_read(stub, root):
    big = root / "tenant-b" / "big.jsonl"
    big.write_text('{"doc_id": "d", "text": "' + "x" * 70_000 + '"}\n')
    details = await _refused(stub, "big.jsonl", B)
    assert "RAGPLANE_EVAL_DATASET_MAX_BYTES" in details and "65536" in details, details


async def test_own_and_shared_datasets_run_and_tenants_never_share_an_eval_index(stub, root, fake_peers):
    shutil.copy(SQUAD, root / "tenant-b" / "mine.json")
    for path, metadata in (("mine.json", B), (str(root / "tenant-a" / "private.json"), A), ("shared.json", B)):
        events = await _run(stub, path, metadata)
        assert events[-1].WhichOneof("event") == "report" and events[-1].report.questions == 4
    # The same corpus run by two tenants lands in two eval tenants, each charged to its caller.
    assert len(fake_peers.state.tenants["ingest"]) == 2
