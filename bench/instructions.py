"""Instructions per operation of the uncontended rows, counted by callgrind.

Times on this shared machine are noisy; instruction counts are not.  Each
contender runs in its own interpreter under ``valgrind --tool=callgrind``
with collection on only inside ``functools.reduce``, which is how each
measured loop is entered, and a dump after each such call.  A row's loop
runs twice, with K1 and K2 rounds of 100 operations in straight-line code
(as in ``bench_uncontended.py``); the difference of the two counts over
the difference of the operations is the cost of one operation, without the
fixed cost of entering the loop.  What the kernel does in a system call is
not counted (the external rows count only user-space instructions).

Without valgrind the part reports nothing and says so.

Usage: ``python bench/instructions.py [--json PATH]``
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _lib  # noqa: E402

OPS = 100  # operations per round, unrolled
K1, K2 = 1, 6  # rounds of the two runs of each row
WARMUP = 20  # rounds before (CPython 3.11+ specializes warm code)
NAME = 'bench-lock'
UNCONTENDED = [
    'uncontended: with lock(name)',
    'uncontended: @synchronized(name) call',
    'uncontended: lock(name, fair=True)',
    'uncontended: lock(name, semaphores=S)',
]
EXTERNAL = 'external: uncontended, one name'
CONTENDERS = [_lib.FLOOR, _lib.LOCKF, 'oslo', 'fastlock-py', 'fastlock-c']


def _cases(contender, lockutils, lock_dir):
    # {scenario: function doing OPS operations}, the same code as the
    # timed rows of bench_uncontended.py and bench_external.py.
    unrolled = _lib.unrolled
    if contender == _lib.FLOOR:
        lk = threading_lock()

        def work():
            pass

        def f():
            with lk:
                return work()
        plain = unrolled('with lk: pass', OPS, {'lk': lk})
        return {
            UNCONTENDED[0]: plain,
            UNCONTENDED[1]: unrolled('f()', OPS, {'f': f}),
            UNCONTENDED[2]: plain,
            UNCONTENDED[3]: plain,
        }
    if contender == _lib.LOCKF:
        import fcntl

        path = os.path.join(lock_dir, 'bench-ext')
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        return {EXTERNAL: unrolled(
            'lockf(fd, ex); lockf(fd, un)', OPS,
            {'lockf': fcntl.lockf, 'fd': fd, 'ex': fcntl.LOCK_EX,
             'un': fcntl.LOCK_UN})}

    @lockutils.synchronized(NAME)
    def g():
        pass

    ns = {'lockutils': lockutils, 'NAME': NAME, 'D': lock_dir,
          'S': lockutils.Semaphores()}
    return {
        UNCONTENDED[0]: unrolled('with lockutils.lock(NAME): pass', OPS, ns),
        UNCONTENDED[1]: unrolled('g()', OPS, {'g': g}),
        UNCONTENDED[2]: unrolled(
            'with lockutils.lock(NAME, fair=True): pass', OPS, ns),
        UNCONTENDED[3]: unrolled(
            'with lockutils.lock(NAME, semaphores=S): pass', OPS, ns),
        EXTERNAL: unrolled(
            'with lockutils.lock(NAME, external=True, lock_path=D): pass',
            OPS, ns),
    }


def threading_lock():
    import threading

    return threading.Lock()


def _measured(fn, rounds):
    # Collection is on only inside functools.reduce (see the docstring).
    def run(_a, _b):
        for _ in range(rounds):
            fn()
    functools.reduce(run, (0, 1))


def worker(contender):
    """Run every row of *contender* twice (K1, K2 rounds); print the
    scenarios in the order measured, as JSON."""
    lock_dir = tempfile.mkdtemp(prefix='fastlock-instr-')
    try:
        if contender in _lib.FLOORS:
            scenarios = _run_all(_cases(contender, None, lock_dir))
        else:
            with _lib.lockutils_for(contender) as lockutils:
                scenarios = _run_all(_cases(contender, lockutils, lock_dir))
        print(json.dumps(scenarios))
    finally:
        shutil.rmtree(lock_dir, ignore_errors=True)


def _run_all(cases):
    for fn in cases.values():
        # Warm up: registry entries, caches, lock files, and the
        # interpreter's specialization of the unrolled code.
        for _ in range(WARMUP):
            fn()
    for fn in cases.values():
        _measured(fn, K1)
        _measured(fn, K2)
    return list(cases)


def _totals(path):
    with open(path) as f:
        for line in f:
            if line.startswith('summary:') or line.startswith('totals:'):
                return int(line.split()[1])
    raise ValueError('no totals in %s' % path)


def count(contender, valgrind):
    """{scenario: instructions per operation} for one contender."""
    out = tempfile.mkdtemp(prefix='fastlock-callgrind-')
    try:
        proc = subprocess.run(
            [valgrind, '--tool=callgrind', '--collect-atstart=no',
             '--toggle-collect=functools_reduce',
             '--dump-after=functools_reduce',
             '--callgrind-out-file=' + os.path.join(out, 'cg.%p'),
             sys.executable, '-W', 'ignore', os.path.abspath(__file__),
             '--worker', contender],
            capture_output=True, text=True, timeout=900, check=False,
            env=dict(_lib.clean_env(), PYTHONHASHSEED='0'),
        )
        if proc.returncode:
            sys.stderr.write(proc.stderr[-3000:])
            raise RuntimeError('%s: exit %d' % (contender, proc.returncode))
        scenarios = json.loads(proc.stdout.splitlines()[-1])
        dumps = sorted(
            glob.glob(os.path.join(out, 'cg.*.*')),
            key=lambda p: int(p.rsplit('.', 1)[1]))
        # The last two dumps per scenario are ours (imports may call
        # reduce before).
        dumps = dumps[len(dumps) - 2 * len(scenarios):]
        res = {}
        for i, scenario in enumerate(scenarios):
            n1, n2 = _totals(dumps[2 * i]), _totals(dumps[2 * i + 1])
            res[scenario] = round((n2 - n1) / ((K2 - K1) * OPS), 1)
        return res
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run(log=print, contenders=CONTENDERS):
    valgrind = shutil.which('valgrind')
    if valgrind is None:
        log('instructions: valgrind is not installed; nothing counted')
        return {}
    res = {}
    for c in contenders:
        try:
            counts = count(c, valgrind)
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
            log('  %-16s %s' % (c, e))
            continue
        for scenario, n in counts.items():
            res.setdefault(scenario, {})[c] = n
        log('  %-16s %s' % (c, counts))
    return res


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--worker':
        worker(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--json', help='write the counts here')
    ap.add_argument('--quick', action='store_true', help='(same run)')
    ap.add_argument('--contenders', default=','.join(CONTENDERS))
    args = ap.parse_args()
    res = run(contenders=args.contenders.split(','))
    print('instructions: %d rows counted' % sum(map(len, res.values())))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'instructions': res}, f, indent=1)


if __name__ == '__main__':
    main()
