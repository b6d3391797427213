"""Scenario 1: uncontended in-process locking, one thread.

Each round runs 100 operations in straight-line code.  The floor is
``with threading.Lock()`` on a lock made once.
"""

from __future__ import annotations

import threading

import _lib
import pytest
from _lib import unrolled

OPS = 100
NAME = 'bench-lock'


def _run(benchmark, fn):
    benchmark.extra_info['ops'] = OPS
    fn()  # first use creates the registry entry
    benchmark(fn)


@pytest.mark.parametrize('contender', _lib.IN_PROCESS, indirect=True)
def bench_lock(benchmark, contender):
    benchmark.group = 'uncontended: with lock(name)'
    if contender.lockutils is None:
        fn = unrolled('with lk: pass', OPS, {'lk': threading.Lock()})
    else:
        fn = unrolled(
            'with lockutils.lock(NAME): pass', OPS,
            {'lockutils': contender.lockutils, 'NAME': NAME},
        )
    _run(benchmark, fn)


@pytest.mark.parametrize('contender', _lib.IN_PROCESS, indirect=True)
def bench_synchronized(benchmark, contender):
    benchmark.group = 'uncontended: @synchronized(name) call'
    if contender.lockutils is None:
        lk = threading.Lock()

        def work():
            pass

        def f():  # what a hand-written decorator with a lock costs
            with lk:
                return work()
    else:
        @contender.lockutils.synchronized(NAME)
        def f():
            pass

    _run(benchmark, unrolled('f()', OPS, {'f': f}))


@pytest.mark.parametrize('contender', _lib.IN_PROCESS, indirect=True)
def bench_fair(benchmark, contender):
    benchmark.group = 'uncontended: lock(name, fair=True)'
    if contender.lockutils is None:
        fn = unrolled('with lk: pass', OPS, {'lk': threading.Lock()})
    else:
        fn = unrolled(
            'with lockutils.lock(NAME, fair=True): pass', OPS,
            {'lockutils': contender.lockutils, 'NAME': NAME},
        )
    _run(benchmark, fn)


@pytest.mark.parametrize('contender', _lib.IN_PROCESS, indirect=True)
def bench_semaphores(benchmark, contender):
    benchmark.group = 'uncontended: lock(name, semaphores=S)'
    if contender.lockutils is None:
        fn = unrolled('with lk: pass', OPS, {'lk': threading.Lock()})
    else:
        fn = unrolled(
            'with lockutils.lock(NAME, semaphores=S): pass', OPS,
            {'lockutils': contender.lockutils, 'NAME': NAME,
             'S': contender.lockutils.Semaphores()},
        )
    _run(benchmark, fn)
