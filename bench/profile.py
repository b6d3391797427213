"""Deterministic cost profile: what each contender does per operation.

Timings on this shared machine are noisy; counts are not.  For each
contender this counts, per lock operation:

* uncontended scenarios: Python-level function calls (``sys.setprofile``
  'call' events; C functions and Cython code are not counted);
* eventlet, 100 green threads on one name (as in ``bench_green.py``):
  greenlet switches (``greenlet.settrace``) and Python-level calls, which
  shows how much of the cost is the hub's (identical for everyone) and how
  much is the lock's.

Each contender runs in its own interpreter (one fastlock core per process).

Usage: ``python bench/profile.py [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _lib  # noqa: E402

OPS = 2000
GREEN_N, GREEN_K = 100, 20


def _count_calls(fn):
    calls = [0]

    def prof(frame, event, arg):
        if event == 'call':
            calls[0] += 1

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls[0] - 1  # fn itself


def uncontended(contender):
    import threading

    res = {}
    with _lib_lockutils(contender) as lu:
        if lu is None:
            lk = threading.Lock()

            def plain():
                for _ in range(OPS):
                    with lk:
                        pass
            cases = {'with lock(name)': plain}
        else:
            sems = lu.Semaphores()

            @lu.synchronized('p')
            def f():
                pass

            def lock():
                for _ in range(OPS):
                    with lu.lock('p'):
                        pass

            def sync():
                for _ in range(OPS):
                    f()

            def fair():
                for _ in range(OPS):
                    with lu.lock('p', fair=True):
                        pass

            def semaphores():
                for _ in range(OPS):
                    with lu.lock('p', semaphores=sems):
                        pass
            cases = {
                'with lock(name)': lock, '@synchronized call': sync,
                'lock(name, fair=True)': fair,
                'lock(name, semaphores=S)': semaphores,
            }
        for label, fn in cases.items():
            fn()  # warm up
            res[label] = _count_calls(fn) / OPS
    return res


class _lib_lockutils:  # noqa: N801
    """lockutils for a contender, or None for the floors."""

    def __init__(self, contender):
        self.cm = (_lib.lockutils_for(contender)
                   if contender not in _lib.FLOORS else None)

    def __enter__(self):
        return self.cm.__enter__() if self.cm else None

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc) if self.cm else None


def green(contender):
    import eventlet
    import eventlet.event
    import eventlet.semaphore
    import greenlet

    with _lib_lockutils(contender) as lu:
        if lu is None:
            sem = eventlet.semaphore.Semaphore(1)

            def get():
                return sem
        else:
            def get():
                return lu.lock('g')
        start = eventlet.event.Event()

        def worker():
            start.wait()
            for _ in range(GREEN_K):
                with get():
                    eventlet.sleep(0)

        threads = [eventlet.spawn(worker) for _ in range(GREEN_N)]
        eventlet.sleep(0)
        eventlet.sleep(0)
        switches = [0]

        def trace(event, args):
            if event in ('switch', 'throw'):
                switches[0] += 1

        def run():
            start.send()
            for t in threads:
                t.wait()

        calls = [0]

        def prof(frame, event, arg):
            if event == 'call':
                calls[0] += 1

        old = greenlet.settrace(trace)
        # setprofile is per thread and greenlets share the thread's hook.
        sys.setprofile(prof)
        try:
            run()
        finally:
            sys.setprofile(None)
            greenlet.settrace(old)
    ops = GREEN_N * GREEN_K
    return {'switches': switches[0] / ops, 'calls': calls[0] / ops}


def _worker(kind, contender):
    if kind == 'green':
        import eventlet

        eventlet.monkey_patch()
        return green(contender)
    return uncontended(contender)


def run(log=print):
    out = {'uncontended': {}, 'green': {}}
    for kind, contenders in (('uncontended', _lib.IN_PROCESS),
                             ('green', _lib.GREEN)):
        for c in contenders:
            proc = subprocess.run(
                [sys.executable, '-W', 'ignore', os.path.abspath(__file__),
                 '--worker', kind, c],
                capture_output=True, text=True, env=_lib.clean_env(),
                timeout=300, check=False,
            )
            if proc.returncode:
                sys.stderr.write(proc.stderr)
                out[kind][c] = {'error': 'exit %d' % proc.returncode}
            else:
                out[kind][c] = json.loads(proc.stdout.splitlines()[-1])
            log('  %-12s %-20s %s' % (kind, c, out[kind][c]))
    return out


def main():
    if len(sys.argv) == 4 and sys.argv[1] == '--worker':
        print(json.dumps(_worker(sys.argv[2], sys.argv[3])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--json', help='write the counts here')
    ap.add_argument('--quick', action='store_true', help='(same run)')
    args = ap.parse_args()
    res = run()
    print('profile: %d contenders counted' % (
        len(res['uncontended']) + len(res['green'])))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'profile': res}, f, indent=1)


if __name__ == '__main__':
    main()
