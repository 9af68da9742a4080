"""Settings of the retrieve service, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ragplane.runtime.kafka import TOPIC_INDEXED, TOPIC_VECTORS
from ragplane.runtime.settings import CommonSettings, env, in_range, load_settings, non_negative, one_of, positive
from ragplane_retrieve.store.base import parse_metadata_indexes
from ragplane_retrieve.store.qdrant_collections import WRITE_ORDERINGS
from ragplane_retrieve.store.qdrant_server import check_url


def _metadata_indexes(raw: str) -> str:
    parse_metadata_indexes(raw)
    return raw


@dataclass(frozen=True)
class Settings(CommonSettings):
    store: str = env(
        "RAGPLANE_RETRIEVE_STORE",
        "edge",
        check=one_of("edge", "qdrant"),
        doc="'edge' (qdrant-edge in process, local default) or 'qdrant' (a Qdrant server)",
    )
    data_dir: str = env("RAGPLANE_DATA_DIR", "./data", doc="the local stack's data folder")
    edge_path: str = env(
        "RAGPLANE_RETRIEVE_EDGE_PATH",
        "",
        doc="store directory of the embedded engine, one process per directory (default: $RAGPLANE_DATA_DIR/retrieve)",
    )
    qdrant_url: str = env(
        "RAGPLANE_QDRANT_URL",
        "http://127.0.0.1:6333",
        check=check_url,
        doc="Qdrant server URL (http:// or https://), or qdrant-client's local mode: file:///absolute/folder "
        "(one process per folder) or :memory: (tests and the boot test; no shards or replication there)",
    )
    qdrant_api_key: str = env("RAGPLANE_QDRANT_API_KEY", "", doc="Qdrant API key")
    qdrant_ca_file: str = env(
        "RAGPLANE_QDRANT_CA_FILE",
        "",
        doc="CA bundle that verifies an https:// RAGPLANE_QDRANT_URL (empty: the system CA store)",
    )
    qdrant_collection: str = env(
        "RAGPLANE_QDRANT_COLLECTION",
        "ragplane_chunks",
        doc="alias the chunks are addressed by (collections <name>_g<N> behind it; state in <name>_state)",
    )
    qdrant_shards: int = env(
        "RAGPLANE_QDRANT_SHARDS",
        0,
        check=non_negative,
        doc="shards of a new chunk collection (0: the server's default, one per node); server only",
    )
    qdrant_replication_factor: int = env(
        "RAGPLANE_QDRANT_REPLICATION_FACTOR",
        2,
        check=positive,
        doc="copies of each shard of a new collection (2: one node can be lost); server only",
    )
    qdrant_write_consistency: int = env(
        "RAGPLANE_QDRANT_WRITE_CONSISTENCY",
        1,
        check=positive,
        doc="replicas that must confirm a write, at most the replication factor (1: writes go on while a "
        "replica is down; it is resynchronised before serving)",
    )
    qdrant_on_disk_payload: bool = env(
        "RAGPLANE_QDRANT_ON_DISK_PAYLOAD",
        True,
        doc="keep the chunks' payload (text, provenance) on disk; payload indexes stay in memory",
    )
    qdrant_write_ordering: str = env(
        "RAGPLANE_QDRANT_WRITE_ORDERING",
        "medium",
        check=one_of(*WRITE_ORDERINGS),
        doc="ordering of writes across replicas: 'medium' (through a shard's elected leader: replicas apply "
        "the writer's delete-then-promote in one order), 'strong' (fixed leader, no writes while it is down), "
        "'weak' (may reorder)",
    )
    qdrant_timeout_s: float = env(
        "RAGPLANE_QDRANT_TIMEOUT_S", 10.0, check=positive, doc="deadline of each Qdrant request"
    )
    dimensions: int = env("RAGPLANE_RETRIEVE_DIMENSIONS", 384, check=positive, doc="dense vector width")
    metadata_indexes: str = env(
        "RAGPLANE_RETRIEVE_METADATA_INDEXES",
        "",
        parse=_metadata_indexes,
        doc="payload indexes on caller metadata: 'key:keyword,year:integer'",
    )
    tenant_idf: bool = env(
        "RAGPLANE_RETRIEVE_TENANT_IDF", True, doc="sparse IDF over the caller's tenant only (else over the whole index)"
    )
    serve_unscanned: bool = env(
        "RAGPLANE_RETRIEVE_SERVE_UNSCANNED",
        False,
        doc="serve chunks flagged 'unscanned' (no document scan could check them); "
        "false: searches skip them until a rescan (true only where no guardrail scans documents)",
    )
    hnsw_m: int = env("RAGPLANE_RETRIEVE_HNSW_M", 16, check=positive, doc="HNSW graph degree (edge)")
    hnsw_ef_construct: int = env(
        "RAGPLANE_RETRIEVE_HNSW_EF_CONSTRUCT", 100, check=positive, doc="HNSW build beam width (edge)"
    )
    search_ef: int = env(
        "RAGPLANE_RETRIEVE_SEARCH_EF", 0, check=non_negative, doc="HNSW search beam width (0: the engine's default)"
    )
    default_top_k: int = env(
        "RAGPLANE_RETRIEVE_TOP_K", 20, check=in_range(1, 200), doc="results when a request leaves top_k at 0"
    )
    default_rrf_k: int = env(
        "RAGPLANE_RETRIEVE_RRF_K",
        60,
        check=positive,
        doc="reciprocal rank fusion constant when a request leaves rrf_k at 0",
    )
    min_prefetch: int = env(
        "RAGPLANE_RETRIEVE_MIN_PREFETCH",
        50,
        check=positive,
        doc="candidates per list before fusion when a request leaves it at 0: max(this, top_k)",
    )
    writer_enabled: bool = env("RAGPLANE_RETRIEVE_WRITER", True, doc="run the index writer (vectors consumer)")
    vectors_topic: str = env("RAGPLANE_RETRIEVE_VECTORS_TOPIC", TOPIC_VECTORS, doc="topic consumed")
    indexed_topic: str = env("RAGPLANE_RETRIEVE_INDEXED_TOPIC", TOPIC_INDEXED, doc="topic produced")
    writer_group: str = env("RAGPLANE_RETRIEVE_GROUP", "ragplane-index-writer", doc="consumer group")
    writer_batch_records: int = env(
        "RAGPLANE_RETRIEVE_BATCH_RECORDS", 64, check=positive, doc="most VectorsEvents applied together"
    )
    writer_batch_wait_s: float = env(
        "RAGPLANE_RETRIEVE_BATCH_WAIT_S",
        0.1,
        check=non_negative,
        doc="longest wait for more records after the first one",
    )
    upsert_batch: int = env(
        "RAGPLANE_RETRIEVE_UPSERT_BATCH",
        32,
        check=positive,
        doc="points per store upsert call (the embedded engine holds the GIL ~130 us per point)",
    )
    writer_yield_s: float = env(
        "RAGPLANE_RETRIEVE_WRITER_YIELD_S",
        0.05,
        check=non_negative,
        doc="longest a write call waits for in-flight searches to finish (read priority)",
    )
    optimize_mode: str = env(
        "RAGPLANE_RETRIEVE_OPTIMIZE",
        "auto",
        check=one_of("auto", "off"),
        doc="edge: 'auto' optimizes off-process when the policy says so; 'off' never",
    )
    optimize_threshold: int = env(
        "RAGPLANE_RETRIEVE_OPTIMIZE_THRESHOLD",
        20_000,
        check=positive,
        doc="edge: unindexed points that make an optimize due",
    )
    optimize_idle_s: float = env(
        "RAGPLANE_RETRIEVE_OPTIMIZE_IDLE_S",
        30.0,
        check=non_negative,
        doc="edge: seconds without writes before an optimize may start",
    )
    optimize_check_s: float = env(
        "RAGPLANE_RETRIEVE_OPTIMIZE_CHECK_S", 10.0, check=positive, doc="edge: how often the optimize policy looks"
    )
    optimize_timeout_s: float = env(
        "RAGPLANE_RETRIEVE_OPTIMIZE_TIMEOUT_S",
        3600.0,
        check=positive,
        doc="edge: an offline optimize running longer is abandoned",
    )

    def __post_init__(self) -> None:
        from ragplane.runtime.settings import SettingsError

        if self.qdrant_write_consistency > self.qdrant_replication_factor:
            raise SettingsError(
                f"RAGPLANE_QDRANT_WRITE_CONSISTENCY: must be at most RAGPLANE_QDRANT_REPLICATION_FACTOR "
                f"({self.qdrant_replication_factor}), but got {self.qdrant_write_consistency}"
            )

    @property
    def store_path(self) -> str:
        return self.edge_path or str(Path(self.data_dir) / "retrieve")


def load() -> Settings:
    return load_settings(Settings)
