"""Scenario 6: cluster locks, fastlock.coordination beside plain tooz, on
real redis, etcd and ZooKeeper servers (a plain timed script).

Per backend and contender:

* uncontended: one process, acquire+release pairs on one name; p50.
* hammer: 2 and 4 processes x 4 threads loop ``acquire; release`` on one
  name for a fixed time.  Inside the lock each acquisition appends its
  process number to a shared log, which gives the spread across
  processes (fewest / most acquisitions of one process) and how often
  the same process took the lock again right after itself ("re-grabs";
  a fair rotation among N busy processes gives about 0, a coin toss
  1/N).
* hand-off: two processes pass the lock back and forth; the releaser
  writes the clock just before ``release()``, the blocked waiter reads it
  when its ``acquire()`` returns.

Plain tooz runs as Cinder uses it (``start(start_heart=True)``, one tooz
lock object per thread, ``acquire(blocking=True)``); fastlock with its
defaults.  Servers start as child processes (``tests/_servers.py``); a
missing server is reported as skipped.

Usage: ``python bench/coordination.py [--quick] [--json PATH]``
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests'))

import _lib  # noqa: E402

CONTENDERS = ('tooz', 'fastlock')
NAME = 'bench-coord'
HOLD = 0.02
LOG_MAX = 1 << 20
now = time.monotonic


def _lock_factory(contender, url):
    """(make_lock(), stop()) in this process, for one contender."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from tooz import coordination as tooz_coordination

        from fastlock import coordination
    if contender == 'tooz':
        coord = tooz_coordination.get_coordinator(
            url, ('bench-%d' % os.getpid()).encode())
        coord.start(start_heart=True)

        class ToozLock:
            def __init__(self):
                self._lock = coord.get_lock(NAME.encode())

            def acquire(self):
                assert self._lock.acquire(blocking=True)

            def release(self):
                self._lock.release()

        return ToozLock, coord.stop
    fcoord = coordination.Coordinator(backend_url=url)
    fcoord.start()

    class FastLock:
        def __init__(self):
            self._lock = fcoord.get_lock(NAME)

        def acquire(self):
            assert self._lock.acquire()

        def release(self):
            self._lock.release()

    return FastLock, fcoord.stop


def _fork(fn, *args):
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        fn(*args)
        code = 0
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        os._exit(code)


_TMP: list[str] = []


def _result_file(tag):
    if not _TMP:
        _TMP.append(tempfile.mkdtemp(prefix='fastlock-bench-'))
    return os.path.join(_TMP[0], '%s-%d.json' % (tag, os.getpid()))


def _wait(pids, timeout):
    end = now() + timeout
    ok = True
    for pid in pids:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                ok = ok and status == 0
                break
            if now() > end:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                ok = False
                break
            time.sleep(0.01)
    return ok


# -- uncontended -------------------------------------------------------------

