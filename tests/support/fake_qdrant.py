"""A tiny HTTP server that answers the Qdrant REST calls the server store makes when it opens and writes.

No Qdrant server binary exists on the build machines, and qdrant-client's local mode drops what matters in a
cluster (shard_number, replication_factor, write_consistency_factor, on_disk_payload, write ordering). This
server lets the real client send its real HTTP requests and records each one (method, path, query, JSON body),
so a test can assert what a Qdrant server would have been asked. It keeps just enough state (collections,
aliases) to answer the calls that follow; it does not search.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class RecordingQdrant:
    """Answers like a Qdrant server of ``version``; ``requests`` lists what it was sent, in order."""

    version: Any = "1.20.3"
    collections: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    # Called with each request before it is answered (under the server's lock): a test's way to change the
    # state at a chosen moment, as another client would.
    before: Callable[[RecordingQdrant, Request], None] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def sent(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            request = Request(method, path, query, body)
            self.requests.append(request)
            if self.before is not None:
                self.before(self, request)
            return self._answer(method, path, body)

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if method == "GET" and not parts:
            info = {"title": "qdrant - vector search engine", "commit": "0" * 40}
            if self.version is not None:
                info["version"] = self.version
            return 200, info
        if method == "GET" and parts == ["aliases"]:
            aliases = [{"alias_name": a, "collection_name": c} for a, c in self.aliases.items()]
            return 200, _ok({"aliases": aliases})
        if method == "POST" and parts == ["collections", "aliases"]:
            for action in body["actions"]:
                if "create_alias" in action:
                    create = action["create_alias"]
                    if create["collection_name"] not in self.collections or create["alias_name"] in self.collections:
                        return 400, _error("Bad request: alias target missing or alias names a collection")
                    self.aliases[create["alias_name"]] = create["collection_name"]
                elif "delete_alias" in action:
                    self.aliases.pop(action["delete_alias"]["alias_name"], None)
            return 200, _ok(True)
        if parts[:1] != ["collections"] or len(parts) < 2:
            return 404, _error(f"Not found: {path}")
        name = self.aliases.get(parts[1], parts[1])
        rest = parts[2:]
        if method == "GET" and rest == ["exists"]:
            return 200, _ok({"exists": name in self.collections})
        if method == "PUT" and not rest:
            if name in self.collections:
                return 409, _error(f"Wrong input: Collection `{name}` already exists!")
            self.collections.add(name)
            return 200, _ok(True)
        if name not in self.collections:
            return 404, _error(f"Not found: Collection `{name}` doesn't exist!")
        if (method, "/".join(rest)) in {
            ("PUT", "index"),
            ("PUT", "points"),
            ("POST", "points/delete"),
            ("POST", "points/payload/delete"),
        }:
            return 200, _ok({"operation_id": len(self.requests), "status": "completed"})
        return 404, _error(f"Not found: {method} {path}")

    def __enter__(self) -> RecordingQdrant:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                status, answer = fake.handle(self.command, split.path, query, json.loads(raw) if raw else None)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _ok(result: Any) -> dict[str, Any]:
    return {"result": result, "status": "ok", "time": 0.0001}


def _error(message: str) -> dict[str, Any]:
    return {"status": {"error": message}, "time": 0.0001}
