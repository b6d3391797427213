"""Lock metrics for ``prometheus_client`` (the ``fastlock[prometheus]``
extra).

Nothing is measured or exported until :func:`register` is called::

    from fastlock import metrics
    metrics.register()  # into prometheus_client.REGISTRY

It exports, labelled by lock *family* (``lock``): the decorated
function's name for locks taken through ``synchronized``, otherwise the
lock name with UUIDs, other hexadecimal ids (a hash, an object's address
in the ``repr()`` of a name that is not a string) and numbers collapsed
(``instance-<uuid>``, ``image-<hex>``, ``volume-<n>``), so that
per-instance names do not explode cardinality; beyond
:data:`LABELS_MAX` families, new ones are counted as ``<other>``:

- ``fastlock_lock_wait_seconds``: histogram of the time each
  acquisition waited (0 when uncontended);
- ``fastlock_lock_hold_seconds``: histogram of how long each acquisition
  was held (to the kernel's clock tick in the compiled core);
- ``fastlock_lock_waiters``: gauge of how many wait now.

While registered, every release of a named lock calls into this module
(a Python call and a few dict operations): the uncontended lock costs
several times more.  :func:`unregister` removes the collector and that
cost.
"""

from __future__ import annotations

import os
import re
import sys
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

from fastlock import _table

# Whole words only: a UUID's digits inside a longer hexadecimal run (a
# SHA-1) are that run's.
_UUID = re.compile(
    r'(?<![0-9A-Za-z])'
    r'[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?'
    r'[0-9a-fA-F]{12}'
    r'(?![0-9A-Za-z])'
)
# 0x-prefixed, or eight or more hexadecimal digits with a digit among them
# (not a word such as "deadbeef").
_HEX = re.compile(
    r'(?<![0-9A-Za-z])'
    r'(?:0[xX][0-9a-fA-F]+|(?=[a-fA-F]*\d)[0-9a-fA-F]{8,})'
    r'(?![0-9A-Za-z])'
)
_NUMBER = re.compile(r'\d+')
DEFAULT_BUCKETS = (
    0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0,
    300.0,
)
_FAMILIES_MAX = 4096
LABELS_MAX = 1000
"""How many ``lock`` label values are kept; acquisitions of locks of
further families are counted under ``<other>``."""
_OTHER = '<other>'


def family(name: Any) -> str:
    """Return the label for lock *name*: UUIDs become ``<uuid>``, other
    hexadecimal ids ``<hex>`` and runs of digits ``<n>``."""
    text = name if isinstance(name, str) else repr(name)
    return _NUMBER.sub('<n>', _HEX.sub('<hex>', _UUID.sub('<uuid>', text)))


class _Histogram:
    __slots__ = ('counts', 'total')

    def __init__(self, size: int) -> None:
        self.counts = [0] * (size + 1)  # the last one is +Inf
        self.total = 0.0


class LockCollector:
    """A ``prometheus_client`` collector of fastlock's lock metrics; see
    the module docstring.  Use :func:`register` rather than making one."""

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self._buckets = tuple(sorted(float(b) for b in buckets))
        self._guard = _table._original('_thread').allocate_lock()
        self._wait: dict[str, _Histogram] = {}
        self._hold: dict[str, _Histogram] = {}
        self._families: dict[Any, str] = {}  # lock name -> its family

    def _family(self, name: Any) -> str:
        # synchronized's wrapper is the caller of the semaphore's
        # __exit__, which called us: a few frames up at most.
        frame: FrameType | None = sys._getframe(3)
        for _ in range(4):
            if frame is None:
                break
            if frame.f_code in _table._facade.sync_codes:
                local = frame.f_locals
                if local.get('name') == name and 'f' in local:
                    return str(_table._facade.callable_name(local['f']))
            frame = frame.f_back
        return family(name)

    def observe(self, sem: Any, waited: float, held: float) -> None:
        """Count one released acquisition of *sem* (the core's observer)."""
        name = sem.name
        label = _label(self._family, name)
        buckets = self._buckets
        with self._guard:
            if label not in self._hold and len(self._hold) >= LABELS_MAX:
                label = _OTHER
            if len(self._families) >= _FAMILIES_MAX:
                self._families.clear()
            self._families[name] = label
            for table, value in ((self._wait, waited), (self._hold, held)):
                hist = table.get(label)
                if hist is None:
                    hist = table[label] = _Histogram(len(buckets))
                hist.counts[bisect_left(buckets, value)] += 1
                hist.total += value

    def _histograms(
        self, metric: str, doc: str, table: dict[str, _Histogram]
    ) -> Any:
        from prometheus_client.core import HistogramMetricFamily

        out = HistogramMetricFamily(metric, doc, labels=['lock'])
        les = [repr(b) for b in self._buckets] + ['+Inf']
        for label, hist in sorted(table.items()):
            cumulative, running = [], 0
            for le, count in zip(les, hist.counts, strict=True):
                running += count
                cumulative.append((le, running))
            out.add_metric([label], cumulative, hist.total)
        return out

    def collect(self) -> Iterator[Any]:
        """Yield the metric families (prometheus_client's collector API)."""
        from prometheus_client.core import GaugeMetricFamily

        with self._guard:
            wait = {k: _copy(v) for k, v in self._wait.items()}
            hold = {k: _copy(v) for k, v in self._hold.items()}
            families = dict(self._families)
        yield self._histograms(
            'fastlock_lock_wait_seconds',
            'Time acquisitions of fastlock locks waited.', wait,
        )
        yield self._histograms(
            'fastlock_lock_hold_seconds',
            'Time fastlock locks were held per acquisition.', hold,
        )
        waiters: dict[str, int] = {}
        for record in _table.lock_table():
            if record.waiters:
                label = families.get(record.name) or _label(
                    family, record.name)
                waiters[label] = waiters.get(label, 0) + record.waiters
        gauge = GaugeMetricFamily(
            'fastlock_lock_waiters',
            'Callers waiting for fastlock locks now.', labels=['lock'],
        )
        for label, count in sorted(waiters.items()):
            gauge.add_metric([label], count)
        yield gauge


def _label(find: Any, name: Any) -> str:
    # find(name), or <other> for a name whose __eq__ or __repr__ raises:
    # called by release(), which must not fail for the metrics' sake.
    try:
        return str(find(name))
    except Exception:
        return _OTHER


def _copy(hist: _Histogram) -> _Histogram:
    copy = _Histogram(len(hist.counts) - 1)
    copy.counts[:] = hist.counts
    copy.total = hist.total
    return copy


_collector: LockCollector | None = None
_registry: Any = None


def register(
    registry: Any = None, buckets: Sequence[float] = DEFAULT_BUCKETS
) -> LockCollector:
    """Start measuring and register the collector with *registry*
    (default: ``prometheus_client.REGISTRY``); return it.

    :raises ValueError: if already registered.
    """
    global _collector, _registry
    if _collector is not None:
        raise ValueError('fastlock metrics are already registered')
    if registry is None:
        from prometheus_client import REGISTRY as registry
    collector = LockCollector(buckets)
    registry.register(collector)
    _collector, _registry = collector, registry
    _table._facade.core._set_observer(collector.observe)
    return collector


def _after_fork_in_child() -> None:
    # A thread counting a release at fork time held the guard, which no
    # thread of the child would ever release: every release would hang.
    if _collector is not None:
        _collector._guard = _table._original('_thread').allocate_lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def unregister() -> None:
    """Stop measuring and remove the collector from its registry."""
    global _collector, _registry
    if _collector is None:
        return
    _table._facade.core._set_observer(None)
    _registry.unregister(_collector)
    _collector = _registry = None
