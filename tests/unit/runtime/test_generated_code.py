"""The committed generated protobuf code matches protos/ (regenerate with `make proto`)."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_up_to_date(tmp_path):
    _generator().generate(tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "ragplane").rglob("*") if p.is_file()}
    committed_root = ROOT / "libs" / "proto" / "src"
    committed = {
        p.relative_to(committed_root): p.read_bytes()
        for p in (committed_root / "ragplane").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    stale = sorted(str(path) for path in fresh.keys() | committed.keys() if fresh.get(path) != committed.get(path))
    assert not stale, f"generated code is stale, run `make proto`: {stale}"


def test_every_service_rpc_has_its_own_request_and_response():
    from ragplane.v1 import (
        embed_pb2,
        eval_pb2,
        generate_pb2,
        guardrail_pb2,
        ingest_pb2,
        rag_pb2,
        rerank_pb2,
        retrieve_pb2,
    )

    modules = (embed_pb2, eval_pb2, generate_pb2, guardrail_pb2, ingest_pb2, rag_pb2, rerank_pb2, retrieve_pb2)
    names = {name for module in modules for name in module.DESCRIPTOR.message_types_by_name}
    seen: set[str] = set()
    for module in modules:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                # <Method>Request, or <Service><Method>Request where the package has a <Method>Request already
                # (RagService.Search next to RetrieveService.Search): buf's RPC_REQUEST_STANDARD_NAME allows both
                for suffix, message in (("Request", method.input_type), ("Response", method.output_type)):
                    assert message.name in (f"{method.name}{suffix}", f"{service.name}{method.name}{suffix}"), message
                    assert message.name.startswith(method.name) or f"{method.name}{suffix}" in names, message
                assert method.input_type.full_name not in seen
                seen.add(method.input_type.full_name)


def test_events_depend_only_on_common_types():
    from ragplane.v1 import events_pb2

    imports = {dependency.name for dependency in events_pb2.DESCRIPTOR.dependencies}
    assert imports == {"google/protobuf/timestamp.proto", "google/rpc/status.proto", "ragplane/v1/common.proto"}
    assert not any(dependency.services_by_name for dependency in events_pb2.DESCRIPTOR.dependencies)


def test_vendored_status_proto_is_the_one_googleapis_common_protos_ships():
    from google.rpc import status_pb2

    shipped = pathlib.Path(status_pb2.__file__).with_name("status.proto")
    assert (ROOT / "protos" / "google" / "rpc" / "status.proto").read_bytes() == shipped.read_bytes()
