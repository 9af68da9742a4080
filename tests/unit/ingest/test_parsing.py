"""Parsers: extracted text, section paths, pages, titles and the reasons unreadable documents fail with."""

from __future__ import annotations

import pytest

from ragplane_ingest.parsing import FORMATS, ParseError, UnsupportedFormat, parse, select_format
from ragplane_ingest.parsing.docx import parse_docx
from ragplane_ingest.parsing.html import parse_html
from ragplane_ingest.parsing.markdown import parse_markdown
from ragplane_ingest.parsing.pdf import parse_pdf
from ragplane_ingest.parsing.text import decode_text, parse_text

pytestmark = pytest.mark.unit


def sections(doc):
    return [(doc.text[s.start : s.end], s.section_path, s.page) for s in doc.segments]


# -- format selection ------------------------------------------------------------------------------


def test_content_type_wins_over_extension():
    assert select_format("notes.txt", "text/markdown; charset=utf-8").name == "markdown"


def test_extension_is_used_when_content_type_is_missing_or_unknown():
    assert select_format("dir/Report.PDF", "").name == "pdf"
    assert select_format("page.htm", "application/octet-stream").name == "html"
    assert select_format("c:\\docs\\memo.docx", "").name == "docx"


def test_unsupported_type_names_the_source_and_the_supported_formats():
    with pytest.raises(UnsupportedFormat) as info:
        select_format("images/cat.png", "image/png")
    message = str(info.value)
    assert "'images/cat.png'" in message and "image/png" in message
    assert all(fmt.name in message for fmt in FORMATS)


def test_file_without_extension_or_type_is_unsupported():
    with pytest.raises(UnsupportedFormat, match="no extension"):
        select_format("README", "")


# -- plain text ------------------------------------------------------------------------------------


def test_plain_text_is_one_untitled_segment_with_normalised_newlines():
    doc = parse_text(b"  line one\r\nline two\r\n\r\n")
    assert doc.text == "  line one\nline two\n\n"
    assert sections(doc) == [("line one\nline two", (), 0)]


def test_text_decoding_uses_charset_then_bom_then_utf8_then_cp1252():
    assert decode_text("caf\u00e9".encode("latin-1"), "latin-1") == "caf\u00e9"
    assert decode_text("hi".encode("utf-16")) == "hi"
    assert decode_text(b"\xef\xbb\xbfhi") == "hi"
    assert decode_text("\u00fcber".encode()) == "\u00fcber"
    assert decode_text(b"\x93quoted\x94") == "\u201cquoted\u201d"


def test_binary_bytes_are_not_text():
    with pytest.raises(ParseError, match="binary"):
        parse_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def test_unknown_charset_is_a_parse_error():
    with pytest.raises(ParseError, match="unknown charset"):
        parse(b"x", select_format("a.txt", ""), "text/plain; charset=klingon")


# -- markdown --------------------------------------------------------------------------------------

MARKDOWN = b"""---
title: Front Matter Title
tags: [a]
---
Preamble text.

# Guide

Intro.

## Install
Run it.

Setext Section
--------------

Under setext.

```bash
# a comment, not a heading
```

### Deep
Deep text.

# Second
Other.
"""


def test_markdown_headings_give_section_paths_and_code_fences_do_not():
    doc = parse_markdown(MARKDOWN)
    assert doc.text == MARKDOWN.decode()
    got = [(text.split("\n")[0], path) for text, path, _ in sections(doc)]
    assert got == [
        ("Preamble text.", ()),
        ("# Guide", ("Guide",)),
        ("## Install", ("Guide", "Install")),
        ("Setext Section", ("Guide", "Setext Section")),
        ("### Deep", ("Guide", "Setext Section", "Deep")),
        ("# Second", ("Second",)),
    ]
    assert "# a comment, not a heading" in sections(doc)[3][0]


def test_markdown_front_matter_title_and_exclusion():
    doc = parse_markdown(MARKDOWN)
    assert doc.title == "Front Matter Title"
    assert all("tags:" not in text for text, _, _ in sections(doc))


def test_markdown_title_is_first_level_one_heading_without_markup():
    doc = parse_markdown(b"Some text\n\n## Minor\n\n# The **Real** [Title](http://x)\nbody\n")
    assert doc.title == "The Real Title"
    assert sections(doc)[-1][1] == ("The Real Title",)


def test_markdown_setext_underline_after_paragraph_line_is_not_a_heading():
    doc = parse_markdown(b"first line\nsecond line\n---\nafter\n")
    assert [path for _, path, _ in sections(doc)] == [()]


# -- HTML ------------------------------------------------------------------------------------------

HTML = b"""<!doctype html><html><head><title> The  Page </title><style>p{color:red}</style>
<script>var secret = 1;</script></head>
<body><nav><a href="/">Home</a> | <a href="/x">Menu</a></nav>
<h1>Top</h1><p>Hello <b>bold</b>
   world.</p><!-- a comment -->
<h2>Lists</h2><ul><li>one</li><li>two</li></ul><ol><li>first</li><li>second</li></ol>
<h3>Data</h3><table><tr><th>name</th><th>value</th></tr><tr><td>a|b</td><td>2</td></tr></table>
<h2>Code</h2><pre>x = 1
y = 2</pre><noscript>enable js</noscript>
</body></html>"""


