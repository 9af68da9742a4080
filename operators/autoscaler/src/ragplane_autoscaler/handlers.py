"""kopf handlers: thin wrappers around reconcile.py, registered into a registry built from the settings.

The registry is built by a function (not at import) so the timer interval comes from the settings, and so every
operator run (including a restart inside one test process) starts from nothing but what the API server holds.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from . import kube
from .kube import Kube, KubeError
from .metrics import OperatorMetrics
from .reconcile import Context, reconcile
from .settings import Settings
from .signals import SignalReader
from .spec import GROUP, PLURAL, VERSION

log = logging.getLogger(__name__)


def build_registry(app: Settings) -> kopf.OperatorRegistry:
    """Register the operator's handlers for the given settings.

    Args:
        app: the operator's settings.

    Returns:
        A registry to pass to `kopf.run(registry=...)` or `KopfRunner(..., registry=...)`.
    """
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: Any, **_: Any) -> None:
        """Apply kopf's settings and build the clients, all in one place."""
        client = Kube.from_configuration(kube.load_configuration(app.kubeconfig))
        settings.persistence.finalizer = app.finalizer
        # Resources and namespaces are resolved once at start: no RBAC needed to watch CRDs or namespaces.
        settings.scanning.disabled = True
        settings.posting.enabled = memo.post_events = await _post_events(app, client)
        settings.posting.level = logging.INFO
        metrics = OperatorMetrics()
        if app.metrics_port:
            port = metrics.serve(app.metrics_host, app.metrics_port)
            logger.info(f"metrics on http://{app.metrics_host}:{port}/metrics")
        memo.ctx = Context(
            kube=client,
            signals=SignalReader(app.signal_timeout_s, kafka_settings=app.kafka),
            metrics=metrics,
            settings=app,
        )
        logger.info(
            f"reconciling every {app.interval_s:g}s; GPU pools {dict(app.gpu_pools) or 'none'};"
            f" events {'on' if settings.posting.enabled else 'off'}"
        )

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """Log kopf in with the same credentials as the operator's own client."""
        if not app.kubeconfig:
            info = kopf.login_with_service_account(**kwargs)
            if info is not None:
                return info
        return kube.connection_info(kube.load_configuration(app.kubeconfig))

    @kopf.on.cleanup(registry=registry)
    async def close(memo: kopf.Memo, **_: Any) -> None:
        ctx: Context | None = getattr(memo, "ctx", None)
        if ctx is not None:
            ctx.metrics.stop()
            ctx.signals.close()
            ctx.kube.close()

    @kopf.timer(
        GROUP,
        VERSION,
        PLURAL,
        interval=app.interval_s,
        timeout=max(30.0, 4 * app.signal_timeout_s),
        registry=registry,
    )
    async def autoscale(name: str, namespace: str, body: kopf.Body, memo: kopf.Memo, logger: Any, **_: Any) -> None:
        """Reconcile one RagAutoscaler; its state lives in `.status`, written by reconcile()."""
        try:
            outcome = await reconcile(memo.ctx, namespace, name, logger)
        except KubeError as e:
            raise kopf.TemporaryError(str(e), delay=app.interval_s) from e
        log.debug("%s/%s: %s", namespace, name, outcome)
        # Kubernetes Events only for what a person wants in `kubectl describe`: applied changes and new refusals.
        # Checked here because kopf.warn() enqueues even with posting disabled (kopf 1.45).
        if not memo.post_events:
            return
        if outcome.kind == "scaled":
            kopf.info(body, reason="Scaled", message=outcome.reason)
        elif outcome.notify:
            kopf.warn(body, reason="Refused", message=outcome.reason)

    return registry


async def _post_events(app: Settings, client: Kube) -> bool:
    """Post Kubernetes Events only where the API serves them (the CRD-only test server does not)."""
    if app.post_events == "auto":
        try:
            return await client.has_events_api()
        except KubeError:
            return False
    return app.post_events == "true"
