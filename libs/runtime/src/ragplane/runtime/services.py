"""The one table of ragplane's services: names, default ports, entry modules, protocols and who calls whom.

``SERVICES`` are the eight gRPC services; ``GATEWAY`` is the HTTP edge in front of two of them; ``DEPLOYABLES``
lists all nine. The local stack, the servers' default listen addresses, the peers' default addresses, the
configuration reference, the chart tests and the README's port table all read this table (tests check the chart's
rendered ports and the README against it).
"""

from __future__ import annotations

from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
METRICS_PORT_BASE = 9100


@dataclass(frozen=True)
class ServiceSpec:
    """One deployable.

    Attributes:
        name: the one name used for the folder, image, Helm key and label.
        port: default port of its API (loopback in the local stack, the container port in the chart).
        module: what ``python -m`` runs.
        calls: the services it calls over gRPC. For the gRPC services these are internal calls with the service
            token (the NetworkPolicies allow exactly these callers); the gateway calls as a client, with its own
            callers' API keys, on the services' client port.
        owns: one line for the README's table.
        public: clients call it with API keys; the others are internal and accept only the service token.
        protocol: ``grpc`` (grpc.health.v1 on ``port``) or ``http`` (GET /healthz: alive, /readyz: ready).
        listen_env: the setting that holds its listen address (host:port).
    """

    name: str
    port: int
    module: str
    calls: tuple[str, ...] = ()
    owns: str = ""
    public: bool = False
    protocol: str = "grpc"
    listen_env: str = "RAGPLANE_GRPC_LISTEN"

    @property
    def metrics_port(self) -> int:
        """Default Prometheus port: 9100 plus the last two digits of the API port."""
        return metrics_port_for(self.port)

    @property
    def local_address(self) -> str:
        return f"{LOOPBACK}:{self.port}"


def metrics_port_for(grpc_port: int) -> int:
    return METRICS_PORT_BASE + grpc_port % 100


# The eight services in port order, then the CPU model server (Triton in clusters).
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "orchestrator",
        50051,
        "ragplane_orchestrator",
        ("guardrail", "embed", "retrieve", "rerank", "generate"),
        "the query path, caches, sessions, rate limits",
        public=True,
    ),
    ServiceSpec(
        "ingest",
        50052,
        "ragplane_ingest",
        ("guardrail",),
        "documents, parsing, chunking, versions, document status",
        public=True,
    ),
    ServiceSpec(
        "embed", 50053, "ragplane_embed", (), "the embedding models (dense + sparse); the chunks -> vectors workers"
    ),
    ServiceSpec(
        "retrieve", 50054, "ragplane_retrieve", (), "the vector index: hybrid search and the only writer of Qdrant"
    ),
    ServiceSpec("rerank", 50055, "ragplane_rerank", (), "reranking models"),
    ServiceSpec(
        "generate", 50056, "ragplane_generate", ("modelserver",), "prompt assembly and the LLM client (v2 protocol)"
    ),
    ServiceSpec("guardrail", 50057, "ragplane_guardrail", (), "input, output and document policies"),
    ServiceSpec(
        "eval",
        50058,
        "ragplane_eval",
        ("orchestrator", "ingest", "embed", "retrieve"),
        "offline evaluation runs and online sampled scoring",
        public=True,
    ),
)
# The HTTP edge: OpenAI-compatible chat completions and REST, calling the orchestrator and ingest as a client.
GATEWAY = ServiceSpec(
    "gateway",
    8080,
    "ragplane_gateway",
    ("orchestrator", "ingest"),
    "the HTTP edge: OpenAI-compatible chat completions, REST for documents and search",
    public=True,
    protocol="http",
    listen_env="RAGPLANE_GATEWAY_LISTEN",
)
MODEL_SERVER = ServiceSpec(
    "modelserver",
    50070,
    "ragplane_generate.modelserver",
    (),
    "CPU LLM behind the v2 protocol (local default; Triton in clusters)",
)

SERVICE_NAMES: tuple[str, ...] = tuple(spec.name for spec in SERVICES)
# Everything the chart and the local stack run as a service of ragplane: the gRPC services, then the gateway.
DEPLOYABLES: tuple[ServiceSpec, ...] = (*SERVICES, GATEWAY)
DEPLOYABLE_NAMES: tuple[str, ...] = tuple(spec.name for spec in DEPLOYABLES)
_BY_NAME = {spec.name: spec for spec in (*DEPLOYABLES, MODEL_SERVER)}
DEFAULT_PORTS: dict[str, int] = {name: spec.port for name, spec in _BY_NAME.items()}


def spec(name: str) -> ServiceSpec:
    """The entry for ``name`` (a service or ``modelserver``).

    Raises:
        KeyError: naming the unknown service and the known ones.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown service {name!r}; known: {', '.join(_BY_NAME)}") from None


def local_address(name: str) -> str:
    """``127.0.0.1:<default port>`` of a service: the local stack's default peer address."""
    return spec(name).local_address


def is_internal(name: str) -> bool:
    """Whether ``name`` is one of the services no client calls (a name outside the table is not)."""
    found = _BY_NAME.get(name)
    return found is not None and not found.public


def callers(name: str) -> frozenset[str]:
    """The gRPC services that call ``name`` internally (with the service token); the gateway is a client."""
    return frozenset(s.name for s in SERVICES if name in s.calls)


def start_order() -> tuple[str, ...]:
    """The deployables (the eight gRPC services and the gateway) ordered so that each starts after the services
    it calls."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered or name not in DEPLOYABLE_NAMES:
            return
        for peer in spec(name).calls:
            visit(peer)
        ordered.append(name)

    for name in DEPLOYABLE_NAMES:
        visit(name)
    return tuple(ordered)
