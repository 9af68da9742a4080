"""The ingest benchmark's CPU accounting reads a process's CPU time from /proc."""

from __future__ import annotations

import os
import time

import pytest

from ragplane.cli.bench_ingest import _cpu_seconds

pytestmark = pytest.mark.unit


def test_cpu_seconds_grows_while_the_process_works_and_matches_the_kernel_count():
    before = _cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    after = _cpu_seconds(os.getpid())
    assert before is not None and after is not None
    assert 0.2 <= after - before <= 1.0
    # within a couple of clock ticks of what the kernel reports to the process itself
    assert abs(after - time.process_time()) < 0.1


def test_cpu_seconds_of_a_missing_process_is_none():
    assert _cpu_seconds(2**22 + 12345) is None
