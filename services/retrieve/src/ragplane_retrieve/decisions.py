"""Pure decisions of the index writer: what one event does given the document's stored state.

Rules (per (tenant, doc_id); ``S`` is the event's sequence, ``state`` the stored newest one):
- UPSERT, no state or S > state.sequence: apply (a newer version).
- UPSERT, S == state.sequence, not deleted: apply while the version is incomplete (another batch of it,
  or a replay of one: same ids, same payload); a DUPLICATE once it is complete (nothing to write).
- UPSERT, S < state.sequence, or S == state.sequence of a deletion: STALE (a newer version or a
  deletion wins; the event is skipped).
- DELETE, no state or S >= state.sequence: apply (removes every point with sequence <= S), unless the
  state is already that same deletion: DUPLICATE.
- DELETE, S < state.sequence: STALE (the document was re-ingested after that deletion).
"""

from __future__ import annotations

import enum
import time

from ragplane_retrieve.model import DocState


class Action(enum.Enum):
    APPLY_UPSERT = "apply_upsert"
    APPLY_DELETE = "apply_delete"
    STALE = "stale"
    DUPLICATE = "duplicate"


def decide(state: DocState | None, delete: bool, sequence: int) -> Action:
    """What an UPSERT (``delete`` False) or DELETE event with ``sequence`` does to a document in ``state``."""
    if delete:
        if state is None or sequence > state.sequence:
            return Action.APPLY_DELETE
        if sequence == state.sequence:
            return Action.DUPLICATE if state.deleted else Action.APPLY_DELETE
        return Action.STALE
    if state is None or sequence > state.sequence:
        return Action.APPLY_UPSERT
    if sequence == state.sequence and not state.deleted:
        return Action.DUPLICATE if state.complete else Action.APPLY_UPSERT
    return Action.STALE


def stale_reason(state: DocState) -> str:
    what = "a deletion" if state.deleted else "a version"
    return f"{what} with sequence {state.sequence} is already indexed"


def next_index_version(current: int, now_us: int | None = None) -> int:
    """The tenant's next index version: ``max(current + 1, now in microseconds)``.

    It grows on every change; taking the clock as a floor keeps it growing even when two writers (replicas
    against one Qdrant server) race on the same tenant record and one update is lost.
    """
    now_us = int(time.time() * 1_000_000) if now_us is None else now_us
    return max(current + 1, now_us)
