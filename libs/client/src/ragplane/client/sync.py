"""``Client``: the blocking client."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

import grpc

from ragplane.client import _protocol as proto
from ragplane.client._common import (
    TRANSIENT_POLL_CODES,
    PollSchedule,
    ProgressCallback,
    Source,
    UploadTracker,
    uploads,
)
from ragplane.client.connection import LOCAL_EVAL, LOCAL_INGEST, LOCAL_ORCHESTRATOR, TLS, Connection
from ragplane.client.errors import ClientError, from_rpc_error
from ragplane.client.types import (
    Answer,
    AskEvent,
    DeletedDocument,
    DocumentPage,
    DocumentResult,
    DocumentState,
    DocumentStatus,
    EvalEvent,
    EvalReport,
    EvalRun,
    Filter,
    IngestResult,
    QuestionResult,
    Rating,
    SearchResult,
    TextDelta,
)
from ragplane.v1 import eval_pb2_grpc, ingest_pb2_grpc, rag_pb2_grpc


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except grpc.RpcError as exc:
        raise from_rpc_error(exc) from None


class Client:
    """A blocking client of ragplane: ingest, ask, search, feedback, documents and eval.

    Channels open on first use and are closed by ``close()`` (or the ``with`` block). Every method takes
    ``timeout`` (seconds, the call's deadline; default: the client's ``timeout``) and raises ``ClientError``
    (a subclass per status) when the call fails.

    Args:
        address: the orchestrator, ``host:port``.
        ingest_address: the ingest service.
        eval_address: the eval service.
        api_key: sent as a bearer token; None sends none.
        tls: None for plaintext, ``TLS()`` for the system CA store, ``TLS(ca=..., cert=..., key=...)`` otherwise.
        timeout: default deadline of a call in seconds.
    """

    def __init__(
        self,
        address: str = LOCAL_ORCHESTRATOR,
        *,
        ingest_address: str = LOCAL_INGEST,
        eval_address: str = LOCAL_EVAL,
        api_key: str | None = None,
        tls: TLS | None = None,
        timeout: float = 60.0,
        connection: Connection | None = None,
    ) -> None:
        self.connection = connection or Connection(address, ingest_address, eval_address, api_key, tls, timeout)
        self._channels: dict[str, grpc.Channel] = {}

    @classmethod
    def from_env(cls, **overrides: Any) -> Client:
        """A client configured like the ``ragplane`` command (``Connection.from_env``)."""
        return cls(connection=Connection.from_env(**overrides))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def _channel(self, target: str) -> grpc.Channel:
        if target not in self._channels:
            self._channels[target] = self.connection.channel(target)
        return self._channels[target]

    @property
    def _rag(self) -> rag_pb2_grpc.RagServiceStub:
        return rag_pb2_grpc.RagServiceStub(self._channel(self.connection.address))

    @property
    def _ingest(self) -> ingest_pb2_grpc.IngestServiceStub:
        return ingest_pb2_grpc.IngestServiceStub(self._channel(self.connection.ingest_address))

    @property
    def _eval(self) -> eval_pb2_grpc.EvalServiceStub:
        return eval_pb2_grpc.EvalServiceStub(self._channel(self.connection.eval_address))

    def _call(self, timeout: float | None) -> dict[str, Any]:
        return {"metadata": self.connection.metadata(), "timeout": self.connection.timeout_of(timeout)}

    # -- ingest -------------------------------------------------------------------------------------------------

    def ingest(
        self,
        *sources: Source,
        glob: str | None = None,
        chunk_size: int = 0,
        chunk_overlap: int = 0,
        wait: bool = False,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestResult:
        """Upload documents over one stream; with ``wait``, then wait until each is INDEXED or FAILED.

        Args:
            sources: file paths, folders (walked for supported files, or the files matching ``glob``),
                ``Document`` objects (bytes in memory) or ``LocalFile`` objects.
            glob: pattern of the files to take from folders ("**/*.md"); default: every supported file.
            chunk_size / chunk_overlap: tokens; 0 for the service's defaults.
            wait: wait for indexing (a newer version of the same document also ends the wait for it).
            timeout: seconds for the whole call, upload and wait.
            progress: called as parts are sent (from gRPC's sending thread), as each document's result arrives
                and as each leaves the wait.

        Returns:
            A result per document. A bad document fails alone (``DocumentResult.error``); a wait whose deadline
            passes returns with ``timed_out`` set.

        Raises:
            FileNotFoundError, ValueError: a path that does not exist, doc_ids given twice, nothing to send.
            ClientError: the upload itself failed (unreachable, refused key, deadline).
        """
        items = uploads(sources, glob)
        deadline = time.monotonic() + self.connection.timeout_of(timeout)
        tracker = UploadTracker(items, progress)
        requests = proto.ingest_requests(
            items,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            on_bytes=tracker.sent,
            unreadable=tracker.unreadable,
        )
        with _errors():
            for response in self._ingest.IngestDocuments(requests, **self._call(deadline - time.monotonic())):
                target = tracker.received(response.result.doc_id)
                if target is not None:
                    proto.apply_ingest_result(target, response.result)
                    tracker.recorded(target)
        tracker.finish_upload()
        result = IngestResult(list(tracker.results.values()), waited=wait)
        if wait:
            result.timed_out = not self._wait(tracker, deadline)
        return result

    def _wait(self, tracker: UploadTracker, deadline: float) -> bool:
        pending = tracker.pending()
        total, done = len(pending), 0
        schedule = PollSchedule(deadline)
        while pending:
            for doc_id, target in list(pending.items()):
                if schedule.left() <= 0:
                    return False
                try:
                    status = self.get_document(doc_id, timeout=schedule.call_timeout())
                except ClientError as exc:
                    if exc.code in TRANSIENT_POLL_CODES:
                        continue
                    raise
                if proto.apply_status(target, status):
                    del pending[doc_id]
                    done += 1
                    tracker.indexed(done, total, target)
            if pending:
                time.sleep(schedule.next_wait())
        return True

    def wait_for_documents(self, results: Iterable[DocumentResult], timeout: float | None = None) -> bool:
        """Wait until each accepted document of an earlier ``ingest`` is INDEXED or FAILED (fills in ``state``).

        Returns:
            True when none is pending any more, False when the deadline passed first.
        """
        tracker = UploadTracker([], None)
        tracker.results = {r.doc_id: r for r in results}
        return self._wait(tracker, time.monotonic() + self.connection.timeout_of(timeout))

    # -- documents ----------------------------------------------------------------------------------------------

    def get_document(self, doc_id: str, *, timeout: float | None = None) -> DocumentStatus:
        """The status of one document. Raises ``NotFoundError`` for an unknown doc_id."""
        with _errors():
            reply = self._ingest.GetDocumentStatus(proto.status_request(doc_id), **self._call(timeout))
        return proto.document_status(reply.status)

    def list_documents(
        self,
        *,
        state: DocumentState | str | None = None,
        page_size: int = 100,
        page_token: str = "",
        timeout: float | None = None,
    ) -> DocumentPage:
        """One page of the caller's documents (at most 1000 a page), optionally only those in ``state``."""
        with _errors():
            reply = self._ingest.ListDocuments(proto.list_request(page_size, page_token, state), **self._call(timeout))
        return DocumentPage([proto.document_status(s) for s in reply.documents], reply.next_page_token)

    def iter_documents(
        self, *, state: DocumentState | str | None = None, page_size: int = 100, timeout: float | None = None
    ) -> Iterator[DocumentStatus]:
        """Every document, page after page (``timeout`` is per page)."""
        token = ""
        while True:
            page = self.list_documents(state=state, page_size=page_size, page_token=token, timeout=timeout)
            yield from page.documents
            token = page.next_page_token
            if not token:
                return

    def delete_document(self, doc_id: str, *, timeout: float | None = None) -> DeletedDocument:
        """Delete every chunk of a document (DELETING, then DELETED once the index confirms)."""
        with _errors():
            reply = self._ingest.DeleteDocument(proto.delete_request(doc_id), **self._call(timeout))
        return proto.deleted(reply)

    # -- ask ----------------------------------------------------------------------------------------------------

    def ask(
        self,
        query: str,
        *,
        session_id: str | None = None,
        history: Iterable[tuple[str, str]] = (),
        filters: Iterable[Filter | str] = (),
        top_k: int = 0,
        top_n: int = 0,
        max_tokens: int = 0,
        temperature: float | None = None,
        bypass_cache: bool = False,
        timeout: float | None = None,
    ) -> Answer:
        """Ask a question; the answer comes with its citations.

        Args:
            query: the question.
            session_id: continue this conversation, its turns kept by the service (None: a single turn).
            history: or the conversation's earlier turns, kept by the caller: (role, text) pairs, oldest first,
                role "user" or "assistant" (not with ``session_id``; the service bounds their number and length).
            filters: ``Filter`` objects or expressions ("source=a.txt", "lang=en|de", "year>=2020").
            top_k / top_n: retrieval candidates and passages kept after rerank; 0 for the service's.
            max_tokens / temperature: generation; 0 / None for the service's.
            bypass_cache: do not serve from the answer caches.

        Returns:
            The answer; ``blocked`` when a guardrail refused it (a normal answer, not an error).
        """
        request = proto.ask_request(
            False,
            query,
            session_id=session_id,
            history=history,
            filters=filters,
            top_k=top_k,
            top_n=top_n,
            max_tokens=max_tokens,
            temperature=temperature,
            bypass_cache=bypass_cache,
        )
        with _errors():
            reply = self._rag.Ask(request, **self._call(timeout))
        return proto.answer(reply.result)

    def ask_stream(
        self,
        query: str,
        *,
        session_id: str | None = None,
        history: Iterable[tuple[str, str]] = (),
        filters: Iterable[Filter | str] = (),
        top_k: int = 0,
        top_n: int = 0,
        max_tokens: int = 0,
        temperature: float | None = None,
        bypass_cache: bool = False,
        timeout: float | None = None,
    ) -> Iterator[AskEvent]:
        """``ask``, streamed: ``TextDelta`` events as the answer is generated, then ``FinalAnswer`` (or
        ``BlockedAnswer``). Closing the iterator early cancels the call.

        Raises:
            ClientError: the call failed, or the stream ended without a final answer (``INTERNAL``).
        """
        request = proto.ask_request(
            True,
            query,
            session_id=session_id,
            history=history,
            filters=filters,
            top_k=top_k,
            top_n=top_n,
            max_tokens=max_tokens,
            temperature=temperature,
            bypass_cache=bypass_cache,
        )
        call = self._rag.AskStream(request, **self._call(timeout))
        finished = False
        try:
            with _errors():
                for message in call:
                    event = proto.ask_event(message)
                    finished = not isinstance(event, TextDelta)
                    yield event
        finally:
            call.cancel()
        if not finished:
            raise ClientError(grpc.StatusCode.INTERNAL, "the stream ended without a result")

    def search(
        self,
        query: str,
        *,
        filters: Iterable[Filter | str] = (),
        top_k: int = 0,
        rerank: bool | None = None,
        timeout: float | None = None,
    ) -> SearchResult:
        """The passages that match ``query``, without an answer (retrieval and rerank; the input guardrail applies).

        Args:
            query: what to look for.
            filters: as for ``ask``.
            top_k: hits to return; 0 for the service's default (at most 200).
            rerank: reorder with the reranker (None: the service's default, on).

        Returns:
            The hits, best first; ``blocked`` when the input guardrail refused the query.
        """
        with _errors():
            reply = self._rag.Search(proto.search_request(query, filters, top_k, rerank), **self._call(timeout))
        return proto.search_result(reply)

    def feedback(
        self,
        request_id: str,
        rating: Rating | str,
        *,
        comment: str = "",
        corrected_answer: str = "",
        timeout: float | None = None,
    ) -> None:
        """Record the user's judgement of an answer (``Answer.request_id``); ``NotFoundError`` for an unknown one."""
        with _errors():
            self._rag.Feedback(
                proto.feedback_request(request_id, rating, comment, corrected_answer), **self._call(timeout)
            )

    # -- eval ---------------------------------------------------------------------------------------------------

    def eval_stream(
        self,
        dataset: str,
        *,
        limit: int = 0,
        seed: int = 0,
        retrieval_only: bool = False,
        skip_ingest: bool = False,
        timeout: float | None = None,
    ) -> Iterator[EvalEvent]:
        """Run a dataset through the query path: ``EvalProgress`` and ``QuestionResult`` events, then the
        ``EvalReport``. ``dataset`` is a name (or path) the eval service reads from its dataset folders.
        Closing the iterator early cancels the run."""
        request = proto.run_dataset_request(dataset, limit, seed, retrieval_only, skip_ingest)
        call = self._eval.RunDataset(request, **self._call(timeout))
        try:
            with _errors():
                for message in call:
                    event = proto.eval_event(message)
                    if event is not None:
                        yield event
        finally:
            call.cancel()

    def run_eval(
        self,
        dataset: str,
        *,
        limit: int = 0,
        seed: int = 0,
        retrieval_only: bool = False,
        skip_ingest: bool = False,
        timeout: float | None = None,
        progress: Any = None,
    ) -> EvalRun:
        """``eval_stream`` to its end: the report and every row; ``progress`` gets each ``EvalProgress``.

        Raises:
            ClientError: the run failed, or ended without a report (``INTERNAL``).
        """
        rows: list[QuestionResult] = []
        report: EvalReport | None = None
        events = self.eval_stream(
            dataset, limit=limit, seed=seed, retrieval_only=retrieval_only, skip_ingest=skip_ingest, timeout=timeout
        )
        for event in events:
            if isinstance(event, QuestionResult):
                rows.append(event)
            elif isinstance(event, EvalReport):
                report = event
            elif progress is not None:
                progress(event)
        if report is None:
            raise ClientError(grpc.StatusCode.INTERNAL, "the eval service ended the run without a report")
        return EvalRun(report, rows)

    def get_eval_report(self, run_id: str, *, timeout: float | None = None) -> EvalReport:
        """The report of an earlier run. Raises ``NotFoundError`` for an unknown run_id."""
        with _errors():
            reply = self._eval.GetReport(proto.report_request(run_id), **self._call(timeout))
        return proto.eval_report(reply.report)
