"""Settings of the gateway, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from ragplane.runtime.services import local_address, metrics_port_for
from ragplane.runtime.settings import (
    CommonSettings,
    SettingsError,
    env,
    in_range,
    load_settings,
    parse_csv,
    parse_hostport,
    positive,
)

DEFAULT_PORT = 8080


def _models(value: tuple[str, ...]) -> str | None:
    return None if value else "must name at least one model"


@dataclass(frozen=True)
class Settings(CommonSettings):
    listen: str = env(
        "RAGPLANE_GATEWAY_LISTEN",
        f"127.0.0.1:{DEFAULT_PORT}",
        parse=parse_hostport,
        doc="host:port the HTTP server binds (metrics: RAGPLANE_METRICS_LISTEN, default port 9180)",
    )
    orchestrator_addr: str = env(
        "RAGPLANE_ORCHESTRATOR_ADDR", local_address("orchestrator"), parse=parse_hostport, doc="orchestrator service"
    )
    ingest_addr: str = env("RAGPLANE_INGEST_ADDR", local_address("ingest"), parse=parse_hostport, doc="ingest service")
    models: tuple[str, ...] = env(
        "RAGPLANE_GATEWAY_MODELS",
        ("ragplane",),
        parse=parse_csv,
        check=_models,
        doc="model names /v1/models lists and /v1/chat/completions accepts (comma-separated); each is the whole "
        "RAG pipeline behind the orchestrator",
    )
    max_body_bytes: int = env(
        "RAGPLANE_GATEWAY_MAX_BODY_BYTES",
        1_048_576,
        check=positive,
        doc="largest request body of every route but uploads (413 beyond)",
    )
    max_upload_bytes: int = env(
        "RAGPLANE_GATEWAY_MAX_UPLOAD_BYTES",
        67_108_864,
        check=positive,
        doc="largest POST /v1/documents body, all files together (413 beyond); ingest applies its own "
        "per-document limit too",
    )
    ask_deadline_s: float = env(
        "RAGPLANE_GATEWAY_ASK_DEADLINE_S",
        600.0,
        check=in_range(0.1, 3600.0),
        doc="deadline of Ask and AskStream calls and of uploads (an answer generated on a CPU takes minutes on a "
        "busy machine; a large PDF takes a while to parse)",
    )
    call_deadline_s: float = env(
        "RAGPLANE_GATEWAY_CALL_DEADLINE_S",
        30.0,
        check=in_range(0.1, 3600.0),
        doc="deadline of the other gRPC calls (document status, lists, deletes, search, feedback)",
    )
    max_wait_s: float = env(
        "RAGPLANE_GATEWAY_MAX_WAIT_S",
        900.0,
        check=in_range(0.0, 86_400.0),
        doc="longest wait_timeout_s a POST /v1/documents?wait=true may ask for",
    )
    history_turns: int = env(
        "RAGPLANE_GATEWAY_HISTORY_TURNS",
        20,
        check=positive,
        doc="most earlier chat messages sent to the orchestrator as history, the most recent kept (OpenAI clients "
        "send the whole conversation); at most the orchestrator's RAGPLANE_MAX_HISTORY_TURNS",
    )
    history_chars: int = env(
        "RAGPLANE_GATEWAY_HISTORY_CHARS",
        8000,
        check=positive,
        doc="most characters of earlier chat messages sent as history, the most recent kept; at most the "
        "orchestrator's RAGPLANE_MAX_HISTORY_CHARS",
    )
    ready_timeout_s: float = env(
        "RAGPLANE_GATEWAY_READY_TIMEOUT_S",
        1.0,
        check=in_range(0.01, 60.0),
        doc="how long /readyz waits for each health check of the orchestrator and ingest",
    )

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def metrics_address(self) -> str:
        """RAGPLANE_METRICS_LISTEN, else loopback on 9100 + the last two digits of the HTTP port (9180)."""
        return self.metrics_listen or f"127.0.0.1:{metrics_port_for(self.port)}"


def load(environ=None, **overrides) -> Settings:
    """The gateway's settings from ``environ`` (default: the process's).

    Raises:
        SettingsError: naming the variable that is missing or invalid.
    """
    return load_settings(Settings, environ, **overrides)


__all__ = ["Settings", "SettingsError", "load"]
