"""The boot test catches a deployment that cannot run: the chart and code as they were on c97e37f (the code on
PYTHONPATH ahead of the venv's, as that commit's images would have run it) fail the boot with the two crashes
issue 12 names, and the failure quotes each crashing workload's log lines.

- With production auth (``global.auth.allowDevKey: false``) the internal services got no ``RAGPLANE_API_KEYS``,
  fell back to the code default ``dev-key=default`` and refused to start (SettingsError).
- With the only documented way out (``allowDevKey: true``) they start, but retrieve was never told
  ``RAGPLANE_RETRIEVE_STORE=qdrant``: it opened the embedded store under ``./data`` on a read-only root.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from chart.chartlib import NAMESPACE, RELEASE, ROOT, parse, run_helm
from deploy.harness import BootFailure, Deployment, switches_user

pytestmark = [pytest.mark.deploy, pytest.mark.integration, pytest.mark.slow]

BROKEN_COMMIT = "c97e37f"
INTERNAL = ("embed", "retrieve", "rerank", "generate", "guardrail")


@pytest.fixture(scope="module")
def old_tree():
    """charts/, libs/ and services/ as of c97e37f (skipped where the clone lacks that commit, e.g. shallow CI)."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "archive", BROKEN_COMMIT, "charts/ragplane", "libs", "services"],
        capture_output=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.skip(f"commit {BROKEN_COMMIT} is not in this clone: {done.stderr.decode()[-200:]}")
    # Readable by the pods' user (pytest's own temporary folders are private to root).
    root = Path(tempfile.mkdtemp(prefix="ragplane-c97e37f-"))
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(root, filter="data")
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def old_chart(old_tree):
    return old_tree / "charts" / "ragplane"


@pytest.fixture(scope="module")
def old_code(old_tree):
    """The environment that runs the old code: its source folders ahead of the venv's editable installs."""
    sources = sorted(str(p) for p in (*old_tree.glob("libs/*/src"), *old_tree.glob("services/*/src")))
    return {"PYTHONPATH": ":".join(sources)}


def _render_old(helm, chart, *sets: str):
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
    args += ["--values", str(chart / "ci" / "external-kafka-sasl-values.yaml")]
    for item in sets:
        args += ["--set", item]
    done = run_helm(helm, *args)
    assert done.returncode == 0, done.stderr
    return parse(done.stdout)


def _boot_failures(rendered, kafka_bootstrap, old_code) -> dict[str, str]:
    with (
        pytest.raises(BootFailure) as failed,
        Deployment(rendered, kafka_bootstrap, extra_env={"*": old_code}, boot_timeout_s=120),
    ):
        pass
    print(f"\n[broken values] {failed.value}")
    return failed.value.failures


def test_production_auth_without_keys_for_internal_services_fails_the_boot_naming_each_service(
    helm, old_chart, old_code, kafka_bootstrap
):
    failures = _boot_failures(_render_old(helm, old_chart), kafka_bootstrap, old_code)
    for name in INTERNAL:
        failure = failures.get(f"{name}-0", "")
        assert "exited" in failure and "RAGPLANE_API_KEYS" in failure, (name, sorted(failures))


def test_qdrant_url_without_store_selection_crashes_retrieve_on_the_read_only_root(
    helm, old_chart, old_code, kafka_bootstrap
):
    if os.geteuid() == 0 and not switches_user():
        pytest.skip("running as root without a way to switch to the pod's user: the read-only root is not enforced")
    rendered = _render_old(helm, old_chart, "global.auth.allowDevKey=true")
    failures = _boot_failures(rendered, kafka_bootstrap, old_code)
    assert "retrieve-0" in failures, sorted(failures)
    assert "exited" in failures["retrieve-0"]
    assert "Permission denied" in failures["retrieve-0"] or "Read-only" in failures["retrieve-0"], failures[
        "retrieve-0"
    ]


def test_a_workload_not_serving_by_the_deadline_fails_the_boot_with_its_log_lines(rendered_scenarios, kafka_bootstrap):
    # No model loads in a second: every replica is still starting when the deadline passes.
    with (
        pytest.raises(BootFailure) as failed,
        Deployment(rendered_scenarios["cpu-dev"], kafka_bootstrap, boot_timeout_s=1),
    ):
        pass
    failures = failed.value.failures
    assert "not SERVING after 1s; last 40 log lines" in failures.get("modelserver-0", ""), sorted(failures)
