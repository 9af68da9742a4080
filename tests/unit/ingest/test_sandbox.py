"""The parse budget: the PDF page cap, in-process parsing, and worker processes that are replaced after a
document overran its time or memory budget (the pool tests start real worker processes)."""

from __future__ import annotations

import asyncio

import pytest

from ragplane_ingest.parsing import FORMATS, ParseError
from ragplane_ingest.parsing.pdf import parse_pdf
from ragplane_ingest.parsing.sandbox import ParseBudget, ParserPool

FORMAT = {fmt.name: fmt for fmt in FORMATS}
TREE = b"<html><body>" + b"<p>x</p>" * 400_000 + b"</body></html>"
pool_test = pytest.mark.integration  # starts worker processes


@pytest.mark.unit
def test_pdf_over_the_page_cap_is_refused_naming_the_count_and_the_setting(docgen):
    with pytest.raises(ParseError) as info:
        parse_pdf(docgen.raw_pdf(["p"] * 11), max_pages=10)
    assert info.value.reason == "has 11 pages, over the limit of 10 (RAGPLANE_INGEST_MAX_PDF_PAGES)"
    assert parse_pdf(docgen.raw_pdf(["p"] * 10), max_pages=10).pages == 10


@pytest.mark.unit
async def test_in_process_parsing_applies_the_page_cap(docgen):
    parsers = ParserPool(ParseBudget(workers=0, max_pdf_pages=2))
    assert (await parsers.parse(b"plain words", FORMAT["text"])).text == "plain words"
    with pytest.raises(ParseError, match="has 3 pages"):
        await parsers.parse(docgen.raw_pdf(["a", "b", "c"]), FORMAT["pdf"])


async def _pool(**budget) -> ParserPool:
    parsers = ParserPool(ParseBudget(workers=1, **budget))
    await parsers.start()
    return parsers


@pool_test
async def test_a_parse_over_the_time_budget_is_refused_and_the_worker_replaced():
    parsers = await _pool(timeout_s=0.05, memory_mb=4096)
    try:
        with pytest.raises(ParseError) as info:
            await asyncio.wait_for(parsers.parse(TREE, FORMAT["html"]), 30)
        assert info.value.reason == "parsing exceeded 0.05 s (RAGPLANE_INGEST_PARSE_TIMEOUT_S)"
        assert (await parsers.parse(b"after", FORMAT["text"])).text == "after"
    finally:
        await parsers.stop()


@pool_test
async def test_a_parse_over_the_memory_budget_is_refused_and_the_worker_replaced():
    parsers = await _pool(timeout_s=60, memory_mb=32)
    try:
        with pytest.raises(ParseError) as info:
            await parsers.parse(TREE, FORMAT["html"])
        assert info.value.reason == "parsing exceeded 32 MiB (RAGPLANE_INGEST_PARSE_MEMORY_MB)"
        assert (await parsers.parse(b"<p>after</p>", FORMAT["html"])).text.strip() == "after"
    finally:
        await parsers.stop()


@pool_test
async def test_a_cancelled_parse_gives_its_worker_back_and_readable_errors_keep_it(docgen):
    parsers = await _pool(timeout_s=60, memory_mb=512)
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(parsers.parse(TREE, FORMAT["html"]), 0.05)
        with pytest.raises(ParseError, match="no %PDF header"):
            await asyncio.wait_for(parsers.parse(b"not a pdf", FORMAT["pdf"]), 60)
        assert (await asyncio.wait_for(parsers.parse(docgen.raw_pdf(["one"]), FORMAT["pdf"]), 60)).pages == 1
    finally:
        await parsers.stop()
