"""``ragplane dlq list|replay|purge TOPIC``: look at dead letters and, once their cause is fixed, replay them.

TOPIC is a topic or its dead-letter queue (``<topic>.dlq``, where the runtime's consumers put poison records
with the error in ``ragplane-error*`` headers). ``list`` shows per partition how many records there are (how many
of them purge markers), their first and last offsets and how many the replay group has not replayed yet, and the
error reasons.
``replay`` produces each dead letter that the replay group has not replayed to the original topic (same key,
value and trace headers, without the error headers), waiting for the broker's acknowledgement, then commits
the replay group's offsets, so a replay is never repeated. It reads up to the end the DLQ had when it started,
so records that fail again are left for a later replay. The broker comes from the RAGPLANE_KAFKA_* settings.

A replay never brings back what was meant to go: it drops (and counts) each dead letter that
- a purge marker covers: ``purge --tenant T [--document D]`` appends a marker to the DLQ, rewriting nothing, and
  every dead letter of that tenant (or document) dead-lettered before the marker is never replayed; ingest appends
  one to the chunks, vectors and indexed DLQs for every DeleteDocument, which also purges the document's versions
  below the deletion's sequence dead-lettered after it (events still on their way at the delete);
- a newer version of the same document in the same DLQ supersedes (a later upsert or a delete, by the
  document version's sequence), so a deleted document's chunks are not indexed again from a dead letter.
The text itself leaves the DLQ with its retention (the chart's ``kafka.topics.dlqRetentionMs``, 30 days).

An installation whose services run with RAGPLANE_KAFKA_TOPIC_PREFIX (the chart's kafka.topicPrefix) has its
topics and groups under that prefix: ``--topic-prefix`` (default: that variable) puts it in front of TOPIC (unless
TOPIC already starts with it) and of the replay group.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ragplane.cli.output import console, print_json, print_table
from ragplane.runtime.kafka import (
    ERROR_HEADER,
    PURGE_BELOW_HEADER,
    PURGE_HEADER,
    EventProducer,
    client_config,
    dlq_topic,
    group_name,
    topic_name,
    versioned_payload,
    write_purge_marker,
)
from ragplane.runtime.settings import CommonSettings, load_settings

DLQ_SUFFIX = ".dlq"
REPLAY_GROUP = "ragplane-dlq-replay"
ORIGINAL_TOPIC_HEADER = "ragplane-original-topic"
# Headers the runtime adds when it dead-letters a record; they describe the failure, not the event.
_FAILURE_HEADERS = ("ragplane-error", "ragplane-original-", "ragplane-consumer-group", "ragplane-failed-at")
_COMMIT_EVERY = 100


class DlqError(Exception):
    """A replay that must not happen or a topic that cannot be read; printed without a traceback."""


@dataclasses.dataclass(frozen=True)
class Route:
    """A dead-letter queue and the topic its records came from."""

    dlq: str
    target: str


def route(topic: str) -> Route:
    """The DLQ named by ``topic`` (itself or ``<topic>.dlq``) and its original topic.

    Raises:
        DlqError: the original topic is itself a dead-letter queue.
    """
    dlq = topic if topic.endswith(DLQ_SUFFIX) else dlq_topic(topic)
    target = dlq.removesuffix(DLQ_SUFFIX)
    if not target or target.endswith(DLQ_SUFFIX):
        raise DlqError(f"refusing to replay into the dead-letter queue {target!r} (from {dlq!r})")
    return Route(dlq, target)


def prefixed(settings: CommonSettings, topic: str) -> str:
    """The broker's name of ``topic``: the installation's prefix in front, unless it is there already."""
    prefix = settings.kafka_topic_prefix
    return topic if prefix and topic.startswith(prefix) else topic_name(settings, topic)


def header(headers: list[tuple[str, bytes]], name: str) -> str:
    """The value of header ``name`` ('' when absent)."""
    return next((v.decode(errors="replace") for k, v in headers if k == name and v is not None), "")


def replay_headers(headers: list[tuple[str, bytes]], dlq: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """The record's own headers (trace context, schema) without the failure's, plus where it was replayed from."""
    kept = [(k, v) for k, v in headers if not k.startswith(_FAILURE_HEADERS)]
    return [*kept, ("ragplane-replayed-from", f"{dlq}/{partition}/{offset}".encode())]


def checked_target(record: Any, where: Route) -> str:
    """The topic ``record`` goes back to; refuses one whose headers name another topic than the DLQ's own."""
    named = header(list(record.headers or []), ORIGINAL_TOPIC_HEADER)
    if named and named != where.target:
        raise DlqError(
            f"{where.dlq} partition {record.partition} offset {record.offset} came from {named!r}, "
            f"not {where.target!r}; refusing to replay it"
        )
    return where.target


