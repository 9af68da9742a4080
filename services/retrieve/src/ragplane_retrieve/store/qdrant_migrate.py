"""Move a plain chunk collection from before the alias behind it: ``python -m ragplane_retrieve.store.qdrant_migrate``.

An earlier release kept its chunks in a plain collection named like today's alias (``ragplane_chunks``); the
store serves it as generation 0. This copies every point (vectors and payload) into ``<alias>_g1``, created as
any generation is (replication, generation record, payload indexes), checks the counts match, deletes the plain
collection and creates the alias to ``<alias>_g1``. It reads the retrieve service's own settings.

Run it with every retrieve replica stopped (``kubectl scale deploy/<release>-ragplane-retrieve --replicas=0``):
a write during the copy could be missed, and between the delete and the alias (one round trip) the name resolves
to nothing. The copy runs at the server's scroll + upsert speed; for a large index, rebuilding into a new
generation through the pipeline (issue 17) avoids the stop.
"""

from __future__ import annotations

import sys
from typing import Any

from ragplane.runtime.logs import get_logger
from ragplane_retrieve.store.base import StoreError
from ragplane_retrieve.store.qdrant_collections import generation_name
from ragplane_retrieve.store.qdrant_server import QdrantServerStore

log = get_logger(__name__)


def migrate_to_alias(store: QdrantServerStore, batch: int = 256) -> int:
    """Copy an open store's generation-0 collection into generation 1 and put the alias on it.

    Returns:
        the number of points copied (0 when the store is already behind an alias).

    Raises:
        StoreError: a copy whose counts differ (nothing is deleted then), or a failed call.
    """
    from qdrant_client import models

    if store.generation_collection != store.collection:
        return 0  # the name is an alias already
    plain, target = store.collection, generation_name(store.collection, 1)
    store.create_generation(target)
    copied = 0
    offset: Any = None
    while True:
        records, offset = store._call(
            "scroll",
            lambda c, at=offset: c.scroll(plain, limit=batch, offset=at, with_payload=True, with_vectors=True),
        )
        if records:
            points = [models.PointStruct(id=r.id, vector=r.vector, payload=r.payload) for r in records]
            store._call("upsert", lambda c, p=points: c.upsert(target, points=p, wait=True))
            copied += len(records)
        if offset is None:
            break
    counts = [store._call("count", lambda c, n=name: c.count(n, exact=True).count) for name in (plain, target)]
    if counts[0] != counts[1]:
        raise StoreError(f"qdrant migration: {plain} has {counts[0]} points but {target} {counts[1]}; nothing deleted")
    store._call("delete collection", lambda c: c.delete_collection(plain))
    action = models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=target, alias_name=plain))
    store._call("create alias", lambda c: c.update_collection_aliases(change_aliases_operations=[action]))
    store.generation_collection, store.generation = target, 1
    log.info("qdrant collection moved behind its alias", alias=plain, collection=target, points=copied)
    return copied


def main() -> int:
    from ragplane_retrieve.app import build_store
    from ragplane_retrieve.config import load

    settings = load()
    store = build_store(settings)
    if not isinstance(store, QdrantServerStore):
        print("RAGPLANE_RETRIEVE_STORE is not qdrant: nothing to migrate", file=sys.stderr)
        return 2
    store.open()
    plain = store.generation_collection == store.collection
    try:
        copied = migrate_to_alias(store)
    finally:
        store.close()
    where = f"{store.collection} -> {store.generation_collection}"
    print(f"moved {copied} points behind the alias ({where})" if plain else f"already behind the alias ({where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
