"""Turn benchmark results into one side-by-side table, a targets verdict
and (when matplotlib is importable) a PNG chart.

Input is the combined ``results.json`` written by ``run.py`` (default:
``bench/results/latest.json``); raw pytest-benchmark JSON files are
accepted too.  Every ratio compares numbers from the same run:

* ``x floor``: how many times the floor's cost this row costs (time per
  operation over the floor's; for acquisitions/s, the floor's rate over
  this row's).  The floor is ``threading.Lock`` in-process,
  ``eventlet Semaphore`` under eventlet, ``lockf (open fd)`` for external
  locks.
* ``vs oslo``: how many times faster than oslo.concurrency this row is
  (oslo's time over this row's; below 1 means slower).

Usage: ``python bench/report.py [results.json ...] [--chart PNG]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _lib  # noqa: E402

SCENARIOS = [
    'uncontended: with lock(name)',
    'uncontended: @synchronized(name) call',
    'uncontended: lock(name, fair=True)',
    'uncontended: lock(name, semaphores=S)',
    'external: uncontended, one name',
    'external: 10,000 distinct names, cycled',
    'threads: 2 on one name',
    'threads: 8 on one name',
    'threads: 8 on 8 names',
    'eventlet: 10 green threads on one name',
    'eventlet: 100 green threads on one name',
    'eventlet: 1000 green threads on one name',
    'eventlet: 100 green threads, one name each',
    'eventlet: fair=True, 100 green threads on one name',
    'processes: 2 hammering one external lock',
    'processes: 4 hammering one external lock',
    'processes: ping-pong hand-off latency, p50',
    'processes: ping-pong hand-off latency, p99',
]
EVENTLET_ONE_NAME = SCENARIOS[9:12]
EVENTLET_FAIR = SCENARIOS[13]


# -- loading ---------------------------------------------------------------

def rows_from_pytest_benchmark(data, source):
    """Rows (per-operation medians) from one pytest-benchmark JSON."""
    rows = []
    for b in data.get('benchmarks', []):
        ops = b.get('extra_info', {}).get('ops', 1)
        st = b['stats']
        rows.append({
            'scenario': b['group'],
            'contender': b.get('params', {}).get('contender', b['name']),
            'unit': 's',
            'value': st['median'] / ops,
            'skipped': None,
            'note': '',
            'extra': {
                'iqr': st['iqr'] / ops, 'rounds': st['rounds'],
                'iterations': st.get('iterations', 1), 'ops_per_round': ops,
                'source': source,
            },
        })
    for s in data.get('skipped', []):
        rows.append({
            'scenario': s['group'], 'contender': s['contender'], 'unit': 's',
            'value': None, 'skipped': s['reason'], 'note': '',
            'extra': {'source': source},
        })
    return rows


def merge_passes(rows):
    """One row per (scenario, contender): when a scenario ran in several
    passes, its value is the median of the passes' medians, and the note
    gives the largest deviation of a pass from it."""
    merged, order = {}, []
    for r in rows:
        key = (r['scenario'], r['contender'])
        if key not in merged:
            order.append(key)
            merged[key] = []
        merged[key].append(r)
    out = []
    for key in order:
        group = merged[key]
        measured = [r for r in group if r.get('value') is not None]
        if len(group) == 1 or not measured:
            out.append(group[0])
            continue
        values = sorted(r['value'] for r in measured)
        mid = len(values) // 2
        value = (values[mid] if len(values) % 2
                 else (values[mid - 1] + values[mid]) / 2)
        row = dict(measured[0])
        row['value'] = value
        row['extra'] = dict(row.get('extra', {}), passes=values)
        spread = max(abs(v - value) for v in values) / value if value else 0
        row['note'] = '%d passes, max dev %.0f%%' % (len(values), 100 * spread)
        out.append(row)
    return out


def load(paths):
    """(rows, meta) from combined results files or raw pytest-benchmark
    JSON files (several passes of one scenario are merged)."""
    rows, meta = [], {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        if 'benchmarks' in data:
            rows.extend(rows_from_pytest_benchmark(data, path))
        else:
            rows.extend(data.get('rows', []))
            meta = data.get('meta', meta)
            for key in ('profile', 'instructions'):
                if key in data:
                    meta = dict(meta, **{key: data[key]})
    return merge_passes(rows), meta


# -- numbers ---------------------------------------------------------------

def _scenario_rank(name, seen):
    if name in SCENARIOS:
        return (SCENARIOS.index(name), 0)
    if name.startswith('registry:'):
        return (len(SCENARIOS), 0 if 'time per op' in name else 1)
    return (len(SCENARIOS) + 1, seen.index(name))


def by_scenario(rows):
    """[(scenario, {contender: row})] in table order."""
    seen, groups = [], {}
    for r in rows:
        if r['scenario'] not in groups:
            seen.append(r['scenario'])
            groups[r['scenario']] = {}
        groups[r['scenario']][r['contender']] = r
    order = sorted(seen, key=lambda s: _scenario_rank(s, seen))
    return [(s, groups[s]) for s in order]


def _cost(row):
    """Comparable cost: lower is better."""
    if row is None or row.get('value') is None or row['unit'] == 'bytes':
        return None
    if row['unit'] == 'acq/s':
        return 1.0 / row['value'] if row['value'] else None
    return row['value']


def ratios(group, contender):
    """(x floor, vs oslo) for one contender of a scenario; None if n/a."""
    row = group.get(contender)
    cost = _cost(row)
    if cost is None:
        return None, None
    floor = next((group[f] for f in _lib.FLOORS if f in group), None)
    fcost = _cost(floor)
    ocost = _cost(group.get('oslo'))
    return (cost / fcost if fcost else None), (ocost / cost if ocost else None)


# -- formatting ------------------------------------------------------------

def fmt_value(row):
    v = row.get('value')
    if v is None:
        return '—'
    if row['unit'] == 'acq/s':
        if v >= 1e6:
            return '%.2fM acq/s' % (v / 1e6)
        if v >= 1e3:
            return '%.1fk acq/s' % (v / 1e3)
        return '%.0f acq/s' % v
    if row['unit'] == 'bytes':
        sign = '+' if v >= 0 else '-'
        v = abs(v)
        if v >= 1024 * 1024:
            return '%s%.1f MiB' % (sign, v / 1024 / 1024)
        return '%s%d KiB' % (sign, round(v / 1024))
    for scale, unit in ((1, 's'), (1e-3, 'ms'), (1e-6, 'µs')):
        if v >= scale:
            return '%.3g %s' % (v / scale, unit)
    return '%.0f ns' % (v * 1e9)


def fmt_ratio(x, digits=2):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ''
    if x >= 100:
        return '%.0fx' % x
    if x >= 10:
        return '%.1fx' % x
    return '%.*fx' % (digits, x)


def _instructions(instructions, scenario, contender):
    """(instructions per operation, x the floor's) of a row, as text."""
    counts = (instructions or {}).get(scenario, {})
    n = counts.get(contender)
    if n is None:
        return '', ''
    floor = next((counts[f] for f in _lib.FLOORS if f in counts), None)
    xf = '' if contender in _lib.FLOORS or not floor else fmt_ratio(n / floor)
    return '{:,.0f}'.format(n), xf


def table(rows, instructions=None):
    """The side-by-side table, Markdown; with *instructions* (from
    ``instructions.py``: scenario -> contender -> count), two columns
    of callgrind instructions per operation beside the times."""
    extra = ' instructions | instr. x floor |' if instructions else ''
    out = [
        '| scenario | contender | median | x floor | vs oslo |%s note |'
        % extra,
        '| --- | --- | ---: | ---: | ---: |%s --- |'
        % (' ---: | ---: |' if instructions else ''),
    ]
    for scenario, group in by_scenario(rows):
        first = True
        for c in sorted(group, key=lambda c: (
                _lib.ORDER.index(c) if c in _lib.ORDER else 99, c)):
            row = group[c]
            xf, vo = ratios(group, c)
            if c in _lib.FLOORS:
                xf = None
            if c == 'oslo':
                vo = None
            note = row.get('note') or ''
            if row.get('skipped'):
                note = 'skipped: ' + row['skipped']
            name = ('**%s**' % c) if c == 'fastlock-c' else c
            cells = ''
            if instructions:
                cells = ' %s | %s |' % _instructions(
                    instructions, scenario, c)
            out.append('| %s | %s | %s | %s | %s |%s %s |' % (
                scenario if first else '', name, fmt_value(row),
                fmt_ratio(xf), fmt_ratio(vo), cells, note))
            first = False
    return '\n'.join(out)


# -- targets ---------------------------------------------------------------

def _find(rows, scenario):
    return dict(by_scenario(rows)).get(scenario, {})


def _missing(group, who='fastlock-c'):
    row = group.get(who)
    if row is None:
        return 'not measured (no %s row)' % who
    if row.get('skipped') or row.get('value') is None:
        return 'not measured: %s' % (row.get('skipped') or 'no value')
    return None


def targets(rows, meta=None):
    """[(target, 'met'|'MISSED', detail)] for fastlock-c, issue 4."""
    res = []

    def add(text, ok, detail):
        res.append((text, 'met' if ok else 'MISSED', detail))

    def check(scenario, text, verdict):
        # verdict(group) -> (ok, detail), asked only if fastlock-c has a row
        g = _find(rows, scenario)
        miss = _missing(g)
        if miss:
            add(text, False, miss)
        else:
            add(text, *verdict(g))

    def faster_than_oslo(at_least, floor=None, at_most=None):
        def verdict(g):
            xf, vo = ratios(g, 'fastlock-c')
            ok = vo is not None and vo >= at_least
            detail = '%s faster than oslo' % fmt_ratio(vo)
            if floor is not None:
                ok = ok and xf is not None and xf <= at_most
                detail = '%s %s, %s' % (fmt_ratio(xf), floor, detail)
            return ok, detail
        return verdict

    check('uncontended: with lock(name)',
          'uncontended `with lock(name)`: <= 3x threading.Lock and '
          '>= 20x faster than oslo',
          faster_than_oslo(20, 'threading.Lock', 3))
    check('uncontended: @synchronized(name) call',
          '`@synchronized` call: >= 20x faster than oslo',
          faster_than_oslo(20))
    # One target in issue 4, judged in two parts: they are met apart.
    check('external: uncontended, one name',
          'uncontended external lock: <= 2x raw lockf on an open fd',
          faster_than_oslo(0, 'lockf', 2))
    check('external: uncontended, one name',
          'uncontended external lock: >= 20x faster than oslo',
          faster_than_oslo(20))

    text = 'eventlet contention on one name: >= 1.5x oslo throughput'
    parts, ok, miss = [], True, None
    for s in EVENTLET_ONE_NAME:
        g = _find(rows, s)
        miss = miss or _missing(g)
        vo = ratios(g, 'fastlock-c')[1]
        ok = ok and vo is not None and vo >= 1.5
        parts.append('%s: %s' % (s.split(': ')[1].split(' green')[0],
                                 fmt_ratio(vo) or 'n/a'))
    detail = miss or ('oslo time / fastlock-c time with 10/100/1000 green '
                      'threads: ' + ', '.join(parts))
    prof = ((meta or {}).get('profile') or {}).get('green') or {}
    if prof and not ok:
        detail += '. Profile (bench/profile.py, per acquisition, 100 green ' \
            'threads): greenlet switches %s; Python calls %s. The hub ' \
            'switches of eventlet.sleep(0) are the same for every ' \
            'contender and dominate' % (
                ', '.join('%s %.1f' % (c, prof[c]['switches'])
                          for c in _lib.GREEN if 'switches' in prof.get(c, {})),
                ', '.join('%s %.1f' % (c, prof[c]['calls'])
                          for c in _lib.GREEN if 'calls' in prof.get(c, {})))
    add(text, ok and not miss, detail)

    check(EVENTLET_FAIR, 'eventlet fair locks, 100 waiters: >= 10x oslo',
          faster_than_oslo(10))

    g = _find(rows, 'processes: ping-pong hand-off latency, p50')
    miss = _missing(g)
    text = 'cross-process hand-off p50 < 1 ms'
    oslo = g.get('oslo')
    oslo_txt = ' (oslo %s)' % fmt_value(oslo) if oslo and oslo.get(
        'value') is not None else ''
    if miss:
        add(text, False, miss + oslo_txt)
    else:
        v = g['fastlock-c']['value']
        add(text, v < 1e-3, 'p50 %s%s' % (fmt_value(g['fastlock-c']),
                                           oslo_txt))

    reg = [s for s, _ in by_scenario(rows)
           if s.startswith('registry:') and 'RSS' in s]
    text = '1,000,000 names: flat memory'
    if not reg:
        add(text, False, 'not measured')
    else:
        g = _find(rows, reg[0])
        miss = _missing(g)
        if miss:
            add(text, False, miss)
        else:
            row = g['fastlock-c']
            flat = row['extra'].get('flat_bytes', 2 * 1024 * 1024)
            tpo = _find(rows, reg[0].replace('RSS growth', 'time per op'))
            note = tpo.get('fastlock-c', {}).get('note', '')
            scope = reg[0].split(': ')[1].split(' distinct')[0]
            add(text, row['value'] < flat,
                'RSS %s after %s names (%s; flat = under %s)' % (
                    fmt_value(row), scope, note,
                    fmt_value({'unit': 'bytes', 'value': flat})))
    return res


def profile_text(meta):
    prof = (meta or {}).get('profile')
    if not prof:
        return None
    lines = ['Profile (bench/profile.py: deterministic counts per '
             'operation; Cython and C code make no Python calls):', '',
             '| what | ' + ' | '.join(_lib.IN_PROCESS[1:]) + ' |',
             '| --- |' + ' ---: |' * (len(_lib.IN_PROCESS) - 1)]
    unc = prof.get('uncontended', {})
    labels = []
    for c in _lib.IN_PROCESS:
        for k in unc.get(c, {}):
            if k not in labels and k != 'error':
                labels.append(k)
    for label in labels:
        lines.append('| Python calls, %s | %s |' % (label, ' | '.join(
            '%g' % unc.get(c, {}).get(label, float('nan'))
            for c in _lib.IN_PROCESS[1:])))
    green = prof.get('green', {})
    for what in ('switches', 'calls'):
        lines.append('| eventlet, 100 green threads, one name: %s per '
                     'acquisition (eventlet Semaphore: %s) | %s |' % (
                         'greenlet switches' if what == 'switches'
                         else 'Python calls',
                         '%.1f' % green.get(_lib.GREEN_FLOOR, {}).get(
                             what, float('nan')),
                         ' | '.join('%.1f' % green.get(c, {}).get(
                             what, float('nan'))
                             for c in _lib.IN_PROCESS[1:])))
    return '\n'.join(lines)


# -- scaling curves --------------------------------------------------------

CURVES = {
    'threads_tight': 'native threads on one name, tight critical section',
    'threads_sleep0': 'native threads on one name, time.sleep(0) inside',
}
METRICS = (
    ('throughput', 'throughput'),
    ('max_wait', 'longest wait'),
    ('spread', 'spread (stdev/mean)'),
)


# Curves in the generic form of scaling._generic, in display order.
GENERIC_CURVES = ('external_names', 'live_names', 'green_threads',
                  'processes')
GIL_ONLY = 'no lock (GIL only)'  # see scaling.gil_gap_once


def _fmt_unit(unit, v):
    if v is None:
        return '—'
    if unit == 's':
        return fmt_value({'unit': 's', 'value': v})
    if unit == 'bytes':
        return '%.0f B' % v
    return '%.0fk/s' % (v / 1e3) if v < 1e6 else '%.2fM/s' % (v / 1e6)


def _generic_text(c):
    floor = c['floor']
    out = ['Scaling: %s (median of %d run%s per point; (x) = median ratio '
           'to %s in the same runs):' % (
               c['title'], c['repeats'], '' if c['repeats'] == 1 else 's',
               floor), '',
           '| %s | contender | ' % c['xlabel'] + ' | '.join(
               '{:,}'.format(n) for n in c['points']) + ' |',
           '| --- | --- |' + ' ---: |' * len(c['points'])]
    for key, label, unit in c['metrics']:
        for who in c['contenders']:
            cells = []
            for v, x in zip(c[who][key], c[who][key + '_x'], strict=True):
                cell = _fmt_unit(unit, v)
                if who != floor and x is not None:
                    cell += ' (%s)' % fmt_ratio(x)
                cells.append(cell)
            name = ('**%s**' % who) if who == 'fastlock-c' else who
            out.append('| %s | %s | %s |' % (label, name, ' | '.join(cells)))
    traced = c.get('traced_bytes')
    if traced:
        core = c.get('traced_core_bytes') or {}
        out += ['', 'Bytes per live lock (referenced and held; tracemalloc '
                'over 10,000 names; internal_lock(name), in parentheses '
                'the core Registry\'s own semaphore): ' + ', '.join(
                    '%s %.0f B%s' % (who, traced[who], ' (%.0f B)' % core[who]
                                     if who in core else '')
                    for who in c['contenders'] if who in traced)]
    return out


def _fmt_metric(metric, v):
    if v is None:
        return '—'
    if metric == 'throughput':
        return '%.0fk/s' % (v / 1e3) if v < 1e6 else '%.2fM/s' % (v / 1e6)
    if metric == 'max_wait':
        return '%.1f ms' % (v * 1e3) if v < 1 else '%.2f s' % v
    return '%.2f' % v


def curves_text(meta):
    """One Markdown table per curve: rows metric x contender, one column
    per point; the ratio to threading.Lock in the same runs in
    parentheses."""
    curves = (meta or {}).get('curves')
    if not curves:
        return None
    out = []
    for key, title in CURVES.items():
        c = curves.get(key)
        if not c:
            continue
        points = c['points']
        out += ['Scaling: %s (per point the median of %d runs of %.2f s; '
                '(x) = median ratio to threading.Lock in the same runs):'
                % (title, c.get('repeats', 1), c.get('duration', 0)), '',
                '| threads | contender | ' + ' | '.join(
                    str(n) for n in points) + ' |',
                '| --- | --- |' + ' ---: |' * len(points)]
        for metric, label in METRICS:
            for who in _lib.IN_PROCESS:
                res = c.get(who)
                if not res:
                    continue
                cells = []
                for i in range(len(points)):
                    cell = _fmt_metric(metric, res[metric][i])
                    x = res[metric + '_x'][i]
                    if who != _lib.FLOOR and x is not None:
                        cell += ' (%s)' % fmt_ratio(x)
                    cells.append(cell)
                name = ('**%s**' % who) if who == 'fastlock-c' else who
                out.append('| %s | %s | %s |' % (label, name,
                                                 ' | '.join(cells)))
            if metric == 'max_wait' and GIL_ONLY in c:
                out.append('| %s | %s | %s |' % (label, GIL_ONLY, ' | '.join(
                    _fmt_metric(metric, v) for v in c[GIL_ONLY][metric])))
        out.append('')
    for key in GENERIC_CURVES:
        if curves.get(key):
            out += _generic_text(curves[key]) + ['']
    return '\n'.join(out).strip()


def curve_targets(meta):
    """[(target, 'met'|'MISSED', detail)] for the native-thread curves
    (issue 13), fastlock-c."""
    curves = (meta or {}).get('curves') or {}
    res = []
    tight = curves.get('threads_tight')
    if not tight or 'fastlock-c' not in tight:
        return [('native threads on one name (issue 13)', 'MISSED',
                 'not measured')]
    want = [n for n in (2, 8, 32, 128) if n in tight['points']]
    idx = [tight['points'].index(n) for n in want]
    c, o = tight['fastlock-c'], tight.get('oslo')

    def judge(text, values, ok):
        res.append((text, 'met' if all(ok(v) for v in values) else 'MISSED',
                    ', '.join('%d: %s' % (n, fmt_ratio(v))
                              for n, v in zip(want, values, strict=True))))

    judge('native threads 2/8/32/128, tight: throughput >= 0.8x '
          'threading.Lock', [c['throughput_x'][i] for i in idx],
          lambda v: v is not None and v >= 0.8)
    if o:
        judge('native threads 2/8/32/128, tight: throughput >= 2x oslo',
              [c['throughput'][i] / o['throughput'][i] for i in idx],
              lambda v: v >= 2)
    judge('native threads 2/8/32/128, tight: longest wait <= '
          'threading.Lock\'s', [c['max_wait_x'][i] for i in idx],
          lambda v: v is not None and v <= 1)
    judge('native threads 2/8/32/128, tight: spread <= threading.Lock\'s',
          [c['spread_x'][i] for i in idx],
          lambda v: v is not None and v <= 1)
    ext = curves.get('external_names')
    if ext and 'fastlock-c' in ext:
        res.append((
            'external locks cycled over 10..10,000 names: <= 2.5x lockf',
            'met' if all(x <= 2.5 for x in ext['fastlock-c']['per_op_x'])
            else 'MISSED',
            ', '.join('{:,}: {}'.format(n, fmt_ratio(x)) for n, x in zip(
                ext['points'], ext['fastlock-c']['per_op_x'],
                strict=True))))
    live = curves.get('live_names')
    traced = (live or {}).get('traced_bytes', {}).get('fastlock-c')
    if traced is not None:
        core = live.get('traced_core_bytes', {}).get('fastlock-c')
        res.append(('memory: <= 300 bytes per live internal lock',
                    'met' if traced <= 300 else 'MISSED',
                    '%.0f B per internal_lock(name) referenced and held '
                    '(tracemalloc)%s' % (traced, '' if core is None else
                                         '; the core Registry\'s own '
                                         'semaphore: %.0f B' % core)))
    green = curves.get('green_threads')
    if green and 'fastlock-c' in green:
        xs = green['fastlock-c']['per_op_x']
        res.append((
            'green threads 10..10,000 on one name: <= 1.0x eventlet '
            'Semaphore', 'met' if all(x is not None and x <= 1 for x in xs)
            else 'MISSED', ', '.join('{:,}: {}'.format(n, fmt_ratio(x))
                                     for n, x in zip(green['points'], xs,
                                                     strict=True))))
    sl = curves.get('threads_sleep0')
    if sl and 'fastlock-c' in sl:
        res.append((
            'native threads, time.sleep(0) inside: near-even shares '
            '(spread <= 0.5)',
            'met' if all(v <= 0.5 for v in sl['fastlock-c']['spread'])
            else 'MISSED',
            ', '.join('%d: %.2f' % (n, v) for n, v in zip(
                sl['points'], sl['fastlock-c']['spread'], strict=True))))
    return res


def curves_chart(meta, path):
    """One panel per curve and metric (log axes), three to a row; returns
    the path, or None without curves or matplotlib."""
    curves = (meta or {}).get('curves')
    if not curves:
        return None
    try:
        import matplotlib

        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = []  # (title, xlabel, ylabel, [(label, xs, ys, style)], ylog)
    for key in CURVES:
        c = curves.get(key)
        if not c:
            continue
        for metric, label in METRICS:
            scale = 1e3 if metric == 'max_wait' else 1
            lines = [(who, c['points'], [None if v is None else v * scale
                                         for v in c[who][metric]], '-')
                     for who in _lib.IN_PROCESS if who in c]
            if metric == 'max_wait' and GIL_ONLY in c:
                lines.append((GIL_ONLY, c['points'], [
                    v * scale for v in c[GIL_ONLY][metric]], ':'))
            panels.append(('%s\n%s' % (CURVES[key], label), 'threads', {
                'throughput': 'acquisitions/s',
                'max_wait': 'longest wait (ms)'}.get(metric, label), lines,
                metric != 'spread'))
    for key in GENERIC_CURVES:
        c = curves.get(key)
        if not c:
            continue
        for metric, label, unit in c['metrics']:
            scale = 1e6 if unit == 's' else 1
            panels.append((
                '%s\n%s' % (c['title'], label), c['xlabel'],
                {'s': 'µs ' + label, 'bytes': 'bytes per live lock',
                 'rate': label}[unit],
                [(who, c['points'], [None if v is None else v * scale
                                     for v in c[who][metric]], '-')
                 for who in c['contenders']], True))
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, squeeze=False,
                             figsize=(4.4 * cols, 3.3 * rows))
    for ax, (title, xlabel, ylabel, lines, ylog) in zip(
            (a for row in axes for a in row), panels, strict=False):
        for label, xs, ys, style in lines:
            ax.plot(xs, ys, marker='o', linestyle=style, label=label,
                    markersize=3)
        ax.set_xscale('log')
        if ylog:
            ax.set_yscale('log')
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
    for ax in [a for row in axes for a in row][len(panels):]:
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def targets_text(rows, meta=None):
    lines = ['Targets (issue 4; fastlock-c, ratios from this run):']
    if (meta or {}).get('quick'):
        lines[0] = ('Targets (issue 4; fastlock-c; QUICK MODE, small samples: '
                    'indicative only, quote `make bench`):')
    for text, status, detail in targets(rows, meta) + curve_targets(meta):
        lines.append('- [%s] %s: %s' % (status, text, detail))
    return '\n'.join(lines)


