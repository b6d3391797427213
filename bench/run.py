"""The comparison benchmark (``make bench``): fastlock vs oslo.concurrency,
fasteners, filelock and the floors, side by side in one run.

Parts, each in its own interpreter:

1. in-process (pytest-benchmark): ``bench_uncontended.py``,
   ``bench_external.py``, ``bench_contended_threads.py``;
2. eventlet (pytest-benchmark under ``eventlet.monkey_patch()``):
   ``eventlet/main.py``, once for the floor, oslo and fastlock-c and once
   for fastlock-py (one fastlock core per process, as in production);
3. processes (plain timed script): ``processes.py``;
4. registry, 1,000,000 names (plain timed script): ``registry.py``;
5. coordination: cluster locks on real redis, etcd and ZooKeeper servers,
   fastlock.coordination beside plain tooz (``coordination.py``);
6. scaling curves (plain timed script, ``scaling.py``, drawn in
   ``scaling.png``, one panel per curve and metric): native threads
   1..128 on one name, external names 10..10,000, live names
   1..1,000,000, green threads 10..10,000, processes 2..16;
7. profile: deterministic per-operation counts of Python calls and greenlet
   switches (``profile.py``), quoted where they explain a result;
8. instructions: callgrind instructions per operation of the uncontended
   rows (``instructions.py``, skipped without valgrind), a column beside
   the times.

The pytest-benchmark parts run in 3 passes (alternate ones in reverse
order) and each row reports the median of the passes' medians, so a burst
of noise on this shared machine during one contender's turn does not
decide a ratio.  Raw outputs and logs go to ``bench/results/<timestamp>/``; the combined
``results.json`` (also copied to ``bench/results/latest.json``), the table
(``report.md``) and, when matplotlib is importable, ``chart.png`` too.
Then the table and the targets verdict are printed.

Usage: ``python bench/run.py [--quick] [--parts a,b] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import _lib  # noqa: E402
import report  # noqa: E402

PARTS = ('inprocess', 'eventlet', 'processes', 'registry', 'coordination',
         'scaling', 'profile', 'instructions')
PYTEST_COMMON = [
    '-p', 'no:cacheprovider', '-p', 'no:fastlock', '-p', 'no:logging',
    '-p', 'no:warnings', '-o', 'python_files=bench_*.py',
    '-o', 'python_functions=bench_*', '-o', 'python_classes=',
    '--benchmark-only', '--benchmark-group-by=group',
    '--benchmark-sort=name', '--benchmark-columns=median,iqr,rounds',
    '-q', '-rs',
]


def _timing(quick, passes):
    if quick:
        return ['--bench-quick', '--benchmark-max-time=0.05',
                '--benchmark-min-rounds=3']
    return ['--benchmark-max-time=%.2f' % (1.5 / passes),
            '--benchmark-min-rounds=5']


def _step(label, argv, log_path):
    """Run one part, its output to a log; say how it went."""
    t0 = time.monotonic()
    print('[bench] %-30s ...' % label, end='', flush=True)
    with open(log_path, 'w') as log:
        proc = subprocess.run(
            argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env=_lib.clean_env(), check=False,
        )
    with open(log_path) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    summary = lines[-1] if lines else ''
    print(' %5.0f s  %s' % (time.monotonic() - t0, summary[-90:]),
          flush=True)
    if proc.returncode not in (0, 5):  # 5: pytest collected nothing
        print('[bench] %s failed (exit %d); last lines of %s:' % (
            label, proc.returncode, log_path))
        print('\n'.join('    ' + ln for ln in lines[-25:]))
    return proc.returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true',
                    help='smoke run: small samples, well under 2 minutes')
    ap.add_argument('--parts', default=','.join(PARTS),
                    help='comma-separated subset of %s' % ','.join(PARTS))
    ap.add_argument('--out', default=os.path.join(HERE, 'results'),
                    help='results directory (default bench/results)')
    ap.add_argument('--passes', type=int, default=0,
                    help='passes over the pytest-benchmark parts, merged '
                    'by median (default: 3, or 1 with --quick)')
    ap.add_argument('--no-chart', action='store_true')
    args = ap.parse_args()
    parts = [p for p in args.parts.split(',') if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error('unknown part(s): %s' % ', '.join(sorted(unknown)))

    start = time.monotonic()
    stamp = time.strftime('%Y%m%d-%H%M%S') + ('-quick' if args.quick else '')
    out = os.path.join(os.path.abspath(args.out), stamp)
    os.makedirs(out, exist_ok=True)
    meta = {
        'machine': _lib.machine(),
        'quick': args.quick,
        'parts': parts,
        'command': 'python bench/run.py' + (' --quick' if args.quick else ''),
        'started': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
    }
    m = meta['machine']
    print('[bench] %s, %s CPUs, Python %s; fastlock %s, oslo.concurrency %s'
          % (m['cpu'], m['nproc'], m['python'], m['versions']['fastlock'],
             m['versions']['oslo.concurrency']))
    print('[bench] results in %s' % out)

    py = sys.executable
    rows, codes = [], {}
    passes = args.passes or (1 if args.quick else 3)
    meta['passes'] = passes
    for n in range(passes):
        # Alternate passes run the benchmarks in reverse order, so slow
        # drift on the machine does not always favour the same contender.
        extra = [*_timing(args.quick, passes)] + (
            ['--bench-reverse'] if n % 2 else [])
        suffix = '-pass%d' % (n + 1) if passes > 1 else ''
        if 'inprocess' in parts:
            tag = 'inprocess' + suffix
            path = os.path.join(out, tag + '.json')
            codes[tag] = _step(tag + ' (pytest-benchmark)', [
                py, '-m', 'pytest', HERE,
                '--ignore', os.path.join(HERE, 'eventlet'),
                *PYTEST_COMMON, *extra, '--benchmark-json', path,
            ], os.path.join(out, tag + '.log'))
            if os.path.exists(path):
                rows += report.load([path])[0]
        if 'eventlet' in parts:
            for tag, who in (
                ('eventlet', [_lib.GREEN_FLOOR, 'oslo', 'fastlock-c']),
                ('eventlet-py', ['fastlock-py']),
            ):
                tag += suffix
                path = os.path.join(out, tag + '.json')
                codes[tag] = _step(tag + ' (monkey-patched)', [
                    py, os.path.join(HERE, 'eventlet', 'main.py'),
                    *PYTEST_COMMON, *extra,
                    '--bench-contenders', ','.join(who),
                    '--benchmark-json', path,
                ], os.path.join(out, tag + '.log'))
                if os.path.exists(path):
                    rows += report.load([path])[0]
    for part in ('processes', 'registry', 'coordination', 'scaling',
                 'profile', 'instructions'):
        if part not in parts:
            continue
        path = os.path.join(out, part + '.json')
        kind = ('counts' if part in ('profile', 'instructions')
                else 'timed script')
        codes[part] = _step('%s (%s)' % (part, kind), [
            py, os.path.join(HERE, part + '.py'), '--json', path,
            *(['--quick'] if args.quick else []),
        ], os.path.join(out, part + '.log'))
        if os.path.exists(path):
            loaded, extra = report.load([path])
            rows += loaded
            meta.update(extra)

    meta['elapsed_s'] = time.monotonic() - start
    meta['exit_codes'] = codes
    results = os.path.join(out, 'results.json')
    with open(results, 'w') as f:
        json.dump({'meta': meta, 'rows': rows}, f, indent=1)
    shutil.copyfile(results, os.path.join(os.path.abspath(args.out),
                                          'latest.json'))
    rows = report.merge_passes(rows)
    text = report.report(rows, meta)
    with open(os.path.join(out, 'report.md'), 'w') as f:
        f.write(text)
    print()
    print(text)
    if not args.no_chart:
        png = report.chart(rows, os.path.join(out, 'chart.png'), meta)
        print('chart: %s' % (png or 'not written (matplotlib is not '
                             'importable; it is optional)'))
        png = report.curves_chart(meta, os.path.join(out, 'scaling.png'))
        if png:
            print('scaling curves: %s' % png)
    print('JSON: %s' % results)
    failed = {k: v for k, v in codes.items() if v not in (0, 5)}
    if failed:
        print('[bench] parts that failed: %s (see the logs in %s)' % (
            failed, out))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
