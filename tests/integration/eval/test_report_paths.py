"""Eval reports name files relative to the caller's folders, never by the eval server's own paths.

A real eval server (fakes of its peers, see conftest.py): the report streamed by RunDataset, the one GetReport
returns and the stored ``report.json`` say ``<run_id>/rows.jsonl`` and the dataset's name in the tenant's
folder; a report stored before carrying absolute paths is returned without them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from google.protobuf import text_format
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane.v1 import eval_pb2, eval_pb2_grpc
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings

pytestmark = pytest.mark.integration

SQUAD = Path(__file__).parents[2] / "unit" / "eval" / "fixtures" / "tiny_squad.json"
A = [("authorization", "Bearer key-a")]


@pytest.fixture
async def server(fake_peers, embedding_judge, tmp_path):
    """An eval server whose data and dataset folders lie under tmp_path; tenant-a has ``sets/private.json``."""
    root = tmp_path / "datasets"
    (root / "tenant-a" / "sets").mkdir(parents=True)
    shutil.copy(SQUAD, root / "tenant-a" / "sets" / "private.json")
    env = {
        **fake_peers.env(),
        "RAGPLANE_EVAL_ONLINE": "false",
        "RAGPLANE_DATA_DIR": str(tmp_path / "data"),
        "RAGPLANE_EVAL_DATASET_DIRS": str(root),
    }
    settings = load_settings(Settings, env, api_keys="key-a=tenant-a", allow_dev_key=True)
    async with serve(EvalApp(settings, judge=embedding_judge), settings) as running:
        yield running.stub(eval_pb2_grpc.EvalServiceStub), Path(settings.reports_dir)


async def _report(stub, dataset_path: str) -> eval_pb2.EvalReport:
    request = eval_pb2.RunDatasetRequest(dataset_path=dataset_path, retrieval_only=True)
    events = [event async for event in stub.RunDataset(request, metadata=A, timeout=120)]
    return next(event.report for event in events if event.WhichOneof("event") == "report")


@pytest.mark.parametrize("given", ["sets/private.json", "absolute"])
async def test_reports_name_the_rows_and_the_dataset_without_server_paths(server, tmp_path, given):
    stub, reports_dir = server
    dataset = str(tmp_path / "datasets" / "tenant-a" / "sets" / "private.json") if given == "absolute" else given

    streamed = await _report(stub, dataset)
    stored = (await stub.GetReport(eval_pb2.GetReportRequest(run_id=streamed.run_id), metadata=A, timeout=10)).report

    for report in (streamed, stored):
        assert report.rows_path == f"{streamed.run_id}/rows.jsonl"
        assert str(tmp_path) not in text_format.MessageToString(report)
    saved = json.loads((reports_dir / streamed.run_id / "report.json").read_text())
    assert saved["dataset_path"] == "sets/private.json"  # relative to the tenant's folder, however it was given
    assert str(tmp_path) not in json.dumps(saved)
    assert (reports_dir / saved["rows_path"]).read_text().count("\n") == 4  # the name still finds the rows


async def test_a_report_stored_with_absolute_paths_is_returned_without_them(server, tmp_path):
    stub, reports_dir = server
    run_id = (await _report(stub, "sets/private.json")).run_id
    path = reports_dir / run_id / "report.json"
    old = json.loads(path.read_text())
    old["rows_path"] = str(reports_dir / run_id / "rows.jsonl")  # as reports were written before
    old["dataset_path"] = str(tmp_path / "datasets" / "tenant-a" / "sets" / "private.json")
    path.write_text(json.dumps(old))

    report = (await stub.GetReport(eval_pb2.GetReportRequest(run_id=run_id), metadata=A, timeout=10)).report

    assert report.rows_path == f"{run_id}/rows.jsonl"
    assert str(tmp_path) not in text_format.MessageToString(report)