@dataclasses.dataclass(frozen=True)
class Letter:
    """What a replay needs to know of one dead letter: its document, version and time."""

    tenant: str
    doc_id: str
    sequence: int
    deleted: bool
    timestamp_ms: int


def purge_scope(record: Any) -> tuple[str, str] | None:
    """``(tenant, doc_id)`` of a purge marker ('' doc_id: the whole tenant), or None for a dead letter."""
    value = header(list(record.headers or []), PURGE_HEADER)
    if not value:
        return None
    tenant, _, doc_id = value.partition("/")
    return tenant, doc_id


def letter(record: Any, target: str) -> Letter:
    """The document of a dead letter: from its payload where its type is known (schema header or topic name), else
    from its key."""
    key = (record.key or b"").decode(errors="replace")
    tenant, _, doc_id = key.partition("/")
    sequence, deleted = -1, False
    decoded = versioned_payload(record, target)
    if decoded is not None:
        tenant, doc_id = decoded[0] or tenant, decoded[1] or doc_id
        sequence, deleted = decoded[2], decoded[3]
    return Letter(tenant, doc_id, sequence, deleted, int(record.timestamp or 0))


def purge_below(record: Any) -> int:
    """The sequence a document's purge marker purges every version below (DeleteDocument's), else -1."""
    value = header(list(record.headers or []), PURGE_BELOW_HEADER)
    try:
        return int(value) if value else -1
    except ValueError:
        return -1


class Drops:
    """Purge markers and newest versions of a whole DLQ: which dead letters a replay must drop."""

    def __init__(self) -> None:
        self._purges: dict[tuple[str, str], int] = {}  # (tenant, doc_id or '') -> latest marker time
        self._below: dict[tuple[str, str], int] = {}  # (tenant, doc_id) -> versions below it are purged
        self._newest: dict[tuple[str, str], int] = {}  # (tenant, doc_id) -> highest sequence dead-lettered

    def scan(self, record: Any, target: str) -> None:
        scope = purge_scope(record)
        if scope is not None:
            self._purges[scope] = max(self._purges.get(scope, 0), int(record.timestamp or 0))
            if scope[1]:
                self._below[scope] = max(self._below.get(scope, -1), purge_below(record))
            return
        seen = letter(record, target)
        key = (seen.tenant, seen.doc_id)
        self._newest[key] = max(self._newest.get(key, -1), seen.sequence)

    def reason(self, record: Any, target: str) -> str:
        """'' to replay ``record``; else why it is dropped: 'marker', 'purged' or 'superseded'."""
        if purge_scope(record) is not None:
            return "marker"
        seen = letter(record, target)
        for scope in ((seen.tenant, ""), (seen.tenant, seen.doc_id)):
            marked = self._purges.get(scope)
            if marked is not None and seen.timestamp_ms <= marked:
                return "purged"
        if 0 <= seen.sequence < self._below.get((seen.tenant, seen.doc_id), -1):
            return "purged"
        if 0 <= seen.sequence < self._newest.get((seen.tenant, seen.doc_id), -1):
            return "superseded"
        return ""


