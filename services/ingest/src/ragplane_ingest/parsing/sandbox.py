"""Parsing under a per-call time and memory budget, in a small pool of long-lived worker processes.

A hostile file (a PDF whose 25 kB stream decodes to 10 MB of text operators takes minutes in pypdf; an HTML
tree costs 10-20x its input) must neither freeze the server's event loop and health service nor run the pod
out of memory. Each worker caps its own address space (RLIMIT_AS: what it had after importing the parsers plus
the budget) and CPU time (RLIMIT_CPU, a backstop); the server waits for an answer no longer than the wall-clock
budget. A worker that overran or died is killed and replaced, and the document is refused with ``ParseError``
("parsing exceeded 512 MiB (RAGPLANE_INGEST_PARSE_MEMORY_MB)"). With ``workers=0`` parsing runs in a thread of
the server itself (no budget), for tests and tools that need that.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import multiprocessing
import resource
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from ragplane.runtime.logs import get_logger
from ragplane_ingest.parsing import FORMATS, DocumentFormat, ParsedDocument, ParseError, ZipLimits, parse

if TYPE_CHECKING:  # the parsers stay free of the service's settings
    from ragplane_ingest.config import Settings

log = get_logger(__name__)

MIB = 1024 * 1024
# Replies a worker sends: ("ok", ParsedDocument) | ("error", reason) | ("memory", None) | ("bug", exception name)
_OK, _ERROR, _MEMORY, _BUG = "ok", "error", "memory", "bug"
_READY = "ready"  # sent once the parsers are loaded, so that loading is not charged to the first document
_STARTUP_S = 60.0


@dataclass(frozen=True)
class ParseBudget:
    """What one parse may cost; ``workers=0`` parses in-process without a budget."""

    workers: int = 2
    timeout_s: float = 30.0
    memory_mb: int = 512
    max_pdf_pages: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseBudget:
        return cls(settings.parse_workers, settings.parse_timeout_s, settings.parse_memory_mb, settings.max_pdf_pages)

    def over_time(self) -> ParseError:
        return ParseError(f"parsing exceeded {self.timeout_s:g} s (RAGPLANE_INGEST_PARSE_TIMEOUT_S)")

    def over_memory(self) -> ParseError:
        return ParseError(f"parsing exceeded {self.memory_mb} MiB (RAGPLANE_INGEST_PARSE_MEMORY_MB)")


@dataclass(frozen=True)
class _Job:
    data: bytes
    format: str
    content_type: str
    zip_limits: ZipLimits
    max_pdf_pages: int


def _run(job: _Job) -> ParsedDocument:
    fmt = next(f for f in FORMATS if f.name == job.format)
    return parse(job.data, fmt, job.content_type, job.zip_limits, max_pdf_pages=job.max_pdf_pages)


def _virtual_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _limit_self(memory_mb: int) -> None:
    """Cap this process's address space at its current size plus the budget (imports are not charged)."""
    limit = _virtual_bytes() + memory_mb * MIB
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _limit_cpu(seconds: float) -> None:
    """Allow ``seconds`` more CPU time from now (RLIMIT_CPU counts the process's whole life)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _answer(job: _Job) -> tuple[str, Any]:
    try:
        return _OK, _run(job)
    except ParseError as exc:
        # Parsers turn any failure of a damaged file into ParseError ("corrupt PDF: ..."); running out of
        # the budget is not the file being damaged.
        if isinstance(exc.__context__, MemoryError):
            return _MEMORY, None
        return _ERROR, exc.reason
    except MemoryError:
        return _MEMORY, None
    except Exception as exc:  # noqa: BLE001 - a parser bug on odd input fails that document, reported by name
        return _BUG, type(exc).__name__


# Imported before the cap is set, so that loading the parsers is not charged to any document.
_PRELOAD = ("bs4", "lxml.etree", "docx", "pypdf") + tuple(
    f"ragplane_ingest.parsing.{name}" for name in ("text", "markdown", "html", "pdf", "docx")
)


def _worker_main(conn: Connection, memory_mb: int, cpu_s: float) -> None:
    """A worker's life: load the parsers, cap memory, then parse one job at a time until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    for module in _PRELOAD:
        importlib.import_module(module)
    _limit_self(memory_mb)
    conn.send(_READY)
    while True:
        try:
            job = conn.recv()
            _limit_cpu(cpu_s)
            kind, value = _answer(job)
            del job
            conn.send((kind, value))
        except EOFError:
            return
        except MemoryError:  # receiving the bytes or sending the result did not fit
            kind = _MEMORY
            conn.send((kind, None))
        if kind == _MEMORY:
            return  # the heap may be fragmented near the cap: a fresh worker takes over


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context: Any, budget: ParseBudget) -> None:
        self.conn, child = context.Pipe()
        # The CPU cap is a backstop behind the wall clock (which also covers time spent blocked).
        cpu_s = budget.timeout_s + 2
        self.process = context.Process(
            target=_worker_main, args=(child, budget.memory_mb, cpu_s), name="ragplane-parser", daemon=True
        )
        self.process.start()
        child.close()
        try:
            ready = self.conn.poll(_STARTUP_S) and self.conn.recv() == _READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise RuntimeError(f"a parser worker did not start within {_STARTUP_S:g} s")

    def exchange(self, job: _Job, timeout_s: float) -> tuple[str, Any] | None:
        """Send ``job`` and wait for the reply; None when none came within ``timeout_s`` or the worker died."""
        try:
            self.conn.send(job)
            if not self.conn.poll(timeout_s):
                return None
            return self.conn.recv()
        except (EOFError, OSError):
            return None

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        self.conn.close()  # the worker sees EOF and returns
        self.process.join(5)
        if self.process.is_alive():
            self.kill()


