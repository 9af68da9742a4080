"""Offline evaluation runs: dataset -> ingest into its own tenant -> ask every question -> report.

A run:
1. loads the dataset (only from the caller's dataset folders, see access.py) and samples ``limit`` questions with ``seed`` (all when limit is 0);
2. picks the corpus (``RAGPLANE_EVAL_CORPUS``: the whole corpus by default, so every other passage is a
   distractor and retrieval is scored honestly; or only the articles of the sampled questions);
3. switches the tenant context to ``eval-<hash of caller tenant and corpus>``, so every downstream call (ingest,
   embed, search, rerank, Ask) is scoped to a tenant of its own and the caller's reruns on the same corpus reuse
   the index;
4. ingests the corpus (unless ``skip_ingest``) and waits until every document is indexed;
5. per question, with bounded concurrency: embed the question, search dense, sparse and hybrid, rerank the
   hybrid candidates, score each ranked list (hit@k, recall@k, precision@5, MRR@10, nDCG@10); unless
   retrieval-only, Ask the orchestrator (caches bypassed, greedy), score EM/F1 against the gold answers and
   the triad with the judge over the context the orchestrator used (the top_n reranked passages);
6. writes each row to ``rows.jsonl`` as it finishes and the report to ``report.json``.

Progress, rows and finally the report are yielded to the caller as they happen.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragplane.runtime.citations import strip_markers
from ragplane.runtime.context import new_request_id, request_id_var, tenant_var
from ragplane.runtime.errors import DeadlineExceeded, InvalidArgument, RagplaneError
from ragplane.runtime.logs import get_logger
from ragplane.runtime.rpc_status import document_error
from ragplane.v1 import ingest_pb2
from ragplane_eval import scoring
from ragplane_eval.access import DatasetAccess
from ragplane_eval.config import Settings
from ragplane_eval.datasets import Dataset, DatasetError, Document, Question, load_dataset
from ragplane_eval.judge import Judge, JudgeError
from ragplane_eval.peers import Peers
from ragplane_eval.reports import Failures, ReportStore, Row, aggregate, new_run_id

log = get_logger(__name__)


@dataclass(frozen=True)
class RunRequest:
    dataset_path: str
    limit: int = 0
    seed: int = 0
    retrieval_only: bool = False
    skip_ingest: bool = False


@dataclass(frozen=True)
class Progress:
    phase: str
    done: int
    total: int


def sample_questions(questions: Sequence[Question], limit: int, seed: int) -> list[Question]:
    """``limit`` questions drawn with ``seed`` (kept in dataset order); all of them when limit is 0."""
    if limit <= 0 or limit >= len(questions):
        return list(questions)
    picked = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in picked]


def select_corpus(dataset: Dataset, questions: Sequence[Question], mode: str) -> list[Document]:
    """The documents to ingest: all of them ("full"), or those sharing a title (article) with a relevant one."""
    if mode == "full":
        return list(dataset.corpus)
    relevant = {doc_id for question in questions for doc_id in question.relevant_doc_ids}
    titles = {doc.title for doc in dataset.corpus if doc.doc_id in relevant}
    return [doc for doc in dataset.corpus if doc.doc_id in relevant or doc.title in titles]


def corpus_tenant(documents: Sequence[Document], caller_tenant: str) -> str:
    """``eval-<hash>``: the same corpus run by the same tenant always maps to the same tenant, anything else never.

    The caller is part of the hash so that two tenants running one dataset never share (or read) one index.
    """
    digest = hashlib.sha256(caller_tenant.encode("utf-8") + b"\0")
    for doc in sorted(documents, key=lambda d: d.doc_id):
        for part in (doc.doc_id, doc.title, doc.text):
            digest.update(part.encode("utf-8"))
            digest.update(b"\0")
    return f"eval-{digest.hexdigest()[:16]}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, RagplaneError):
        return f"{exc.code.name}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


_DONE = object()


class Runner:
    """Runs datasets through the query path and scores them."""

    def __init__(
        self, settings: Settings, judge: Judge, store: ReportStore, peers_factory: Callable[[Settings], Peers] = Peers
    ) -> None:
        self.settings = settings
        self.judge = judge
        self.store = store
        self._peers_factory = peers_factory

    def access(self, caller_tenant: str) -> DatasetAccess:
        """The dataset files ``caller_tenant`` may have this service read."""
        return DatasetAccess(self.settings.dataset_roots, caller_tenant, self.settings.dataset_max_bytes)

    async def run(self, request: RunRequest, caller_tenant: str) -> AsyncIterator[Progress | Row | dict[str, Any]]:
        """Run ``request``; yields Progress, each Row as it finishes, and finally the report (a dict).

        Raises:
            InvalidArgument: the dataset path or file is unusable, or it has no questions.
            DeadlineExceeded: the corpus was not indexed within RAGPLANE_EVAL_INDEX_TIMEOUT_S.
            RagplaneError: a peer failed in a way that stops the whole run (ingest, status).
        """
        access = self.access(caller_tenant)
        path = access.resolve(request.dataset_path)
        try:
            dataset = await asyncio.to_thread(load_dataset, path, access.check)
        except DatasetError as exc:
            raise InvalidArgument("dataset_path", str(exc)) from None
        questions = sample_questions(dataset.questions, request.limit, request.seed)
        if not questions:
            raise InvalidArgument("dataset_path", f"{path.name} has no questions with answers or relevant documents")
        corpus = select_corpus(dataset, questions, self.settings.corpus)
        tenant = corpus_tenant(corpus, caller_tenant) if corpus else caller_tenant
        queue: asyncio.Queue[Any] = asyncio.Queue()
        context = contextvars.copy_context()
        context.run(tenant_var.set, tenant)
        task = asyncio.get_running_loop().create_task(
            self._execute(request, path, dataset, questions, corpus, tenant, caller_tenant, queue), context=context
        )
        try:
            yield Progress("load", 1, 1)
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _execute(
        self,
        request: RunRequest,
        path: Path,
        dataset: Dataset,
        questions: list[Question],
        corpus: list[Document],
        tenant: str,
        caller_tenant: str,
        queue: asyncio.Queue[Any],
    ) -> None:
        try:
            await self._execute_inner(request, path, dataset, questions, corpus, tenant, caller_tenant, queue)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the RPC, which maps it to a status
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(_DONE)

    async def _execute_inner(
        self,
        request: RunRequest,
        path: Path,
        dataset: Dataset,
        questions: list[Question],
        corpus: list[Document],
        tenant: str,
        caller_tenant: str,
        queue: asyncio.Queue[Any],
    ) -> None:
        run_id = new_run_id()
        started_at = _now()
        log.info(
            "eval run started",
            run_id=run_id,
            dataset=dataset.name,
            questions=len(questions),
            documents=len(corpus),
            eval_tenant=tenant,
            retrieval_only=request.retrieval_only,
        )
        peers = self._peers_factory(self.settings)
        failed: set[str] = set()
        try:
            if corpus and not request.skip_ingest:
                await self._ingest(peers, corpus, dataset.name, failed, queue.put_nowait)
                await self._wait_indexed(peers, [d.doc_id for d in corpus], failed, queue.put_nowait)
            rows = await self._ask_all(peers, questions, request.retrieval_only, run_id, queue.put_nowait)
        finally:
            await peers.close()
        metrics = aggregate(
            rows,
            retrieval_only=request.retrieval_only,
            documents=len(corpus),
            failed_documents=len(failed),
            seed=request.seed,
        )
        report = {
            "run_id": run_id,
            "dataset": dataset.name,
            "dataset_path": self.access(caller_tenant).name(path),
            "caller_tenant": caller_tenant,
            "tenant": tenant,
            "questions": len(rows),
            "retrieval_only": request.retrieval_only,
            "judge": "" if request.retrieval_only else self.judge.name,
            "limit": request.limit,
            "seed": request.seed,
            "corpus": self.settings.corpus,
            "top_k": self.settings.top_k,
            "top_n": self.settings.top_n,
            "metrics": metrics,
            "started_at": started_at,
            "finished_at": _now(),
            "rows_path": self.store.rows_name(run_id),
        }
        self.store.save(report)
        log.info("eval run finished", run_id=run_id, questions=len(rows), errors=metrics.get("run.errors"))
        queue.put_nowait(report)

    # -- corpus --------------------------------------------------------------------------------------

    async def _ingest(
        self, peers: Peers, corpus: list[Document], dataset: str, failed: set[str], emit: Callable[[Any], None]
    ) -> None:
        done = 0
        emit(Progress("ingest", 0, len(corpus)))

        def on_result(result: ingest_pb2.DocumentResult) -> None:
            nonlocal done
            done += 1
            if result.outcome == ingest_pb2.INGEST_OUTCOME_FAILED:
                failed.add(result.doc_id)
                code, reason = document_error(result)
                log.warning("document rejected by ingest", doc_id=result.doc_id, code=code, reason=reason)
            emit(Progress("ingest", done, len(corpus)))

        await peers.ingest_documents(corpus, dataset, on_result)

    async def _wait_indexed(
        self, peers: Peers, doc_ids: list[str], failed: set[str], emit: Callable[[Any], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.index_timeout_s
        pending = set(doc_ids) - failed
        total = len(doc_ids)
        delay = 0.25
        while True:
            if pending:
                for doc_id, status in (await peers.document_states(pending)).items():
                    if status.state == ingest_pb2.DOCUMENT_STATE_INDEXED:
                        pending.discard(doc_id)
                    elif status.state in (ingest_pb2.DOCUMENT_STATE_FAILED, ingest_pb2.DOCUMENT_STATE_DELETED):
                        pending.discard(doc_id)
                        failed.add(doc_id)
                        log.warning("document not indexed", doc_id=doc_id, reason=status.reason)
            emit(Progress("index", total - len(pending), total))
            if not pending:
                return
            if loop.time() > deadline:
                raise DeadlineExceeded(
                    f"{len(pending)} of {total} documents were not indexed within "
                    f"{self.settings.index_timeout_s:.0f}s (RAGPLANE_EVAL_INDEX_TIMEOUT_S), e.g. {sorted(pending)[:3]}"
                )
            await asyncio.sleep(delay)
            delay = min(2.0, delay * 1.5)

    # -- questions -----------------------------------------------------------------------------------

    async def _ask_all(
        self, peers: Peers, questions: list[Question], retrieval_only: bool, run_id: str, emit: Callable[[Any], None]
    ) -> list[Row]:
        semaphore = asyncio.Semaphore(self.settings.concurrency)
        rows: list[Row] = []
        emit(Progress("questions", 0, len(questions)))

        async def one(question: Question) -> None:
            async with semaphore:
                row = await self.score_question(peers, question, retrieval_only)
            rows.append(row)
            handle.write(_json_line(row))
            handle.flush()
            emit(row)
            emit(Progress("questions", len(rows), len(questions)))

        with self.store.open_rows(run_id) as handle:
            tasks = [asyncio.create_task(one(question)) for question in questions]
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        return rows

    async def score_question(self, peers: Peers, question: Question, retrieval_only: bool) -> Row:
        """Retrieve (and unless retrieval-only, answer and judge) one question; failures land in the row."""
        request_id_var.set(new_request_id())  # one request id per question, as the AnswerEvent will carry
        row = Row(
            question.id,
            question.question,
            list(question.answers),
            list(question.relevant_doc_ids),
            request_id=request_id_var.get() or "",
        )
        errors = Failures()
        context: list[str] = []
        try:
            context = await self._retrieve(peers, question, row, errors)
        except (RagplaneError, JudgeError) as exc:
            errors.add(f"retrieval: {_error_text(exc)}", exc)
        if not retrieval_only:
            await self._answer(peers, question, row, context, errors)
        errors.record(row)
        return row

    async def _retrieve(self, peers: Peers, question: Question, row: Row, errors: Failures) -> list[str]:
        started = time.perf_counter()
        embedding = await peers.embed_query(question.question)
        hybrid = await peers.search(embedding, "hybrid", self.settings.top_k)
        reranked = await peers.rerank_all(question.question, hybrid)
        row.metrics["latency.retrieval_ms"] = (time.perf_counter() - started) * 1000
        results = {"hybrid": hybrid, "rerank": reranked}
        for mode in ("dense", "sparse"):
            try:
                results[mode] = await peers.search(embedding, mode, self.settings.top_k)
            except RagplaneError as exc:
                errors.add(f"{mode} search: {_error_text(exc)}", exc)
        for mode in ("dense", "sparse", "hybrid", "rerank"):
            if mode not in results:
                continue
            ranked = scoring.dedupe(chunk.chunk.provenance.doc_id for chunk in results[mode])
            row.retrieved[mode] = ranked
            if question.relevant_doc_ids:
                for name, value in scoring.retrieval_scores(ranked, question.relevant_doc_ids).items():
                    row.metrics[f"retrieval.{mode}.{name}"] = value
        return [chunk.chunk.text for chunk in reranked[: self.settings.top_n]]

    async def _answer(self, peers: Peers, question: Question, row: Row, context: list[str], errors: Failures) -> None:
        started = time.perf_counter()
        try:
            result = await peers.ask(question.question)
        except RagplaneError as exc:
            errors.add(f"ask: {_error_text(exc)}", exc)
            row.metrics["answer.error_rate"] = 1.0
            if question.answers:
                row.metrics["answer.exact_match"] = 0.0
                row.metrics["answer.f1"] = 0.0
            return
        row.metrics["latency.ask_ms"] = (time.perf_counter() - started) * 1000
        row.metrics["answer.error_rate"] = 0.0
        row.answer = result.answer
        row.blocked = result.blocked
        row.cited_doc_ids = scoring.dedupe(c.doc_id for c in result.citations)
        row.metrics["answer.blocked_rate"] = float(result.blocked)
        if question.answers:
            # Citation markers ("[1]") are not part of the answer text.
            prediction = "" if result.blocked else strip_markers(result.answer)
            row.metrics["answer.exact_match"] = scoring.exact_match(prediction, question.answers)
            row.metrics["answer.f1"] = scoring.token_f1(prediction, question.answers)
        if result.blocked:
            return
        try:
            scores = await self.judge.score(question.question, result.answer, context)
        except JudgeError as exc:
            errors.add(f"judge: {exc}", exc)
            return
        for name in ("faithfulness", "answer_relevance", "context_relevance"):
            value = getattr(scores, name)
            if value is not None:
                row.metrics[f"judge.{name}"] = value


def _json_line(row: Row) -> str:
    return json.dumps(row.to_json(), ensure_ascii=False) + "\n"
