"""Scenario 5: processes sharing one external lock (a plain timed script).

* hammer: 2 and 4 processes each loop ``acquire; release`` on one lock
  for a fixed time; the result is acquisitions per second over the window
  from the first start to the last stop, plus how evenly they were shared.
* ping-pong: two processes hand one lock back and forth.  The holder
  sleeps ``HOLD`` (so the other is surely blocked in ``acquire``), writes
  ``CLOCK_MONOTONIC`` (system-wide on Linux) into shared memory and
  releases; the waiter reads the clock as soon as its ``acquire`` returns.
  The difference is the hand-off latency.  After each hand-off the new
  holder tells the old one through a pipe, which only then asks for the
  lock again (so nobody barges back in).

The parent forks the workers before any lock library is imported; each
worker imports its contender fresh.  A contender that raises
``NotImplementedError`` (fastlock before external locks landed) is
reported as skipped.

Usage: ``python bench/processes.py [--quick] [--json PATH]``
"""

from __future__ import annotations

import json
import mmap
import os
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _lib  # noqa: E402

HOLD = 0.002
NAME = 'bench-proc'
NOT_IMPLEMENTED_EXIT = 3
now = time.monotonic_ns


def _lock(contender, lock_dir, stack):
    """The contender's ExternalLock, imported inside the worker."""
    lockutils = None
    if contender == 'oslo' or contender.startswith('fastlock-'):
        lockutils = stack.enter_context(_lib.lockutils_for(contender))
    return _lib.ExternalLock(contender, lockutils, lock_dir, NAME)


