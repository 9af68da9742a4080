"""Liveness and readiness of the gateway."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ragplane_gateway.deps import upstreams

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    upstreams: dict[str, str] = {}


@router.get("/healthz", response_model=Health, summary="Liveness: the process serves HTTP")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness: the orchestrator and ingest answer their health checks with SERVING",
    responses={503: {"model": Health, "description": "an upstream is not SERVING, or the gateway is shutting down"}},
)
async def readyz(request: Request) -> JSONResponse:
    if getattr(request.app.state, "draining", False):
        return JSONResponse(Health(status="draining").model_dump(), status_code=503)
    states = await upstreams(request).readiness()
    ready = all(state == "SERVING" for state in states.values())
    body = Health(status="ready" if ready else "not ready", upstreams=states)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
