"""A Qdrant server through qdrant-client (the production store).

Chunk points ("dense" cosine + "sparse" with the IDF modifier, payload indexes, tenant indexed with
``is_tenant``) are addressed through the alias ``<name>``, which points at a generation collection
``<name>_g<N>`` (layout, replication and the server version floor: ``qdrant_collections``); document and tenant
state points (vector-less) live in ``<name>_state``.
Hybrid search is one ``query_points`` call: a dense and a sparse prefetch fused by RRF in the server.

``location`` (":memory:" or a folder) runs qdrant-client's local mode instead of a server: a pure-Python
brute-force engine that ignores payload indexes. The contract tests use it because no Qdrant server binary
exists on the build machines; it exercises this class's code path, not a server's performance. The URL setting
names it as ``file:///abs/dir`` or ``:memory:`` (see ``local_location``); one process per folder (local mode
locks it).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ragplane.runtime.logs import get_logger
from ragplane_retrieve.model import (
    DENSE,
    SPARSE,
    VERSION_STATE,
    Condition,
    DocState,
    Hit,
    PointRecord,
    SearchQuery,
    TenantState,
    doc_state_id,
    tenant_state_id,
)
from ragplane_retrieve.store.base import (
    CHUNK_INDEXES,
    ChunkPosition,
    StoreError,
    StoreRejected,
    doc_conditions,
    doc_state_from,
    page_by_chunk_index,
    state_payload,
)
from ragplane_retrieve.store.qdrant_collections import (
    Replication,
    check_server_version,
    generation_metadata,
    generation_of,
    resolve_or_create,
)

log = get_logger(__name__)
# 4xx answers that may pass on a retry (timeout, conflict, rate limit); any other 4xx is the request's fault.
_RETRIABLE_4XX = frozenset({408, 409, 429})
MEMORY = ":memory:"
FILE_SCHEME = "file://"


def check_url(url: str) -> str | None:
    """None when ``url`` names a server (http:// or https://) or a local-mode location; else the error."""
    if url == MEMORY or url.startswith(("http://", "https://")):
        return None
    if url.startswith(FILE_SCHEME):
        path = url[len(FILE_SCHEME) :]
        return None if path.startswith("/") and path != "/" else f"file:// needs an absolute folder, got {url!r}"
    return f"expected http(s)://host:port, file:///absolute/folder or :memory:, got {url!r}"


def local_location(url: str) -> str | None:
    """The local-mode location a URL names (":memory:" or a folder), None for a server URL."""
    if url == MEMORY:
        return MEMORY
    if url.startswith(FILE_SCHEME):
        return url[len(FILE_SCHEME) :]
    return None


class QdrantServerStore:
    """The VectorStore on a Qdrant server (or qdrant-client's local mode).

    Chunks are read and written through the alias ``collection``; the collection behind it and its replication
    are laid out as ``qdrant_collections`` describes.

    Args:
        url: the server's URL (``http://host:6333``); ignored when ``location`` is given.
        api_key: the server's API key.
        collection: the alias chunks are addressed by; state lives in ``<collection>_state``.
        dimensions: dense vector width.
        metadata_indexes: extra payload indexes, {"metadata.key": type}.
        timeout_s: deadline of each request to the server.
        location: ":memory:" or a folder for qdrant-client's local mode (tests).
        replication: shards, replication and write consistency of new collections, and the writes' ordering.
    """

    backend = "qdrant"

    def __init__(
        self,
        url: str = "",
        api_key: str = "",
        collection: str = "ragplane_chunks",
        dimensions: int = 384,
        metadata_indexes: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        location: str | None = None,
        replication: Replication | None = None,
        ca_file: str = "",
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.ca_file = ca_file
        self.collection = collection
        self.state_collection = f"{collection}_state"
        self.dimensions = dimensions
        self.metadata_indexes = dict(metadata_indexes or {})
        self.timeout_s = timeout_s
        self.location = location
        self.replication = replication or Replication()
        # The collection behind the alias once open, its generation (0: a plain collection from before the
        # alias) and the server's version.
        self.generation_collection = ""
        self.generation = 0
        self.server_version = ""
        self._client: Any = None
        # Local mode is a plain-Python engine without locks of its own, so its calls take turns. A server's
        # client (httpx) is thread-safe: no lock there, or one slow upsert would stall every tenant's search.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if location is not None else contextlib.nullcontext()
        )

    def _call(self, what: str, fn):
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        if self._client is None:
            raise StoreError("qdrant store is not open")
        with self._lock:
            try:
                return fn(self._client)
            except UnexpectedResponse as exc:
                status = exc.status_code
                if status is not None and status < 500 and status not in _RETRIABLE_4XX:
                    raise StoreRejected(f"qdrant {what}: request rejected (HTTP {status})", str(exc)) from exc
                raise StoreError(f"qdrant {what}: unavailable (HTTP {status})", str(exc)) from exc
            except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
                raise StoreError(f"qdrant {what}: unreachable", f"{type(exc).__name__}: {exc}") from exc

    def _connect(self) -> Any:
        from qdrant_client import QdrantClient

        if self.location == MEMORY:
            return QdrantClient(location=MEMORY)
        if self.location is not None:
            return QdrantClient(path=self.location)
        # The client's own compatibility check is a warning from a background thread; open() refuses instead.
        # An https:// URL verifies the server against ca_file (the system CA store without one).
        tls = {"verify": ssl.create_default_context(cafile=self.ca_file)} if self.ca_file else {}
        return QdrantClient(
            url=self.url, api_key=self.api_key or None, timeout=int(self.timeout_s), check_compatibility=False, **tls
        )

    @property
    def _ordering(self) -> Any:
        from qdrant_client import models

        return models.WriteOrdering(self.replication.write_ordering)

    def open(self) -> None:
        """Connect, refuse a server older than MIN_SERVER_VERSION, then resolve (or create) the alias.

        Raises:
            StoreIncompatible: the server is too old (or hides its version): the service must not start.
            StoreError: the server cannot be reached.
        """
        from qdrant_client import models

        self._client = self._connect()
        where = self.url or f"local mode ({self.location})"
        self.server_version = check_server_version(self._read_version(), where)

        created: list[str] = []

        def create_generation(name: str) -> None:
            self.create_generation(name)
            created.append(name)

        self.generation_collection = resolve_or_create(self._call, self.collection, create_generation)
        self.generation = generation_of(self.collection, self.generation_collection)
        self._create_collection(
            self.state_collection, vectors_config={}, **self.replication.collection_params(shards=1)
        )
        # Idempotent: a collection made by an older release (or another replica) gets any index it lacks.
        indexes = [] if self.generation_collection in created else self._chunk_indexes(self.generation_collection)
        indexes += [
            (self.state_collection, name, models.PayloadSchemaType.KEYWORD) for name in ("kind", "tenant", "status")
        ]
        self._create_indexes(indexes)
        log.info(
            "qdrant store open",
            url=where,
            alias=self.collection,
            collection=self.generation_collection,
            generation=self.generation,
            server_version=self.server_version,
        )

    def create_generation(self, name: str) -> None:
        """Create the generation collection ``name`` complete: vectors, replication, its generation record and
        payload indexes. One that exists already (another replica's) only gets any index it lacks."""
        from qdrant_client import models

        self._create_collection(
            name,
            vectors_config={DENSE: models.VectorParams(size=self.dimensions, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata=generation_metadata(self.collection, generation_of(self.collection, name), self.dimensions),
            **self.replication.collection_params(),
        )
        self._create_indexes(self._chunk_indexes(name))

    def _read_version(self) -> str | None:
        """The server's version from ``GET /``; None when its answer has no version field."""
        from pydantic import ValidationError

        try:
            return self._call("read version", lambda c: c.info()).version
        except StoreError as exc:
            if isinstance(getattr(exc.__cause__, "source", None), ValidationError):
                return None  # it answered, without a version: refused as unreadable
            raise

    def _create_collection(self, name: str, **params: Any) -> None:
        """Create ``name`` unless it exists; a replica that created it meanwhile is no error."""
        if self._call("collection_exists", lambda c: c.collection_exists(name)):
            return
        try:
            self._call("create collection", lambda c: c.create_collection(name, **params))
        except (StoreError, ValueError):
            if not self._call("collection_exists", lambda c: c.collection_exists(name)):
                raise

    def _chunk_indexes(self, collection: str) -> list[tuple[str, str, Any]]:
        from qdrant_client import models

        schema = {
            "keyword": models.PayloadSchemaType.KEYWORD,
            "integer": models.PayloadSchemaType.INTEGER,
            "float": models.PayloadSchemaType.FLOAT,
            "bool": models.PayloadSchemaType.BOOL,
        }
        tenant = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
        return [(collection, "tenant", tenant)] + [
            (collection, name, schema[kind]) for name, kind in {**CHUNK_INDEXES, **self.metadata_indexes}.items()
        ]

    def _create_indexes(self, indexes: Sequence[tuple[str, str, Any]]) -> None:
        with warnings.catch_warnings():
            # Local mode warns that it ignores payload indexes; a server builds them.
            warnings.simplefilter("ignore", UserWarning)
            for collection, name, field_schema in indexes:
                self._call(
                    "create index",
                    lambda c, index=(collection, name, field_schema): c.create_payload_index(*index, wait=True),
                )

    def close(self) -> None:
        if self._client is not None:
            with self._lock:
                self._client.close()
                self._client = None

    # -- filters -------------------------------------------------------------------------------------

    @staticmethod
    def _condition(condition: Condition):
        from qdrant_client import models

        if condition.range is not None:
            r = condition.range
            return models.FieldCondition(key=condition.key, range=models.Range(gt=r.gt, gte=r.gte, lt=r.lt, lte=r.lte))
        if condition.any_of is not None:
            return models.FieldCondition(key=condition.key, match=models.MatchAny(any=list(condition.any_of)))
        return models.FieldCondition(key=condition.key, match=models.MatchValue(value=condition.equals))

    def _filter(self, tenant: str, conditions: Sequence[Condition] = ()):
        from qdrant_client import models

        must: list[Any] = [models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant))]
        must_not = []
        for condition in conditions:
            (must_not if condition.negate else must).append(self._condition(condition))
        return models.Filter(must=must, must_not=must_not or None)

    # -- chunks --------------------------------------------------------------------------------------

    def upsert(self, points: Sequence[PointRecord]) -> None:
        from qdrant_client import models

        if not points:
            return
        structs = [
            models.PointStruct(
                id=p.id,
                payload=p.payload,
                vector={
                    DENSE: p.dense,
                    SPARSE: models.SparseVector(indices=list(p.sparse.indices), values=list(p.sparse.values)),
                },
            )
            for p in points
        ]
        self._call("upsert", lambda c: c.upsert(self.collection, points=structs, wait=True, ordering=self._ordering))

    def delete(self, tenant: str, conditions: Sequence[Condition]) -> None:
        from qdrant_client import models

        selector = models.FilterSelector(filter=self._filter(tenant, conditions))
        self._call(
            "delete", lambda c: c.delete(self.collection, points_selector=selector, wait=True, ordering=self._ordering)
        )

    def promote(self, tenant: str, doc_id: str, sequence: int) -> None:
        from qdrant_client import models

        version = self._filter(tenant, [Condition("doc_id", equals=doc_id), Condition("sequence", equals=sequence)])
        # Old versions go first: a search in between (this replica's or another's) finds the document
        # missing for a moment, never two versions mixed.
        with self._lock:
            self.delete(
                tenant, [Condition("doc_id", equals=doc_id), Condition("sequence", equals=sequence, negate=True)]
            )
            self._call(
                "promote",
                lambda c: c.delete_payload(
                    self.collection,
                    keys=[VERSION_STATE],
                    points=models.FilterSelector(filter=version),
                    wait=True,
                    ordering=self._ordering,
                ),
            )

    def search(self, query: SearchQuery) -> list[Hit]:
        from qdrant_client import models

        flt = self._filter(query.tenant, query.conditions)
        idf = (
            models.SearchParams(idf=models.IdfCorpusParams(corpus=self._filter(query.tenant)))
            if query.tenant_idf
            else None
        )
        sparse = (
            models.SparseVector(indices=list(query.sparse.indices), values=list(query.sparse.values))
            if query.sparse
            else None
        )
        if query.mode == "dense":
            kwargs: dict[str, Any] = {
                "query": query.dense,
                "using": DENSE,
                "search_params": models.SearchParams(exact=True) if query.exact else None,
            }
        elif query.mode == "sparse":
            kwargs = {"query": sparse, "using": SPARSE, "search_params": idf}
        else:
            prefetch = [models.Prefetch(query=query.dense, using=DENSE, limit=query.prefetch_limit, filter=flt)]
            if sparse is not None:
                prefetch.append(
                    models.Prefetch(query=sparse, using=SPARSE, limit=query.prefetch_limit, filter=flt, params=idf)
                )
            kwargs = {"prefetch": prefetch, "query": models.RrfQuery(rrf=models.Rrf(k=query.rrf_k))}
        response = self._call(
            "query",
            lambda c: c.query_points(self.collection, query_filter=flt, limit=query.top_k, with_payload=True, **kwargs),
        )
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points]

    def scroll_doc(self, tenant: str, doc_id: str, limit: int, after: ChunkPosition | None = None) -> list[Hit]:
        from qdrant_client import models

        flt = self._filter(tenant, doc_conditions(doc_id, after))

        def fetch(n: int) -> list[Hit]:
            records, _ = self._call(
                "scroll",
                lambda c: c.scroll(
                    self.collection,
                    scroll_filter=flt,
                    limit=n,
                    order_by=models.OrderBy(key="chunk_index"),
                    with_payload=True,
                    with_vectors=False,
                ),
            )
            return [Hit(str(r.id), 0.0, dict(r.payload or {})) for r in records]

        return page_by_chunk_index(fetch, limit, after)

    def count(self, tenant: str, conditions: Sequence[Condition] = ()) -> int:
        flt = self._filter(tenant, conditions)
        return self._call("count", lambda c: c.count(self.collection, count_filter=flt, exact=True).count)

    # -- state ---------------------------------------------------------------------------------------

    def doc_states(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], DocState]:
        if not keys:
            return {}
        ids = [doc_state_id(t, d) for t, d in keys]
        records = self._call("retrieve", lambda c: c.retrieve(self.state_collection, ids=ids, with_payload=True))
        states = [doc_state_from(r.payload) for r in records if r.payload]
        return {(s.tenant, s.doc_id): s for s in states}

    def tenant_states(self, tenants: Sequence[str]) -> dict[str, TenantState]:
        ids = [tenant_state_id(t) for t in tenants]
        records = (
            self._call("retrieve", lambda c: c.retrieve(self.state_collection, ids=ids, with_payload=True))
            if ids
            else []
        )
        found = {
            r.payload["tenant"]: TenantState(r.payload["tenant"], int(r.payload.get("index_version", 0)))
            for r in records
            if r.payload
        }
        return {t: found.get(t, TenantState(t)) for t in tenants}

    def save_states(self, docs: Sequence[DocState], tenants: Sequence[TenantState]) -> None:
        from qdrant_client import models

        points = [
            models.PointStruct(id=doc_state_id(d.tenant, d.doc_id), vector={}, payload=state_payload(d)) for d in docs
        ]
        points += [
            models.PointStruct(
                id=tenant_state_id(t.tenant),
                vector={},
                payload={"kind": "tenant", "tenant": t.tenant, "index_version": t.index_version},
            )
            for t in tenants
        ]
        if points:
            self._call(
                "save state",
                lambda c: c.upsert(self.state_collection, points=points, wait=True, ordering=self._ordering),
            )

    def count_documents(self, tenant: str) -> int:
        from qdrant_client import models

        flt = models.Filter(
            must=[
                models.FieldCondition(key="kind", match=models.MatchValue(value="doc")),
                models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant)),
                models.FieldCondition(key="status", match=models.MatchValue(value="live")),
            ]
        )
        return self._call("count", lambda c: c.count(self.state_collection, count_filter=flt, exact=True).count)

    def unindexed_points(self) -> int:
        return 0  # the server's own optimizers build indexes in the background

    def optimize(self) -> bool:
        return False
