"""The CLI on ragplane.client: its commands hold no gRPC code, and ``ask --json`` prints what it printed when it
serialised the AnswerResult message itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import json_format

from ragplane.cli.cmd_ask import answer_json
from ragplane.client import _protocol
from ragplane.v1 import common_pb2, rag_pb2

pytestmark = pytest.mark.unit

CLI = Path(__file__).parents[3] / "libs" / "cli" / "src" / "ragplane" / "cli"
GRPC_CODE = re.compile(r"^\s*(import grpc\b|from grpc\b|from ragplane\.v1 import|import ragplane\.v1|.*_pb2\b)", re.M)


def test_the_commands_hold_no_grpc_stubs_channels_or_messages():
    modules = sorted(CLI.glob("cmd_*.py")) + [CLI / "main.py", CLI / "output.py"]
    assert len(modules) >= 7
    offending = {m.name: GRPC_CODE.findall(m.read_text()) for m in modules}
    assert {name: lines for name, lines in offending.items() if lines} == {}


def _grpc_lines(module: Path) -> list[str]:
    return [line.strip() for line in module.read_text().splitlines() if GRPC_CODE.match(line)]


def test_the_query_and_ingest_benchmarks_use_the_client_but_for_the_index_stats_the_client_does_not_offer():
    assert _grpc_lines(CLI / "bench_query.py") == []
    # bench ingest polls the retrieve service's internal GetIndexStats for the indexed chunk count: that stays gRPC.
    assert _grpc_lines(CLI / "bench_ingest.py") == [
        "import grpc",
        "from ragplane.v1 import retrieve_pb2, retrieve_pb2_grpc",
        "stats = retrieve.GetIndexStats(retrieve_pb2.GetIndexStatsRequest(), metadata=metadata, timeout=30)",
    ]


@pytest.mark.parametrize("outcome", common_pb2.CacheOutcome.values())
def test_bench_query_records_the_cache_outcome_names_it_recorded_from_the_message(outcome):
    old_name = common_pb2.CacheOutcome.Name(outcome).removeprefix("CACHE_OUTCOME_").lower()
    answer = _protocol.answer(rag_pb2.AnswerResult(answer="a", cache=outcome))
    assert answer.cache.value.lower() == old_name


def _full_result() -> rag_pb2.AnswerResult:
    finding = common_pb2.GuardrailFinding(
        category="pii.email",
        score=0.9,
        start=3,
        end=9,
        detector="regex",
        message="m",
        action=common_pb2.GUARDRAIL_ACTION_REDACT,
    )
    return rag_pb2.AnswerResult(
        request_id="r-1",
        answer="Paris [1]",
        citations=[
            common_pb2.Citation(
                passage_number=1, chunk_id="c", doc_id="d", page=2, source="s", section_path=["a", "b"], title="t"
            ),
            common_pb2.Citation(passage_number=2, doc_id="e"),
        ],
        blocked=True,
        input_verdict=common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_ALLOW),
        output_verdict=common_pb2.GuardrailVerdict(
            action=common_pb2.GUARDRAIL_ACTION_REDACT, findings=[finding], redacted_text="x", policy="p", latency_ms=1.5
        ),
        cache=common_pb2.CACHE_OUTCOME_SEMANTIC_HIT,
        usage=common_pb2.Usage(prompt_tokens=10, completion_tokens=3),
        model="m",
        timings=[
            common_pb2.StageTiming(stage="total", latency_ms=12.5),
            common_pb2.StageTiming(stage="ttft", latency_ms=3.0),
        ],
        session_id="s-1",
        dropped_citations=1,
    )


@pytest.mark.parametrize(
    "message",
    [_full_result(), rag_pb2.AnswerResult(request_id="r-2", answer="a", cache=common_pb2.CACHE_OUTCOME_MISS)],
    ids=["every-field", "few-fields"],
)
def test_ask_json_is_the_answer_messages_json(message):
    expected = json_format.MessageToDict(message, preserving_proto_field_name=True)
    assert answer_json(_protocol.answer(message)) == expected


@pytest.mark.parametrize("nanos", [0, 120_000_000, 123_456_000])
def test_eval_report_times_are_written_as_protobuf_wrote_them(nanos):
    from google.protobuf import timestamp_pb2

    from ragplane.cli.cmd_eval import _timestamp

    stamp = timestamp_pb2.Timestamp(seconds=1_764_936_000, nanos=nanos)
    assert _timestamp(_protocol._timestamp(_Holder(stamp), "at")) == stamp.ToJsonString()


class _Holder:
    def __init__(self, stamp) -> None:
        self.at = stamp

    def HasField(self, name: str) -> bool:  # noqa: N802 - the protobuf method it stands in for
        return True
