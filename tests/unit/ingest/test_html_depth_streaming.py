"""Deep HTML is refused while it is parsed, before a tree is built (issue 13, hardening item 4).

A 1 MB file of 200,000 nested ``<div>`` used to be parsed into a whole BeautifulSoup tree (about 110 MiB, and
200 MiB for unclosed inline tags) before the walk found it too deep. A streaming depth counter over the parser's
events now stops at ``MAX_DEPTH`` in memory bounded by the depth, not the file.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc

import pytest

from ragplane_ingest.parsing.html import MAX_DEPTH, parse_html
from ragplane_ingest.parsing.model import ParseError

pytestmark = pytest.mark.unit

HOSTILE = {
    "nested-divs": b"<div>" * 200_000 + b"x",
    "unclosed-inline": b"<b><i>a" * 140_000,
    "nested-tables": b"<table><tr><td>" * 66_000 + b"x",
    "closed-late": b"<span>" * 100_000 + b"x" + b"</span>" * 100_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_deep_html_of_1_mb_is_refused_in_bounded_python_memory(name):
    tracemalloc.start()
    try:
        with pytest.raises(ParseError, match=f"nested deeper than {MAX_DEPTH} levels"):
            parse_html(HOSTILE[name])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"{peak / 2**20:.1f} MiB traced"


def test_deep_html_of_1_mb_is_refused_in_bounded_native_memory():
    # Resident-set growth in a fresh process: lxml's own allocations are invisible to tracemalloc.
    code = textwrap.dedent(
        """
        import resource
        from ragplane_ingest.parsing.html import parse_html
        parse_html(b"<p>warm</p>")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            parse_html(b"<div>" * 200_000 + b"x")
        except Exception as exc:
            print(type(exc).__name__)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    error, grown_mb = done.stdout.split()
    assert error == "ParseError"
    assert float(grown_mb) < 16, f"{grown_mb} MiB"


@pytest.mark.parametrize("depth", [10, MAX_DEPTH - 4])
def test_html_nested_within_the_limit_is_parsed(depth):
    doc = parse_html(b"<html><body>" + b"<div>" * depth + b"deep text" + b"</div>" * depth + b"</body></html>")
    assert doc.text.strip() == "deep text"


def test_many_siblings_are_not_depth():
    doc = parse_html(b"<body>" + b"<p>a</p><br><img src=x>" * 20_000 + b"</body>")
    assert doc.text.count("a") == 20_000
