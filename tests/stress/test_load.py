"""Native threads hammering 1 and 100 names: no lost update, one holder."""

from __future__ import annotations

import random
import threading
import time

import pytest


@pytest.mark.parametrize("names", [1, 100])
def test_native_threads_hammer(lockutils, names, stress_seconds, report):
    counts = [0] * names
    inside = [0] * names
    state = {"acquisitions": 0, "max_wait": 0.0, "overlap": 0}
    stop = time.monotonic() + stress_seconds
    meta = threading.Lock()

    def work(seed):
        rng = random.Random(seed)
        done = 0
        max_wait = 0.0
        while time.monotonic() < stop:
            i = rng.randrange(names)
            t0 = time.monotonic()
            with lockutils.lock("load-%d" % i):
                max_wait = max(max_wait, time.monotonic() - t0)
                inside[i] += 1
                if inside[i] != 1:
                    state["overlap"] += 1
                value = counts[i]
                if rng.random() < 0.3:
                    time.sleep(0)  # invite a thread switch mid-update
                counts[i] = value + 1
                inside[i] -= 1
            done += 1
        with meta:
            state["acquisitions"] += done
            state["max_wait"] = max(state["max_wait"], max_wait)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(stress_seconds + 60)
        assert not t.is_alive(), "a worker hung"
    assert state["overlap"] == 0
    assert sum(counts) == state["acquisitions"] > 0
    assert lockutils.held_locks() == []
    report(threads=16, names=names, acquisitions=state["acquisitions"],
           max_wait_ms=round(state["max_wait"] * 1000, 2))
