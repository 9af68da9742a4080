"""Hostile inputs for the ingest parsers and the chunker: what one worst-case document costs in time and memory.

Each parser (text, markdown, html, pdf, docx) and the chunker has a few input shapes an attacker (or an odd
exporter) can send: whitespace runs, one huge word, digit runs, deep nesting, pathological Markdown, many tiny
elements. ``hostile_input(target, shape, size)`` builds a document of about ``size`` bytes;
``python -m ragplane_ingest.bench TARGET SHAPE SIZE REPEAT`` measures one case in a fresh process and prints its
figures as JSON lines (``ragplane.runtime.bench.report_case``), so ``ragplane bench hostile`` can run
each case under a timeout and read its own peak memory.
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Callable

from ragplane.runtime.bench import report_case


def _repeat(unit: bytes, size: int, head: bytes = b"", tail: bytes = b"") -> bytes:
    """``head`` + ``unit`` repeated to about ``size`` bytes in all + ``tail``."""
    count = max(1, (size - len(head) - len(tail)) // len(unit))
    return head + unit * count + tail


def _pdf(content: list[bytes]) -> bytes:
    """A minimal valid PDF with one page per content stream (Helvetica, exact xref offsets)."""
    pages = len(content)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(pages))
        + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, stream in enumerate(content):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % (5 + 2 * index)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


_DOCX_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
    b'+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_DOCX_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _docx(body: bytes) -> bytes:
    """A minimal DOCX around ``body`` (WordprocessingML), stored uncompressed so its size is the XML's."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", _DOCX_TYPES)
        archive.writestr("_rels/.rels", _DOCX_RELS)
        archive.writestr("word/document.xml", b"<w:document " + _W + b"><w:body>" + body + b"</w:body></w:document>")
    return out.getvalue()


def _nested_tables(size: int) -> bytes:
    depth = max(1, size // 60)
    return b"<w:tbl><w:tr><w:tc>" * depth + b"<w:p><w:r><w:t>a</w:t></w:r></w:p>" + b"</w:tc></w:tr></w:tbl>" * depth


_TEXTUAL = {
    "whitespace-runs": lambda size: _repeat(b" " * 4095 + b"\t", size, b"a", b"a"),
    "huge-word": lambda size: b"a" * size,
    "digit-run": lambda size: b"7" * size,
    "tiny-lines": lambda size: b"a\n" * (size // 2),
    "crlf-runs": lambda size: b"\r\r\n" * (size // 3),
    "invalid-utf8": lambda size: _repeat(b"\xff\xfea ", size),
}
SHAPES: dict[str, dict[str, Callable[[int], bytes]]] = {
    "text": _TEXTUAL,
    "markdown": {
        "heading-flood": lambda size: b"# a\n" * (size // 4),
        "hash-run": lambda size: b"#" * size,
        "deep-quote": lambda size: b">" * size + b" a\n",
        "emphasis": lambda size: b"*a_" * (size // 3),
        "unclosed-fence": lambda size: _repeat(b"`" * 3 + b"a\n", size),
        "table-pipes": lambda size: b"|" * size + b"\n|---|\n",
        "open-front-matter": lambda size: _repeat(b"a: b\n", size, b"---\n"),
    },
    "html": {
        "deep-nesting": lambda size: b"<div>" * (size // 5),
        "tiny-elements": lambda size: b"<p>a</p>" * (size // 8),
        "unclosed-inline": lambda size: b"<b><i>a" * (size // 7),
        "nested-tables": lambda size: b"<table><tr><td>" * (size // 15),
        "heading-flood": lambda size: b"<h1>a</h1>" * (size // 10),
        "attribute-flood": lambda size: _repeat(b'a="b" ', size, b"<p ", b">x</p>"),
        "whitespace-runs": lambda size: _repeat(b" " * 1023 + b"\n", size, b"<p>a", b"a</p>"),
    },
    "pdf": {
        "tiny-text-ops": lambda size: _pdf([b"BT /F1 9 Tf " + b"(a) Tj " * (size // 7) + b"ET"]),
        "huge-string": lambda size: _pdf([b"BT /F1 9 Tf (" + b"a" * size + b") Tj ET"]),
        "many-pages": lambda size: _pdf([b"BT /F1 9 Tf (a) Tj ET"] * max(1, size // 250)),
        "line-moves": lambda size: _pdf([b"BT /F1 9 Tf " + b"0 -1 Td (a) Tj " * (size // 16) + b"ET"]),
    },
    "docx": {
        "tiny-paragraphs": lambda size: _docx(b"<w:p><w:r><w:t>a</w:t></w:r></w:p>" * (size // 35)),
        "many-runs": lambda size: _docx(b"<w:p>" + b"<w:r><w:t>a</w:t></w:r>" * (size // 24) + b"</w:p>"),
        "huge-paragraph": lambda size: _docx(b"<w:p><w:r><w:t>" + b"a " * (size // 2) + b"</w:t></w:r></w:p>"),
        "nested-tables": lambda size: _docx(_nested_tables(size)),
    },
    "chunker": {
        **{name: _TEXTUAL[name] for name in ("whitespace-runs", "huge-word", "digit-run")},
        "cjk-no-spaces": lambda size: "漢字" * (size // 6),
        "tiny-paragraphs": lambda size: b"a\n\n" * (size // 3),
        "sentence-ends": lambda size: b"a. " * (size // 3),
    },
}
TARGETS = tuple(SHAPES)


def hostile_cases() -> list[tuple[str, str]]:
    """Every ``(target, shape)`` pair, parsers first, then the chunker."""
    return [(target, shape) for target, shapes in SHAPES.items() for shape in shapes]


def hostile_input(target: str, shape: str, size: int) -> bytes:
    """A hostile document of about ``size`` bytes of ``shape`` for ``target``."""
    data = SHAPES[target][shape](size)
    return data.encode("utf-8") if isinstance(data, str) else data


def case(target: str, shape: str, size: int) -> Callable[[], object]:
    """The call to measure: parse (or chunk the text parse of) one hostile document; building it is not timed."""
    from ragplane_ingest.parsing import FORMATS, parse

    data = hostile_input(target, shape, size)
    if target != "chunker":
        fmt = next(f for f in FORMATS if f.name == target)
        return lambda: parse(data, fmt)
    from ragplane_ingest.chunking import ChunkingParams, HFTokenizer, chunk_document
    from ragplane_ingest.parsing.text import parse_text

    tokenizer = HFTokenizer.default()
    tokenizer.warm_up()
    document = parse_text(data)
    return lambda: chunk_document(document, tokenizer, ChunkingParams())


def main(argv: list[str]) -> None:
    """``TARGET SHAPE SIZE REPEAT``: measure one case here and print its figures as JSON lines."""
    target, shape, size, repeat = argv
    try:
        # A small input first, so lazy imports (lxml, pypdf, python-docx) do not count as the case's memory.
        case(target, shape, 256)()
    except Exception:  # noqa: BLE001, S110 - the measured call reports the same error
        pass
    report_case(case(target, shape, int(size)), int(repeat))


if __name__ == "__main__":
    main(sys.argv[1:])
