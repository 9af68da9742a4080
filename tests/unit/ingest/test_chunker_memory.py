"""The chunker's memory is a small multiple of the document (issue 13, hardening item 5).

Chunking 1 MB of CJK text (no spaces) or 1 MB of tiny paragraphs took 250-280 MiB: the tokenizer's encodings
of the whole text were held at once, every token was a Python tuple, and each boundary level a set of ints.
Measured as ``ragplane bench hostile`` does: the peak resident-set growth of a fresh process around the call.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

MAX_PEAK_MB = 40  # 1 MB of input; the text itself is about 1-4 MB as a Python str


@pytest.mark.parametrize("shape", ["cjk-no-spaces", "tiny-paragraphs", "sentence-ends"])
def test_chunking_1_mb_peaks_at_a_small_multiple_of_the_input(shape):
    done = subprocess.run(
        [sys.executable, "-m", "ragplane_ingest.bench", "chunker", shape, "1000000", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.splitlines()[0])
    assert figures["outcome"] == "ok"
    assert figures["peak_mb"] < MAX_PEAK_MB, figures
