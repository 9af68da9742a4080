"""Retrieval and answer metrics: pure functions over ranked doc ids and answer strings.

Retrieval relevance is binary by document id: a retrieved document is relevant when its id is among the
question's relevant ids. Ranked lists are of document ids, best first, with duplicates already removed (several
chunks of one document count once, at the rank of its best chunk).

Answer metrics follow the official SQuAD v1.1 evaluation script: both strings are normalised (lowercase, drop
punctuation, drop the articles a/an/the, collapse whitespace); exact match and token F1 take the best score
over the gold answers.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

from ragplane.runtime import bench

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, remove punctuation, remove articles, collapse whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer, else 0.0 (0.0 without golds)."""
    normalized = normalize_answer(prediction)
    return float(any(normalized == normalize_answer(gold) for gold in golds))


def _f1_one(prediction: str, gold: str) -> float:
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(gold).split()
    common = Counter(predicted) & Counter(expected)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted)
    recall = overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Best token-overlap F1 of the prediction against the gold answers (0.0 without golds)."""
    return max((_f1_one(prediction, gold) for gold in golds), default=0.0)


def dedupe(ids: Iterable[str]) -> list[str]:
    """Keep the first occurrence of each id, in order (chunks -> ranked documents)."""
    return list(dict.fromkeys(ids))


def _check_k(k: int) -> None:
    if k <= 0:
        raise ValueError(f"k must be > 0, but got {k}")


def hit_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """1.0 when any relevant id is in the top ``k``, else 0.0."""
    _check_k(k)
    wanted = set(relevant)
    return float(any(doc in wanted for doc in ranked[:k]))


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of the relevant ids found in the top ``k`` (0.0 when there are none)."""
    _check_k(k)
    wanted = set(relevant)
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def precision_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Relevant ids in the top ``k`` divided by ``k`` (a short list is not padded out of the denominator)."""
    _check_k(k)
    wanted = set(relevant)
    return sum(1 for doc in ranked[:k] if doc in wanted) / k


def mrr_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """Reciprocal rank of the first relevant id within the top ``k``; 0.0 when none is there."""
    _check_k(k)
    wanted = set(relevant)
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in wanted:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k: DCG = sum(rel_i / log2(i + 1)) over ranks i, divided by the ideal DCG."""
    _check_k(k)
    wanted = set(relevant)
    if not wanted:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1) if doc in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal


# Cut-offs reported for each retrieval mode; names become "retrieval.<mode>.<metric>".
RETRIEVAL_METRICS = ("hit@1", "hit@5", "hit@20", "recall@5", "recall@20", "precision@5", "mrr@10", "ndcg@10")


def retrieval_scores(ranked: Sequence[str], relevant: Sequence[str]) -> dict[str, float]:
    """Every metric in ``RETRIEVAL_METRICS`` for one ranked list."""
    return {
        "hit@1": hit_at_k(ranked, relevant, 1),
        "hit@5": hit_at_k(ranked, relevant, 5),
        "hit@20": hit_at_k(ranked, relevant, 20),
        "recall@5": recall_at_k(ranked, relevant, 5),
        "recall@20": recall_at_k(ranked, relevant, 20),
        "precision@5": precision_at_k(ranked, relevant, 5),
        "mrr@10": mrr_at_k(ranked, relevant, 10),
        "ndcg@10": ndcg_at_k(ranked, relevant, 10),
    }


def mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean, or None for no values (a metric nobody could compute is absent, not zero)."""
    items = list(values)
    return sum(items) / len(items) if items else None


def percentile(values: Iterable[float], q: float) -> float | None:
    """The runtime's one percentile definition (linear interpolation) for ``q`` in [0, 100]; None for no values."""
    items = list(values)
    return bench.percentile(items, q) if items else None


def bootstrap_ci(
    values: Sequence[float], *, confidence: float = 0.95, resamples: int = 1000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap confidence interval of the mean; None for fewer than two values."""
    if len(values) < 2:
        return None
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2 * 100
    low = percentile(means, tail)
    high = percentile(means, 100 - tail)
    assert low is not None and high is not None
    return low, high
