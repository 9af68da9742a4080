"""HTTPS for the gateway's listener from RAGPLANE_TLS_CERT_FILE / _KEY_FILE, renewed without a restart.

uvicorn loads its certificate once; cert-manager rewrites the mounted Secret before the certificate expires. The
context here checks the files at a new connection's handshake (at most every RAGPLANE_TLS_RELOAD_S) and hands
that connection a context with the new certificate when they changed; a half-written or invalid update keeps
the certificate in force and is logged. Connections already open keep their session.
"""

from __future__ import annotations

import os
import ssl
import threading
import time

from ragplane.runtime.logs import get_logger

log = get_logger("ragplane.gateway.tls")


def _stamp(paths: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    return tuple((info.st_mtime_ns, info.st_size, info.st_ino) for info in (os.stat(path) for path in paths))


class RenewingServerContext:
    """A server ``ssl.SSLContext`` (``.context``) whose certificate follows its files."""

    def __init__(self, cert_file: str, key_file: str, check_s: float) -> None:
        self._paths = (cert_file, key_file)
        self._check_s = check_s
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._stamp = _stamp(self._paths)
        self.reloads = 0
        self.context = self._load()
        self.context.sni_callback = self._handshake
        self._current = self.context

    def _load(self) -> ssl.SSLContext:
        """A TLS 1.2+ server context with the files' certificate and key.

        Raises:
            OSError, ssl.SSLError: a file cannot be read, does not parse, or the key is not the certificate's.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(*self._paths)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def _handshake(self, connection: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
        """Give this connection the newest certificate (checking the files at most every ``check_s``)."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= self._check_s:
                self._checked = now
                self._reload_if_changed()
            current = self._current
        if current is not context:
            connection.context = current

    def _reload_if_changed(self) -> None:
        try:
            stamp = _stamp(self._paths)
            if stamp == self._stamp:
                return
            renewed = self._load()
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.error("tls files not reloaded; the loaded certificate stays in force", error=str(exc))
            return
        self._stamp = stamp
        self._current = renewed
        self.reloads += 1
        log.info("tls certificate reloaded", cert_file=self._paths[0], reloads=self.reloads)
