"""V2Judge over a real v2 gRPC server: a fixed-format judge model served by kserve in a separate process
(fixed_judge_server.py; not a real LLM, it always returns the same judgement), driven through tritonclient, and
the eval service's EvaluateAnswer with RAGPLANE_EVAL_JUDGE=v2."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.processes import free_port, start_process
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, eval_pb2, eval_pb2_grpc
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings
from ragplane_eval.judge import JudgeError
from ragplane_eval.judge_v2 import V2Judge

pytestmark = pytest.mark.integration

SERVER = Path(__file__).parent / "fixed_judge_server.py"
AUTH = [("authorization", "Bearer dev-key")]
QUESTION = "Which NFL team represented the AFC at Super Bowl 50?"
ANSWER = "The Denver Broncos represented the AFC. They won their fourth title in Paris."
PASSAGES = [
    "The AFC champion Denver Broncos defeated the NFC champion Carolina Panthers 24-10.",
    "Warsaw stands on the Vistula River.",
]


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(address, prompt log) of the fixed-format judge model server."""
    folder = tmp_path_factory.mktemp("judge")
    port, prompt_log = free_port(), folder / "prompts.txt"
    server = start_process(
        [sys.executable, str(SERVER), str(port), str(prompt_log)], folder / "judge-server.log", port=port
    )
    try:
        server.wait_for("LISTENING", timeout_s=120)
        yield server.address, prompt_log
    finally:
        server.stop()


async def test_v2_judge_scores_the_triad_from_the_models_judgement(judge_server):
    address, prompt_log = judge_server
    judge = V2Judge("fixed-judge", address)
    try:
        scores = await judge.score(QUESTION, ANSWER, PASSAGES)
    finally:
        await judge.close()
    # The fixed judgement: claim 1 YES, claim 2 NO, passage 1 YES, passage 2 NO, relevance 4 of 5.
    assert (scores.faithfulness, scores.context_relevance, scores.answer_relevance) == (0.5, 0.5, 0.75)
    assert scores.claims == 2 and scores.supported_claims == 1
    prompt = prompt_log.read_text()
    assert QUESTION in prompt and "[2] Warsaw stands on the Vistula River." in prompt
    assert "(2) They won their fourth title in Paris." in prompt
    assert prompt.startswith("<|im_start|>system\n")


async def test_an_unknown_judge_model_is_a_non_retriable_judge_error(judge_server):
    address, _ = judge_server
    judge = V2Judge("no-such-model", address)
    try:
        with pytest.raises(JudgeError, match="no-such-model") as info:
            await judge.score(QUESTION, ANSWER, PASSAGES)
    finally:
        await judge.close()
    assert info.value.retriable is False


async def test_an_unreachable_judge_server_is_a_retriable_judge_error():
    judge = V2Judge("fixed-judge", "127.0.0.1:1", timeout_s=2.0, retries=1)
    try:
        with pytest.raises(JudgeError, match="UNAVAILABLE") as info:
            await judge.score(QUESTION, ANSWER, PASSAGES)
    finally:
        await judge.close()
    assert info.value.retriable is True


async def test_evaluate_answer_uses_the_configured_v2_judge(judge_server, tmp_path):
    address, _ = judge_server
    settings = load_settings(
        Settings,
        {
            "RAGPLANE_EVAL_JUDGE": "v2",
            "RAGPLANE_EVAL_JUDGE_MODEL": "fixed-judge",
            "RAGPLANE_EVAL_JUDGE_ADDR": address,
            "RAGPLANE_LLM_MODEL_NAME": "ensemble",
            "RAGPLANE_MODEL_ADDR": address,
            "RAGPLANE_EVAL_ONLINE": "false",
            "RAGPLANE_DATA_DIR": str(tmp_path),
        },
        allow_dev_key=True,
    )
    async with serve(EvalApp(settings), settings, metrics=True) as running:
        reply = await running.stub(eval_pb2_grpc.EvalServiceStub).EvaluateAnswer(
            eval_pb2.EvaluateAnswerRequest(
                question=QUESTION,
                answer=ANSWER,
                context=[common_pb2.Chunk(text=p) for p in PASSAGES],
                reference_answers=["Denver Broncos"],
            ),
            metadata=AUTH,
            timeout=60,
        )
    scores = reply.scores
    assert scores.judge == "v2:fixed-judge"
    assert (scores.faithfulness, scores.context_relevance, scores.answer_relevance) == (0.5, 0.5, 0.75)
    assert scores.exact_match == 0.0 and 0.0 < scores.f1 < 1.0
