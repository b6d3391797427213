"""The green-thread scaling curve of ``bench/scaling.py``, in a
monkey-patched interpreter of its own.

N green threads on one name each take the lock K times, reading a shared
counter, calling ``eventlet.sleep(0)`` (the others queue meanwhile) and
writing it back.  They are spawned and parked on an event outside the
timing; a run is ``event.send()`` until all have finished, timed per
acquisition, and the counter is checked for lost updates.  Contenders:
``eventlet.semaphore.Semaphore`` (the floor), oslo and fastlock-c, taking
turns (alternate runs in reverse order).

Usage: ``python bench/eventlet/curve.py N,N,.. REPEATS [--quick]``; prints
one JSON line: contender -> one list per run of seconds per acquisition,
one value per N.
"""

import warnings

warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

import eventlet  # noqa: E402

eventlet.monkey_patch()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import eventlet.event  # noqa: E402
import eventlet.semaphore  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import _lib  # noqa: E402

NAME = 'bench-green-curve'
WHO = [_lib.GREEN_FLOOR, 'oslo', 'fastlock-c']


def run_once(get, n, k):
    start = eventlet.event.Event()
    shared = [0]
    sleep = eventlet.sleep

    def worker():
        start.wait()
        for _ in range(k):
            with get():
                value = shared[0]
                sleep(0)
                shared[0] = value + 1

    threads = [eventlet.spawn(worker) for _ in range(n)]
    eventlet.sleep(0)  # every green thread now waits on `start`
    eventlet.sleep(0)
    t0 = time.perf_counter()
    start.send()
    for t in threads:
        t.wait()
    elapsed = time.perf_counter() - t0
    if shared[0] != n * k:
        raise AssertionError('lost updates: %d != %d' % (shared[0], n * k))
    return elapsed / (n * k)


def main():
    points = [int(x) for x in sys.argv[1].split(',')]
    repeats = int(sys.argv[2])
    ops = 1000 if '--quick' in sys.argv else 3000
    sem = eventlet.semaphore.Semaphore(1)
    with _lib.lockutils_for('oslo') as oslo, \
            _lib.lockutils_for('fastlock-c') as fastlock:
        getters = {_lib.GREEN_FLOOR: lambda: sem,
                   'oslo': lambda: oslo.lock(NAME),
                   'fastlock-c': lambda: fastlock.lock(NAME)}
        out = {c: [] for c in WHO}
        for r in range(repeats):
            runs = {c: [] for c in WHO}
            for n in points:
                k = max(1, ops // n)
                for c in (WHO if r % 2 == 0 else WHO[::-1]):
                    runs[c].append(run_once(getters[c], n, k))
            for c in WHO:
                out[c].append(runs[c])
    print(json.dumps(out))


if __name__ == '__main__':
    main()
