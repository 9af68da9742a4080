"""``ragplane ask "question"``: ask the orchestrator and print the answer with a citations table.

ragplane ask "Who invented the atmospheric engine?" --stream
ragplane ask "..." --session chat-1                      continue a conversation
ragplane ask "..." --filter source=steam_engine.txt      equality (built-in field or metadata key)
ragplane ask "..." --filter "lang=en|de"                 any of
ragplane ask "..." --filter "year>=2020"                 range (>=, <=, >, <); '!=' negates
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ragplane.cli.output import add_connection_args, address, connection, console, print_json, print_table

DEFAULT_ADDR = "127.0.0.1:50051"


def parse_filter(spec: str) -> Any:
    """``key=value``, ``key=a|b``, ``key!=value``, ``key>=n``... -> a ``ragplane.client.Filter``.

    Raises:
        SystemExit: a malformed expression (quoted with the flag).
    """
    from ragplane.client import Filter

    try:
        return Filter.parse(spec)
    except ValueError as exc:
        raise SystemExit(f"--{exc}") from None


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    # The JSON the command always printed (protobuf's JSON mapping): fields at their default value are left out.
    return {k: v for k, v in fields.items() if v not in ("", 0, False, None, [], {})}


def _enum(prefix: str, value: str) -> str:
    return "" if value == "UNSPECIFIED" else f"{prefix}{value}"


def _verdict_json(verdict: Any) -> dict[str, Any] | None:
    if verdict is None:
        return None
    findings = [
        _compact(
            {
                "category": f.category,
                "score": f.score,
                "start": f.start,
                "end": f.end,
                "detector": f.detector,
                "message": f.message,
                "action": _enum("GUARDRAIL_ACTION_", f.action),
            }
        )
        for f in verdict.findings
    ]
    fields = {
        "action": _enum("GUARDRAIL_ACTION_", verdict.action),
        "findings": findings,
        "redacted_text": verdict.redacted_text,
        "policy": verdict.policy,
        "latency_ms": verdict.latency_ms,
    }
    return _compact(fields) or {}


def answer_json(answer: Any) -> dict[str, Any]:
    """An answer as ``--json`` prints it: the AnswerResult message's JSON (field names as in rag.proto)."""
    fields = {
        "request_id": answer.request_id,
        "answer": answer.answer,
        "citations": [
            _compact(
                {
                    "passage_number": c.passage_number,
                    "chunk_id": c.chunk_id,
                    "doc_id": c.doc_id,
                    "page": c.page,
                    "source": c.source,
                    "section_path": list(c.section_path),
                    "title": c.title,
                }
            )
            for c in answer.citations
        ],
        "blocked": answer.blocked,
        "cache": _enum("CACHE_OUTCOME_", answer.cache),
        "usage": _compact(
            {"prompt_tokens": answer.usage.prompt_tokens, "completion_tokens": answer.usage.completion_tokens}
        ),
        "model": answer.model,
        "timings": [_compact({"stage": stage, "latency_ms": ms}) for stage, ms in answer.timings.items()],
        "session_id": answer.session_id,
        "dropped_citations": answer.dropped_citations,
    }
    result = _compact(fields)
    for name in ("input_verdict", "output_verdict"):
        verdict = _verdict_json(getattr(answer, name))
        if verdict is not None:
            result[name] = verdict
    order = list(fields)[:4] + ["input_verdict", "output_verdict"] + list(fields)[4:]
    return {name: result[name] for name in order if name in result}


def _print_result(result: Any, args: argparse.Namespace, streamed_text: str | None = None) -> None:
    if args.json:
        print_json(answer_json(result))
        return
    if streamed_text is None:
        console.print(result.answer, markup=False, highlight=False)
    elif streamed_text.strip() != result.answer.strip():
        console.print(f"\n[yellow]final answer after output checks:[/yellow] {result.answer}", highlight=False)
    if result.blocked:
        categories = ", ".join(result.blocked_categories) or "policy"
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
    timings = result.timings
    cache = "unspecified" if result.cache == "UNSPECIFIED" else result.cache.lower()
    summary = f"request {result.request_id} | cache {cache} | total {timings.get('total', 0):.0f} ms"
    if "ttft" in timings:
        summary += f" | first token {timings['ttft']:.0f} ms"
    if result.usage.completion_tokens:
        summary += f" | tokens {result.usage.prompt_tokens} in / {result.usage.completion_tokens} out"
    if result.session_id:
        summary += f" | session {result.session_id}"
    console.print(summary, style="dim", highlight=False)


def _cmd_ask(args: argparse.Namespace) -> int:
    from ragplane.client import Client, TextDelta

    target = address(args.addr, "RAGPLANE_ADDR", DEFAULT_ADDR)
    question = dict(
        session_id=args.session,
        filters=[parse_filter(spec) for spec in args.filter],
        top_k=args.top_k,
        top_n=args.top_n,
        max_tokens=args.max_tokens,
        bypass_cache=args.no_cache,
        timeout=args.timeout,
    )
    with Client(connection=connection(args, target=target)) as client:
        if not args.stream:
            answer = client.ask(args.question, **question)
            _print_result(answer, args)
            return 2 if answer.blocked else 0
        pieces: list[str] = []
        answer = None
        for event in client.ask_stream(args.question, **question):
            if isinstance(event, TextDelta):
                pieces.append(event.text)
                if not args.json:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
            else:
                answer = event.answer
        if not args.json:
            sys.stdout.write("\n")
        _print_result(answer, args, streamed_text="".join(pieces))
        return 2 if answer.blocked else 0


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
