"""``ragplane ingest`` run as a subprocess against an ingest server on loopback (real broker and Redis).

For ``--wait`` a stand-in for retrieve's index writer (a peer) reads the chunks topic and reports each
complete version as INDEXED on the indexed topic, the way the real writer does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import pytest
from support.ingest import indexed_event, make_settings, produce_indexed, running_ingest
from support.ingest_docgen import make_docx, make_pdf
from support.topics import TopicReader

from ragplane.v1 import events_pb2

pytestmark = pytest.mark.integration


def write_folder(root: Path, broken: bool) -> None:
    files = {
        "guide.md": b"# Guide\n\nHow to run the platform.\n",
        "sub/page.html": b"<html><body><h1>Page</h1><p>Web text.</p></body></html>",
        "paper.pdf": make_pdf(["Page one.", "Page two."]),
        "memo.docx": make_docx([("heading1", "Memo"), ("p", "Memo body.")]),
        ".hidden/secret.md": b"# never sent",
        "notes.txt": b"Plain notes.",
        "image.png": b"\x89PNG",
    }
    if broken:
        files["broken.pdf"] = b"%PDF-1.4\nthis is not really a pdf"
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


async def run_cli(*args: str, env_extra: dict[str, str] | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAGPLANE_API_KEY", "RAGPLANE_API_KEYS")}
    env["COLUMNS"] = "400"  # tables are not wrapped, so a reason reads as one string
    env.update(env_extra or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ragplane.cli.main",
        "ingest",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=180)
    return process.returncode, stdout.decode(), stderr.decode()


async def stand_in_index_writer(settings, stop: asyncio.Event) -> None:
    """Reports INDEXED for every version whose batches have all arrived."""
    reader = TopicReader(settings.kafka_bootstrap, settings.chunks_topic, events_pb2.ChunksEvent)
    batches: dict[tuple[str, str, int], set[int]] = {}
    try:
        while not stop.is_set():
            records = await asyncio.to_thread(reader.poll)
            done = []
            for _, event, _ in records:
                key = (event.tenant, event.doc_id, event.version.sequence)
                batches.setdefault(key, set()).add(event.batch.index)
                if len(batches[key]) == event.batch.count:
                    done.append(
                        indexed_event(
                            event.tenant,
                            event.doc_id,
                            event.version,
                            events_pb2.INDEX_OUTCOME_INDEXED,
                            indexed=event.batch.total_chunks,
                            total=event.batch.total_chunks,
                        )
                    )
            if done:
                await produce_indexed(settings, done)
    finally:
        reader.close()


async def test_cli_ingests_a_folder_and_reports_failures_with_reasons(kafka_bootstrap, redis_url, tmp_path):
    write_folder(tmp_path / "corpus", broken=True)
    settings = make_settings(kafka_bootstrap, redis_url, status_consumer=False)
    async with running_ingest(settings) as running:
        code, out, err = await run_cli(str(tmp_path / "corpus"), "--addr", running.address, "--json")
        assert code == 1, err
        report = json.loads(out)
        assert report["summary"] == {
            "documents": 6,
            "accepted": 5,
            "unchanged": 0,
            "failed": 1,
            "chunks": sum(d["chunks"] for d in report["documents"]),
            "flagged_chunks": 0,
        }
        by_id = {d["doc_id"]: d for d in report["documents"]}
        assert set(by_id) == {"guide.md", "sub/page.html", "paper.pdf", "memo.docx", "notes.txt", "broken.pdf"}
        assert by_id["broken.pdf"]["code"] == "INVALID_ARGUMENT" and "corrupt PDF" in by_id["broken.pdf"]["reason"]
        assert by_id["paper.pdf"]["chunks"] == 2

        code, out, err = await run_cli(
            str(tmp_path / "corpus"),
            str(tmp_path / "corpus" / "image.png"),
            "--addr",
            running.address,
            "--chunk-size",
            "128",
        )
        assert code == 1, err
        assert "ingest summary" in out and "failures" in out
        assert "image.png" in out and "unsupported document type" in out
        assert "corrupt PDF" in out

        code, out, err = await run_cli(
            str(tmp_path / "corpus"), "--addr", running.address, "--chunk-size", "128", "--json"
        )
        summary = json.loads(out)["summary"]
        assert (summary["unchanged"], summary["accepted"], summary["failed"]) == (5, 0, 1)


async def test_cli_waits_for_indexing_as_the_chosen_tenant(kafka_bootstrap, redis_url, tmp_path):
    write_folder(tmp_path / "good", broken=False)
    settings = make_settings(kafka_bootstrap, redis_url)
    stop = asyncio.Event()
    async with running_ingest(settings) as running:
        writer = asyncio.create_task(stand_in_index_writer(settings, stop))
        try:
            code, out, err = await run_cli(
                str(tmp_path / "good"),
                "--addr",
                running.address,
                "--tenant",
                "tenant-a",
                "--wait",
                "--timeout",
                "120",
                "--json",
                env_extra={"RAGPLANE_API_KEYS": settings.api_keys},
            )
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
    assert code == 0, err
    report = json.loads(out)
    assert report["summary"]["indexed"] == report["summary"]["documents"] == 5
    assert report["summary"]["pending"] == 0
    assert {d["state"] for d in report["documents"]} == {"INDEXED"}


async def test_cli_refuses_a_tenant_without_a_key(tmp_path):
    write_folder(tmp_path / "any", broken=False)
    code, out, err = await run_cli(
        str(tmp_path / "any"),
        "--tenant",
        "nobody",
        "--addr",
        "127.0.0.1:1",
        env_extra={"RAGPLANE_API_KEYS": "k=somebody"},
    )
    assert code == 1 and "--tenant nobody: no API key" in err
