"""How the Qdrant server store lays out its collections: the alias, its generations, replication, the version floor.

Chunks are read and written through an alias, ``<alias>`` (RAGPLANE_QDRANT_COLLECTION), that points at one
generation collection, ``<alias>_g<N>``. The first start creates ``<alias>_g1`` with its payload indexes and only
then the alias, in one alias action: a reader of the alias never sees a half-built collection, and replicas
starting together agree (the loser of a race finds the winner's alias). Each generation records itself in the
collection's metadata (``ragplane``: alias, generation, created_at, dense size): the re-embedding work (issue 17)
adds generation N+1 beside N and flips the alias.

A deployment from before the alias has a plain collection named like the alias. It is served as it is, as
generation 0 (no copy at start: that would stall every replica on a large index); a warning names the command
that moves it behind the alias with retrieve stopped (``qdrant_migrate``).

Document and tenant state (``<alias>_state``) is one plain collection shared by all generations: index versions
must outlive a cutover.

Replication (server only; qdrant-client's local mode ignores all of it): shard_number (0: the server's default,
one shard per node at creation), replication_factor (default 2: a node can be lost without losing data or
reads), write_consistency_factor (default 1: writes keep succeeding while one replica of a shard is down; the
server marks the lagging replica dead and resynchronises it before it serves again) and on_disk_payload (chunk
text stays on disk; the payload indexes that filters use stay in memory). Writes use the ``medium`` ordering
by default: they go through a shard's dynamically chosen leader, so every replica applies the index writer's
delete-then-promote sequence in the same order (``weak`` may reorder them on a replica; ``strong`` stops all
writes while the fixed leader's node is down).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ragplane.runtime.errors import FailedPrecondition
from ragplane.runtime.logs import get_logger

log = get_logger(__name__)

# The oldest Qdrant server the store works with, and what sets it: sparse vectors with the IDF modifier (1.10),
# keyword indexes with is_tenant (1.11), RRF with a chosen k and collection metadata (1.16), and per-tenant IDF
# statistics, SearchParams.idf with a corpus filter (1.19: the newest feature the store uses).
MIN_SERVER_VERSION = (1, 19, 0)
MIN_SERVER_REASON = "per-tenant IDF statistics (search_params.idf.corpus) need Qdrant 1.19"
WRITE_ORDERINGS = ("weak", "medium", "strong")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


class StoreIncompatible(FailedPrecondition):
    """The Qdrant server cannot serve this store (too old, unreadable version): retrying will not help."""


@dataclass(frozen=True)
class Replication:
    """How generation collections are distributed over a Qdrant cluster (see the module docstring)."""

    shards: int = 0
    replication_factor: int = 2
    write_consistency: int = 1
    on_disk_payload: bool = True
    write_ordering: str = "medium"

    def __post_init__(self) -> None:
        if self.shards < 0:
            raise ValueError(f"shards must be >= 0 (0: the server's default), but got {self.shards}")
        if self.replication_factor < 1:
            raise ValueError(f"replication_factor must be >= 1, but got {self.replication_factor}")
        if not 1 <= self.write_consistency <= self.replication_factor:
            raise ValueError(
                f"write_consistency must be between 1 and replication_factor ({self.replication_factor}), "
                f"but got {self.write_consistency}"
            )
        if self.write_ordering not in WRITE_ORDERINGS:
            raise ValueError(f"write_ordering must be one of {', '.join(WRITE_ORDERINGS)}, got {self.write_ordering!r}")

    def collection_params(self, *, shards: int | None = None, on_disk_payload: bool | None = None) -> dict[str, Any]:
        """create_collection keyword arguments (shards 0: left to the server)."""
        count = self.shards if shards is None else shards
        return {
            "shard_number": count or None,
            "replication_factor": self.replication_factor,
            "write_consistency_factor": self.write_consistency,
            "on_disk_payload": self.on_disk_payload if on_disk_payload is None else on_disk_payload,
        }


def parse_version(version: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(version.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def check_server_version(version: str | None, where: str) -> str:
    """``version`` when the server is new enough.

    Raises:
        StoreIncompatible: naming the server, its version and the minimum, when older or unreadable.
    """
    minimum = ".".join(map(str, MIN_SERVER_VERSION))
    parsed = parse_version(version or "")
    if parsed is None:
        raise StoreIncompatible(
            f"qdrant at {where} did not report a readable version ({version!r}); ragplane needs Qdrant >= {minimum}"
        )
    if parsed < MIN_SERVER_VERSION:
        raise StoreIncompatible(
            f"qdrant at {where} is version {version}, older than the {minimum} ragplane needs "
            f"({MIN_SERVER_REASON}): upgrade the Qdrant server (infra/qdrant pins a matching version)"
        )
    return str(version)


def generation_name(alias: str, generation: int) -> str:
    """The collection of generation ``generation`` behind ``alias``: ``<alias>_g<N>``."""
    return f"{alias}_g{generation}"


def generation_of(alias: str, collection: str) -> int:
    """The generation number of a collection behind ``alias``: N of ``<alias>_g<N>``, else 0 (the plain
    collection of an old deployment, or a collection named some other way)."""
    prefix = f"{alias}_g"
    number = collection[len(prefix) :] if collection.startswith(prefix) else ""
    return int(number) if number.isdigit() else 0


def generation_metadata(alias: str, generation: int, dimensions: int) -> dict[str, Any]:
    return {
        "ragplane": {
            "alias": alias,
            "generation": generation,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dense": {"size": dimensions, "distance": "cosine"},
            "sparse": {"modifier": "idf"},
        }
    }


Call = Callable[[str, Callable[[Any], Any]], Any]


def alias_target(call: Call, alias: str) -> str | None:
    """The collection ``alias`` points at, None when there is no such alias."""
    aliases = call("get aliases", lambda c: c.get_aliases().aliases)
    return next((a.collection_name for a in aliases if a.alias_name == alias), None)


def resolve_or_create(call: Call, alias: str, create: Callable[[str], None]) -> str:
    """The collection behind ``alias``, creating generation 1 and the alias on the first start.

    Args:
        call: the store's error-mapping call wrapper.
        create: builds a complete generation collection (vectors, payload indexes) under a name; it must
            tolerate a collection that a replica starting at the same time already created.
    """
    from qdrant_client import models

    target = alias_target(call, alias)
    if target is not None:
        return target
    if call("collection_exists", lambda c: c.collection_exists(alias)):
        # The name resolves to an alias too: another replica may have just created it.
        target = alias_target(call, alias)
        if target is not None:
            return target
        log.warning(
            "qdrant collection without an alias: serving it as generation 0",
            collection=alias,
            migrate="with retrieve stopped: python -m ragplane_retrieve.store.qdrant_migrate",
        )
        return alias
    first = generation_name(alias, 1)
    create(first)
    action = models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=first, alias_name=alias))
    try:
        call("create alias", lambda c: c.update_collection_aliases(change_aliases_operations=[action]))
    except Exception:
        # Another replica may have created it first: its alias is as good as ours.
        target = alias_target(call, alias)
        if target is None:
            raise
        return target
    log.info("qdrant alias created", alias=alias, collection=first)
    return first


def switch_alias(call: Call, alias: str, collection: str) -> None:
    """Point ``alias`` at ``collection`` in one alias request: the server applies the delete and the create
    together, so a reader of the alias sees the old generation or the new one, never no collection."""
    from qdrant_client import models

    actions = [
        models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)),
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)),
    ]
    call("switch alias", lambda c: c.update_collection_aliases(change_aliases_operations=actions))
    log.info("qdrant alias switched", alias=alias, collection=collection)
