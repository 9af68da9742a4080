"""Child process of an offline optimize: ``python -m ragplane_retrieve.store.edge_optimize SHARD_DIR``.

Loads the shard copy, builds its indexes (holding this process's GIL, not the service's), flushes, exits 0.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    import qdrant_edge as qe

    if len(argv) != 1:
        print("usage: python -m ragplane_retrieve.store.edge_optimize SHARD_DIR", file=sys.stderr)
        return 2
    started = time.monotonic()
    shard = qe.EdgeShard.load(argv[0])
    changed = shard.optimize()
    info = shard.info()
    shard.flush()
    shard.close()
    print(
        json.dumps(
            {
                "changed": changed,
                "points": info.points_count,
                "indexed": info.indexed_vectors_count,
                "seconds": round(time.monotonic() - started, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