class ParserPool:
    """Parses documents within ``budget``: ``start()`` the workers, ``parse()`` per document, ``stop()``."""

    def __init__(self, budget: ParseBudget) -> None:
        self.budget = budget
        # forkserver: workers are forked from a clean server process, never from this one (gRPC and Kafka
        # threads do not survive a fork).
        self._context = multiprocessing.get_context("forkserver")
        self._idle: asyncio.Queue[_Worker] | None = None
        self._workers: set[_Worker] = set()
        self._stopped = False

    async def start(self) -> None:
        """Start the workers (a no-op in-process)."""
        self._idle = asyncio.Queue()
        for _ in range(self.budget.workers):
            self._idle.put_nowait(await self._spawn())

    async def stop(self) -> None:
        """Stop every worker; parses in flight fail."""
        self._stopped = True
        workers, self._workers = list(self._workers), set()
        for worker in workers:
            await asyncio.to_thread(worker.stop)

    async def parse(
        self, data: bytes, fmt: DocumentFormat, content_type: str = "", zip_limits: ZipLimits | None = None
    ) -> ParsedDocument:
        """Parse ``data`` as ``fmt`` within the budget.

        Raises:
            ParseError: the document cannot be read, or parsing it overran the time or memory budget.
        """
        job = _Job(data, fmt.name, content_type, zip_limits or ZipLimits(), self.budget.max_pdf_pages)
        if self.budget.workers == 0:
            return await asyncio.to_thread(_run, job)
        # A caller that goes away does not abandon the worker mid-exchange: the call runs to its end (within
        # the budget) and the worker goes back to the pool or is replaced.
        reply, exitcode = await asyncio.shield(asyncio.ensure_future(self._call(job)))
        return self._result(reply, exitcode, fmt)

    async def _call(self, job: _Job) -> tuple[tuple[str, Any] | None, int | None]:
        """The worker's reply (None if none came) and, without one, its exit code (None: still running)."""
        assert self._idle is not None, "ParserPool.start() was not called"
        worker = await self._idle.get()
        reply = exitcode = None
        try:
            reply = await asyncio.to_thread(worker.exchange, job, self.budget.timeout_s)
            exitcode = worker.process.exitcode
        finally:
            await self._release(worker, healthy=reply is not None and reply[0] != _MEMORY)
        return reply, exitcode

    def _result(self, reply: tuple[str, Any] | None, code: int | None, fmt: DocumentFormat) -> ParsedDocument:
        if reply is None:
            if code is None or code == -signal.SIGXCPU:
                raise self.budget.over_time()
            log.error("parser process died", format=fmt.name, exitcode=code)
            raise ParseError(f"the {fmt.name} parser failed (its process ended with code {code})")
        kind, value = reply
        if kind == _OK:
            return value
        if kind == _MEMORY:
            raise self.budget.over_memory()
        if kind == _BUG:
            log.error("parser failed", format=fmt.name, error=value)
            raise ParseError(f"the {fmt.name} parser failed ({value})")
        raise ParseError(value)

    async def _release(self, worker: _Worker, *, healthy: bool) -> None:
        """Put ``worker`` back, or kill it and put a fresh one in its place."""
        assert self._idle is not None
        if healthy:
            self._idle.put_nowait(worker)
            return
        self._workers.discard(worker)
        await asyncio.to_thread(worker.kill)
        if not self._stopped:  # a parse that outlived stop() leaves no worker behind
            self._idle.put_nowait(await self._spawn())

    async def _spawn(self) -> _Worker:
        worker = await asyncio.to_thread(_Worker, self._context, self.budget)
        self._workers.add(worker)
        return worker