def test_html_drops_script_style_nav_and_comments():
    doc = parse_html(HTML)
    for hidden in ("secret", "color:red", "Home", "Menu", "a comment", "enable js"):
        assert hidden not in doc.text


def test_html_headings_give_section_paths_and_title():
    doc = parse_html(HTML)
    assert doc.title == "The Page"
    assert [path for _, path, _ in sections(doc)] == [
        ("Top",),
        ("Top", "Lists"),
        ("Top", "Lists", "Data"),
        ("Top", "Code"),
    ]
    assert sections(doc)[0][0] == "Top\n\nHello bold world."


def test_html_lists_tables_and_pre_keep_their_shape():
    doc = parse_html(HTML)
    texts = [text for text, _, _ in sections(doc)]
    assert "- one\n- two" in texts[1] and "1. first\n2. second" in texts[1]
    assert "| name | value |\n| --- | --- |\n| a\\|b | 2 |" in texts[2]
    assert "x = 1\ny = 2" in texts[3]


def test_html_title_falls_back_to_first_h1():
    assert parse_html(b"<body><h2>minor</h2><h1>Main</h1><p>x</p></body>").title == "Main"


# -- PDF -------------------------------------------------------------------------------------------


def test_pdf_pages_are_kept_per_segment(docgen):
    doc = parse_pdf(docgen.make_pdf(["First page text.", "Second page (with parens).", "Third."]))
    assert doc.pages == 3
    assert sections(doc) == [("First page text.", (), 1), ("Second page (with parens).", (), 2), ("Third.", (), 3)]


def test_pdf_outline_gives_sections_where_the_titles_appear(docgen):
    data = docgen.make_pdf(
        ["Introduction\nWhy this matters.", "Methods\nHow.\nResults\nNumbers."],
        title="Paper",
        outline=[("Introduction", 0, 1), ("Methods", 1, 1), ("Results", 1, 2)],
    )
    doc = parse_pdf(data)
    assert doc.title == "Paper"
    assert sections(doc) == [
        ("Introduction\nWhy this matters.", ("Introduction",), 1),
        ("Methods\nHow.", ("Methods",), 2),
        ("Results\nNumbers.", ("Methods", "Results"), 2),
    ]


def test_encrypted_pdf_fails_with_reason(docgen):
    with pytest.raises(ParseError) as info:
        parse_pdf(docgen.make_pdf(["secret text"], user_password="s3cret"))
    assert info.value.reason == "encrypted PDF"


def test_pdf_encrypted_only_against_editing_opens_without_a_password(docgen):
    doc = parse_pdf(docgen.make_pdf(["readable text"], owner_password="owner-only"))
    assert doc.text.strip() == "readable text"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda pdf: pdf[: len(pdf) // 2],
        lambda pdf: b"%PDF-1.4\n" + b"\x00garbage" * 20,
        lambda pdf: b"this is not a pdf at all",
    ],
)
def test_corrupt_pdf_fails_with_reason(docgen, mangle):
    with pytest.raises(ParseError) as info:
        parse_pdf(mangle(docgen.make_pdf(["some text on a page", "and another page"])))
    assert info.value.reason.startswith("corrupt PDF")


# -- DOCX ------------------------------------------------------------------------------------------


def test_docx_heading_styles_give_section_paths_and_tables_become_rows(docgen):
    data = docgen.make_docx(
        [
            ("title", "Handbook"),
            ("p", "Preface."),
            ("heading1", "Setup"),
            ("p", "Install it."),
            ("heading2", "Options"),
            ("bullet", "fast"),
            ("table", [["flag", "meaning"], ["-v", "verbose"]]),
            ("heading1", "Use"),
            ("p", "Run it."),
        ]
    )
    doc = parse_docx(data)
    assert doc.title == "Handbook"
    assert sections(doc) == [
        ("Handbook\n\nPreface.", (), 0),
        ("Setup\n\nInstall it.", ("Setup",), 0),
        ("Options\n\n- fast\n\n| flag | meaning |\n| --- | --- |\n| -v | verbose |", ("Setup", "Options"), 0),
        ("Use\n\nRun it.", ("Use",), 0),
    ]


def test_docx_title_falls_back_to_core_properties(docgen):
    assert parse_docx(docgen.make_docx([("p", "x")], title="From Properties")).title == "From Properties"


def test_corrupt_docx_fails_with_reason():
    with pytest.raises(ParseError, match="^corrupt DOCX"):
        parse_docx(b"PK\x03\x04 truncated zip")


# -- offsets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["text", "markdown", "html", "pdf", "docx"])
def test_segments_are_ordered_disjoint_spans_of_the_text(docgen, name):
    data = {
        "text": b"alpha\n\nbeta",
        "markdown": MARKDOWN,
        "html": HTML,
        "pdf": docgen.make_pdf(["p1 text", "p2 text"]),
        "docx": docgen.make_docx([("heading1", "A"), ("p", "x"), ("heading2", "B"), ("p", "y")]),
    }[name]
    doc = parse(data, next(f for f in FORMATS if f.name == name))
    previous_end = 0
    for segment in doc.segments:
        assert previous_end <= segment.start < segment.end <= len(doc.text)
        body = doc.text[segment.start : segment.end]
        assert body == body.strip()
        previous_end = segment.end
