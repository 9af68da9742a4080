"""Builds small test documents of every supported format in memory (PDF by hand, DOCX with python-docx)."""

from __future__ import annotations

import io
from collections.abc import Sequence


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def raw_pdf(pages: Sequence[str]) -> bytes:
    """A minimal valid PDF with one text line per input line, Helvetica, one page per item of ``pages``."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * index for index in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for index, text in enumerate(pages):
        content_id = page_ids[index] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R "
            f">> >> /Contents {content_id} 0 R >>".encode()
        )
        lines = " T* ".join(f"{_pdf_string(line)} Tj" for line in text.split("\n"))
        stream = f"BT /F1 11 Tf 14 TL 72 740 Td {lines} ET".encode("latin-1")
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def make_pdf(
    pages: Sequence[str],
    *,
    title: str = "",
    outline: Sequence[tuple[str, int, int]] = (),
    user_password: str | None = None,
    owner_password: str | None = None,
) -> bytes:
    """A PDF with ``pages``; optional title, outline entries (title, zero-based page, level) and encryption."""
    raw = raw_pdf(pages)
    if not (title or outline or user_password is not None or owner_password is not None):
        return raw
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(raw)))
    if title:
        writer.add_metadata({"/Title": title})
    parents: dict[int, object] = {}
    for entry_title, page, level in outline:
        parent = parents.get(level - 1) if level > 1 else None
        parents[level] = writer.add_outline_item(title=entry_title, page_number=page, parent=parent)
    if user_password is not None or owner_password is not None:
        writer.encrypt(user_password=user_password or "", owner_password=owner_password, algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx(blocks: Sequence[tuple[str, object]], *, title: str = "") -> bytes:
    """A DOCX from blocks: ("heading1".."heading9", text), ("title", text), ("p", text), ("bullet", text),
    ("table", [[cell, ...], ...])."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for kind, value in blocks:
        if kind.startswith("heading"):
            document.add_heading(str(value), level=int(kind.removeprefix("heading")))
        elif kind == "title":
            document.add_heading(str(value), level=0)
        elif kind == "bullet":
            document.add_paragraph(str(value), style="List Bullet")
        elif kind == "table":
            rows = value  # type: ignore[assignment]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = str(cell)
        else:
            document.add_paragraph(str(value))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
