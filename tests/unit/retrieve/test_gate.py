"""Read priority: a write call waits for in-flight searches, but never longer than the cap."""

from __future__ import annotations

import threading

import pytest

from ragplane_retrieve.gate import ReadPriorityGate

pytestmark = pytest.mark.unit


def test_a_write_goes_at_once_without_searches():
    assert ReadPriorityGate(max_wait_s=1.0).before_write() == 0.0


def test_a_write_waits_until_the_search_in_flight_is_done():
    gate = ReadPriorityGate(max_wait_s=30.0)
    inside, release, wrote = threading.Event(), threading.Event(), threading.Event()

    def search():
        with gate.reading():
            inside.set()
            release.wait(30)

    reader = threading.Thread(target=search)
    reader.start()
    inside.wait(30)
    writer = threading.Thread(target=lambda: (gate.before_write(), wrote.set()))
    writer.start()
    assert not wrote.wait(0.2)  # still held back by the search
    release.set()
    assert wrote.wait(30)
    reader.join()
    writer.join()
    assert gate.readers == 0


def test_a_steady_stream_of_searches_cannot_starve_the_writer():
    gate = ReadPriorityGate(max_wait_s=0.05)
    with gate.reading():
        waited = gate.before_write()
    assert 0.05 <= waited < 5.0
