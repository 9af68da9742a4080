"""The operator's own Prometheus metrics, in a registry per operator run (no global state across restarts)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class OperatorMetrics:
    """Gauges and counters describing what the operator sees and does."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("namespace", "autoscaler")
        self.reconciles = Counter(
            "ragplane_autoscaler_reconciles", "Reconciliations by outcome.", ("outcome",), registry=self.registry
        )
        self.reconcile_seconds = Histogram(
            "ragplane_autoscaler_reconcile_seconds",
            "Time to reconcile one RagAutoscaler (signals, decision, status, scale).",
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.conflicts = Counter(
            "ragplane_autoscaler_conflicts",
            "409 Conflict answers that made the operator re-read and decide again.",
            ("object",),
            registry=self.registry,
        )
        self.current = Gauge(
            "ragplane_autoscaler_current_replicas", "Replicas the target is set to.", labels, registry=self.registry
        )
        self.desired = Gauge(
            "ragplane_autoscaler_desired_replicas", "Replicas the last decision chose.", labels, registry=self.registry
        )
        self.recommended = Gauge(
            "ragplane_autoscaler_recommended_replicas",
            "Replicas the signals recommend before the GPU budget.",
            labels,
            registry=self.registry,
        )
        self.signal_value = Gauge(
            "ragplane_autoscaler_signal_value",
            "Last value read for each signal.",
            (*labels, "signal"),
            registry=self.registry,
        )
        self.signal_errors = Counter(
            "ragplane_autoscaler_signal_errors",
            "Signal reads that failed.",
            (*labels, "signal"),
            registry=self.registry,
        )
        self.scale_events = Counter(
            "ragplane_autoscaler_scale_events",
            "Replica changes applied to targets.",
            (*labels, "direction"),
            registry=self.registry,
        )
        self.pool_budget = Gauge(
            "ragplane_autoscaler_pool_budget_gpus", "GPU budget of each node pool.", ("pool",), registry=self.registry
        )
        self.pool_used = Gauge(
            "ragplane_autoscaler_pool_used_gpus",
            "GPUs held on each node pool by the targets of its autoscalers.",
            ("pool",),
            registry=self.registry,
        )
        self._server: Any = None
        self._series: dict[tuple[str, str], set[tuple[Any, tuple[str, ...]]]] = {}

    def replicas(self, namespace: str, name: str, current: int, recommended: int, desired: int) -> None:
        """Record one decision's replica counts."""
        self._track(namespace, name, self.current, self.recommended, self.desired)
        self.current.labels(namespace, name).set(current)
        self.recommended.labels(namespace, name).set(recommended)
        self.desired.labels(namespace, name).set(desired)

    def signal(self, namespace: str, name: str, signal: str, value: float | None) -> None:
        """Record a signal's value, or a failed read when value is None."""
        if value is None:
            self._track(namespace, name, self.signal_errors, extra=(signal,))
            self.signal_errors.labels(namespace, name, signal).inc()
        else:
            self._track(namespace, name, self.signal_value, extra=(signal,))
            self.signal_value.labels(namespace, name, signal).set(value)

    def scaled(self, namespace: str, name: str, before: int, after: int) -> None:
        """Count a replica change applied to a target."""
        direction = "up" if after > before else "down"
        self._track(namespace, name, self.scale_events, extra=(direction,))
        self.scale_events.labels(namespace, name, direction).inc()

    def forget(self, namespace: str, name: str) -> None:
        """Drop the series of a deleted RagAutoscaler."""
        for metric, extra in self._series.pop((namespace, name), set()):
            try:
                metric.remove(namespace, name, *extra)
            except KeyError:
                pass

    def retain(self, namespace: str, names: set[str]) -> None:
        """Drop the series of autoscalers in `namespace` that are no longer among `names`."""
        for ns, name in list(self._series):
            if ns == namespace and name not in names:
                self.forget(ns, name)

    def _track(self, namespace: str, name: str, *metrics: Any, extra: tuple[str, ...] = ()) -> None:
        seen = self._series.setdefault((namespace, name), set())
        for metric in metrics:
            seen.add((metric, extra))

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port in a daemon thread; returns the bound port."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return int(server.server_port)

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
