"""Prometheus metrics of the eval service (rolling online scores per tenant, sampling counters)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FAITHFULNESS = Gauge(
    "ragplane_eval_faithfulness",
    "Rolling mean faithfulness of the tenant's last RAGPLANE_EVAL_WINDOW scored answers.",
    ["tenant"],
)
ANSWER_RELEVANCE = Gauge(
    "ragplane_eval_answer_relevance", "Rolling mean answer relevance of the tenant's last scored answers.", ["tenant"]
)
CONTEXT_RELEVANCE = Gauge(
    "ragplane_eval_context_relevance", "Rolling mean context relevance of the tenant's last scored answers.", ["tenant"]
)
GAUGES = {"faithfulness": FAITHFULNESS, "answer_relevance": ANSWER_RELEVANCE, "context_relevance": CONTEXT_RELEVANCE}

SAMPLED = Counter("ragplane_eval_online_sampled_total", "Answers scored online.", ["tenant", "reason"])
SKIPPED = Counter("ragplane_eval_online_skipped_total", "Answers not sampled for online scoring.", ["tenant"])
JUDGE_FAILURES = Counter(
    "ragplane_eval_online_judge_failures_total",
    "Sampled answers the judge could not score (published without scores).",
    ["tenant"],
)
RUNS = Counter("ragplane_eval_runs_total", "Offline dataset runs by outcome (ok, error, cancelled).", ["outcome"])
