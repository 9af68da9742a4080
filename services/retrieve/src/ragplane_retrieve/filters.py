"""Validation of the Search RPC's metadata filters and their translation into store conditions.

Filterable fields: ``doc_id``, ``source``, ``title`` (strings), ``page``, ``chunk_index`` (integers) and the
caller's metadata as ``metadata.<key>``. Each filter has exactly one of ``equals``, ``any_of`` or ``range``
and may be negated. The tenant is never a filter: it is added by the store from the caller's identity.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from google.protobuf import struct_pb2

from ragplane.runtime.errors import InvalidArgument
from ragplane.v1 import common_pb2
from ragplane_retrieve.model import SERVED, Condition, Range, Scalar

STRING_FIELDS = frozenset({"doc_id", "source", "title"})
INTEGER_FIELDS = frozenset({"page", "chunk_index"})
METADATA_PREFIX = "metadata."
# Matched with fullmatch: "$" alone would also accept a key followed by a newline.
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_FILTERS = 32
MAX_ANY_OF = 256
# The flag of chunks that no document scan has checked (see ingest's scanning module).
UNSCANNED = "unscanned"


def _scalar(value: struct_pb2.Value, where: str) -> Scalar:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise InvalidArgument(where, f"must be a finite number, but got {number}")
        return int(number) if number.is_integer() else number
    raise InvalidArgument(where, f"must be a string, number or boolean, but got {kind or 'nothing'}")


def _check_type(field: str, value: Scalar, where: str) -> None:
    if field in STRING_FIELDS and not isinstance(value, str):
        raise InvalidArgument(where, f"{field} is a string field, but got {value!r}")
    if field in INTEGER_FIELDS and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidArgument(where, f"{field} is an integer field, but got {value!r}")


def translate(filters: Sequence[common_pb2.FieldFilter]) -> tuple[Condition, ...]:
    """Validate ``filters`` and return the equivalent store conditions (all must hold).

    Raises:
        InvalidArgument: naming ``filters[i].field`` (unknown field) or the condition that is wrong.
    """
    if len(filters) > MAX_FILTERS:
        raise InvalidArgument("filters", f"at most {MAX_FILTERS} filters, but got {len(filters)}")
    conditions = []
    for i, flt in enumerate(filters):
        field = flt.field
        if field.startswith(METADATA_PREFIX):
            if not _METADATA_KEY.fullmatch(field[len(METADATA_PREFIX) :]):
                raise InvalidArgument(
                    f"filters[{i}].field", f"metadata key must match {_METADATA_KEY.pattern}, but got {field!r}"
                )
        elif field not in STRING_FIELDS and field not in INTEGER_FIELDS:
            allowed = ", ".join(sorted(STRING_FIELDS | INTEGER_FIELDS))
            raise InvalidArgument(
                f"filters[{i}].field", f"unknown field {field!r}; filterable fields are {allowed} and metadata.<key>"
            )
        which = flt.WhichOneof("condition")
        if which == "equals":
            value = _scalar(flt.equals, f"filters[{i}].equals")
            _check_type(field, value, f"filters[{i}].equals")
            if isinstance(value, float):  # a non-integral number: equality as a closed range
                conditions.append(Condition(field, range=Range(gte=value, lte=value), negate=flt.negate))
            else:
                conditions.append(Condition(field, equals=value, negate=flt.negate))
        elif which == "any_of":
            values = [_scalar(v, f"filters[{i}].any_of[{j}]") for j, v in enumerate(flt.any_of.values)]
            if not values:
                raise InvalidArgument(f"filters[{i}].any_of", "must list at least one value")
            if len(values) > MAX_ANY_OF:
                raise InvalidArgument(f"filters[{i}].any_of", f"at most {MAX_ANY_OF} values, but got {len(values)}")
            if all(isinstance(v, str) for v in values):
                pass
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                pass
            else:
                raise InvalidArgument(f"filters[{i}].any_of", "values must be all strings or all integers")
            for j, v in enumerate(values):
                _check_type(field, v, f"filters[{i}].any_of[{j}]")
            conditions.append(Condition(field, any_of=tuple(values), negate=flt.negate))
        elif which == "range":
            if field in STRING_FIELDS:
                raise InvalidArgument(f"filters[{i}].range", f"{field} is a string field; ranges need numbers")
            bounds = {name: getattr(flt.range, name) for name in ("gt", "gte", "lt", "lte") if flt.range.HasField(name)}
            if not bounds:
                raise InvalidArgument(f"filters[{i}].range", "must set at least one of gt, gte, lt, lte")
            for name, bound in bounds.items():
                if not math.isfinite(bound):
                    raise InvalidArgument(f"filters[{i}].range.{name}", f"must be finite, but got {bound}")
            conditions.append(Condition(field, range=Range(**bounds), negate=flt.negate))
        else:
            raise InvalidArgument(f"filters[{i}]", "must set one of equals, any_of, range")
    return tuple(conditions)


def served_conditions(serve_unscanned: bool) -> tuple[Condition, ...]:
    """The conditions every search adds to the caller's: chunks of complete versions only and, unless
    ``serve_unscanned``, none that the document scan could not check (they wait for a rescan)."""
    if serve_unscanned:
        return (SERVED,)
    return SERVED, Condition("flags", equals=UNSCANNED, negate=True)
