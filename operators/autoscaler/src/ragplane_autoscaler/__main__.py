"""`python -m ragplane_autoscaler`: settings -> logging -> kopf, until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

import kopf

from .handlers import build_registry
from .settings import Settings, SettingsError


def main() -> int:
    """Run the operator; returns the exit status."""
    try:
        settings = Settings.from_env()
    except SettingsError as e:
        print(f"ragplane-autoscaler: {e}", file=sys.stderr)
        return 2
    kopf.configure(log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN)
    kopf.run(
        registry=build_registry(settings),
        standalone=True,  # one replica, no peering objects: the chart runs a single pod with Recreate
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        liveness_endpoint=settings.liveness_endpoint or None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
