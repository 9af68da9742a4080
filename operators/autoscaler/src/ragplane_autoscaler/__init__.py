"""ragplane's GPU-aware autoscaling operator (kopf).

Scales Deployments, StatefulSets and KServe InferenceServices on Kafka consumer lag and inference-queue metrics, in
whole tensor-parallel groups, within a node pool's GPU budget. Decisions are pure functions (decision.py, budget.py);
the kopf handlers (handlers.py) only read, decide, record in `.status` and scale.
"""

__version__ = "0.1.0"
