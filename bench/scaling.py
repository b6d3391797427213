"""Scaling curves (part of ``make bench``): how each contender behaves as
the load grows, side by side in one run.

* native threads 1..128 on one name, tight critical section
  (``counter += 1``): throughput, the longest single wait, and the
  per-thread spread (stdev/mean of each thread's acquisitions);
* the same at 2..128 threads with ``time.sleep(0)`` inside the critical
  section (the GIL is released while holding the lock, as real I/O under
  a lock would);
* beside the longest waits, the longest time a thread looping with no
  lock at all went without running ("no lock (GIL only)"): what the GIL
  and the OS scheduler alone make a runnable thread wait;
* external locks cycled over 10..10,000 names: time per lock+unlock,
  against ``fcntl.lockf`` on as many descriptors opened beforehand;
* live names 1..1,000,000 (``internal_lock(name)`` kept referenced, in a
  fresh interpreter per contender): time per ``with lock(name)`` on the
  live names and RSS per live lock, plus tracemalloc's bytes per live
  held lock over 10,000 names (the 300-byte target);
* green threads 10..10,000 on one name under ``eventlet.monkey_patch()``
  (``eventlet/curve.py``): time per acquisition against eventlet's
  Semaphore;
* processes 2..16 hammering one external lock (``processes.hammer``):
  acquisitions per second against ``lockf`` on an open descriptor, oslo
  and fasteners;

for ``threading.Lock`` (one lock object, the floor), oslo, fastlock-py
and fastlock-c (``with lock(name)`` per acquisition, as users write it),
unless a curve says otherwise.

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
# The longest a thread looping with no lock went without running (see
# gil_gap_once), drawn beside the longest waits.
GIL_ONLY = 'no lock (GIL only)'


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
    order = _paired(names)
    for n in points:
        runs = {c: [] for c in names}
        for r in range(repeats):
            for c in (order if r % 2 == 0 else order[::-1]):
                runs[c].append(run_once(getters[c], n, duration, sleep0))
        if not sleep0:
            gaps = [gil_gap_once(n, duration) for _ in range(repeats)]
            out.setdefault(GIL_ONLY, {'max_wait': []})['max_wait'].append(
                statistics.median(gaps))
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
                for c in names)) + ('' if sleep0 else '; no lock: %.1f ms' % (
                    out[GIL_ONLY]['max_wait'][-1] * 1e3)), flush=True)
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
    out = _generic('external locks cycled over n names', 'names cycled',
                   _lib.LOCKF, who, [('per_op', 'per lock+unlock', 's')],
                   points, repeats)
    order = _paired(who)
    fast = (_lib.LOCKF, 'fastlock-c')
    clock = time.perf_counter
    with tempfile.TemporaryDirectory() as d:
        for n in points:
            names = ['ext-%05d' % i for i in range(n)]
            runs = {c: [] for c in who}
            for r in range(repeats):
                for c in (order if r % 2 == 0 else order[::-1]):
                    # Some 20-60 ms each: shorter runs are at the mercy of
                    # the machine's noise.  The slow contenders take fewer
                    # (oslo keeps no cache; the twin's caches are the
                    # compiled core's, filled by the warm-up cycle).
                    ops = max(2 * n, 20_000) if c in fast else 2000
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
                    for x in names if core is not None else ():
                        # warm-up cycle: the caches filled
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
            _add_point(out, {c: [{'per_op': x} for x in runs[c]]
                             for c in who})
            print('external %5d names: %s' % (n, ', '.join(
                '%s %.2f µs' % (c, out[c]['per_op'][-1] * 1e6)
                for c in who)), flush=True)
    return out


def _paired(who):
    # The run order within a repeat: the floor and fastlock-c back to
    # back (in both directions), so that their ratio sees the same noise.
    rest = [c for c in who if c not in (who[0], 'fastlock-c')]
    return [who[0]] + (['fastlock-c'] if 'fastlock-c' in who else []) + rest


def _generic(title, xlabel, floor, who, metrics, points, repeats):
    """An empty curve in the form report.py draws: per contender and
    metric the median over the runs, and the median of the per-run ratios
    to *floor* (``<metric>_x``)."""
    out = {'title': title, 'xlabel': xlabel, 'floor': floor,
           'contenders': list(who), 'metrics': [list(m) for m in metrics],
           'points': list(points), 'repeats': repeats}
    for c in who:
        out[c] = {}
        for m in metrics:
            out[c][m[0]] = []
            out[c][m[0] + '_x'] = []
    return out


def _add_point(out, runs):
    """Append one point: *runs* is contender -> [{metric: value}, ...],
    one dict per run, the floor's runs back to back with the others'."""
    base = runs.get(out['floor'])
    for c in out['contenders']:
        for m in out['metrics']:
            key = m[0]
            vals = [r.get(key) for r in runs.get(c, ())]
            vals = [v for v in vals if v is not None]
            out[c][key].append(statistics.median(vals) if vals else None)
            ratios = [a[key] / b[key]
                      for a, b in zip(runs.get(c, ()), base or (),
                                      strict=True)
                      if a.get(key) is not None and b.get(key)]
            out[c][key + '_x'].append(statistics.median(ratios)
                                      if ratios else None)


def gil_gap_once(nthreads, duration):
    """The longest time one of *nthreads* threads looping with no lock at
    all went without running: what the GIL and the OS scheduler alone
    make a runnable thread wait, the floor under any lock's longest
    wait."""
    gaps = [0.0] * nthreads
    barrier = threading.Barrier(nthreads + 1)
    stop = [False]
    clock = time.perf_counter
    shared = [0]

    def work(i):
        gap = 0.0
        barrier.wait()
        prev = clock()
        while not stop[0]:
            now = clock()
            shared[0] += 1  # the same work as the locked loops, unlocked
            gap = max(gap, now - prev)
            prev = now
        gaps[i] = gap

    threads = [threading.Thread(target=work, args=(i,), daemon=True)
               for i in range(nthreads)]
    for t in threads:
        t.start()
    barrier.wait()
    time.sleep(duration)
    stop[0] = True
    for t in threads:
        t.join()
    return max(gaps)


# -- live names: memory per live lock and acquire time ---------------------

LIVE_NAMES = (1, 10, 100, 1000, 10_000, 100_000, 1_000_000)
# oslo takes 30 us and 1.3 kB per live lock here: a million would take
# half a minute and 1.3 GB, so its curve stops at 100,000, as does the
# twin's (to keep make bench short).
LIVE_MAX = {'oslo': 100_000, 'fastlock-py': 100_000}
# RSS moves in pages and allocator arenas: per-lock figures from it mean
# something from this many live locks on.
LIVE_RSS_FROM = 10_000
LIVE_TRACED = 10_000


def live_worker(contender, points):
    """In a fresh interpreter: keep 1..N locks alive (``internal_lock(name)``
    referenced, as a service keeps a lock per instance), and at each N time
    ``with lock(name)`` on the live names in a scattered order and take
    the RSS growth per live lock.  Then, apart, the tracemalloc'd bytes
    per live lock that is referenced and held (the issue's definition),
    over LIVE_TRACED names."""
    import contextlib
    import gc
    import importlib

    clock = time.perf_counter
    maxn = max(points)
    names = ['live-%d' % i for i in range(maxn)]
    res = {'points': [], 'per_op': [], 'bytes': []}
    with contextlib.ExitStack() as stack:
        if contender == _lib.FLOOR:
            table = {}

            def internal_lock(name):
                return table.setdefault(name, threading.Lock())

            def lock(name):
                return table[name]
        else:
            lockutils = stack.enter_context(_lib.lockutils_for(contender))
            internal_lock, lock = lockutils.internal_lock, lockutils.lock
        for n in names[:100]:  # warm-up: code paths, not entries
            internal_lock(n)
            with lock(n):
                pass
        live = []
        gc.collect()
        base = _lib.rss_bytes()[0]
        for n in points:
            live.extend(internal_lock(x) for x in names[len(live):n])
            ops = 20_000
            t0 = clock()
            for i in range(ops):
                # 7919 is prime: the stride visits every live name.
                with lock(names[i * 7919 % n]):
                    pass
            res['points'].append(n)
            res['per_op'].append((clock() - t0) / ops)
            gc.collect()
            res['bytes'].append((_lib.rss_bytes()[0] - base) / n
                                if n >= LIVE_RSS_FROM else None)
        del live
        gc.collect()
        res['traced_bytes'] = _traced_per_lock(internal_lock, 'traced')
        if contender.startswith('fastlock-'):
            # The core's own registry, as tests/test_memory.py measures
            # it: the facade's semaphore is also a threading.Semaphore.
            core = importlib.import_module('fastlock._core_' + contender[9:])
            res['traced_core_bytes'] = _traced_per_lock(core.Registry().get,
                                                        'core')
    return res


def _traced_per_lock(get, prefix):
    # tracemalloc'd bytes per live lock, referenced and held, over
    # LIVE_TRACED fresh names (made before the count starts).
    import tracemalloc

    fresh = ['%s-%d' % (prefix, i) for i in range(LIVE_TRACED)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [get(x) for x in fresh]
        for sem in held:
            sem.acquire()
        per_lock = (tracemalloc.get_traced_memory()[0] - before) / LIVE_TRACED
    finally:
        tracemalloc.stop()
    for sem in held:
        sem.release()
    return per_lock


def live_curve(points, repeats):
    """Memory per live lock and time per ``with lock(name)`` as the number
    of live names grows: each contender in fresh interpreters, the
    contenders taking turns."""
    import json
    import subprocess

    who = [_lib.FLOOR, 'oslo', 'fastlock-py', 'fastlock-c']
    out = _generic('live names (locks kept referenced)', 'live names',
                   _lib.FLOOR, who,
                   [('per_op', 'per with lock(name)', 's'),
                    ('bytes', 'RSS per live lock', 'bytes')],
                   points, repeats)
    runs = {c: [] for c in who}
    for r in range(repeats):
        for c in (who if r % 2 == 0 else who[::-1]):
            pts = [n for n in points if n <= LIVE_MAX.get(c, n)]
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), '--live-worker',
                 c, ','.join(map(str, pts))],
                capture_output=True, text=True, env=_lib.clean_env(),
                timeout=600, check=False)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr)
                raise RuntimeError('live-names worker for %s failed' % c)
            runs[c].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    for i in range(len(points)):
        _add_point(out, {c: [{k: r[k][i] for k in ('per_op', 'bytes')}
                             if i < len(r['points']) else {}
                             for r in runs[c]] for c in who})
    for key in ('traced_bytes', 'traced_core_bytes'):
        out[key] = {c: statistics.median(r[key] for r in runs[c])
                    for c in who if key in runs[c][0]}
    for c in who:
        print('live names: %s traced %.0f B per live held lock; %s' % (
            c, out['traced_bytes'][c], ', '.join(
                '{:,}: {:.2f} us'.format(n, v * 1e6)
                for n, v in zip(points, out[c]['per_op'], strict=True)
                if v is not None)), flush=True)
    return out


# -- green threads ---------------------------------------------------------

GREEN_THREADS = (10, 100, 1000, 10_000)


def green_curve(points, repeats, quick):
    """Time per acquisition of N green threads on one name, under
    ``eventlet.monkey_patch()`` (``bench/eventlet/curve.py``, its own
    interpreter)."""
    import json
    import subprocess

    proc = subprocess.run(
        [sys.executable, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), 'eventlet', 'curve.py'),
         ','.join(map(str, points)), str(repeats)]
        + (['--quick'] if quick else []),
        capture_output=True, text=True, env=_lib.clean_env(), timeout=600,
        check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError('green-thread curve failed')
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    who = [_lib.GREEN_FLOOR, 'oslo', 'fastlock-c']
    out = _generic('green threads on one name, eventlet.sleep(0) inside',
                   'green threads', _lib.GREEN_FLOOR, who,
                   [('per_op', 'per acquisition', 's')], points, repeats)
    for i, n in enumerate(points):
        _add_point(out, {c: [{'per_op': r[i]} for r in runs[c]]
                         for c in who})
        print('green %5d threads: %s' % (n, ', '.join(
            '%s %.2f us' % (c, out[c]['per_op'][-1] * 1e6) for c in who)),
            flush=True)
    return out


# -- processes -------------------------------------------------------------

PROCESSES = (2, 4, 8, 16)


def processes_curve(points, repeats, duration):
    """Acquisitions per second of N processes hammering one external lock
    (``processes.hammer``: forked workers, each with its contender)."""
    import processes

    who = [_lib.LOCKF, 'oslo', 'fasteners', 'fastlock-c']
    out = _generic('processes on one external lock', 'processes',
                   _lib.LOCKF, who, [('rate', 'acquisitions/s', 'rate')],
                   points, repeats)
    for n in points:
        runs = {c: [] for c in who}
        for r in range(repeats):
            for c in (who if r % 2 == 0 else who[::-1]):
                res = processes.hammer(c, n, duration, probe=False)
                if 'value' not in res:
                    raise RuntimeError('processes: %s: %s' % (
                        c, res.get('skipped')))
                runs[c].append({'rate': res['value']})
        _add_point(out, runs)
        print('processes %2d: %s' % (n, ', '.join(
            '%s %.0fk/s' % (c, out[c]['rate'][-1] / 1e3) for c in who)),
            flush=True)
    return out


def _curves(getters, tight, duration, repeats):
    quick = duration < 0.2
    return {
        # First, before this process has run threads: it forks.
        'processes': processes_curve(
            PROCESSES[:3] if quick else PROCESSES, repeats,
            0.15 if quick else 0.25),
        # One run per contender: memory does not move with the machine's
        # noise, and a million live locks take a while.
        'live_names': live_curve(
            LIVE_NAMES[:-1] if quick else LIVE_NAMES, 1),
        'green_threads': green_curve(
            GREEN_THREADS[:-1] if quick else GREEN_THREADS, repeats, quick),
        'external_names': external_curve(
            EXTERNAL_NAMES[:3] if quick else EXTERNAL_NAMES,
            repeats if quick else 5),
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
    ap.add_argument('--live-worker', nargs=2, metavar=('CONTENDER', 'N,..'),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.live_worker:
        who, points = args.live_worker
        print(json.dumps(live_worker(who, [int(n) for n in
                                           points.split(',')])))
        return
    sys.setswitchinterval(0.005)  # the default, stated
    curves = run(args.quick)
    print('scaling: %d curves measured' % len(curves))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'rows': [], 'meta': {'curves': curves}}, f, indent=1)


if __name__ == '__main__':
    main()
