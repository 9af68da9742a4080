"""Property-based fuzzing of the Search filter translator: any filters a client can send either translate into
well-formed store conditions (one per filter, on a filterable key, with the value types of that key) or raise
InvalidArgument naming the filter at fault; never another exception."""

from __future__ import annotations

import math
import re

import pytest
from google.protobuf import struct_pb2
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ragplane.runtime.errors import InvalidArgument
from ragplane.v1 import common_pb2
from ragplane_retrieve.filters import INTEGER_FIELDS, MAX_ANY_OF, MAX_FILTERS, METADATA_PREFIX, STRING_FIELDS, translate

pytestmark = pytest.mark.unit

FUZZ = settings(max_examples=200, deadline=None)
# What a client-side field name can look like: the real fields, metadata keys good and bad, anything.
FIELDS = st.one_of(
    st.sampled_from(sorted(STRING_FIELDS | INTEGER_FIELDS) + ["tenant", "text", "flags", "metadata.", "metadata"]),
    st.text(max_size=70).map(lambda key: METADATA_PREFIX + key),
    st.sampled_from(
        ["metadata.lang\n", "metadata.a b", "metadata.k\x00", "metadata.\u00e9t\u00e9", "metadata." + "k" * 65]
    ),
    st.text(max_size=20),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70).map(float),
    st.sampled_from([0.0, -0.0, 1.0, 0.5, 1e308, -1e308, 2.0**63, 5e-324]),
)
LEAVES = st.one_of(
    st.text(max_size=30).map(lambda s: struct_pb2.Value(string_value=s)),
    NUMBERS.map(lambda n: struct_pb2.Value(number_value=n)),
    st.booleans().map(lambda b: struct_pb2.Value(bool_value=b)),
    st.just(struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)),
    st.just(struct_pb2.Value()),
)
VALUES = st.one_of(
    LEAVES,
    st.lists(LEAVES, max_size=3).map(lambda vs: struct_pb2.Value(list_value=struct_pb2.ListValue(values=vs))),
    st.just(struct_pb2.Value(struct_value=struct_pb2.Struct())),
)
# Mostly homogeneous lists (the interesting, valid-looking ones), sometimes mixed, empty or over the cap.
ANY_OF = st.one_of(
    st.lists(VALUES, max_size=5),
    st.lists(st.text(max_size=10).map(lambda s: struct_pb2.Value(string_value=s)), max_size=5),
    st.lists(st.integers(-5, 5).map(lambda n: struct_pb2.Value(number_value=n)), max_size=5),
    st.just([struct_pb2.Value(number_value=1)] * (MAX_ANY_OF + 1)),
)
RANGES = st.fixed_dictionaries({}, optional={name: NUMBERS for name in ("gt", "gte", "lt", "lte")}).map(
    lambda bounds: common_pb2.NumericRange(**bounds)
)


@st.composite
def field_filter(draw) -> common_pb2.FieldFilter:
    flt = common_pb2.FieldFilter(field=draw(FIELDS), negate=draw(st.booleans()))
    which = draw(st.sampled_from(["equals", "any_of", "range", "none"]))
    if which == "equals":
        flt.equals.CopyFrom(draw(VALUES))
    elif which == "any_of":
        flt.any_of.CopyFrom(struct_pb2.ListValue(values=draw(ANY_OF)))
    elif which == "range":
        flt.range.CopyFrom(draw(RANGES))
    return flt


FILTERS = st.one_of(st.lists(field_filter(), max_size=6), st.lists(field_filter(), min_size=MAX_FILTERS, max_size=40))
_VALID_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def check_condition(flt: common_pb2.FieldFilter, condition) -> None:
    """A translated condition is on a filterable key, sets exactly one test, and carries that key's types."""
    assert condition.key == flt.field and condition.negate == flt.negate
    if condition.key.startswith(METADATA_PREFIX):
        assert _VALID_KEY.fullmatch(condition.key[len(METADATA_PREFIX) :]), f"metadata key {condition.key!r}"
    else:
        assert condition.key in STRING_FIELDS | INTEGER_FIELDS
    assert sum(part is not None for part in (condition.equals, condition.any_of, condition.range)) == 1
    values = condition.any_of or (() if condition.equals is None else (condition.equals,))
    for value in values:
        if condition.key in STRING_FIELDS:
            assert isinstance(value, str)
        elif condition.key in INTEGER_FIELDS:
            assert isinstance(value, int) and not isinstance(value, bool)
    if condition.range is not None:
        bounds = [getattr(condition.range, name) for name in ("gt", "gte", "lt", "lte")]
        assert any(bound is not None for bound in bounds)
        assert all(math.isfinite(bound) for bound in bounds if bound is not None)


@FUZZ
@given(filters=FILTERS)
@example(filters=[common_pb2.FieldFilter(field="metadata.lang\n", equals=struct_pb2.Value(string_value="en"))])
@example(filters=[common_pb2.FieldFilter(field="page", equals=struct_pb2.Value(number_value=1e308))])
@example(filters=[common_pb2.FieldFilter(field="page", any_of=struct_pb2.ListValue(values=[struct_pb2.Value()]))])
def test_any_filters_translate_or_name_the_field_at_fault(filters):
    try:
        conditions = translate(filters)
    except InvalidArgument as exc:
        assert re.fullmatch(r"filters(\[\d+\](\.\w+(\[\d+\])?)*)?", exc.field), f"field named {exc.field!r}"
        assert str(exc).strip()
        return
    assert len(conditions) == len(filters) <= MAX_FILTERS
    for flt, condition in zip(filters, conditions, strict=True):
        check_condition(flt, condition)
