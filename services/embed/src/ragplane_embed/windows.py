"""Overlapping token windows, so that a chunk longer than the encoder reads is embedded whole.

all-MiniLM-L6-v2 reads at most 256 word pieces (including [CLS] and [SEP]); chunks default to 512 tokens,
and a plain encode would silently drop everything after the first ~254 word pieces. A text longer than one
window is therefore cut, at word-piece boundaries taken from the tokenizer's character offsets, into
windows of at most ``window_tokens - 2`` word pieces that overlap by ``overlap`` word pieces; each window
is embedded and L2-normalised, and the chunk's vector is the mean of its window vectors, normalised again.
Every window is full-size (the last one is shifted back to end at the text's end), so no short tail window
weighs as much as a full one. A text that fits in one window is embedded as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPECIAL_TOKENS = 2  # [CLS] and [SEP]


@dataclass(frozen=True)
class Windowed:
    """Window texts of a batch and, for each input text, the slice of windows that belong to it."""

    windows: list[str]
    spans: list[tuple[int, int]]


def window_starts(n_tokens: int, size: int, overlap: int) -> list[int]:
    """Start offsets (in tokens) of windows of ``size`` tokens overlapping by ``overlap`` over ``n_tokens``.

    Raises:
        ValueError: when ``overlap`` is not smaller than ``size``.
    """
    if size <= 0:
        raise ValueError(f"window size must be > 0, but got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be >= 0 and < window size {size}, but got {overlap}")
    if n_tokens <= size:
        return [0]
    stride = size - overlap
    starts = list(range(0, n_tokens - size, stride))
    starts.append(n_tokens - size)  # the last window ends exactly at the last token
    return starts


def pool(vectors: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Mean of each text's normalised window vectors, renormalised to unit length.

    Args:
        vectors: (n_windows, d) window embeddings (normalised or not: they are normalised here).
        spans: per text, [start, end) rows of ``vectors``.

    Returns:
        (n_texts, d) float32 unit vectors.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    out = np.empty((len(spans), vectors.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        mean = unit[start:end].mean(axis=0)
        out[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


class Windower:
    """Splits texts into encoder-sized windows with the embedding model's own tokenizer.

    Args:
        tokenizer_path: the model's ``tokenizer.json`` (Hugging Face tokenizers format).
        window_tokens: the most word pieces the encoder reads, special tokens included (256 for MiniLM).
        overlap: word pieces shared by consecutive windows.
    """

    def __init__(self, tokenizer_path: str | Path, window_tokens: int = 256, overlap: int = 32) -> None:
        from tokenizers import Tokenizer

        self.window_tokens = window_tokens
        self.body = window_tokens - SPECIAL_TOKENS
        window_starts(self.body + 1, self.body, overlap)  # validates size/overlap now, not on first use
        self.overlap = overlap
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    def split(self, texts: Sequence[str]) -> Windowed:
        """Window texts for ``texts``; texts that fit are passed through unchanged."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        windows: list[str] = []
        spans: list[tuple[int, int]] = []
        for text, encoding in zip(texts, encodings):
            offsets = encoding.offsets
            first = len(windows)
            if len(offsets) <= self.body:
                windows.append(text)
            else:
                for start in window_starts(len(offsets), self.body, self.overlap):
                    end = start + self.body
                    windows.append(text[offsets[start][0] : offsets[end - 1][1]])
            spans.append((first, len(windows)))
        return Windowed(windows, spans)