def header(meta):
    if not meta:
        return ''
    m = meta.get('machine', {})
    v = m.get('versions', {})
    return (
        'Machine: %s, %s CPUs (nproc), Python %s, %s; load average %s at '
        'start.\nfastlock %s (git %s), oslo.concurrency %s, fasteners %s, '
        'filelock %s, eventlet %s.\nRun: `%s`%s, %.0f s.' % (
            m.get('cpu'), m.get('nproc'), m.get('python'), m.get('platform'),
            m.get('loadavg_1m_at_start'), v.get('fastlock'), m.get('git'),
            v.get('oslo.concurrency'), v.get('fasteners'), v.get('filelock'),
            v.get('eventlet'), meta.get('command', ''),
            ' (quick mode: smaller samples)' if meta.get('quick') else '',
            meta.get('elapsed_s', 0),
        )
    )


LEGEND = (
    'median: per operation (per acquisition) unless a rate; with several '
    'passes, the median of the passes\' medians; x floor: '
    'cost relative to the floor of that scenario (threading.Lock, '
    'eventlet Semaphore or lockf on an open fd); vs oslo: how many times '
    'faster than oslo.concurrency (below 1x: slower); instructions: '
    'callgrind instructions per operation (bench/instructions.py, '
    'deterministic; user space only, so a system call counts only its '
    'call), instr. x floor: the same over the floor\'s count.'
)


