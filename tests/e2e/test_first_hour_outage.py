"""The local broker keeps its topics in memory. Kill it (SIGKILL) while documents are on their way through the
whole local stack, recover the way ``ragplane status`` says (``ragplane up``, which starts the whole stack again), and every document ends INDEXED
or FAILED with a reason to ingest it again, within a bound (the new broker's start, not the 30-minute timeout); ingesting the failed ones again indexes them.
A service killed the same way is started again by ``ragplane up`` alone."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import pytest

from ragplane.cli import infra
from ragplane.runtime.services import DEPLOYABLE_NAMES
from ragplane.v1 import ingest_pb2, ingest_pb2_grpc

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]

# Enough chunks (about 300) that an idle machine is still indexing when the first document is INDEXED.
DOCUMENTS = 60
# The default timeout (30 min): the documents must fail because 'ragplane up' says when its broker started.
BOUND_S = 120
WORDS = "harbour lantern copper orchard ferry reactor meadow granite willow falcon quarry beacon canal".split()
AUTH = [("authorization", "Bearer dev-key")]
TERMINAL = {ingest_pb2.DOCUMENT_STATE_INDEXED, ingest_pb2.DOCUMENT_STATE_FAILED}


def _cli(env: dict[str, str], *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragplane.cli.main", *args], env=env, text=True, capture_output=True, timeout=timeout
    )


def _said(completed: subprocess.CompletedProcess[str]) -> str:
    """What a command printed, with the console's line wrapping undone."""
    return " ".join((completed.stdout + completed.stderr).split())


def _states(env: dict[str, str]) -> dict[str, ingest_pb2.DocumentStatus]:
    with grpc.insecure_channel(env["RAGPLANE_INGEST_ADDR"]) as channel:
        reply = ingest_pb2_grpc.IngestServiceStub(channel).ListDocuments(
            ingest_pb2.ListDocumentsRequest(page_size=1000), metadata=AUTH, timeout=30
        )
    return {d.doc_id: d for d in reply.documents}


def _pid(home: Path, name: str) -> int:
    return next(c["pid"] for c in json.loads((home / "run" / "stack.json").read_text()) if c["name"] == name)


def _write_corpus(folder: Path) -> None:
    rng = random.Random(11)
    for index in range(DOCUMENTS):
        paragraphs = [
            " ".join(f"Entry {index}-{p}-{s} {' '.join(rng.choice(WORDS) for _ in range(12))}." for s in range(8))
            for p in range(12)
        ]
        (folder / f"ledger-{index:02d}.md").write_text(f"# Ledger {index}\n\n" + "\n\n".join(paragraphs) + "\n")


def test_a_broker_killed_mid_pipeline_leaves_every_document_indexed_or_failed_with_a_reason():
    home = Path(tempfile.mkdtemp(prefix="ragplane-outage-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGPLANE_")}
    env.update(
        RAGPLANE_HOME=str(home),
        COLUMNS="200",
        RAGPLANE_INGEST_STUCK_CHECK_INTERVAL_S="2",
    )
    for name in ("broker", "redis", "state_redis", "modelserver", *DEPLOYABLE_NAMES):
        env[f"RAGPLANE_{name.upper()}_PORT"] = str(infra.free_port())
    for name in ("modelserver", *DEPLOYABLE_NAMES):
        env[f"RAGPLANE_{name.upper()}_METRICS_PORT"] = str(infra.free_port())
    env["RAGPLANE_ADDR"] = f"127.0.0.1:{env['RAGPLANE_ORCHESTRATOR_PORT']}"
    env["RAGPLANE_INGEST_ADDR"] = f"127.0.0.1:{env['RAGPLANE_INGEST_PORT']}"
    corpus = home / "corpus"
    corpus.mkdir()
    _write_corpus(corpus)
    try:
        up = _cli(env, "up", "--timeout", "900")
        assert up.returncode == 0, up.stdout + up.stderr

        accepted = _cli(env, "ingest", str(corpus), "--json")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        deadline = time.monotonic() + 600
        while not any(s.state == ingest_pb2.DOCUMENT_STATE_INDEXED for s in _states(env).values()):
            assert time.monotonic() < deadline, "nothing was indexed within 600 s"
            time.sleep(0.2)
        os.kill(_pid(home, "broker"), signal.SIGKILL)
        at_kill = _states(env)
        on_their_way = sorted(d for d, s in at_kill.items() if s.state not in TERMINAL)
        assert len(at_kill) == DOCUMENTS and on_their_way, {d: s.state for d, s in at_kill.items()}

        status = _cli(env, "status")
        assert status.returncode == 1 and "broker EXITED" in _said(status), _said(status)
        survivors = {c["name"]: c["pid"] for c in json.loads((home / "run" / "stack.json").read_text())}

        # What status says: 'ragplane up' alone starts the whole stack again (what make demo runs, too).
        restarted = time.monotonic()
        again = _cli(env, "up", "--timeout", "900")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "broker had stopped: the whole stack was started again" in _said(again), _said(again)
        assert not [n for n, pid in survivors.items() if infra.pid_alive(pid)], "old processes left running"
        while True:
            states = _states(env)
            if all(s.state in TERMINAL for s in states.values()) or time.monotonic() - restarted > BOUND_S:
                break
            time.sleep(1)
        settled_s = time.monotonic() - restarted
        pending = {d: s.state for d, s in states.items() if s.state not in TERMINAL}
        assert not pending, f"still on their way {settled_s:.0f} s after the restart: {pending}"
        failed = {d: s.reason for d, s in states.items() if s.state == ingest_pb2.DOCUMENT_STATE_FAILED}
        assert failed and set(failed) <= set(on_their_way), (failed, on_their_way)
        assert all("broker restarted" in r and "ingest the document again" in r for r in failed.values()), failed
        print(
            f"{len(on_their_way)} of {DOCUMENTS} documents on their way at the kill; {len(failed)} failed with the "
            f"reason, the rest indexed, {settled_s:.0f} s after 'ragplane up' began"
        )

        # What the reason says works: the same command indexes the failed documents.
        redo = _cli(env, "ingest", str(corpus), "--wait", "--timeout", "900", "--json")
        assert redo.returncode == 0, redo.stdout + redo.stderr
        assert all(s.state == ingest_pb2.DOCUMENT_STATE_INDEXED for s in _states(env).values())

        # A service killed the same way: status names it, up starts it alone.
        rerank = _pid(home, "rerank")
        os.kill(rerank, signal.SIGKILL)
        while infra.pid_alive(rerank):
            time.sleep(0.1)
        status = _cli(env, "status")
        assert status.returncode == 1 and "rerank EXITED" in _said(status), _said(status)
        others = {c["name"]: c["pid"] for c in json.loads((home / "run" / "stack.json").read_text())}
        completed = _cli(env, "up", "--timeout", "600")
        assert completed.returncode == 0 and "Started rerank" in _said(completed), _said(completed)
        after = {c["name"]: c["pid"] for c in json.loads((home / "run" / "stack.json").read_text())}
        assert {n: p for n, p in after.items() if n != "rerank"} == {n: p for n, p in others.items() if n != "rerank"}
        assert _cli(env, "status").returncode == 0
    finally:
        state = home / "run" / "stack.json"
        pids = [c["pid"] for c in json.loads(state.read_text())] if state.exists() else []
        _cli(env, "down", timeout=300)
        left = [pid for pid in pids if infra.pid_alive(pid)]
        assert not left, f"processes left behind by 'ragplane down': {left}"
    shutil.rmtree(home, ignore_errors=True)
