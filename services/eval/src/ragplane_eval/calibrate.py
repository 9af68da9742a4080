"""Calibrate the embedding judge on SQuAD: ``python -m ragplane_eval.calibrate SQUAD_JSON [--questions N]``.

For a seeded sample of questions it builds labelled pairs from the dataset itself:

- claim support: the gold answer against its gold passage (supported) versus the gold answer against another
  passage of the same article that does not contain it, and a wrong answer (the gold answer of another question
  of the article, absent from the gold passage) against the gold passage (both unsupported);
- context relevance: the question against its gold passage versus another passage of the same article (hard)
  and a passage of another article (easy);
- answer relevance: the question with its gold answer versus the question with the wrong answer, and versus
  the answer of another question about the same paragraph (present in the context, but not an answer to this
  question).

It prints, per signal, the ROC AUC and the threshold that maximises balanced accuracy on the first half of the
sample together with the accuracy that threshold reaches on the held-out second half. The figures in the README
come from this command.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragplane_eval import text as textutil
from ragplane_eval.datasets import Question, load_dataset
from ragplane_eval.judge import EmbeddingJudge, _coverage, claim_texts

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """ROC AUC as the probability that a random positive outscores a random negative (ties count half)."""
    pos = np.asarray(positives, dtype=float)[:, None]
    neg = np.asarray(negatives, dtype=float)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def balanced_accuracy(positives: Sequence[float], negatives: Sequence[float], threshold: float) -> float:
    return 0.5 * (
        float(np.mean(np.asarray(positives) >= threshold)) + float(np.mean(np.asarray(negatives) < threshold))
    )


def best_threshold(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """The cut (midpoint between neighbouring scores) with the best balanced accuracy."""
    values = np.unique(np.concatenate([positives, negatives]))
    cuts = (values[:-1] + values[1:]) / 2 if len(values) > 1 else values
    return float(max(cuts, key=lambda cut: balanced_accuracy(positives, negatives, cut)))


@dataclass
class Signal:
    """Scores of one signal on positive and negative pairs, each split into tune and held-out halves."""

    name: str
    positives: list[float]
    negatives: list[float]
    negative_groups: list[int]
    # The judge's configured threshold for this signal, when the signal is the one the judge uses.
    default: float | None = None

    def summary(self) -> dict[str, float]:
        half_pos, half_neg = len(self.positives) // 2, self.negative_groups
        tune_pos, held_pos = self.positives[:half_pos], self.positives[half_pos:]
        tune_neg = [v for v, g in zip(self.negatives, half_neg) if g == 0]
        held_neg = [v for v, g in zip(self.negatives, half_neg) if g == 1]
        threshold = best_threshold(tune_pos, tune_neg)
        at_default = {}
        if self.default is not None:
            at_default = {
                "default_threshold": self.default,
                "all_balanced_accuracy_at_default": round(
                    balanced_accuracy(self.positives, self.negatives, self.default), 4
                ),
            }
        return {
            **at_default,
            "auc": round(auc(self.positives, self.negatives), 4),
            "threshold": round(threshold, 4),
            "held_out_balanced_accuracy": round(balanced_accuracy(held_pos, held_neg, threshold), 4),
            "held_out_true_positive_rate": round(float(np.mean(np.asarray(held_pos) >= threshold)), 4),
            "held_out_true_negative_rate": round(float(np.mean(np.asarray(held_neg) < threshold)), 4),
            "positive_mean": round(float(np.mean(self.positives)), 4),
            "negative_mean": round(float(np.mean(self.negatives)), 4),
            "pairs": len(self.positives) + len(self.negatives),
        }


class _Embeddings:
    def __init__(self, judge: EmbeddingJudge) -> None:
        self.judge = judge
        self.vectors: dict[str, np.ndarray] = {}

    def add(self, texts: Sequence[str]) -> None:
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            for text, vector in zip(missing, self.judge.embed(missing)):
                self.vectors[text] = vector

    def __getitem__(self, text: str) -> np.ndarray:
        return self.vectors[text]


def _article(doc_id: str) -> str:
    return doc_id.rsplit("/", 1)[0]


def build_cases(path: str, questions: int, seed: int) -> list[dict[str, str]]:
    """One case per sampled question: gold/same-article/other-article passages, gold and wrong answers."""
    dataset = load_dataset(path)
    passages = {doc.doc_id: doc.text for doc in dataset.corpus}
    by_article: dict[str, list[str]] = {}
    for doc in dataset.corpus:
        by_article.setdefault(_article(doc.doc_id), []).append(doc.doc_id)
    answers_by_article: dict[str, list[Question]] = {}
    for question in dataset.questions:
        answers_by_article.setdefault(_article(question.relevant_doc_ids[0]), []).append(question)
    rng = random.Random(seed)
    cases = []
    for question in rng.sample(dataset.questions, min(questions * 2, len(dataset.questions))):
        gold_id = question.relevant_doc_ids[0]
        gold = passages[gold_id]
        article = _article(gold_id)
        answer = question.answers[0]
        same = [d for d in by_article[article] if d != gold_id and answer.lower() not in passages[d].lower()]
        wrong = [
            q.answers[0]
            for q in answers_by_article[article]
            if q.answers[0].lower() not in gold.lower()
            and not set(textutil.content_terms(q.answers[0])) <= textutil.content_terms(gold)
        ]
        neighbours = [
            q.answers[0]
            for q in answers_by_article[article]
            if q.relevant_doc_ids[0] == gold_id
            and q.id != question.id
            and not textutil.content_terms(q.answers[0]) & textutil.content_terms(answer)
        ]
        others = [a for a in by_article if a != article]
        if not same or not wrong or not neighbours:
            continue
        cases.append(
            {
                "question": question.question,
                "answer": answer,
                "gold": gold,
                "same_article": passages[rng.choice(same)],
                "other_article": passages[rng.choice(by_article[rng.choice(others)])],
                "wrong_answer": rng.choice(wrong),
                "same_passage_answer": rng.choice(neighbours),
            }
        )
        if len(cases) == questions:
            break
    return cases


def calibrate(path: str, questions: int = 300, seed: int = 13, judge: EmbeddingJudge | None = None) -> dict:
    """Scores of every signal on labelled SQuAD pairs; see the module docstring."""
    judge = judge or EmbeddingJudge()
    config = judge.config
    cases = build_cases(path, questions, seed)
    embeddings = _Embeddings(judge)
    texts: list[str] = []
    for case in cases:
        texts += [
            case["question"],
            *claim_texts(case["question"], case["answer"]),
            *claim_texts(case["question"], case["wrong_answer"]),
        ]
        for key in ("gold", "same_article", "other_article"):
            texts += [case[key], *textutil.split_sentences(case[key])]
        answers = (case["answer"], case["wrong_answer"], case["same_passage_answer"])
        texts += [EmbeddingJudge._answer_view(a, textutil.split_sentences(case["gold"])) for a in answers]
        texts += list(answers)
    embeddings.add(texts)

    def semantic(claim: str, passage: str) -> float:
        sentences = textutil.split_sentences(passage) or [passage]
        return max(float(embeddings[claim] @ embeddings[s]) for s in sentences)

    def support(question: str, answer: str, passage: str, weight: float) -> float:
        claim = claim_texts(question, answer)[0]
        return weight * _coverage(claim, question, passage) + (1 - weight) * semantic(claim, passage)

    half = len(cases) // 2
    group = [0 if i < half else 1 for i in range(len(cases))]
    signals: dict[str, Signal] = {}
    for weight in WEIGHTS:
        positives = [support(c["question"], c["answer"], c["gold"], weight) for c in cases]
        negatives, groups = [], []
        for c, g in zip(cases, group):
            negatives += [
                support(c["question"], c["answer"], c["same_article"], weight),
                support(c["question"], c["wrong_answer"], c["gold"], weight),
            ]
            groups += [g, g]
        default = config.support_threshold if weight == config.lexical_weight else None
        signals[f"support.lexical_weight={weight}"] = Signal("support", positives, negatives, groups, default)
    for kind in ("passage", "best_sentence"):

        def relevance(question: str, passage: str, kind: str = kind) -> float:
            if kind == "passage":
                return float(embeddings[question] @ embeddings[passage])
            return semantic(question, passage)

        positives = [relevance(c["question"], c["gold"]) for c in cases]
        for negative in ("same_article", "other_article"):
            negatives = [relevance(c["question"], c[negative]) for c in cases]
            default = config.context_threshold if kind == "best_sentence" else None
            signals[f"context.{kind}.vs_{negative}"] = Signal("context", positives, negatives, group, default)

    def answer_relevance(case: dict[str, str], answer: str, view: bool) -> float:
        shown = EmbeddingJudge._answer_view(answer, textutil.split_sentences(case["gold"])) if view else answer
        return float(embeddings[case["question"]] @ embeddings[shown])

    for view in (True, False):
        kind = "in_context_sentence" if view else "bare_answer"
        positives = [answer_relevance(c, c["answer"], view) for c in cases]
        default = config.relevance_threshold if view else None
        both, both_groups = [], []
        for negative in ("wrong_answer", "same_passage_answer"):
            negatives = [answer_relevance(c, c[negative], view) for c in cases]
            signals[f"answer_relevance.{kind}.vs_{negative}"] = Signal("answer", positives, negatives, group, default)
            both += negatives
            both_groups += group
        signals[f"answer_relevance.{kind}.vs_both"] = Signal("answer", positives, both, both_groups, default)
    return {
        "dataset": path,
        "questions": len(cases),
        "seed": seed,
        "signals": {name: signal.summary() for name, signal in signals.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ragplane_eval.calibrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", help="SQuAD-format JSON (e.g. SQuAD v1.1 dev)")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    json.dump(calibrate(args.dataset, args.questions, args.seed), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
