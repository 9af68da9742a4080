"""ragplane.client's pure parts: filter expressions, the error family, file collection, retry policy."""

from __future__ import annotations

import grpc
import pytest

from ragplane.client import (
    TLS,
    ClientError,
    Connection,
    Filter,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    collect_files,
)
from ragplane.client import _protocol as proto
from ragplane.client.connection import IDEMPOTENT_METHODS
from ragplane.client.errors import from_rpc_error
from ragplane.runtime import retry

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("source=a.txt", Filter("source", equals="a.txt")),
        ("lang=en|de", Filter("metadata.lang", any_of=("en", "de"))),
        ("lang!=en", Filter("metadata.lang", equals="en", negate=True)),
        ("year>=2020", Filter("metadata.year", gte=2020.0)),
        ("page<3", Filter("page", lt=3.0)),
        ("metadata.team=ml", Filter("metadata.team", equals="ml")),
    ],
)
def test_filter_expressions_parse_to_conditions_on_builtin_or_metadata_fields(spec, expected):
    assert Filter.parse(spec) == expected


def test_filters_become_the_field_filters_the_api_takes():
    ranged, listed = proto.filter_messages(["year>=2020", Filter("lang", any_of=("en", 3))])
    assert ranged.field == "metadata.year" and ranged.range.HasField("gte") and not ranged.range.HasField("lt")
    assert [v.WhichOneof("kind") for v in listed.any_of.values] == ["string_value", "number_value"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("no operator", "expected key=value"), ("year>=soon", ">= needs a number, got 'soon'")],
)
def test_malformed_filters_are_refused_quoting_the_expression(spec, message):
    with pytest.raises(ValueError, match=message) as refused:
        Filter.parse(spec)
    assert repr(spec) in str(refused.value)


def test_a_filter_needs_exactly_one_condition():
    with pytest.raises(ValueError, match="exactly one"):
        Filter("lang")
    with pytest.raises(ValueError, match="exactly one"):
        Filter("lang", equals="en", gt=1)


def _rpc_error(code: grpc.StatusCode, details: str, trailers=()) -> grpc.RpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers), details)


def test_errors_carry_the_status_the_field_and_the_retry_hint():
    invalid = from_rpc_error(_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "options.top_k: must be <= 200"))
    assert isinstance(invalid, InvalidArgumentError) and invalid.field == "options.top_k"
    assert str(invalid) == "INVALID_ARGUMENT: options.top_k: must be <= 200"
    limited = from_rpc_error(_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "rate limit", [("retry-after", "1.500")]))
    assert isinstance(limited, ResourceExhaustedError) and limited.retry_after_s == 1.5 and limited.retriable
    missing = from_rpc_error(_rpc_error(grpc.StatusCode.NOT_FOUND, "doc_id: no such document"))
    assert isinstance(missing, NotFoundError) and missing.field is None and not missing.retriable
    other = from_rpc_error(_rpc_error(grpc.StatusCode.DATA_LOSS, "x"))
    assert type(other) is ClientError and other.code == grpc.StatusCode.DATA_LOSS


def test_the_client_retries_only_methods_the_services_call_idempotent():
    for service, methods in IDEMPOTENT_METHODS.items():
        assert set(methods) <= set(retry.IDEMPOTENT_METHODS.get(service, ())), service


def test_folders_give_supported_files_or_a_glob_and_names_give_problems(tmp_path):
    for name in ("a.md", "sub/b.pdf", "c.png", ".hidden/d.md", "sub/e.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    files, problems = collect_files([tmp_path])
    assert [f.doc_id for f in files] == ["a.md", "sub/b.pdf", "sub/e.txt"] and not problems
    globbed, _ = collect_files([tmp_path], glob="**/*.png")
    assert [f.doc_id for f in globbed] == ["c.png"]
    (tmp_path / "sub" / "a.md").write_text("same name")
    _, problems = collect_files([tmp_path / "a.md", tmp_path / "sub" / "a.md", tmp_path / "nope"])
    assert problems == [
        ((tmp_path / "sub" / "a.md").as_posix(), f"doc_id 'a.md' is also used by {(tmp_path / 'a.md').as_posix()}"),
        (str(tmp_path / "nope"), "no such file or directory"),
    ]


def test_connection_settings_are_checked_and_read_from_the_environment(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="cert and key go together"):
        TLS(cert="c.pem")
    with pytest.raises(ValueError, match="TLS ca .*missing.pem"):
        TLS(ca=tmp_path / "missing.pem").credentials()
    monkeypatch.setenv("RAGPLANE_ADDR", "rag:1")
    monkeypatch.setenv("RAGPLANE_API_KEY", "k")
    monkeypatch.delenv("RAGPLANE_CA_FILE", raising=False)
    connection = Connection.from_env(timeout=5)
    assert (connection.address, connection.api_key, connection.tls, connection.timeout) == ("rag:1", "k", None, 5)
    assert connection.metadata() == (("authorization", "Bearer k"),)
