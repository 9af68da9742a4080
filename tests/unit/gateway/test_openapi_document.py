"""The checked-in OpenAPI document is what the code generates, and it holds every route the app serves."""

from __future__ import annotations

import json

import pytest
from fastapi.routing import APIRoute
from ragplane_gateway import openapi
from ragplane_gateway.app import ROUTERS

pytestmark = pytest.mark.unit


def test_checked_in_openapi_matches_the_code():
    assert openapi.CHECKED_IN.read_text() == openapi.render(), "run: python -m ragplane_gateway.openapi"


def test_every_route_and_method_is_in_the_document():
    paths = json.loads(openapi.CHECKED_IN.read_text())["paths"]
    # Every router the app includes (routers carry no prefix in the gateway).
    routes = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    assert routes
    for route in routes:
        path = route.path.replace(":path}", "}")
        assert path in paths, path
        for method in route.methods:
            assert method.lower() in paths[path], f"{method} {path}"


def test_the_api_routes_ask_for_a_bearer_key():
    document = json.loads(openapi.CHECKED_IN.read_text())
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, methods in document["paths"].items():
        if path.startswith("/v1/"):
            for method, operation in methods.items():
                assert operation.get("security") == [{"HTTPBearer": []}], f"{method} {path}"


def test_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch):
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(openapi, "CHECKED_IN", stale)
    assert openapi.main(["--check"]) == 1
    assert openapi.main([]) == 0
    assert openapi.main(["--check"]) == 0
