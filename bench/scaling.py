"""Scaling curves (part of ``make bench``): how each contender behaves as
the load grows, side by side in one run.

* native threads 1..128 on one name, tight critical section
  (``counter += 1``): throughput, the longest single wait, and the
  per-thread spread (stdev/mean of each thread's acquisitions);
* the same at 2..128 threads with ``time.sleep(0)`` inside the critical
  section (the GIL is released while holding the lock, as real I/O under
  a lock would);
* external locks cycled over 10..10,000 names: time per lock+unlock,
  against ``fcntl.lockf`` on as many descriptors opened beforehand;

for ``threading.Lock`` (one lock object, the floor), oslo, fastlock-py
and fastlock-c (``with lock(name)`` per acquisition, as users write it).

Each point runs every contender for a fixed time, in alternating order,
several times; the curve gives per point the median over the runs, and
the ratios to ``threading.Lock`` are medians of the per-run ratios (each
from back-to-back runs).  Waits are measured inside the run's window:
an acquisition still waiting when the window closes counts with what it
had waited so far, and the drain after it is not measured.  The shared
counter is checked for lost updates.

Usage: ``python bench/scaling.py [--quick] [--json PATH]``
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _lib  # noqa: E402

THREADS = (1, 2, 4, 8, 16, 32, 64, 128)
THREADS_SLEEP = (2, 8, 32, 128)
NAME = 'bench-scaling'


def _getters():
    """contender -> (prepare, get): *prepare()* binds what the contender
    needs before a run; *get()* returns the context manager one
    acquisition enters."""
    import importlib

    from fastlock import lockutils

    lk = threading.Lock()
    out = {_lib.FLOOR: (None, lambda: lk)}
    oslo = _lib.oslo_lockutils()
    out['oslo'] = (None, lambda: oslo.lock(NAME))
    for name in ('fastlock-py', 'fastlock-c'):
        core = importlib.import_module('fastlock._core_' + name[9:])
        # Bound before the threads start: rebinding resets the registry.
        out[name] = (lambda core=core: lockutils._use_core(core),
                     lambda: lockutils.lock(NAME))
    return out


def run_once(contender, nthreads, duration, sleep0):
    """(acquisitions/s, longest wait s, spread) of one timed run."""
    prepare, get = contender
    if prepare is not None:
        prepare()
    counts = [0] * nthreads
    longest = [0.0] * nthreads
    pending = [None] * nthreads
    shared = [0]
    barrier = threading.Barrier(nthreads + 1)
    stop = [None]
    clock = time.perf_counter
    sleep = time.sleep

    def work(i):
        n, worst = 0, 0.0
        barrier.wait()
        while stop[0] is None:
            t0 = clock()
            pending[i] = t0
            with get():
                t1 = clock()
                pending[i] = None
                value = shared[0]
                if sleep0:
                    sleep(0)
                shared[0] = value + 1
            end = stop[0]
            if end is None:
                n += 1
            else:
                t1 = min(t1, end)
            worst = max(worst, t1 - t0)
        counts[i], longest[i] = n, worst

    threads = [threading.Thread(target=work, args=(i,), daemon=True)
               for i in range(nthreads)]
    for t in threads:
        t.start()
    barrier.wait()
    start = clock()
    time.sleep(duration)
    end = stop[0] = clock()
    still = [end - p for p in list(pending) if p is not None]
    for t in threads:
        t.join()
    total = sum(counts)
    if shared[0] < total:
        raise AssertionError('lost updates: %d < %d' % (shared[0], total))
    spread = (statistics.pstdev(counts) / statistics.mean(counts)
              if nthreads > 1 and total else 0.0)
    return total / (end - start), max(longest + still), spread


def curve(getters, points, duration, repeats, sleep0):
    """{'points': [...], contender: {'throughput': [...], ...}}"""
    names = list(getters)
    out = {'points': list(points)}
    for c in names:
        out[c] = {k: [] for k in ('throughput', 'max_wait', 'spread',
                                  'throughput_x', 'max_wait_x',
                                  'spread_x')}
    for n in points:
        runs = {c: [] for c in names}
        for r in range(repeats):
            for c in (names if r % 2 == 0 else names[::-1]):
                runs[c].append(run_once(getters[c], n, duration, sleep0))
        base = runs[_lib.FLOOR]
        for c in names:
            res = out[c]
            for k, i in (('throughput', 0), ('max_wait', 1), ('spread', 2)):
                res[k].append(statistics.median(x[i] for x in runs[c]))
                ratios = [a[i] / b[i] for a, b in zip(runs[c], base,
                                                      strict=True) if b[i]]
                res[k + '_x'].append(statistics.median(ratios)
                                     if ratios else None)
        print('%s %3d threads: %s' % (
            'sleep(0)' if sleep0 else 'tight', n, ', '.join(
                '%s %.0fk/s %.1f ms %.2f' % (
                    c, out[c]['throughput'][-1] / 1e3,
                    out[c]['max_wait'][-1] * 1e3, out[c]['spread'][-1])
                for c in names)), flush=True)
    return out


def run(quick):
    from fastlock import lockutils

    getters = _getters()
    duration, repeats = (0.1, 1) if quick else (0.25, 3)
    tight = THREADS[1::2] if quick else THREADS
    previous = lockutils._core
    try:
        return _curves(getters, tight, duration, repeats)
    finally:
        lockutils._use_core(previous)


EXTERNAL_NAMES = (10, 100, 1000, 10_000)


def external_curve(points, repeats):
    """Time per ``with lock(name, external=True)`` cycled over *n* names
    (after one warm-up cycle), against ``fcntl.lockf`` lock+unlock on *n*
    descriptors opened beforehand (the floor)."""
    import fcntl
    import importlib
    import tempfile

    from fastlock import lockutils

    oslo = _lib.oslo_lockutils()
    who = [_lib.LOCKF, 'oslo', 'fastlock-py', 'fastlock-c']
    out = {'points': list(points), 'repeats': repeats}
    for c in who:
        out[c] = {'per_op': [], 'per_op_x': []}
    clock = time.perf_counter
    with tempfile.TemporaryDirectory() as d:
        for n in points:
            names = ['ext-%05d' % i for i in range(n)]
            ops = max(2 * n, 4000)
            runs = {c: [] for c in who}
            for r in range(repeats):
                for c in (who if r % 2 == 0 else who[::-1]):
                    if c == _lib.LOCKF:
                        fds = [os.open(os.path.join(d, x),
                                       os.O_RDWR | os.O_CREAT)
                               for x in names]
                        lockf, ex, un = fcntl.lockf, fcntl.LOCK_EX, \
                            fcntl.LOCK_UN
                        t0 = clock()
                        for i in range(ops):
                            fd = fds[i % n]
                            lockf(fd, ex)
                            lockf(fd, un)
                        runs[c].append((clock() - t0) / ops)
                        for fd in fds:
                            os.close(fd)
                        continue
                    core = None
                    if c == 'oslo':
                        lock = oslo.lock
                    else:
                        core = importlib.import_module(
                            'fastlock._core_' + c[9:])
                        lockutils._use_core(core)
                        lock = lockutils.lock
                    for x in names:  # warm-up cycle: the caches filled
                        with lock(x, external=True, lock_path=d):
                            pass
                    t0 = clock()
                    for i in range(ops):
                        with lock(names[i % n], external=True, lock_path=d):
                            pass
                    runs[c].append((clock() - t0) / ops)
                    if core is not None:
                        core.set_lock_file_cache_size(
                            core.set_lock_file_cache_size(0))
            for c in who:
                out[c]['per_op'].append(statistics.median(runs[c]))
                out[c]['per_op_x'].append(statistics.median(
                    a / b for a, b in zip(runs[c], runs[_lib.LOCKF],
                                          strict=True)))
            print('external %5d names: %s' % (n, ', '.join(
                '%s %.2f µs' % (c, out[c]['per_op'][-1] * 1e6)
                for c in who)), flush=True)
    return out


def _curves(getters, tight, duration, repeats):
    return {
        'external_names': external_curve(
            EXTERNAL_NAMES[:3] if duration < 0.2 else EXTERNAL_NAMES,
            repeats),
        'threads_tight': dict(curve(getters, tight, duration, repeats,
                                    False), duration=duration,
                              repeats=repeats),
        'threads_sleep0': dict(curve(getters, THREADS_SLEEP, duration,
                                     repeats, True), duration=duration,
                               repeats=repeats),
    }


def main():
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--json', help='write the curves here')
    args = ap.parse_args()
    sys.setswitchinterval(0.005)  # the default, stated
    curves = run(args.quick)
    print('scaling: %d curves measured' % len(curves))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'rows': [], 'meta': {'curves': curves}}, f, indent=1)


if __name__ == '__main__':
    main()