class DeadLetters:
    """A reader of one DLQ for the replay group: partitions, offsets, records up to a fixed end."""

    def __init__(self, settings: CommonSettings, dlq: str, group: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.dlq = dlq
        self._consumer = KafkaConsumer(**client_config(settings), group_id=group, enable_auto_commit=False)
        partitions = self._consumer.partitions_for_topic(dlq)
        if not partitions:
            self._consumer.close()
            raise DlqError(f"topic {dlq!r} does not exist")
        self.partitions = [TopicPartition(dlq, p) for p in sorted(partitions)]
        self._consumer.assign(self.partitions)
        self.starts = self._consumer.beginning_offsets(self.partitions)
        self.ends = self._consumer.end_offsets(self.partitions)

    def close(self) -> None:
        self._consumer.close(autocommit=False)

    def committed(self, tp: Any) -> int:
        """Where the replay group goes on in ``tp`` (the log start when it never committed)."""
        offset = self._consumer.committed(tp)
        return max(offset if offset is not None else 0, self.starts[tp])

    def records(self, tp: Any, start: int, limit: int) -> Iterator[Any]:
        """Up to ``limit`` records of ``tp`` from ``start`` to the end offset taken when the reader opened."""
        self._consumer.seek(tp, start)
        end, taken = self.ends[tp], 0
        others = [p for p in self.partitions if p != tp]
        self._consumer.pause(*others)
        try:
            while self._consumer.position(tp) < end and taken < limit:
                for record in self._consumer.poll(timeout_ms=1000, max_records=limit - taken).get(tp, []):
                    if record.offset >= end:
                        return
                    taken += 1
                    yield record
        finally:
            self._consumer.resume(*others)

    def commit(self, tp: Any, offset: int) -> None:
        from kafka.structs import OffsetAndMetadata

        self._consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})


@contextmanager
def open_dlq(args: argparse.Namespace) -> Iterator[tuple[CommonSettings, Route, DeadLetters]]:
    settings = load_settings(CommonSettings)
    if args.bootstrap:
        settings = dataclasses.replace(settings, kafka_bootstrap=args.bootstrap)
    if args.topic_prefix is not None:
        settings = dataclasses.replace(settings, kafka_topic_prefix=args.topic_prefix)
    where = route(prefixed(settings, args.topic))
    letters = DeadLetters(settings, where.dlq, group_name(settings, args.group))
    try:
        yield settings, where, letters
    finally:
        letters.close()


def _cmd_list(args: argparse.Namespace) -> int:
    with open_dlq(args) as (_, where, letters):
        partitions, reasons = [], Counter()
        for tp in letters.partitions:
            start, end = letters.starts[tp], letters.ends[tp]
            markers = 0
            for record in letters.records(tp, start, args.limit):
                if purge_scope(record) is not None:
                    markers += 1
                    continue
                headers = list(record.headers or [])
                key = (
                    header(headers, "ragplane-error-type"),
                    header(headers, ERROR_HEADER)[:200],
                    header(headers, "ragplane-consumer-group"),
                )
                reasons[(tp.partition, *key)] += 1
            partitions.append(
                {
                    "partition": tp.partition,
                    "records": end - start,
                    "first_offset": start if end > start else None,
                    "last_offset": end - 1 if end > start else None,
                    "replayed_up_to": letters.committed(tp),
                    "pending": end - letters.committed(tp),
                    # Of the records: purge markers (``purge``, and one per DeleteDocument), not dead letters.
                    "purge_markers": markers,
                }
            )
    rows = [
        {"partition": p, "error_type": t, "error": e, "group": g, "count": n}
        for (p, t, e, g), n in sorted(reasons.items())
    ]
    if args.json:
        print_json({"dlq": where.dlq, "target": where.target, "partitions": partitions, "reasons": rows})
        return 0
    print_table(f"{where.dlq} -> {where.target}", list(partitions[0]), [list(p.values()) for p in partitions])
    print_table("reasons", ["partition", "error type", "error", "consumer group", "count"], [r.values() for r in rows])
    return 0


def scan_drops(settings: CommonSettings, where: Route, group: str) -> Drops:
    """Read the whole DLQ for purge markers and newest versions, with a reader of its own (no commits)."""
    drops = Drops()
    scanner = DeadLetters(settings, where.dlq, group)
    try:
        for tp in scanner.partitions:
            for record in scanner.records(tp, scanner.starts[tp], scanner.ends[tp] - scanner.starts[tp]):
                drops.scan(record, where.target)
    finally:
        scanner.close()
    return drops


def _replay_partition(
    letters: DeadLetters, tp: Any, where: Route, producer: EventProducer | None, limit: int, drops: Drops
) -> dict[str, Any]:
    start = letters.committed(tp)
    done, position, dropped = 0, start, Counter()
    handled = 0
    for record in letters.records(tp, start, limit):
        target = checked_target(record, where)
        reason = drops.reason(record, where.target)
        if reason:
            dropped[reason] += 1
        else:
            if producer is not None:
                headers = replay_headers(list(record.headers or []), where.dlq, tp.partition, record.offset)
                producer.send_raw(target, record.key, record.value, headers)
            done += 1
        handled, position = handled + 1, record.offset + 1
        if producer is not None and handled % _COMMIT_EVERY == 0:
            letters.commit(tp, position)
    if producer is not None and handled:
        letters.commit(tp, position)
    return {
        "partition": tp.partition,
        "from_offset": start,
        "to_offset": position,
        "replayed": done,
        "purged": dropped["purged"],
        "superseded": dropped["superseded"],
    }


