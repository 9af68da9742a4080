"""Per-request load balancing, booted from the chart: two replicas each of the orchestrator, rerank and embed
behind their headless Services (a DNS server on loopback answers the headless names with every started
replica), 200 Ask calls, and every replica serves 35-65% of its service's calls; then a third rerank replica
starts mid-run and receives calls within the servers' max connection age.

Counts come from each replica's metrics page (``ragplane_rpc_duration_seconds_count``).
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from deploy.harness import Deployment, Replica
from deploy.test_boot import ingest_and_ask

from ragplane.runtime.clients import channel_options
from ragplane.v1 import common_pb2, rag_pb2, rag_pb2_grpc

pytestmark = [pytest.mark.deploy, pytest.mark.integration, pytest.mark.slow]

CALLS = 200
BALANCED = ["orchestrator", "embed", "rerank"]
METHODS = {"orchestrator": "Ask", "embed": "Embed", "rerank": "Rerank"}
MAX_AGE_S = 10
# The chart's values for the test: two replicas each, and a short max connection age so the test is quick.
SETS = (
    *(f"{name}.replicas=2" for name in BALANCED),
    f"global.grpc.maxConnectionAgeSeconds={MAX_AGE_S}",
    "global.grpc.dnsRefreshSeconds=1",
)
CHEAP_ASK = rag_pb2.AskOptions(
    top_n=1, bypass_cache=True, sampling=common_pb2.SamplingParams(temperature=0.0, max_tokens=1)
)


def served(replica: Replica, method: str) -> int:
    """Calls of ``method`` the replica answered, from its metrics page."""
    text = urllib.request.urlopen(f"http://{replica.local.metrics_address}/metrics", timeout=5).read().decode()
    pattern = re.compile(rf'^ragplane_rpc_duration_seconds_count\{{[^}}]*method="{method}"[^}}]*\}} ([0-9.e+]+)$', re.M)
    return int(sum(float(m) for m in pattern.findall(text)))


def counts(deployment: Deployment) -> dict[str, list[int]]:
    return {name: [served(r, METHODS[name]) for r in deployment.replicas_of(name)] for name in BALANCED}


def test_two_replicas_each_share_200_calls_and_a_replica_added_mid_run_gets_calls_within_the_max_age(
    render, kafka_bootstrap
):
    rendered = render("cpu-dev", *SETS)
    replicas = dict.fromkeys(BALANCED, 2)
    with Deployment(rendered, kafka_bootstrap, replicas=replicas, spare={"rerank": 1}) as deployment:
        ingest_and_ask(deployment, f"herons-{uuid.uuid4().hex[:8]}")
        auth = [("authorization", f"Bearer {deployment.client_key()}")]
        # A client in the cluster: the orchestrator's headless name through the cluster's DNS, round_robin.
        port = deployment.address("orchestrator").rsplit(":", 1)[1]
        target = f"dns://{deployment.dns.address}/rp-ragplane-orchestrator-headless.ragplane.svc:{port}"
        with grpc.insecure_channel(target, options=channel_options()) as channel:
            stub = rag_pb2_grpc.RagServiceStub(channel)

            def ask(i: int) -> None:
                stub.Ask(
                    rag_pb2.AskRequest(query=f"Where do glass herons nest? ({i})", options=CHEAP_ASK),
                    metadata=auth,
                    timeout=120,
                )

            before = counts(deployment)
            began = time.monotonic()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(ask, range(CALLS)))
            elapsed = time.monotonic() - began
            after = counts(deployment)
            shares = {}
            for name in BALANCED:
                delta = [a - b for a, b in zip(after[name], before[name], strict=True)]
                total = sum(delta)
                assert total >= CALLS, (name, delta)
                shares[name] = [round(d / total, 3) for d in delta]
            print(f"\n[balancing] {CALLS} Asks in {elapsed:.1f}s; shares per replica: {shares}")
            for name, parts in shares.items():
                assert all(0.35 <= p <= 0.65 for p in parts), (name, parts)

            # Scale rerank up: the new replica must get calls within the max connection age (servers close
            # connections after it, the orchestrators look the name up again and find the new address).
            added = deployment.add_replica("rerank")
            ready = time.monotonic()
            calls = 0
            while served(added, "Rerank") == 0:
                waited = time.monotonic() - ready
                assert waited < MAX_AGE_S * 1.1 + 5, f"the new rerank replica got no call in {waited:.1f}s"
                ask(CALLS + calls)
                calls += 1
            waited = time.monotonic() - ready
            print(
                f"[balancing] the added rerank replica served its first call {waited:.1f}s after SERVING "
                f"(max connection age {MAX_AGE_S}s, {calls} Asks meanwhile)"
            )
