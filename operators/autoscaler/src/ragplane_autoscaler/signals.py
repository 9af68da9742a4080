"""Reading signals: Kafka consumer lag, a Prometheus instant query, a scraped Prometheus text endpoint.

Parsing and arithmetic are plain functions (unit-tested without a network); the readers do the I/O. Every read has
a deadline; a failed read becomes a :class:`~ragplane_autoscaler.decision.Reading` with no value and the error, which
the decision treats as "do not scale down blind". That error lands in the RagAutoscaler's status, so it never quotes
what a server answered (only status codes and Prometheus' error type); HTTP reads speak only http(s), follow no
redirect and read at most MAX_BODY_BYTES. Which brokers and hosts a spec may name is checked in sources.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .decision import Reading
from .spec import KafkaLagSignal, MetricsEndpointSignal, PrometheusSignal, SignalSpec, TargetType

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
_TOKEN = re.compile(r"[A-Za-z_]{1,32}")


class SignalError(RuntimeError):
    """A signal could not be read; the message says which and why."""


@dataclass(frozen=True)
class Lag:
    """Consumer lag of one group on one topic.

    Attributes:
        total: the sum over partitions of end offset - committed offset (never negative per partition).
        partitions: the topic's partition count.
        per_partition: partition -> lag.
    """

    total: int
    partitions: int
    per_partition: Mapping[int, int]


def compute_lag(
    end_offsets: Mapping[int, int],
    committed: Mapping[int, int | None],
    beginning_offsets: Mapping[int, int] | None = None,
    offset_reset_policy: str = "earliest",
) -> Lag:
    """Lag per partition = end offset - committed offset, summed.

    A partition with no committed offset counts from where the group would start: the beginning offset for
    `earliest` (all of it is unread), the end for `latest` (nothing is).

    Args:
        end_offsets: partition -> log end offset (the next offset to be written).
        committed: partition -> the group's committed offset (None or negative when it has none).
        beginning_offsets: partition -> log start offset; 0 when not given.
        offset_reset_policy: "earliest" or "latest", as the consumers are configured.

    Returns:
        The lag.
    """
    per_partition: dict[int, int] = {}
    for partition, end in end_offsets.items():
        offset = committed.get(partition)
        if offset is None or offset < 0:
            start = (beginning_offsets or {}).get(partition, 0) if offset_reset_policy == "earliest" else end
        else:
            start = offset
        per_partition[partition] = max(0, end - start)
    return Lag(total=sum(per_partition.values()), partitions=len(end_offsets), per_partition=per_partition)


def aggregate(values: Iterable[float], how: str) -> float:
    """Combine several series into one value (sum, max, min or avg); no series gives 0."""
    vals = list(values)
    if not vals:
        return 0.0
    if how == "sum":
        return float(sum(vals))
    if how == "max":
        return float(max(vals))
    if how == "min":
        return float(min(vals))
    if how == "avg":
        return float(sum(vals) / len(vals))
    raise ValueError(f"aggregate must be sum, max, min or avg, but got {how!r}")


def parse_query_response(payload: Mapping[str, Any], how: str) -> float:
    """The value of a Prometheus `/api/v1/query` answer.

    Args:
        payload: the decoded JSON answer.
        how: how to combine several series.

    Returns:
        The value; an empty vector counts as 0 (no series: nothing pending).

    Raises:
        SignalError: the query failed, or the value is not a finite number.
    """
    if payload.get("status") != "success":
        log.warning("prometheus query failed: %.500s", payload.get("error", ""))
        raise SignalError(f"prometheus query failed: {_token(payload.get('errorType'))}")
    data = payload.get("data") or {}
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "scalar":
        values = [_sample_value(result)]
    elif result_type == "vector":
        values = [_sample_value(series.get("value")) for series in result or []]
    else:
        raise SignalError(f"prometheus query must return a scalar or an instant vector, but got {_token(result_type)}")
    return aggregate(values, how)


def parse_metrics_text(text: str, metric: str, labels: Mapping[str, str], how: str) -> float:
    """The value of one metric in a Prometheus text exposition.

    Args:
        text: the scraped page.
        metric: the sample name (e.g. `nv_inference_pending_request_count`, `..._total`, `..._sum`).
        labels: exact label matches a sample must have.
        how: how to combine several matching samples.

    Raises:
        SignalError: no sample matches, or a value is not finite.
    """
    from prometheus_client.parser import text_string_to_metric_families

    values = []
    # The parser names counter samples `<name>_total` even when the page wrote them without the suffix (Triton's
    # counters do), so a counter also matches by the name as written.
    try:
        for family in text_string_to_metric_families(text):
            names = {metric, metric + "_total"} if family.type == "counter" else {metric}
            for sample in family.samples:
                if sample.name in names and all(sample.labels.get(k) == v for k, v in labels.items()):
                    values.append(_finite(sample.value, metric))
    except ValueError as e:
        log.warning("cannot parse the metrics page: %.500s", e)
        raise SignalError("cannot parse the metrics page (not Prometheus text format)") from None
    if not values:
        wanted = metric + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        raise SignalError(f"no sample {wanted} on the metrics page")
    return aggregate(values, how)


def _token(value: Any) -> str:
    """``value`` when it is a short word (an error or result type), else "?": never a server's free text."""
    return value if isinstance(value, str) and _TOKEN.fullmatch(value) else "?"


