"""``ragplane ask "question"``: ask the orchestrator and print the answer with a citations table.

ragplane ask "Who invented the atmospheric engine?" --stream
ragplane ask "..." --session chat-1                      continue a conversation
ragplane ask "..." --filter source=steam_engine.txt      equality (built-in field or metadata key)
ragplane ask "..." --filter "lang=en|de"                 any of
ragplane ask "..." --filter "year>=2020"                 range (>=, <=, >, <); '!=' negates
"""

from __future__ import annotations

import argparse
import re
import sys

from ragplane.cli.output import (
    add_connection_args,
    address,
    client_metadata,
    console,
    open_channel,
    print_json,
    print_table,
)

DEFAULT_ADDR = "127.0.0.1:50051"
BUILTIN_FIELDS = {"doc_id", "source", "title", "page", "chunk_index"}
_FILTER = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|<=|!=|=|>|<)\s*(.*)$")


def _value(raw: str):
    from google.protobuf import struct_pb2

    value = struct_pb2.Value()
    try:
        number = float(raw)
    except ValueError:
        value.string_value = raw
    else:
        value.number_value = number
    return value


def parse_filter(spec: str):
    """``key=value``, ``key=a|b``, ``key!=value``, ``key>=n``... -> FieldFilter (metadata keys get the prefix)."""
    from ragplane.v1 import common_pb2

    match = _FILTER.match(spec)
    if not match:
        raise SystemExit(f"--filter {spec!r}: expected key=value, key=a|b, key!=value or key>=number")
    key, op, raw = match.groups()
    field = key if key in BUILTIN_FIELDS or key.startswith("metadata.") else f"metadata.{key}"
    condition = common_pb2.FieldFilter(field=field, negate=op == "!=")
    if op in {"=", "!="}:
        options = raw.split("|")
        if len(options) > 1:
            condition.any_of.values.extend(_value(option) for option in options)
        else:
            condition.equals.CopyFrom(_value(raw))
        return condition
    try:
        number = float(raw)
    except ValueError:
        raise SystemExit(f"--filter {spec!r}: {op} needs a number, got {raw!r}") from None
    bound = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}[op]
    setattr(condition.range, bound, number)
    return condition


def _request(args, streaming: bool):
    from ragplane.v1 import common_pb2, rag_pb2

    options = rag_pb2.AskOptions(
        top_k=args.top_k,
        top_n=args.top_n,
        bypass_cache=args.no_cache,
        sampling=common_pb2.SamplingParams(max_tokens=args.max_tokens),
    )
    kind = rag_pb2.AskStreamRequest if streaming else rag_pb2.AskRequest
    return kind(
        query=args.question,
        session_id=args.session or "",
        filters=[parse_filter(spec) for spec in args.filter],
        options=options,
    )


def _print_result(result, args, streamed_text: str | None = None) -> None:
    from google.protobuf import json_format

    from ragplane.v1 import common_pb2

    if args.json:
        print_json(json_format.MessageToDict(result, preserving_proto_field_name=True))
        return
    if streamed_text is None:
        console.print(result.answer, markup=False, highlight=False)
    elif streamed_text.strip() != result.answer.strip():
        console.print(f"\n[yellow]final answer after output checks:[/yellow] {result.answer}", highlight=False)
    if result.blocked:
        verdict = result.input_verdict if result.input_verdict.findings else result.output_verdict
        categories = ", ".join(sorted({f.category for f in verdict.findings})) or "policy"
        console.print(f"[red]blocked[/red] ({categories})")
    if result.citations:
        print_table(
            "citations",
            ["#", "document", "page", "source", "section"],
            [
                (c.passage_number, c.doc_id, c.page or "", c.source, " > ".join(c.section_path))
                for c in result.citations
            ],
        )
    timings = {t.stage: t.latency_ms for t in result.timings}
    cache = common_pb2.CacheOutcome.Name(result.cache).replace("CACHE_OUTCOME_", "").lower()
    summary = f"request {result.request_id} | cache {cache} | total {timings.get('total', 0):.0f} ms"
    if "ttft" in timings:
        summary += f" | first token {timings['ttft']:.0f} ms"
    if result.usage.completion_tokens:
        summary += f" | tokens {result.usage.prompt_tokens} in / {result.usage.completion_tokens} out"
    if result.session_id:
        summary += f" | session {result.session_id}"
    console.print(summary, style="dim", highlight=False)


def _cmd_ask(args: argparse.Namespace) -> int:
    from ragplane.v1 import rag_pb2_grpc

    target = address(args.addr, "RAGPLANE_ADDR", DEFAULT_ADDR)
    metadata = client_metadata(args.api_key)
    with open_channel(target, args) as channel:
        stub = rag_pb2_grpc.RagServiceStub(channel)
        if not args.stream:
            reply = stub.Ask(_request(args, False), metadata=metadata, timeout=args.timeout)
            _print_result(reply.result, args)
            return 2 if reply.result.blocked else 0
        pieces: list[str] = []
        result = None
        for message in stub.AskStream(_request(args, True), metadata=metadata, timeout=args.timeout):
            if message.WhichOneof("event") == "delta":
                pieces.append(message.delta)
                if not args.json:
                    sys.stdout.write(message.delta)
                    sys.stdout.flush()
            else:
                result = message.result
        if not args.json:
            sys.stdout.write("\n")
        if result is None:
            raise SystemExit("the stream ended without a result")
        _print_result(result, args, streamed_text="".join(pieces))
        return 2 if result.blocked else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ask",
        help="ask a question; prints the answer and its citations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("question")
    parser.add_argument("--stream", action="store_true", help="print the answer as it is generated")
    parser.add_argument("--session", help="session id: continue a multi-turn conversation")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="EXPR",
        help="key=value, key=a|b, key!=value, key>=number (repeatable)",
    )
    parser.add_argument("--top-k", type=int, default=0, help="retrieval candidates (default: the service's)")
    parser.add_argument("--top-n", type=int, default=0, help="passages after rerank (default: the service's)")
    parser.add_argument("--max-tokens", type=int, default=0, help="answer length cap (default: the service's)")
    parser.add_argument("--no-cache", action="store_true", help="bypass the answer caches")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before giving up")
    parser.add_argument("--addr", help="orchestrator host:port (default $RAGPLANE_ADDR or 127.0.0.1:50051)")
    parser.add_argument("--api-key", help="API key (default $RAGPLANE_API_KEY or dev-key)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_connection_args(parser)
    parser.set_defaults(func=_cmd_ask)
