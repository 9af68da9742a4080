"""Zip containers (DOCX) checked from their central directory before any member is inflated."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from ragplane_ingest.parsing.model import ParseError

# Small members (styles, relationships) legitimately compress very well; the ratio only matters above this.
_RATIO_FLOOR_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    """How far a zip container may expand: in total, and per member relative to its compressed size."""

    max_unzipped_bytes: int = 256 * 1024 * 1024
    max_ratio: float = 100.0


def check_zip(data: bytes, limits: ZipLimits, kind: str = "DOCX") -> None:
    """Refuse a zip bomb before decompression, from the sizes its directory declares.

    The declared sizes are binding: zipfile stops inflating a member at its declared size (and then fails
    its CRC), so a member cannot expand past what is checked here.

    Raises:
        ParseError: naming the member that takes the archive over a limit, or "corrupt DOCX: ...".
    """
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ParseError(f"corrupt {kind}: {exc}") from None
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
            raise ParseError(
                f"zip member {member.filename!r} expands {ratio:.0f} times ({member.file_size} bytes from "
                f"{member.compress_size}), over the limit of {limits.max_ratio:g} (RAGPLANE_INGEST_MAX_ZIP_RATIO)"
            )
        if total > limits.max_unzipped_bytes:
            raise ParseError(
                f"zip member {member.filename!r} takes the archive to {total} bytes uncompressed, over the "
                f"limit of {limits.max_unzipped_bytes} (RAGPLANE_INGEST_MAX_UNZIPPED_BYTES)"
            )
