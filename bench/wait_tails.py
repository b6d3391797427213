"""How many waits of native threads on one name pass each threshold, for
``threading.Lock`` and fastlock-c side by side (not part of ``make bench``).

The scaling curves report the longest single wait of 0.25 s windows; on a
noisy host that is whichever wait a scheduler stall hit.  This counts the
whole tail instead: each contender runs *seconds* with *threads* threads
in a tight loop (``counter += 1`` under the lock), alternately, *runs*
times, and prints per run the acquisitions and the number of waits longer
than 0.5, 1, 2, 4 and 8 ms.

Usage: ``python bench/wait_tails.py [threads] [seconds] [runs]``
(defaults 2, 5, 4).
"""

from __future__ import annotations

import bisect
import sys
import threading
import time

THRESHOLDS_MS = (0.5, 1, 2, 4, 8)


def run_once(get, nthreads, seconds):
    """(acquisitions, sorted waits over the smallest threshold, in s)."""
    floor = THRESHOLDS_MS[0] / 1e3
    waits, stop, shared = [], [False], [0]
    barrier = threading.Barrier(nthreads + 1)

    def work():
        mine, clock = [], time.perf_counter
        barrier.wait()
        while not stop[0]:
            t0 = clock()
            with get():
                t1 = clock()
                shared[0] += 1
            if t1 - t0 > floor:
                mine.append(t1 - t0)
        waits.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(nthreads)]
    for t in threads:
        t.start()
    barrier.wait()
    time.sleep(seconds)
    stop[0] = True
    for t in threads:
        t.join()
    return shared[0], sorted(waits)


def main():
    from fastlock import _core_c, lockutils

    nthreads, seconds, runs = (
        [int(sys.argv[1]) if len(sys.argv) > 1 else 2]
        + [float(sys.argv[2]) if len(sys.argv) > 2 else 5.0]
        + [int(sys.argv[3]) if len(sys.argv) > 3 else 4])
    sys.setswitchinterval(0.005)  # the default, stated
    lockutils._use_core(_core_c)
    floor = threading.Lock()
    contenders = {'threading.Lock': lambda: floor,
                  'fastlock-c': lambda: lockutils.lock('bench-tails')}
    order = list(contenders)
    for r in range(runs):
        for name in order if r % 2 == 0 else order[::-1]:
            count, waits = run_once(contenders[name], nthreads, seconds)
            over = ' '.join('>%gms: %d' % (ms, len(waits) - bisect.bisect(
                waits, ms / 1e3)) for ms in THRESHOLDS_MS)
            print('%-15s %d threads %.0f s: %d acquisitions, waits %s, '
                  'longest %.1f ms' % (name, nthreads, seconds, count, over,
                                       waits[-1] * 1e3 if waits else 0),
                  flush=True)


if __name__ == '__main__':
    main()
