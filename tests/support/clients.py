"""Run one ragplane.client method as a sync ``Client`` (in a worker thread, so that servers in the test's event
loop keep serving) or as an ``AsyncClient``: tests of the client take ``flavor`` and check both alike."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ragplane.client import AsyncClient, Client, Connection

FLAVORS = ("sync", "async")


async def call(flavor: str, connection: Connection, method: str, *args: Any, **kwargs: Any) -> Any:
    """``method(*args, **kwargs)`` on a fresh client; a streaming method's events come back as a list."""
    if flavor == "sync":

        def run() -> Any:
            with Client(connection=connection) as client:
                result = getattr(client, method)(*args, **kwargs)
                return list(result) if inspect.isgenerator(result) else result

        return await asyncio.to_thread(run)
    async with AsyncClient(connection=connection) as client:
        result = getattr(client, method)(*args, **kwargs)
        if inspect.isasyncgen(result):
            return [event async for event in result]
        return await result