def _uncontended_child(contender, url, seconds, out):
    make, stop = _lock_factory(contender, url)
    lock = make()
    times = []
    end = now() + seconds
    while now() < end or len(times) < 20:
        t = now()
        lock.acquire()
        lock.release()
        times.append(now() - t)
    stop()
    times.sort()
    with open(out, 'w') as f:
        json.dump({'p50': times[len(times) // 2], 'n': len(times)}, f)


def uncontended(contender, url, seconds):
    out = _result_file('unc-' + contender)
    if not _wait([_fork(_uncontended_child, contender, url, seconds, out)],
                 seconds + 60):
        return {'skipped': 'worker failed'}
    with open(out) as f:
        return json.load(f)


# -- hammer ------------------------------------------------------------------

def _hammer_child(idx, contender, url, ctl, seconds, shm, out):
    make, stop = _lock_factory(contender, url)
    waits = []
    _put(ctl, 1 + idx, 1)  # connected: the parent starts the clock
    _until(ctl, 0, 1)
    start = _get(ctl, 0) / 1e9

    def loop():
        lock = make()
        local_max = 0.0
        while now() < start:
            time.sleep(0.001)
        while now() < start + seconds:
            t = now()
            lock.acquire()
            local_max = max(local_max, now() - t)
            n = struct.unpack_from('q', shm, 0)[0]
            if n < LOG_MAX:
                shm[8 + n] = idx
                struct.pack_into('q', shm, 0, n + 1)
            lock.release()
        waits.append(local_max)

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop()
    with open(out, 'w') as f:
        json.dump({'max_wait': max(waits)}, f)


def hammer(contender, url, nproc, seconds):
    shm = mmap.mmap(-1, 8 + LOG_MAX)
    ctl = mmap.mmap(-1, 8 * (1 + nproc))
    outs = [_result_file('ham%d-%s' % (i, contender)) for i in range(nproc)]
    pids = [_fork(_hammer_child, i, contender, url, ctl, seconds, shm,
                  outs[i]) for i in range(nproc)]
    end = now() + 60
    while not all(_get(ctl, 1 + i) for i in range(nproc)) and now() < end:
        time.sleep(0.01)
    _put(ctl, 0, time.monotonic_ns() + 100_000_000)
    if not _wait(pids, seconds + 90):
        return {'skipped': 'worker failed'}
    n = struct.unpack_from('q', shm, 0)[0]
    log = shm[8:8 + n]
    counts = [log.count(bytes([i])) for i in range(nproc)]
    regrabs = sum(log[i] == log[i - 1] for i in range(1, n))
    waits = []
    for out in outs:
        with open(out) as f:
            waits.append(json.load(f)['max_wait'])
    return {
        'value': n / seconds, 'counts': counts,
        'regrab': regrabs / max(1, n - 1), 'max_wait': max(waits),
    }


# -- hand-off ----------------------------------------------------------------
# Shared words: 0 ready, 1 waiting-round, 2 got-round, 3 t_release (ns),
# then one latency (ns) per round.

def _get(shm, i):
    return struct.unpack_from('q', shm, 8 * i)[0]


def _put(shm, i, v):
    struct.pack_into('q', shm, 8 * i, v)


def _until(shm, i, value, limit=60.0):
    end = now() + limit
    while _get(shm, i) < value:
        if now() > end:
            raise RuntimeError('hand-off partner vanished')
        time.sleep(0.0005)


def _handoff_child(idx, contender, url, rounds, shm):
    make, stop = _lock_factory(contender, url)
    lock = make()
    if idx == 0:
        lock.acquire()
        _put(shm, 0, 1)
    else:
        _until(shm, 0, 1)
    for r in range(rounds):
        if r % 2 == idx:  # holder: release once the other is blocked
            _until(shm, 1, r + 1)
            time.sleep(HOLD)
            _put(shm, 3, time.monotonic_ns())
            lock.release()
            _until(shm, 2, r + 1)
        else:
            _put(shm, 1, r + 1)
            lock.acquire()
            _put(shm, 4 + r, time.monotonic_ns() - _get(shm, 3))
            _put(shm, 2, r + 1)
    if rounds % 2 == idx:  # the last acquirer still holds it
        lock.release()
    stop()


def handoff(contender, url, rounds):
    shm = mmap.mmap(-1, 8 * (4 + rounds))
    pids = [_fork(_handoff_child, i, contender, url, rounds, shm)
            for i in range(2)]
    if not _wait(pids, 30 + rounds * 3):
        return {'skipped': 'worker failed'}
    lat = sorted(_get(shm, 4 + r) / 1e9 for r in range(rounds))
    return {'p50': lat[len(lat) // 2], 'max': lat[-1], 'n': rounds}


# -- driver ------------------------------------------------------------------

def run(quick, log=print):
    import _servers

    seconds = 0.5 if quick else 1.5
    rounds = 6 if quick else 8
    rows = []
    for kind in _servers.BACKENDS:
        label = 'coordination %s' % kind
        try:
            server = _servers.Server(kind)
        except BaseException as exc:  # pytest's skip outside a test
            for c in CONTENDERS:
                rows.append({'scenario': label + ': uncontended acquire+release',
                             'contender': c, 'unit': 's', 'value': None,
                             'skipped': str(exc)[:80], 'note': ''})
            continue
        try:
            server.start()
            for c in CONTENDERS:
                r = uncontended(c, server.url, seconds)
                rows.append({
                    'scenario': label + ': uncontended acquire+release',
                    'contender': c, 'unit': 's', 'value': r.get('p50'),
                    'skipped': r.get('skipped'),
                    'note': '' if 'n' not in r else 'p50 of %d' % r['n'],
                })
                log('  %-50s %-9s %s' % (rows[-1]['scenario'], c,
                                         r.get('p50') or r.get('skipped')))
            for nproc in (2, 4):
                scenario = '%s: %d processes x 4 threads, one name' % (
                    label, nproc)
                for c in CONTENDERS:
                    r = hammer(c, server.url, nproc, seconds)
                    note = ''
                    if 'counts' in r:
                        note = ('per process %s; spread %.2f; re-grabs %.2f; '
                                'max wait %.2f s' % (
                                    r['counts'],
                                    min(r['counts']) / max(1, max(r['counts'])),
                                    r['regrab'], r['max_wait']))
                    rows.append({
                        'scenario': scenario, 'contender': c, 'unit': 'acq/s',
                        'value': r.get('value'), 'skipped': r.get('skipped'),
                        'note': note, 'extra': r,
                    })
                    log('  %-50s %-9s %s %s' % (scenario, c, r.get('value'),
                                                note))
            for c in CONTENDERS:
                r = handoff(c, server.url, rounds)
                rows.append({
                    'scenario': label + ': hand-off to a blocked waiter, p50',
                    'contender': c, 'unit': 's', 'value': r.get('p50'),
                    'skipped': r.get('skipped'),
                    'note': '' if 'n' not in r else '%d hand-offs, max %.3g s'
                    % (r['n'], r['max']),
                })
                log('  %-50s %-9s %s' % (rows[-1]['scenario'], c,
                                         r.get('p50') or r.get('skipped')))
        finally:
            server.close()
    if _TMP:
        shutil.rmtree(_TMP.pop(), ignore_errors=True)
    return rows


def main():
    _lib.script_main('coordination', run, __doc__.split('\n')[0])


if __name__ == '__main__':
    main()
