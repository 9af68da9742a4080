"""Per-tenant concurrency limits of RunDataset and EvaluateAnswer, through the real eval server.

One call over a tenant's limit is refused at once with RESOURCE_EXHAUSTED, a message naming the RPC and the
limit, and ``retry-after``; another tenant is not held back, and the tenant gets in again once a call ends.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, eval_pb2, eval_pb2_grpc
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings

pytestmark = pytest.mark.integration

SQUAD = str(Path(__file__).parents[2] / "unit" / "eval" / "fixtures" / "tiny_squad.json")
A = [("authorization", "Bearer key-a")]
B = [("authorization", "Bearer key-b")]
PASSAGE = "Warsaw stands on the Vistula River in east-central Poland."


class SlowJudge:
    """The real embedding judge, answering after ``delay_s`` (a busy LLM judge)."""

    def __init__(self, inner, delay_s: float) -> None:
        self.inner, self.delay_s, self.name = inner, delay_s, inner.name

    async def warm_up(self) -> None:
        await self.inner.warm_up()

    async def score(self, question, answer, contexts):
        await asyncio.sleep(self.delay_s)
        return await self.inner.score(question, answer, contexts)

    async def close(self) -> None:
        """The session's judge is shared: nothing to release here."""


def _settings(tmp_path, env: dict[str, str]) -> Settings:
    env = {"RAGPLANE_EVAL_ONLINE": "false", "RAGPLANE_DATA_DIR": str(tmp_path), **env}
    return load_settings(Settings, env, api_keys="key-a=tenant-a,key-b=tenant-b", allow_dev_key=True)


async def _refusal(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def _run(stub, metadata) -> list[eval_pb2.RunDatasetResponse]:
    request = eval_pb2.RunDatasetRequest(dataset_path=SQUAD, limit=2)
    return [r async for r in stub.RunDataset(request, metadata=metadata, timeout=120)]


async def test_a_second_run_of_one_tenant_is_refused_with_retry_after_while_another_tenant_runs(
    fake_peers, embedding_judge, tmp_path
):
    fake_peers.state.ask_delay_s = 2.0
    env = {
        **fake_peers.env(),
        "RAGPLANE_EVAL_RUNS_PER_TENANT": "1",
        "RAGPLANE_EVAL_DATASET_DIRS": str(Path(SQUAD).parent),
    }
    settings = _settings(tmp_path, env)
    async with serve(EvalApp(settings, judge=embedding_judge), settings) as running:
        stub = running.stub(eval_pb2_grpc.EvalServiceStub)
        first = asyncio.create_task(_run(stub, A))
        await asyncio.sleep(0.5)  # the first run is ingesting, or waiting on its slow answers
        assert not first.done()
        refused = await _refusal(_run(stub, A))
        other_tenant = await _run(stub, B)
        assert (await first)[-1].WhichOneof("event") == "report"
        again = await _run(stub, A)
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.details().startswith("RunDataset: tenant 'tenant-a' already has 1 in flight, at most 1")
    assert float(dict(refused.trailing_metadata())["retry-after"]) > 0
    assert other_tenant[-1].WhichOneof("event") == "report"
    assert again[-1].WhichOneof("event") == "report"


async def test_evaluations_over_a_tenants_limit_are_refused_and_other_tenants_go_on(embedding_judge, tmp_path):
    settings = _settings(tmp_path, {"RAGPLANE_EVAL_EVALUATIONS_PER_TENANT": "2"})
    request = eval_pb2.EvaluateAnswerRequest(
        question="On which river does Warsaw stand?",
        answer="the Vistula River [1]",
        context=[common_pb2.Chunk(text=PASSAGE, provenance=common_pb2.Provenance(doc_id="warsaw"))],
    )
    async with serve(EvalApp(settings, judge=SlowJudge(embedding_judge, 1.0)), settings) as running:
        stub = running.stub(eval_pb2_grpc.EvalServiceStub)
        calls = [stub.EvaluateAnswer(request, metadata=A, timeout=30) for _ in range(3)]
        calls.append(stub.EvaluateAnswer(request, metadata=B, timeout=30))
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        later = await stub.EvaluateAnswer(request, metadata=A, timeout=30)
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(refused) == 1, outcomes
    assert refused[0].code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused[0].details().startswith("EvaluateAnswer: tenant 'tenant-a' already has 2 in flight, at most 2")
    assert float(dict(refused[0].trailing_metadata())["retry-after"]) > 0
    assert all(o.scores.judge for o in outcomes if not isinstance(o, grpc.aio.AioRpcError))
    assert later.scores.judge