def _cmd_replay(args: argparse.Namespace) -> int:
    with open_dlq(args) as (settings, where, letters):
        producer = None if args.dry_run else EventProducer(settings, "ragplane-dlq-replay")
        partitions, left = [], args.limit
        # Scanned after the replay reader opened: every marker up to its end offsets is seen.
        drops = scan_drops(settings, where, group_name(settings, args.group))
        try:
            for tp in letters.partitions:
                partitions.append(_replay_partition(letters, tp, where, producer, left, drops))
                left -= partitions[-1]["replayed"]
        finally:
            if producer is not None:
                producer.close()
    replayed = sum(p["replayed"] for p in partitions)
    purged = sum(p["purged"] for p in partitions)
    superseded = sum(p["superseded"] for p in partitions)
    if args.json:
        print_json(
            {
                "dlq": where.dlq,
                "target": where.target,
                "dry_run": args.dry_run,
                "replayed": replayed,
                "purged": purged,
                "superseded": superseded,
                "partitions": partitions,
            }
        )
        return 0
    print_table(f"{where.dlq} -> {where.target}", list(partitions[0]), [list(p.values()) for p in partitions])
    verb = "would replay" if args.dry_run else "replayed"
    console.print(
        f"{verb} {replayed} dead letters to {where.target}; dropped {purged} purged and {superseded} superseded"
    )
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    if "/" in args.tenant or not args.tenant:
        raise DlqError(f"--tenant must be a tenant name without '/', but got {args.tenant!r}")
    scope = f"{args.tenant}/{args.document or ''}"
    with open_dlq(args) as (settings, where, letters):
        covered = 0
        for tp in letters.partitions:
            for record in letters.records(tp, letters.starts[tp], letters.ends[tp] - letters.starts[tp]):
                if purge_scope(record) is None:
                    seen = letter(record, where.target)
                    covered += seen.tenant == args.tenant and (not args.document or seen.doc_id == args.document)
        producer = EventProducer(settings, "ragplane-dlq-purge")
        try:
            write_purge_marker(producer, where.dlq, args.tenant, args.document or "")
        finally:
            producer.close()
    if args.json:
        print_json({"dlq": where.dlq, "purge": scope, "dead_letters_covered": covered})
        return 0
    console.print(
        f"purge marker for {scope!r} written to {where.dlq}: {covered} dead letters there will never be replayed "
        "(they leave the topic with its retention)"
    )
    return 0


def _positive(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, but got {value}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", help="a topic or its dead-letter queue (<topic>.dlq)")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: RAGPLANE_KAFKA_BOOTSTRAP)")
    parser.add_argument("--group", default=REPLAY_GROUP, help="consumer group that remembers what was replayed")
    parser.add_argument(
        "--topic-prefix",
        default=None,
        help="prefix of the installation's topics and groups (default: RAGPLANE_KAFKA_TOPIC_PREFIX, else none)",
    )
    parser.add_argument("--json", action="store_true")


def register(sub: argparse._SubParsersAction) -> None:
    dlq = sub.add_parser("dlq", help="list or replay a topic's dead letters")
    commands = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = commands.add_parser("list", help="dead letters per partition and their error reasons")
    _common(listing)
    listing.add_argument("--limit", type=_positive, default=10_000, help="records read per partition for the reasons")
    listing.set_defaults(func=_cmd_list)
    replay = commands.add_parser("replay", help="produce the dead letters to the original topic, once")
    _common(replay)
    replay.add_argument(
        "--dry-run", action="store_true", help="show what would be replayed; produce and commit nothing"
    )
    replay.add_argument("--limit", type=_positive, default=1_000_000, help="replay at most this many dead letters")
    replay.set_defaults(func=_cmd_replay)
    purge = commands.add_parser(
        "purge", help="mark a tenant's or document's dead letters so that no replay brings them back"
    )
    _common(purge)
    purge.add_argument("--tenant", required=True, help="the tenant whose dead letters are purged")
    purge.add_argument("--document", default="", help="only this document (doc_id) of the tenant")
    purge.set_defaults(func=_cmd_purge)
