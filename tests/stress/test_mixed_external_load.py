"""Green threads, native threads and processes on the same external locks,
through two spellings of the lock directory (a symlink), with and without
the name's in-process semaphore, some with short timeouts (abandoned
helper waits) for a fixed time.

Critical sections are the marker-and-counter ones of ``_counter``.
"""

from __future__ import annotations

import json

import pytest
from _counter import CRITICAL, check_counts

COMMON = """
    import json, os, random, sys
    lock_path, alias, work, names, seconds = sys.argv[1:6]
    names, seconds = int(names), float(seconds)
    from fastlock import lockutils
    stats = {"acquisitions": 0, "timeouts": 0}
    stats_lock = real_threading.Lock()
""" + CRITICAL + """
    def loop(pause, deadline):
        rng = random.Random()
        while real_time.monotonic() < deadline:
            name = "n%d" % rng.randrange(names)
            kwargs = {"lock_path": rng.choice((lock_path, alias))}
            if rng.random() < 0.5:  # only the lock file excludes
                kwargs["semaphores"] = lockutils.Semaphores()
            if rng.random() < 0.3:
                kwargs["timeout"] = rng.choice((0, 0.002, 5))
            try:
                with lockutils.lock(name, external=True, **kwargs):
                    critical(work, name, pause)
            except lockutils.AcquireLockFailedException:
                with stats_lock:
                    stats["timeouts"] += 1
                continue
            with stats_lock:
                stats["acquisitions"] += 1

    print("READY", flush=True)
    sys.stdin.readline()  # start together
    deadline = real_time.monotonic() + seconds
    natives = [real_threading.Thread(target=loop,
                                     args=(real_time.sleep, deadline))
               for _ in range(NATIVE)]
    for t in natives:
        t.start()
"""

GREEN_WORKER = """
    import eventlet
    eventlet.monkey_patch()
    from eventlet import patcher
    real_threading = patcher.original("threading")
    real_time = patcher.original("time")
    NATIVE = 2
""" + COMMON + """
    greens = [eventlet.spawn(loop, eventlet.sleep, deadline) for _ in range(20)]
    for g in greens:
        g.wait()
    while any(t.is_alive() for t in natives):
        eventlet.sleep(0.01)
    print(json.dumps(stats))
"""

NATIVE_WORKER = """
    import threading as real_threading, time as real_time
    NATIVE = 3
""" + COMMON + """
    for t in natives:
        t.join()
    print(json.dumps(stats))
"""


@pytest.mark.parametrize("names", [1, 10])
def test_green_native_and_processes_share_external_locks(
        impl_name, names, tmp_path, stress_seconds, report, run_together):
    pytest.importorskip("eventlet")
    lock_path, work = tmp_path / "locks", tmp_path / "work"
    lock_path.mkdir()
    work.mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(lock_path)
    args = [lock_path, alias, work, names, stress_seconds]
    outputs = run_together(
        [(impl_name, GREEN_WORKER, args), (impl_name, NATIVE_WORKER, args),
         (impl_name, NATIVE_WORKER, args)],
        timeout=stress_seconds + 60,
    )
    results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    acquisitions = sum(r["acquisitions"] for r in results)
    assert all(r["acquisitions"] for r in results), results
    check_counts(work, acquisitions)
    report(names=names, acquisitions=acquisitions,
           timeouts=sum(r["timeouts"] for r in results))
