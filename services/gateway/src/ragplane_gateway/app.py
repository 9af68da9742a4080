"""The gateway's FastAPI application: ``create_app(settings)`` builds it; ``__main__`` serves it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ragplane_gateway import errors
from ragplane_gateway.config import Settings
from ragplane_gateway.middleware import EdgeMiddleware
from ragplane_gateway.routes import chat, documents, health, search
from ragplane_gateway.upstream import Upstreams

TITLE = "ragplane HTTP API"
VERSION = "1.0.0"
DESCRIPTION = (
    "OpenAI-compatible chat completions and REST for documents and search, in front of ragplane's gRPC services. "
    "Send `Authorization: Bearer <api key>` (the keys of the gRPC API). Errors use OpenAI's error object."
)
UPLOAD_PATH = "/v1/documents"
# One per area; each module defines ``router``.
ROUTERS = (health.router, chat.router, documents.router, search.router)


def create_app(settings: Settings) -> FastAPI:
    """The gateway application for ``settings``; its channels open at startup and close at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.upstreams = Upstreams(settings)
        try:
            yield
        finally:
            await app.state.upstreams.close()

    app = FastAPI(title=TITLE, version=VERSION, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        upload_prefix=UPLOAD_PATH,
    )
    return app
