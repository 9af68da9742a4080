"""DOCX (python-docx): paragraphs and tables in body order; Heading styles open sections.

Tables become Markdown rows; "Title" styled paragraphs give the title (else the core properties' title).
"""

from __future__ import annotations

import io
import re
import zipfile

from ragplane_ingest.parsing.archive import ZipLimits, check_zip
from ragplane_ingest.parsing.model import (
    HeadingStack,
    ParsedDocument,
    ParseError,
    TextBuilder,
    collapse_whitespace,
    markdown_table,
    normalize_newlines,
)

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_LIST_STYLE = re.compile(r"^list\b", re.IGNORECASE)


def parse_docx(data: bytes, limits: ZipLimits | None = None) -> ParsedDocument:
    """Extract paragraphs and tables of a Word document with its heading structure.

    Raises:
        ParseError: "corrupt DOCX: ..." when the file is not a readable Word document; naming the zip member
            when the archive would expand past ``limits`` (checked before python-docx inflates anything).
    """
    check_zip(data, limits or ZipLimits())
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ParseError(f"corrupt DOCX: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - python-docx and lxml raise various types for damaged files
        raise ParseError(f"corrupt DOCX: {exc}") from None

    builder = TextBuilder()
    headings = HeadingStack()
    title = ""
    paragraph_tag, table_tag = qn("w:p"), qn("w:tbl")
    for element in document.element.body.iterchildren():
        if element.tag == paragraph_tag:
            paragraph = Paragraph(element, document)
            text = normalize_newlines(paragraph.text).strip()
            if not text:
                continue
            style = paragraph.style.name if paragraph.style is not None else ""
            heading = _HEADING_STYLE.match(style or "")
            if heading:
                path = headings.push(int(heading.group(1)), collapse_whitespace(text))
                builder.paragraph_break()
                builder.begin(path)
                builder.write(text)
                builder.mark_heading_end()
                builder.paragraph_break()
                continue
            if (style or "").lower() == "title" and not title:
                title = collapse_whitespace(text)
            builder.paragraph_break()
            builder.write(f"- {text}" if _LIST_STYLE.match(style or "") else text)
        elif element.tag == table_tag:
            table = Table(element, document)
            rows = [[cell.text for cell in row.cells] for row in table.rows]
            rendered = markdown_table(rows)
            if rendered:
                builder.paragraph_break()
                builder.write(rendered)
    core_title = ""
    try:
        core_title = document.core_properties.title or ""
    except Exception:  # noqa: BLE001 - core properties are optional
        core_title = ""
    return builder.build(title=title or core_title, format="docx")
