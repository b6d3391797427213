"""pytest-benchmark plumbing shared by ``bench/`` and ``bench/eventlet/``.

Run through ``bench/run.py`` (``make bench``), which passes
``-o python_files=bench_*.py -o python_functions=bench_*``; ``bench/`` is
not in the test suite's ``testpaths``.

The ``contender`` fixture is parametrized indirectly by each benchmark
with names from ``_lib`` (``threading.Lock``, ``lockf (open fd)``,
``oslo``, ``fasteners``, ``filelock``, ``fastlock-py``, ``fastlock-c``,
``eventlet Semaphore``).  Every benchmark times an inner loop of many
operations per round and stores that count in ``extra_info['ops']``;
``report.py`` divides by it.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _lib  # noqa: E402


class Contender:
    def __init__(self, name, lockutils=None):
        self.name = name
        self.lockutils = lockutils  # None for the floors and fasteners/filelock

    def __repr__(self):
        return 'Contender(%r)' % self.name


def pytest_addoption(parser):
    parser.addoption(
        '--bench-quick', action='store_true',
        help='smaller inner loops and fewer rounds (smoke run)',
    )
    parser.addoption(
        '--bench-reverse', action='store_true',
        help='run the benchmarks in reverse order (alternate passes)',
    )
    parser.addoption(
        '--bench-contenders', default='',
        help='comma-separated contender names to run (default: all)',
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption('--bench-reverse'):
        items.reverse()
    wanted = config.getoption('--bench-contenders')
    if not wanted:
        return
    wanted = set(wanted.split(','))
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, 'callspec', None), 'params', {})
        (keep if params.get('contender') in wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope='session')
def quick(request):
    return bool(request.config.getoption('--bench-quick'))


@pytest.fixture
def contender(request):
    name = request.param
    if name == 'oslo' or name.startswith('fastlock-'):
        with _lib.lockutils_for(name) as lockutils:
            yield Contender(name, lockutils)
    else:
        yield Contender(name)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json['skipped'] = list(_lib.SKIPPED)
    output_json['quick'] = bool(config.getoption('--bench-quick'))
