"""Token counting for prompt budgets: the served model's own tokenizer when its GGUF is local, else an estimate.

The estimate, ``ceil(characters / 3.6)``, over-counts English text for the tokenizers used here so that budgets
mostly hold: on 300 SQuAD v1.1 dev passages Qwen2.5's and SmolLM2's tokenizers give 4.6 characters per token, and
the estimate comes out 28% high on average, yet low for 13 of the 300 (text dense in digits and names). It
under-counts code and non-Latin scripts more; use the model's tokenizer (a local GGUF) where budgets are tight.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

APPROX_CHARS_PER_TOKEN = 3.6


class TokenCounter(Protocol):
    """Counts tokens of text as the model would read it."""

    name: str

    def count(self, text: str) -> int:
        """Tokens in ``text`` (without a beginning-of-sequence token)."""


class ApproxTokenCounter:
    """Character-based estimate (see the module doc for how it was chosen)."""

    name = "approx"

    def __init__(self, chars_per_token: float = APPROX_CHARS_PER_TOKEN) -> None:
        if chars_per_token <= 0:
            raise ValueError(f"chars_per_token must be > 0, but got {chars_per_token}")
        self._chars_per_token = chars_per_token

    def count(self, text: str) -> int:
        return math.ceil(len(text) / self._chars_per_token) if text else 0


class GgufTokenCounter:
    """The tokenizer stored in a GGUF file, loaded without weights (llama.cpp ``vocab_only``).

    Args:
        path: the GGUF file.
    """

    def __init__(self, path: Path) -> None:
        from llama_cpp import Llama

        self.name = f"gguf:{path.name}"
        self._llm = Llama(model_path=str(path), vocab_only=True, verbose=False)

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))