def _child(fn, *args):
    """Fork a worker running fn(*args); its exit code tells the outcome."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = fn(*args) or 0
    except NotImplementedError:
        code = NOT_IMPLEMENTED_EXIT
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pids, timeout):
    """Wait for my children; kill (by pid) any still running at timeout."""
    deadline = time.monotonic() + timeout
    codes = {}
    while len(codes) < len(pids):
        for pid in pids:
            if pid in codes:
                continue
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes[pid] = os.waitstatus_to_exitcode(status)
        if len(codes) < len(pids):
            if time.monotonic() > deadline:
                for pid in pids:
                    if pid not in codes:
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                        codes[pid] = 'timeout'
                break
            time.sleep(0.01)
    return [codes[p] for p in pids]


def _probe_worker(contender, lock_dir):
    import contextlib

    with contextlib.ExitStack() as stack:
        lk = _lock(contender, lock_dir, stack)
        lk.acquire()
        lk.release()


def _probe(contender, lock_dir):
    """None if the contender works, else why it is skipped."""
    (code,) = _wait([_child(_probe_worker, contender, lock_dir)], 60)
    if code == 0:
        return None
    if code == NOT_IMPLEMENTED_EXIT:
        return _lib.NOT_IMPLEMENTED
    return 'worker failed (exit %s)' % code


def _hammer_worker(contender, lock_dir, duration, ready_w, go_r, out):
    import contextlib

    with contextlib.ExitStack() as stack:
        lk = _lock(contender, lock_dir, stack)
        acquire, release = lk.acquire, lk.release
        acquire()  # import and open everything before the clock starts
        release()
        os.write(ready_w, b'r')
        os.read(go_r, 1)
        count = 0
        start = now()
        stop = start + int(duration * 1e9)
        while now() < stop:
            acquire()
            count += 1
            release()
        end = now()
    with open(out, 'w') as f:
        json.dump({'count': count, 'start': start, 'end': end}, f)


def hammer(contender, nproc, duration, probe=True):
    lock_dir = tempfile.mkdtemp(prefix='fastlock-bench-')
    try:
        skipped = _probe(contender, lock_dir) if probe else None
        if skipped:
            return {'skipped': skipped}
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        outs = [os.path.join(lock_dir, 'out-%d.json' % i)
                for i in range(nproc)]
        pids = [
            _child(_hammer_worker, contender, lock_dir, duration, ready_w,
                   go_r, out)
            for out in outs
        ]
        got = 0
        deadline = time.monotonic() + 60
        while got < nproc and time.monotonic() < deadline:
            if select.select([ready_r], [], [], 1.0)[0]:
                got += len(os.read(ready_r, nproc))
        if got == nproc:
            os.write(go_w, b'g' * nproc)
        codes = _wait(pids, duration + 60)
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)
        if any(c != 0 for c in codes):
            return {'skipped': 'worker failed (exit codes %s)' % codes}
        res = []
        for out in outs:
            with open(out) as f:
                res.append(json.load(f))
        counts = [r['count'] for r in res]
        window = (max(r['end'] for r in res)
                  - min(r['start'] for r in res)) / 1e9
        total = sum(counts)
        return {
            'value': total / window,
            'counts': counts,
            'window_s': window,
            'note': 'per-process share %d-%d%%' % (
                round(100 * min(counts) / total) if total else 0,
                round(100 * max(counts) / total) if total else 0,
            ),
        }
    finally:
        shutil.rmtree(lock_dir, ignore_errors=True)


def _pingpong_worker(contender, lock_dir, me, rounds, shm, to_other,
                     from_other, ready_w, go_r, out):
    import contextlib

    pack, unpack = struct.Struct('q').pack_into, struct.Struct('q').unpack_from
    lat = []
    with contextlib.ExitStack() as stack:
        lk = _lock(contender, lock_dir, stack)
        acquire, release = lk.acquire, lk.release
        acquire()
        release()
        os.write(ready_w, b'r')
        os.read(go_r, 1)

        def hand_over():
            time.sleep(HOLD)  # the other is blocked in acquire() by now
            pack(shm, 0, now())
            release()
            os.read(from_other, 1)  # wait until the other has it

        def take():
            acquire()
            t = now()
            lat.append(t - unpack(shm, 0)[0])
            os.write(to_other, b'x')

        if me == 0:
            acquire()
            os.write(to_other, b'x')
            for _ in range(rounds):
                hand_over()
                take()
            release()
        else:
            os.read(from_other, 1)
            for _ in range(rounds):
                take()
                hand_over()
    with open(out, 'w') as f:
        json.dump(lat, f)


def _percentile(values, q):
    values = sorted(values)
    if not values:
        return float('nan')
    k = (len(values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def pingpong(contender, handoffs):
    lock_dir = tempfile.mkdtemp(prefix='fastlock-bench-')
    try:
        skipped = _probe(contender, lock_dir)
        if skipped:
            return {'skipped': skipped}
        shm = mmap.mmap(-1, 8)
        a_r, a_w = os.pipe()  # 0 -> 1
        b_r, b_w = os.pipe()  # 1 -> 0
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        rounds = handoffs // 2
        outs = [os.path.join(lock_dir, 'out-%d.json' % i) for i in (0, 1)]
        pids = [
            _child(_pingpong_worker, contender, lock_dir, 0, rounds, shm,
                   a_w, b_r, ready_w, go_r, outs[0]),
            _child(_pingpong_worker, contender, lock_dir, 1, rounds, shm,
                   b_w, a_r, ready_w, go_r, outs[1]),
        ]
        got = 0
        deadline = time.monotonic() + 60
        while got < 2 and time.monotonic() < deadline:
            if select.select([ready_r], [], [], 1.0)[0]:
                got += len(os.read(ready_r, 2))
        if got == 2:
            os.write(go_w, b'gg')
        codes = _wait(pids, 120 + handoffs * 0.2)
        for fd in (a_r, a_w, b_r, b_w, ready_r, ready_w, go_r, go_w):
            os.close(fd)
        if any(c != 0 for c in codes):
            return {'skipped': 'worker failed (exit codes %s)' % codes}
        lat = []
        for out in outs:
            with open(out) as f:
                lat.extend(json.load(f))
        lat = [x / 1e9 for x in lat]
        return {
            'p50': _percentile(lat, 0.50),
            'p99': _percentile(lat, 0.99),
            'max': max(lat),
            'n': len(lat),
        }
    finally:
        shutil.rmtree(lock_dir, ignore_errors=True)


def run(quick, log=print):
    duration = 0.3 if quick else 2.0
    handoffs = 40 if quick else 300
    rows = []
    for nproc in (2, 4):
        scenario = 'processes: %d hammering one external lock' % nproc
        for c in _lib.EXTERNAL:
            r = hammer(c, nproc, duration)
            rows.append({
                'scenario': scenario, 'contender': c, 'unit': 'acq/s',
                'value': r.get('value'), 'skipped': r.get('skipped'),
                'note': r.get('note', ''),
                'extra': {k: r[k] for k in ('counts', 'window_s') if k in r},
            })
            log('  %-45s %-16s %s' % (scenario, c, r.get('value')
                                      or r.get('skipped')))
    for c in _lib.EXTERNAL:
        r = pingpong(c, handoffs)
        for q in ('p50', 'p99'):
            scenario = 'processes: ping-pong hand-off latency, %s' % q
            rows.append({
                'scenario': scenario, 'contender': c, 'unit': 's',
                'value': r.get(q), 'skipped': r.get('skipped'),
                'note': '' if 'n' not in r else '%d hand-offs' % r['n'],
                'extra': {'max': r.get('max')},
            })
        log('  %-45s %-16s %s' % ('processes: ping-pong', c,
                                  r.get('p50') or r.get('skipped')))
    return rows


def main():
    _lib.script_main('processes', run, __doc__.split('\n')[0])


if __name__ == '__main__':
    main()
