"""Scenario 4: green threads under a monkey-patched eventlet hub.

Run by ``main.py`` (never by the main benchmark run).  N green threads
each do K times ``with lock(name): eventlet.sleep(0)``; the ``sleep(0)``
inside yields to the hub, so the others queue on the lock.  The green
threads are spawned and parked on an event outside the timing; a round
is ``event.send()`` until all have finished.  The floor is
``eventlet.semaphore.Semaphore`` used the same way.  Reported time is per
acquisition.
"""

from __future__ import annotations

import _lib
import eventlet
import eventlet.event
import eventlet.semaphore
import pytest


def _getters(contender, names, fair=False):
    if contender.lockutils is None:
        sems = {n: eventlet.semaphore.Semaphore(1) for n in set(names)}
        return [(lambda s=sems[n]: s) for n in names]
    lock = contender.lockutils.lock
    if fair:
        return [(lambda n=n: lock(n, fair=True)) for n in names]
    return [(lambda n=n: lock(n)) for n in names]


def _worker(start, get, k):
    sleep = eventlet.sleep
    start.wait()
    for _ in range(k):
        with get():
            sleep(0)


def _bench(benchmark, quick, getters, k):
    if quick:
        k = max(1, k // 3)
    benchmark.extra_info['ops'] = len(getters) * k
    state = {}

    def setup():
        start = eventlet.event.Event()
        state['start'] = start
        state['threads'] = [
            eventlet.spawn(_worker, start, get, k) for get in getters
        ]
        eventlet.sleep(0)  # every green thread now waits on `start`
        eventlet.sleep(0)

    def target():
        state['start'].send()
        for t in state['threads']:
            t.wait()

    benchmark.pedantic(
        target, setup=setup, rounds=3 if quick else 7, warmup_rounds=1,
    )


@pytest.mark.parametrize('n', [10, 100, 1000])
@pytest.mark.parametrize('contender', _lib.GREEN, indirect=True)
def bench_one_name(benchmark, contender, quick, n):
    benchmark.group = 'eventlet: %d green threads on one name' % n
    k = {10: 100, 100: 10, 1000: 2}[n]
    _bench(benchmark, quick, _getters(contender, ['bench-green'] * n), k)


@pytest.mark.parametrize('contender', _lib.GREEN, indirect=True)
def bench_own_names(benchmark, contender, quick):
    benchmark.group = 'eventlet: 100 green threads, one name each'
    names = ['bench-green-%d' % i for i in range(100)]
    _bench(benchmark, quick, _getters(contender, names), 10)


@pytest.mark.parametrize('contender', _lib.GREEN, indirect=True)
def bench_fair(benchmark, contender, quick):
    benchmark.group = 'eventlet: fair=True, 100 green threads on one name'
    names = ['bench-green-fair'] * 100
    _bench(benchmark, quick, _getters(contender, names, fair=True), 10)
