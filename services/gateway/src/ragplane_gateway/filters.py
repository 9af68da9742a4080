"""Metadata filters in JSON (chat completions' ``filters`` extension, search) and their proto form."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ragplane.v1 import common_pb2


class NumericRange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


class Filter(BaseModel):
    """One condition on a payload field: exactly one of ``equals``, ``any_of`` or ``range``.

    ``field`` addresses caller metadata as ``metadata.<key>`` and built-in fields by name (``doc_id``,
    ``source``, ``page``, ``chunk_index``, ``title``).
    """

    model_config = ConfigDict(extra="forbid")
    field: str = Field(min_length=1, examples=["metadata.lang"])
    equals: Any = Field(None, examples=["en"])
    any_of: list[Any] | None = None
    range: NumericRange | None = None
    negate: bool = False

    @model_validator(mode="after")
    def _one_condition(self) -> Filter:
        given = [name for name in ("equals", "any_of", "range") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"set exactly one of equals, any_of, range; got {', '.join(given) or 'none'}")
        return self


def to_proto(filters: list[Filter] | None) -> list[common_pb2.FieldFilter]:
    """The proto filters of JSON ones (``FieldFilter``; ``equals`` and ``any_of`` keep their JSON types)."""
    out = []
    for item in filters or ():
        message = {"field": item.field, "negate": item.negate}
        if item.equals is not None:
            message["equals"] = item.equals
        elif item.any_of is not None:
            message["any_of"] = item.any_of
        else:
            assert item.range is not None
            message["range"] = item.range.model_dump(exclude_none=True)
        out.append(json_format.ParseDict(message, common_pb2.FieldFilter()))
    return out
