"""Which files an ingest sends, and under which doc ids."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ragplane.client.types import LocalFile

# The extensions the ingest service parses (services/ingest/README.md); the server decides in the end.
SUPPORTED_EXTENSIONS = frozenset(
    {".txt", ".text", ".md", ".markdown", ".mdown", ".mkd", ".html", ".htm", ".xhtml", ".pdf", ".docx"}
)


def collect_files(
    paths: Iterable[str | Path], *, glob: str | None = None
) -> tuple[list[LocalFile], list[tuple[str, str]]]:
    """The files named by ``paths``, and the problems ``(path, reason)`` found on the way.

    A folder contributes the files under it that match ``glob`` (default: every file with a supported extension),
    hidden files and folders skipped, each with doc_id = its path relative to the folder. A file named directly
    is sent whatever its extension (the server says if it is unsupported), with doc_id = its name. A doc_id that
    two files would share, and a path that does not exist, are problems.
    """
    files: list[LocalFile] = []
    problems: list[tuple[str, str]] = []
    seen: dict[str, str] = {}

    def add(path: Path, doc_id: str) -> None:
        source = path.as_posix()
        if doc_id in seen:
            problems.append((source, f"doc_id {doc_id!r} is also used by {seen[doc_id]}"))
            return
        seen[doc_id] = source
        files.append(LocalFile(path, doc_id, path.stat().st_size))

    for raw in paths:
        root = Path(raw)
        if root.is_dir():
            for path in sorted(root.glob(glob) if glob else root.rglob("*")):
                relative = path.relative_to(root)
                if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                    continue
                if glob or path.suffix.lower() in SUPPORTED_EXTENSIONS:
                    add(path, relative.as_posix())
        elif root.is_file():
            add(root, root.name)
        else:
            problems.append((str(raw), "no such file or directory"))
    return files, problems
