"""Scenario 6: 1,000,000 distinct internal lock names (a plain timed script).

Each contender runs in a fresh interpreter: after a warm-up of
``WARM_UP`` names (more than the compiled registry keeps unused, 16,384,
so "flat" measures growth with the number of names, not the registry's
one step up to its bound) and ``gc.collect()``, it takes and releases
``lock('n%d' % i)`` for N distinct names, timing the loop and sampling
RSS ten times on the way; then ``gc.collect()`` and RSS again.  The
floor makes a new ``threading.Lock()`` per name (formatting the name too,
like the others).
"Flat" means RSS grew by less than ``FLAT_BYTES`` from before to after.

Usage: ``python bench/registry.py [--quick] [--json PATH]``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _lib  # noqa: E402

FLAT_BYTES = 2 * 1024 * 1024
WARM_UP = 40_000
SAMPLES = 10


def worker(contender, n):
    import contextlib
    import gc
    import threading

    with contextlib.ExitStack() as stack:
        if contender == _lib.FLOOR:
            Lock = threading.Lock

            def loop(lo, hi):
                for i in range(lo, hi):
                    name = 'n%d' % i  # noqa: F841  (same work as the others)
                    with Lock():
                        pass
        else:
            lockutils = stack.enter_context(_lib.lockutils_for(contender))
            lock = lockutils.lock

            def loop(lo, hi):
                for i in range(lo, hi):
                    with lock('n%d' % i):
                        pass

        loop(-WARM_UP, 0)
        gc.collect()
        before, _ = _lib.rss_bytes()
        step = n // SAMPLES
        samples = []
        elapsed = 0.0
        for s in range(SAMPLES):
            t0 = time.perf_counter()
            loop(s * step, (s + 1) * step)
            elapsed += time.perf_counter() - t0
            samples.append(_lib.rss_bytes()[0])
        gc.collect()
        after, peak = _lib.rss_bytes()
    return {
        'per_op': elapsed / (step * SAMPLES),
        'rss_before': before,
        'rss_after': after,
        'rss_max_during': max(samples),
        'rss_samples': samples,
        'peak_hwm': peak,
        'n': step * SAMPLES,
    }


def run(quick, log=print):
    n = 100_000 if quick else 1_000_000
    label = '{:,}'.format(n)
    rows = []
    for c in _lib.IN_PROCESS:
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), '--worker', c,
             str(n)],
            capture_output=True, text=True, env=_lib.clean_env(),
            timeout=600, check=False,
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            r = {'skipped': 'worker failed (exit %d)' % proc.returncode}
        else:
            r = json.loads(proc.stdout.strip().splitlines()[-1])
        mib = 1024 * 1024
        growth = (r['rss_after'] - r['rss_before']) if 'n' in r else None
        note = '' if growth is None else (
            'RSS %.1f -> %.1f MiB (max %.1f during)' % (
                r['rss_before'] / mib, r['rss_after'] / mib,
                r['rss_max_during'] / mib)
        )
        rows.append({
            'scenario': 'registry: %s distinct names, time per op' % label,
            'contender': c, 'unit': 's', 'value': r.get('per_op'),
            'skipped': r.get('skipped'), 'note': note, 'extra': r,
        })
        rows.append({
            'scenario': 'registry: %s distinct names, RSS growth' % label,
            'contender': c, 'unit': 'bytes', 'value': growth,
            'skipped': r.get('skipped'),
            'note': '' if growth is None else (
                'flat' if growth < FLAT_BYTES else 'GROWS'),
            'extra': {'flat_bytes': FLAT_BYTES},
        })
        log('  %-45s %-16s %s' % ('registry', c, r.get('per_op')
                                  or r.get('skipped')))
    return rows


def main():
    if len(sys.argv) == 4 and sys.argv[1] == '--worker':
        print(json.dumps(worker(sys.argv[2], int(sys.argv[3]))))
        return
    _lib.script_main('registry', run, __doc__.split('\n')[0])


if __name__ == '__main__':
    main()
