"""The Python client of ragplane.

>>> from ragplane.client import Client
>>> with Client(api_key="dev-key") as client:
...     client.ingest("docs/", wait=True)
...     answer = client.ask("Who invented the atmospheric engine?")

``AsyncClient`` has the same methods for asyncio. Results are dataclasses (``ragplane.client.types``); failed
calls raise ``ClientError`` (``ragplane.client.errors``).
"""

from ragplane.client.aio import AsyncClient
from ragplane.client.connection import TLS, Connection
from ragplane.client.errors import (
    AuthenticationError,
    ClientError,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnavailableError,
)
from ragplane.client.files import SUPPORTED_EXTENSIONS, collect_files
from ragplane.client.sync import Client
from ragplane.client.types import (
    Answer,
    AskEvent,
    BlockedAnswer,
    CacheOutcome,
    Citation,
    DeletedDocument,
    Document,
    DocumentPage,
    DocumentResult,
    DocumentState,
    DocumentStatus,
    ErrorInfo,
    EvalEvent,
    EvalProgress,
    EvalReport,
    EvalRun,
    Filter,
    FinalAnswer,
    Finding,
    GuardrailAction,
    IngestOutcome,
    IngestProgress,
    IngestResult,
    LocalFile,
    QuestionResult,
    Rating,
    SearchHit,
    SearchResult,
    TextDelta,
    Usage,
    Verdict,
)

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "TLS",
    "Answer",
    "AskEvent",
    "AsyncClient",
    "AuthenticationError",
    "BlockedAnswer",
    "CacheOutcome",
    "Citation",
    "Client",
    "ClientError",
    "Connection",
    "DeadlineExceededError",
    "DeletedDocument",
    "Document",
    "DocumentPage",
    "DocumentResult",
    "DocumentState",
    "DocumentStatus",
    "ErrorInfo",
    "EvalEvent",
    "EvalProgress",
    "EvalReport",
    "EvalRun",
    "FailedPreconditionError",
    "Filter",
    "FinalAnswer",
    "Finding",
    "GuardrailAction",
    "IngestOutcome",
    "IngestProgress",
    "IngestResult",
    "InvalidArgumentError",
    "LocalFile",
    "NotFoundError",
    "PermissionDeniedError",
    "QuestionResult",
    "Rating",
    "ResourceExhaustedError",
    "SearchHit",
    "SearchResult",
    "TextDelta",
    "UnavailableError",
    "Usage",
    "Verdict",
    "collect_files",
]