def report(rows, meta=None):
    parts = [header(meta), '', table(rows, (meta or {}).get('instructions')),
             '', LEGEND, '',
             curves_text(meta), '', profile_text(meta), '',
             targets_text(rows, meta)]
    return '\n'.join(p for p in parts if p is not None).strip() + '\n'


# -- chart -----------------------------------------------------------------

def chart(rows, path, meta=None):
    """Speed-up over oslo per scenario and contender (log scale); returns
    the path, or None when matplotlib is not importable."""
    try:
        import matplotlib

        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    groups = [(s, g) for s, g in by_scenario(rows)
              if 'oslo' in g and _cost(g['oslo']) is not None]
    contenders = [c for c in _lib.ORDER if c != 'oslo' and any(
        c in g for _, g in groups)]
    fig, ax = plt.subplots(figsize=(12, 0.5 * len(groups) + 1.5))
    colors = dict(zip(contenders, plt.rcParams['axes.prop_cycle']
                      .by_key()['color'] * 3, strict=False))
    height = 0.8 / 4
    labelled = set()
    for j, (_, g) in enumerate(groups):
        present = [c for c in contenders
                   if c in g and ratios(g, c)[1]]
        for i, c in enumerate(present):
            y = j + (i - (len(present) - 1) / 2) * height
            ax.barh(y, ratios(g, c)[1], height=height, color=colors[c],
                    label=None if c in labelled else c)
            labelled.add(c)
    ax.axvline(1, color='black', linewidth=0.8)
    ax.set_xscale('log')
    ax.set_yticks(range(len(groups)))
    ax.set_yticklabels([s for s, _ in groups], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel('times faster than oslo.concurrency (log scale; '
                  'left of the line: slower than oslo)')
    m = (meta or {}).get('machine', {})
    about = [x for x in (
        m.get('git') and 'fastlock git %s' % m['git'],
        m.get('python') and 'Python %s' % m['python'],
        m.get('nproc') and '%s CPUs' % m['nproc'],
    ) if x]
    ax.set_title('fastlock against oslo.concurrency %s, one make bench run\n%s'
                 % (m.get('versions', {}).get('oslo.concurrency', ''),
                    ', '.join(about)), fontsize=10)
    # outside the axes: never over a bar
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    # bbox_inches: never cut off the long scenario labels or the title
    fig.savefig(path, dpi=110, bbox_inches='tight')
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('paths', nargs='*', default=[
        os.path.join(HERE, 'results', 'latest.json')])
    ap.add_argument('--chart', help='also write a PNG chart here')
    args = ap.parse_args()
    rows, meta = load(args.paths)
    sys.stdout.write(report(rows, meta))
    if args.chart:
        print('chart:', chart(rows, args.chart, meta) or
              'not written (matplotlib is not importable)')
        base, ext = os.path.splitext(args.chart)
        png = curves_chart(meta, base + '-scaling' + ext)
        if png:
            print('scaling curves:', png)


if __name__ == '__main__':
    main()
