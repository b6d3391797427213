"""Scenario 3: native threads contending.

N OS threads run ``with lock(name): time.sleep(0)`` in a loop; the
``sleep(0)`` releases the GIL inside the critical section (as real I/O
under a lock would), so the other threads really do find the lock taken
and queue on it.  Without it, the GIL would serialise the threads and
this would measure the uncontended case again.

The threads are started once per benchmark and parked on a barrier; a
round releases them, each does its share of ~400 acquisitions, and the
round ends when all are back at the barrier (the two barrier crossings are
inside the timing, for every contender alike).  Reported time is per
acquisition.
"""

from __future__ import annotations

import threading
import time

import _lib
import pytest

TOTAL = 400


class _Pool:
    def __init__(self, n, work):
        self.start = threading.Barrier(n + 1)
        self.done = threading.Barrier(n + 1)
        self.stop = False
        self.error = None
        self.threads = [
            threading.Thread(target=self._run, args=(work, i), daemon=True)
            for i in range(n)
        ]
        for t in self.threads:
            t.start()

    def _run(self, work, i):
        while True:
            self.start.wait()
            if self.stop:
                return
            try:
                work(i)
            except BaseException as exc:  # noqa: BLE001
                self.error = exc
            self.done.wait()

    def round(self):
        self.start.wait()
        self.done.wait()
        if self.error is not None:
            raise self.error

    def close(self):
        self.stop = True
        self.start.wait()
        for t in self.threads:
            t.join()


def _lock_factory(contender, names):
    """One context manager getter per thread index."""
    if contender.lockutils is None:
        locks = {n: threading.Lock() for n in set(names)}
        return [(lambda lk=locks[n]: lk) for n in names]
    lock = contender.lockutils.lock
    return [(lambda n=n: lock(n)) for n in names]


def _bench(benchmark, contender, nthreads, nnames):
    benchmark.extra_info['ops'] = TOTAL
    names = ['bench-thread-%d' % (i % nnames) for i in range(nthreads)]
    getters = _lock_factory(contender, names)
    per_thread = TOTAL // nthreads
    sleep = time.sleep

    def work(i):
        get = getters[i]
        for _ in range(per_thread):
            with get():
                sleep(0)

    pool = _Pool(nthreads, work)
    try:
        pool.round()  # warm up: threads running, registry entries made
        benchmark(pool.round)
    finally:
        pool.close()


@pytest.mark.parametrize('contender', _lib.IN_PROCESS, indirect=True)
def bench_2_threads_1_name(benchmark, contender):
    benchmark.group = 'threads: 2 on one name'
    _bench(benchmark, contender, 2, 1)


@pytest.mark.parametrize('contender', _lib.IN_PROCESS, indirect=True)
def bench_8_threads_1_name(benchmark, contender):
    benchmark.group = 'threads: 8 on one name'
    _bench(benchmark, contender, 8, 1)


@pytest.mark.parametrize('contender', _lib.IN_PROCESS, indirect=True)
def bench_8_threads_8_names(benchmark, contender):
    benchmark.group = 'threads: 8 on 8 names'
    _bench(benchmark, contender, 8, 8)
