"""HTML: visible text in document order; h1-h6 open sections; tables become Markdown rows.

script, style, nav and other non-content elements are dropped. Block elements separate paragraphs, so the
extracted text reads like the rendered page.
"""

from __future__ import annotations

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import CData, Comment, Declaration, Doctype, ProcessingInstruction

from ragplane_ingest.parsing.model import (
    HeadingStack,
    ParsedDocument,
    ParseError,
    TextBuilder,
    collapse_whitespace,
    markdown_table,
)

DROPPED = frozenset(
    {
        "script",
        "style",
        "nav",
        "noscript",
        "template",
        "svg",
        "iframe",
        "object",
        "canvas",
        "head",
        "button",
        "select",
        "input",
        "textarea",
    }
)
BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "aside",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "figure",
        "figcaption",
        "form",
        "fieldset",
        "address",
        "hr",
        "details",
        "summary",
        "body",
        "html",
    }
)
HEADINGS = {f"h{level}": level for level in range(1, 7)}
_SKIPPED_STRINGS = (Comment, Doctype, Declaration, ProcessingInstruction, CData)
# The walk recurses once per element level; real pages nest a few dozen deep, a hostile one thousands.
MAX_DEPTH = 256
# Bytes fed to the streaming depth check at a time: it stops within one feed of the first element too deep.
_FEED_BYTES = 64 * 1024


def _features() -> str:
    try:
        import lxml  # noqa: F401

        return "lxml"
    except ImportError:  # pragma: no cover - lxml ships with the service
        return "html.parser"


class _Walker:
    def __init__(self) -> None:
        self.builder = TextBuilder()
        self.headings = HeadingStack()
        self.first_h1 = ""
        # Items already numbered per <ol>: counting previous siblings for every <li> is quadratic.
        self._numbered: dict[int, int] = {}

    def walk(self, node: Tag, depth: int = 0) -> None:
        """Write the text under ``node``.

        Raises:
            ParseError: elements nest deeper than ``MAX_DEPTH``.
        """
        if depth > MAX_DEPTH:
            raise ParseError(f"HTML elements nested deeper than {MAX_DEPTH} levels")
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIPPED_STRINGS):
                    self.builder.write_inline(collapse_whitespace_keep_edges(str(child)))
                continue
            if not isinstance(child, Tag):
                continue
            self.element(child, depth + 1)

    def element(self, tag: Tag, depth: int) -> None:
        name = tag.name.lower() if tag.name else ""
        if name in DROPPED:
            return
        if name in HEADINGS:
            self.heading(HEADINGS[name], collapse_whitespace(tag.get_text(" ")))
        elif name == "table":
            self.table(tag)
        elif name == "pre":
            self.builder.paragraph_break()
            self.builder.write(tag.get_text().strip("\n"))
            self.builder.paragraph_break()
        elif name == "br":
            self.builder.line_break()
        elif name == "li":
            self.builder.line_break()
            parent = tag.parent.name.lower() if isinstance(tag.parent, Tag) and tag.parent.name else ""
            if parent == "ol":
                position = self._numbered.get(id(tag.parent), 0) + 1
                self._numbered[id(tag.parent)] = position
                self.builder.write(f"{position}. ")
            else:
                self.builder.write("- ")
            self.walk(tag, depth)
            self.builder.line_break()
        elif name in BLOCKS:
            self.builder.paragraph_break()
            self.walk(tag, depth)
            self.builder.paragraph_break()
        else:
            self.walk(tag, depth)

    def heading(self, level: int, text: str) -> None:
        if not text:
            return
        path = self.headings.push(level, text)
        self.builder.paragraph_break()
        self.builder.begin(path)
        self.builder.write(text)
        self.builder.mark_heading_end()
        self.builder.paragraph_break()
        if level == 1 and not self.first_h1:
            self.first_h1 = text

    def table(self, table: Tag) -> None:
        rows = []
        for row in table.find_all("tr"):
            if row.find_parent("table") is not table:
                continue
            rows.append([cell.get_text(" ") for cell in row.find_all(["td", "th"], recursive=False)])
        rendered = markdown_table(rows)
        if rendered:
            self.builder.paragraph_break()
            self.builder.write(rendered)
            self.builder.paragraph_break()


class _TooDeep(Exception):
    pass


class _DepthCounter:
    """An lxml parser target that only counts open elements (no tree is built) and stops past ``MAX_DEPTH``."""

    def __init__(self) -> None:
        self.depth = 0

    def start(self, tag: str, attrib: object) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, data: str) -> None:
        pass

    def comment(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def check_depth(data: bytes) -> None:
    """Refuse HTML nested deeper than ``MAX_DEPTH`` while streaming it, before any tree is built.

    The same lxml HTML parser that BeautifulSoup uses reports each element as it opens and closes, so the
    depth counted here is the depth of the tree BeautifulSoup would build (implied closes included); the
    memory is the parser's stack of open elements, not the document.

    Raises:
        ParseError: elements nest deeper than ``MAX_DEPTH``.
    """
    try:
        from lxml import etree
    except ImportError:  # pragma: no cover - lxml ships with the service; the walk still checks the depth
        return
    parser = etree.HTMLParser(target=_DepthCounter(), recover=True, no_network=True)
    try:
        for offset in range(0, len(data), _FEED_BYTES):
            parser.feed(data[offset : offset + _FEED_BYTES])
        parser.close()
    except _TooDeep:
        raise ParseError(f"HTML elements nested deeper than {MAX_DEPTH} levels") from None
    except etree.LxmlError:
        return  # not for the depth check to judge: BeautifulSoup parses what it can


def collapse_whitespace_keep_edges(text: str) -> str:
    """Runs of whitespace become one space; a leading or trailing run stays as one space (word separation)."""
    collapsed = collapse_whitespace(text)
    if not collapsed:
        return " " if text else ""
    lead = " " if text[:1].isspace() else ""
    trail = " " if text[-1:].isspace() else ""
    return lead + collapsed + trail


def parse_html(data: bytes, charset: str = "") -> ParsedDocument:
    """Extract the visible text of an HTML page with its heading structure.

    The title is the <title> element, else the first h1.

    Raises:
        ParseError: elements nest deeper than ``MAX_DEPTH`` (found while streaming, before the tree is built).
    """
    check_depth(data)
    soup = BeautifulSoup(data, _features(), from_encoding=charset or None)
    title_tag = soup.find("title")
    title = collapse_whitespace(title_tag.get_text(" ")) if title_tag else ""
    walker = _Walker()
    root = soup.body or soup
    walker.walk(root)
    return walker.builder.build(title=title or walker.first_h1, format="html")
