"""Scenario 2: uncontended external (inter-process) locks, one process.

The floor is ``fcntl.lockf`` lock/unlock on a file descriptor opened once.
oslo and fastlock are called as ``with lock(name, external=True,
lock_path=D)``; fasteners' ``InterProcessLock`` and filelock's ``FileLock``
objects are made once per name and reused (each still opens and closes
the file per acquisition, as they are written to).  All lock files exist
before timing starts.
"""

from __future__ import annotations

import fcntl
import os

import _lib
import pytest

OPS = 100
DISTINCT = 10_000


def _raise_fd_limit(need):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 1024
    if soft != resource.RLIM_INFINITY and soft < want:
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _prepare(benchmark, contender, lock_dir, names):
    if contender.name == _lib.LOCKF:
        _raise_fd_limit(len(names))  # the floor keeps one fd per name open
    for name in names:
        open(os.path.join(lock_dir, name), 'a').close()
    if contender.lockutils is not None:
        probe = _lib.ExternalLock(
            contender.name, contender.lockutils, lock_dir, names[0]
        )
        try:
            probe.acquire()
        except NotImplementedError:
            _lib.skip(benchmark, contender, _lib.NOT_IMPLEMENTED)
        probe.release()
    return [
        _lib.ExternalLock(contender.name, contender.lockutils, lock_dir, n)
        for n in (names if contender.lockutils is None else names[:0])
    ]


@pytest.mark.parametrize('contender', _lib.EXTERNAL, indirect=True)
def bench_external(benchmark, contender, tmp_path):
    benchmark.group = 'external: uncontended, one name'
    benchmark.extra_info['ops'] = OPS
    lock_dir = str(tmp_path)
    adapters = _prepare(benchmark, contender, lock_dir, ['bench-ext'])
    if contender.name == _lib.LOCKF:
        # The floor called directly, without the adapter's extra frame.
        fd = adapters[0].fd
        lockf, ex, un = fcntl.lockf, fcntl.LOCK_EX, fcntl.LOCK_UN

        def fn():
            for _ in range(OPS):
                lockf(fd, ex)
                lockf(fd, un)
    elif adapters:
        lk = adapters[0]
        acquire, release = lk.acquire, lk.release

        def fn():
            for _ in range(OPS):
                acquire()
                release()
    else:
        lock = contender.lockutils.lock

        def fn():
            for _ in range(OPS):
                with lock('bench-ext', external=True, lock_path=lock_dir):
                    pass
    try:
        benchmark(fn)
    finally:
        for a in adapters:
            a.close()


@pytest.mark.parametrize('contender', _lib.EXTERNAL, indirect=True)
def bench_external_names(benchmark, contender, tmp_path):
    benchmark.group = 'external: 10,000 distinct names, cycled'
    benchmark.extra_info['ops'] = OPS
    lock_dir = str(tmp_path)
    names = ['bench-ext-%05d' % i for i in range(DISTINCT)]
    adapters = _prepare(benchmark, contender, lock_dir, names)
    state = {'i': 0}
    if adapters:
        pairs = [(a.acquire, a.release) for a in adapters]

        def fn():
            i = state['i']
            for acquire, release in pairs[i:i + OPS]:
                acquire()
                release()
            state['i'] = (i + OPS) % DISTINCT
    else:
        lock = contender.lockutils.lock

        def fn():
            i = state['i']
            for name in names[i:i + OPS]:
                with lock(name, external=True, lock_path=lock_dir):
                    pass
            state['i'] = (i + OPS) % DISTINCT
    try:
        benchmark(fn)
    finally:
        for a in adapters:
            a.close()
