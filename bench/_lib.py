"""Shared pieces of the benchmark: contenders, binding fastlock's core,
external-lock adapters, RSS and machine description.

Imported by the pytest-benchmark files (through ``conftest.py``) and by
the plain timed scripts (``processes.py``, ``registry.py``).  It imports
nothing heavy at module level, so the scripts can fork before any lock
library is loaded.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
import subprocess
import sys

# Display order of the contenders in every table.
FLOOR = 'threading.Lock'
LOCKF = 'lockf (open fd)'
GREEN_FLOOR = 'eventlet Semaphore'
ORDER = [
    FLOOR, GREEN_FLOOR, LOCKF, 'oslo', 'fasteners', 'filelock',
    'fastlock-py', 'fastlock-c',
]
FLOORS = (FLOOR, GREEN_FLOOR, LOCKF)
IN_PROCESS = [FLOOR, 'oslo', 'fastlock-py', 'fastlock-c']
EXTERNAL = [LOCKF, 'oslo', 'fasteners', 'filelock', 'fastlock-py',
            'fastlock-c']
GREEN = [GREEN_FLOOR, 'oslo', 'fastlock-py', 'fastlock-c']

NOT_IMPLEMENTED = 'not implemented in fastlock yet (NotImplementedError)'
SKIPPED = []  # rows skipped in this pytest run, for the report


def oslo_lockutils():
    """The genuine ``oslo_concurrency.lockutils`` (never fastlock's
    module swapped in by ``patch_oslo``)."""
    mod = importlib.import_module('oslo_concurrency.lockutils')
    if mod.__name__ != 'oslo_concurrency.lockutils':
        raise RuntimeError(
            'oslo_concurrency.lockutils is patched to %s: the oslo rows '
            'would measure fastlock (unset FASTLOCK_PATCH_OSLO)' % mod.__name__
        )
    return mod


@contextlib.contextmanager
def lockutils_for(contender):
    """Yield the lockutils module a contender uses: oslo's, or fastlock's
    facade bound to ``_core_py``/``_core_c`` for the duration."""
    if contender == 'oslo':
        yield oslo_lockutils()
        return
    if not contender.startswith('fastlock-'):
        raise ValueError(contender)
    from fastlock import lockutils

    core = importlib.import_module('fastlock._core_' + contender[9:])
    previous = lockutils._use_core(core)
    try:
        yield lockutils
    finally:
        lockutils._use_core(previous)
        # Close the idle lock files this core cached: in production one
        # process runs one core, here the next contender needs the
        # descriptors.
        core.set_lock_file_cache_size(core.set_lock_file_cache_size(0))


class ExternalLock:
    """acquire()/release() on one inter-process lock, the way each
    contender is normally used.

    * ``lockf (open fd)``: ``fcntl.lockf`` on a file opened once (the floor).
    * ``oslo``/``fastlock-*``: ``lock(name, external=True, lock_path=...)``
      entered and exited (a new context manager per acquisition, as
      ``with lockutils.lock(...)`` does).
    * ``fasteners``: one ``InterProcessLock(path)`` reused (it opens and
      closes the file on every acquisition, and polls while waiting).
    * ``filelock``: one ``FileLock(path)`` reused (``flock``; polls every
      50 ms while waiting, its default).
    """

    def __init__(self, contender, lockutils, lock_dir, name):
        self.contender = contender
        path = os.path.join(lock_dir, name)
        if contender == LOCKF:
            import fcntl

            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            self.fd = fd
            lockf, ex, un = fcntl.lockf, fcntl.LOCK_EX, fcntl.LOCK_UN
            self.acquire = lambda: lockf(fd, ex)
            self.release = lambda: lockf(fd, un)
        elif contender == 'fasteners':
            import fasteners

            lk = fasteners.InterProcessLock(path)
            self.acquire, self.release = lk.acquire, lk.release
        elif contender == 'filelock':
            import filelock

            lk = filelock.FileLock(path)
            self.acquire, self.release = lk.acquire, lk.release
        else:
            lock = lockutils.lock
            holder = []

            def acquire():
                cm = lock(name, external=True, lock_path=lock_dir)
                cm.__enter__()
                holder.append(cm)

            def release():
                holder.pop().__exit__(None, None, None)

            self.acquire, self.release = acquire, release

    def close(self):
        if self.contender == LOCKF:
            os.close(self.fd)


def rss_bytes():
    """Current and peak resident set size of this process, in bytes."""
    cur = peak = 0
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                cur = int(line.split()[1]) * 1024
            elif line.startswith('VmHWM:'):
                peak = int(line.split()[1]) * 1024
    return cur, peak


def _version(dist):
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001
        return 'absent'


def machine():
    """What the numbers were measured on."""
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        git = subprocess.run(
            ['git', 'describe', '--always', '--dirty'], capture_output=True,
            text=True, cwd=os.path.dirname(os.path.abspath(__file__)),
            check=False,
        ).stdout.strip()
    except OSError:
        git = ''
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {
        'cpu': model,
        'nproc': os.cpu_count(),
        'affinity': len(os.sched_getaffinity(0)),
        'python': sys.version.split()[0],
        'platform': platform.platform(),
        'loadavg_1m_at_start': load,
        'git': git,
        'versions': {
            d: _version(d) for d in (
                'fastlock', 'oslo.concurrency', 'fasteners', 'filelock',
                'eventlet', 'greenlet', 'pytest-benchmark',
            )
        },
    }


def clean_env():
    """Environment for child processes: fastlock not swapped in for oslo,
    the compiled core allowed."""
    env = dict(os.environ)
    env.pop('FASTLOCK_PATCH_OSLO', None)
    env.pop('FASTLOCK_NO_EXTENSIONS', None)
    return env


def skip(benchmark, contender, reason):
    """Skip this row, remembering why so that the report can show it."""
    import pytest

    SKIPPED.append({
        'group': benchmark.group, 'contender': contender.name,
        'reason': reason,
    })
    pytest.skip('%s: %s' % (contender.name, reason))


def unrolled(stmt, n, namespace):
    """A function executing *stmt* *n* times in straight-line code (no
    loop overhead in the floor), with *namespace* as its globals."""
    src = 'def _f():\n' + ('    %s\n' % stmt) * n
    code = compile(src, '<unrolled %r>' % stmt, 'exec')
    ns = dict(namespace)
    exec(code, ns)  # noqa: S102  (benchmark code built from literals above)
    return ns['_f']


def script_main(label, run, description):
    """The command line of a timed-script part (``--quick``, ``--json``):
    run it, say how many rows were measured, write the rows as JSON."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--json', help='write the rows here')
    args = ap.parse_args()
    rows = run(args.quick)
    print('%s: %d rows measured, %d skipped' % (
        label,
        sum(r['value'] is not None for r in rows),
        sum(r['value'] is None for r in rows)))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'rows': rows}, f, indent=1)
