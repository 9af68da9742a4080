"""EvaluateAnswer over the real eval server (port 0, the runtime's interceptor) with the offline judge."""

from __future__ import annotations

import grpc
import pytest
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, eval_pb2, eval_pb2_grpc
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings

pytestmark = pytest.mark.integration

AUTH = [("authorization", "Bearer dev-key")]
QUESTION = "On which river does Warsaw stand?"
WARSAW = "Warsaw is the capital and largest city of Poland. It stands on the Vistula River in east-central Poland."
BOWL = "The Denver Broncos defeated the Carolina Panthers 24-10 to earn their third Super Bowl title."


def _chunk(text: str, doc_id: str) -> common_pb2.Chunk:
    return common_pb2.Chunk(text=text, provenance=common_pb2.Provenance(doc_id=doc_id))


@pytest.fixture
async def stub(embedding_judge, tmp_path):
    settings = load_settings(
        Settings, {"RAGPLANE_EVAL_ONLINE": "false", "RAGPLANE_DATA_DIR": str(tmp_path)}, allow_dev_key=True
    )
    async with serve(EvalApp(settings, judge=embedding_judge), settings, metrics=True) as running:
        yield running.stub(eval_pb2_grpc.EvalServiceStub)


async def test_a_grounded_answer_gets_the_triad_and_reference_scores(stub):
    reply = await stub.EvaluateAnswer(
        eval_pb2.EvaluateAnswerRequest(
            question=QUESTION,
            answer="the Vistula River [1]",
            context=[_chunk(WARSAW, "warsaw"), _chunk(BOWL, "sb50")],
            reference_answers=["Vistula River", "Vistula"],
            relevant_doc_ids=["warsaw"],
        ),
        metadata=AUTH,
        timeout=30,
    )
    scores = reply.scores
    assert scores.judge == "embedding:all-minilm-l6-v2"
    assert scores.faithfulness == 1.0
    assert scores.context_relevance == 0.5
    assert 0.0 < scores.answer_relevance <= 1.0
    assert scores.context_precision == 0.5 and scores.context_recall == 1.0
    # "the Vistula River [1]" normalises to "vistula river 1": not exact, F1 = 2*(2/3*1)/(2/3+1) = 0.8.
    assert scores.exact_match == 0.0 and scores.f1 == pytest.approx(0.8)


async def test_an_invented_answer_is_not_faithful(stub):
    reply = await stub.EvaluateAnswer(
        eval_pb2.EvaluateAnswerRequest(question=QUESTION, answer="the Danube", context=[_chunk(WARSAW, "warsaw")]),
        metadata=AUTH,
        timeout=30,
    )
    assert reply.scores.faithfulness == 0.0
    assert not reply.scores.HasField("exact_match") and not reply.scores.HasField("context_precision")


async def test_an_empty_question_is_an_invalid_argument_naming_the_field(stub):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.EvaluateAnswer(eval_pb2.EvaluateAnswerRequest(answer="x"), metadata=AUTH, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "question: must not be empty"


async def test_a_call_without_credentials_is_unauthenticated(stub):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.EvaluateAnswer(eval_pb2.EvaluateAnswerRequest(question=QUESTION), timeout=30)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