def _sample_value(pair: Any) -> float:
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise SignalError("malformed prometheus sample (not a [time, value] pair)")
    try:
        return _finite(float(pair[1]), "query")
    except (TypeError, ValueError):
        raise SignalError("malformed prometheus sample value (not a number)") from None


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise SignalError(f"{what} is {value}, not a finite number")
    return float(value)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuses every redirect: a signal URL is checked against the allowed hosts, where it points is not."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 (urllib's signature)
        return None  # urllib then raises HTTPError with the 3xx code


def _opener() -> urllib.request.OpenerDirector:
    """An opener that speaks only http(s) (no file:, ftp: or data:), ignores proxies and follows no redirect."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        _NoRedirect(),
    ):
        opener.add_handler(handler)
    return opener


_OPENER = _opener()


def _http_get(url: str, timeout_s: float, accept: str) -> bytes:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise SignalError(f"GET {url}: only http and https URLs are read")
    req = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "ragplane-autoscaler"})
    try:
        with _OPENER.open(req, timeout=timeout_s) as resp:
            body = resp.read(MAX_BODY_BYTES + 1)
    except urllib.error.HTTPError as e:  # the status code only: its reason phrase and body are the server's
        raise SignalError(f"GET {url}: HTTP {e.code}") from None
    except OSError as e:  # URLError, timeouts, refused connections
        raise SignalError(f"GET {url}: {e}") from e
    if len(body) > MAX_BODY_BYTES:
        raise SignalError(f"GET {url}: the answer is over {MAX_BODY_BYTES} bytes")
    return body


def query_prometheus(sig: PrometheusSignal, timeout_s: float) -> float:
    """Run an instant query against a Prometheus HTTP API."""
    url = sig.server_url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": sig.query})
    body = _http_get(url, timeout_s, "application/json")
    try:
        payload = json.loads(body)
    except ValueError as e:
        raise SignalError(f"prometheus answered with something that is not JSON: {e}") from e
    return parse_query_response(payload, sig.aggregate)


def scrape_metric(sig: MetricsEndpointSignal, timeout_s: float) -> float:
    """Scrape a Prometheus text endpoint and extract one metric."""
    body = _http_get(sig.url, timeout_s, "text/plain;version=0.0.4")
    return parse_metrics_text(body.decode("utf-8", "replace"), sig.metric, dict(sig.labels), sig.aggregate)


class KafkaLagReader:
    """Reads consumer-group lag with kafka-python, one admin client and one consumer per bootstrap address.

    kafka-python clients are blocking and not safe across threads, so each address has a lock; a client that failed
    is closed and rebuilt on the next read.
    """

    def __init__(self, timeout_s: float, client_settings: Mapping[str, str] | None = None) -> None:
        self._timeout_ms = int(timeout_s * 1000)
        self._client_settings = dict(client_settings or {})
        self._clients: dict[str, tuple[Any, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def read(self, sig: KafkaLagSignal) -> Lag:
        """Lag of `sig.consumer_group` on `sig.topic` (blocking)."""
        with self._guard:
            lock = self._locks.setdefault(sig.bootstrap_servers, threading.Lock())
        with lock:
            try:
                admin, consumer = self._client(sig.bootstrap_servers)
                return self._read(admin, consumer, sig)
            except SignalError:
                raise
            except Exception as e:  # noqa: BLE001 (kafka-python raises many types; all mean "not read")
                self._drop(sig.bootstrap_servers)
                raise SignalError(f"kafka {sig.bootstrap_servers}: {type(e).__name__}: {e}") from e

    def _read(self, admin: Any, consumer: Any, sig: KafkaLagSignal) -> Lag:
        from kafka import TopicPartition

        partitions = consumer.partitions_for_topic(sig.topic)
        if not partitions:
            raise SignalError(f"topic {sig.topic!r} not found on {sig.bootstrap_servers}")
        tps = [TopicPartition(sig.topic, p) for p in sorted(partitions)]
        end = consumer.end_offsets(tps)
        begin = consumer.beginning_offsets(tps) if sig.offset_reset_policy == "earliest" else {}
        committed = _group_offsets(admin, sig.consumer_group, tps)
        return compute_lag(
            {tp.partition: off for tp, off in end.items()},
            {tp.partition: committed.get(tp) for tp in tps},
            {tp.partition: off for tp, off in begin.items()},
            sig.offset_reset_policy,
        )

    def _client(self, bootstrap: str) -> tuple[Any, Any]:
        if bootstrap not in self._clients:
            from kafka import KafkaAdminClient, KafkaConsumer

            common = {
                **self._client_settings,
                "bootstrap_servers": bootstrap.split(","),
                "client_id": "ragplane-autoscaler",
                "request_timeout_ms": self._timeout_ms,
            }
            admin = KafkaAdminClient(**common)
            try:
                consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, **common)
            except Exception:
                admin.close()
                raise
            self._clients[bootstrap] = (admin, consumer)
        return self._clients[bootstrap]

    def _drop(self, bootstrap: str) -> None:
        clients = self._clients.pop(bootstrap, None)
        for c in clients or ():
            try:
                c.close()
            except Exception:  # noqa: BLE001 (closing a broken client may fail again; nothing to do)
                log.debug("closing a kafka client failed", exc_info=True)

    def close(self) -> None:
        """Close every client."""
        for bootstrap in list(self._clients):
            self._drop(bootstrap)


def _group_offsets(admin: Any, group: str, tps: list[Any]) -> dict[Any, int | None]:
    """Committed offsets of a group; kafka-python 3 calls it list_group_offsets, 2.x list_consumer_group_offsets."""
    if hasattr(admin, "list_group_offsets"):
        raw = admin.list_group_offsets({group: tps}).get(group, {})
    else:
        raw = admin.list_consumer_group_offsets(group, partitions=tps)
    return {tp: (None if meta is None or meta.offset is None else meta.offset) for tp, meta in raw.items()}


class SignalReader:
    """Turns signal specs into decision readings, with a deadline per read."""

    def __init__(
        self, timeout_s: float, kafka: KafkaLagReader | None = None, kafka_settings: Mapping[str, str] | None = None
    ) -> None:
        self._timeout_s = timeout_s
        self._kafka = kafka or KafkaLagReader(timeout_s, kafka_settings)

    async def read_all(self, signals: Iterable[SignalSpec]) -> tuple[Reading, ...]:
        """Read every signal concurrently."""
        return tuple(await asyncio.gather(*(self.read(s) for s in signals)))

    async def read(self, sig: SignalSpec) -> Reading:
        """Read one signal; failures come back as a reading with no value and the error."""
        src = sig.source
        if isinstance(src, KafkaLagSignal):
            base = Reading(
                name=sig.name,
                value=None,
                target=float(src.target_lag_per_replica),
                target_type=TargetType.AVERAGE_VALUE,
                activation=float(src.activation_lag),
                allow_above_partitions=src.allow_replicas_above_partitions,
            )
        else:
            base = Reading(
                name=sig.name,
                value=None,
                target=src.target_value,
                target_type=src.target_type,
                activation=src.activation_value,
            )
        try:
            if isinstance(src, KafkaLagSignal):
                lag = await self._blocking(self._kafka.read, src)
                return replace(base, value=float(lag.total), partitions=lag.partitions)
            if isinstance(src, PrometheusSignal):
                return replace(base, value=await self._blocking(query_prometheus, src, self._timeout_s))
            return replace(base, value=await self._blocking(scrape_metric, src, self._timeout_s))
        except (TimeoutError, SignalError) as e:
            message = str(e) or f"no answer within {self._timeout_s:g}s"
            log.warning("signal %s could not be read: %s", sig.name, message)
            return replace(base, error=message)

    async def _blocking(self, fn: Any, *args: Any) -> Any:
        # The thread keeps running past the deadline; kafka-python and urllib both honour their own timeouts too.
        return await asyncio.wait_for(asyncio.to_thread(fn, *args), timeout=self._timeout_s * 2 + 1)

    def close(self) -> None:
        """Release the Kafka clients."""
        self._kafka.close()
