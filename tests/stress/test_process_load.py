"""Four processes hammering external locks for a fixed time, each
critical section the marker-and-counter one of ``_counter``."""

from __future__ import annotations

import json

import pytest
from _counter import CRITICAL, check_counts

PROCESSES = 4

WORKER = """
    import json, os, random, sys, time
    lock_path, work, names, seconds = sys.argv[1:5]
    names, seconds = int(names), float(seconds)
    from fastlock import lockutils
""" + CRITICAL + """
    print("READY", flush=True)
    sys.stdin.readline()  # start together
    acquisitions, max_wait = 0, 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        name = "n%d" % random.randrange(names)
        started = time.monotonic()
        with lockutils.lock(name, external=True, lock_path=lock_path):
            max_wait = max(max_wait, time.monotonic() - started)
            critical(work, name, time.sleep)
        acquisitions += 1
    print(json.dumps({"acquisitions": acquisitions, "max_wait": max_wait}))
"""


@pytest.mark.parametrize("names", [1, 100])
def test_processes_hammer_external_locks(
        impl_name, names, tmp_path, stress_seconds, report, run_together):
    lock_path, work = tmp_path / "locks", tmp_path / "work"
    lock_path.mkdir()
    work.mkdir()
    outputs = run_together(
        [(impl_name, WORKER, [lock_path, work, names, stress_seconds])]
        * PROCESSES,
        timeout=stress_seconds + 60,
    )
    results = [json.loads(out) for out in outputs]
    acquisitions = sum(r["acquisitions"] for r in results)
    check_counts(work, acquisitions)
    report(processes=PROCESSES, names=names, acquisitions=acquisitions,
           max_wait_ms=round(1000 * max(r["max_wait"] for r in results), 1))
