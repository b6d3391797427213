"""lock_table(), dump_locks(), the slow-wait warning, the Guru Meditation
section and the Prometheus collector, against both cores."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import threading
import time
import types

import pytest

TIMEOUT = 20


def _wait_until(predicate, what):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.002)


def _start(target, name=None):
    t = threading.Thread(target=target, name=name, daemon=True)
    t.start()
    return t


def _record(lu, name):
    found = [r for r in lu.lock_table() if r.name == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def _waiters(lu, name):
    record = _record(lu, name)
    return 0 if record is None else record.waiters


def test_nothing_held_nothing_listed(lockutils):
    with lockutils.lock("idle-check"):
        pass
    assert _record(lockutils, "idle-check") is None


def test_holders_in_two_threads_and_waiters(lockutils):
    lu = lockutils
    release = threading.Event()
    inside_b = threading.Event()
    keep = lu._semaphores.get("lt-a")  # keeps the name (and counters) alive

    def hold_a():
        with lu.lock("lt-a"):
            release.wait(TIMEOUT)

    @lu.synchronized("lt-b")
    def held_b():
        inside_b.set()
        release.wait(TIMEOUT)

    a = _start(hold_a, "holder-a")
    b = _start(held_b, "holder-b")
    _wait_until(lambda: _record(lu, "lt-a") is not None, "lt-a held")
    inside_b.wait(TIMEOUT)

    def wait_a():
        with lu.lock("lt-a"):
            pass

    waiters = [_start(wait_a, "waiter-%d" % i) for i in range(2)]
    _wait_until(lambda: _waiters(lu, "lt-a") == 2, "two waiters on lt-a")
    try:
        ra, rb = _record(lu, "lt-a"), _record(lu, "lt-b")
        assert ra.kind == rb.kind == "internal"
        assert ra.waiters == 2 and rb.waiters == 0
        (ha,) = ra.holders
        assert (ha.thread_name, ha.thread_id, ha.greenlet, ha.function) == (
            "holder-a", a.ident, False, None)
        assert 0 <= ha.held_seconds < TIMEOUT
        (hb,) = rb.holders
        assert (hb.thread_name, hb.thread_id, hb.greenlet) == (
            "holder-b", b.ident, False)
        assert hb.function == lu._callable_name(held_b.__wrapped__)
        assert hb.function.endswith("held_b")
    finally:
        release.set()
    for t in [a, b, *waiters]:
        t.join(TIMEOUT)
    assert _record(lu, "lt-a") is None
    # Counters live with the name: three acquisitions, two of them waited.
    with lu.lock("lt-a"):
        ra = _record(lu, "lt-a")
        assert ra.acquisitions == 4
        assert 0 < ra.longest_wait_seconds <= ra.total_wait_seconds
        assert ra.holders[0].thread_id == threading.get_ident()
    del keep


def test_longest_hold(lockutils):
    lu = lockutils
    keep = lu._semaphores.get("lt-hold")
    with lu.lock("lt-hold"):
        _wait_until(
            lambda: _record(lu, "lt-hold").holders[0].held_seconds > 0.05,
            "a hold of 50 ms")
    with lu.lock("lt-hold"):
        record = _record(lu, "lt-hold")
        assert record.longest_hold_seconds > 0.05
        assert record.acquisitions == 2
        assert record.total_wait_seconds == 0.0
    del keep


def test_names_whose_eq_and_repr_raise(lockutils):
    # Any hashable is a lock name.  One whose __eq__ and __repr__ raise,
    # held inside synchronized() for another name, made lock_table() and
    # dump_locks() (so the Guru Meditation section) raise for all locks.
    lu = lockutils

    class Hostile:
        __hash__ = object.__hash__

        def __eq__(self, other):
            raise RuntimeError("no eq")

        def __repr__(self):
            raise RuntimeError("no repr")

    hostile = Hostile()

    @lu.synchronized("lt-outer")
    def outer():
        with lu.lock(hostile):
            out = io.StringIO()
            lu.dump_locks(out)
            return lu.lock_table(), out.getvalue()

    records, text = outer()
    functions = {
        "hostile" if r.name is hostile else r.name: r.holders[0].function
        for r in records
    }
    assert functions == {
        "lt-outer": lu._callable_name(outer.__wrapped__), "hostile": None}
    assert "Lock <%s object at %#x> (internal)" % (
        Hostile.__qualname__, id(hostile)) in text


def test_lock_table_while_other_threads_make_registries(lockutils, impl):
    # lock_table() looks at every registry; one made meanwhile by another
    # thread (each lockutils.Semaphores() is one) must not break it.
    # Before, its scan of the WeakSet of registries raised "Set changed
    # size during iteration".
    keep = [impl.Registry() for _ in range(2000)]  # a longer scan
    stop = threading.Event()

    def make():
        while not stop.is_set():
            keep.append(impl.Registry())
            del keep[0]

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads in the middle of scans
    maker = _start(make)
    try:
        with lockutils.lock("lt-registries"):
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                names = [r.name for r in lockutils.lock_table()]
                assert names == ["lt-registries"]
    finally:
        stop.set()
        maker.join(TIMEOUT)
        sys.setswitchinterval(previous)


def test_kinds(lockutils, lock_path):
    lu = lockutils
    own = lu.Semaphores()
    with lu.lock("k-ext", external=True, lock_path=lock_path), \
            lu.lock("k-pre", "nova", external=True, lock_path=lock_path), \
            lu.lock("k-fair", fair=True), \
            lu.lock("k-own", semaphores=own), \
            lu.lock("k-int"):
        kinds = {r.name: r.kind for r in lu.lock_table()}
        assert kinds == {
            "k-ext": "external", "k-pre": "external", "k-fair": "fair",
            "k-own": "semaphores", "k-int": "internal",
        }
        for record in lu.lock_table():
            (holder,) = record.holders
            assert holder.thread_id == threading.get_ident()


def test_kind_of_a_name_another_lock_file_ends_with(lockutils, lock_path):
    # 'u1' is internal although this thread holds nova-refresh_cache-u1.
    lu = lockutils
    with lu.lock("refresh_cache-u1", "nova", external=True, lock_path=lock_path), \
            lu.lock("u1"), lu.lock("v1", "nova-", external=True, lock_path=lock_path):
        kinds = {r.name: r.kind for r in lu.lock_table()}
    assert kinds == {"refresh_cache-u1": "external", "u1": "internal", "v1": "external"}


@pytest.mark.parametrize("kind", ["internal", "external", "fair", "semaphores"])
def test_record_of_each_kind(lockutils, lock_path, kind):
    # The whole record of each kind: a holder taken through synchronized,
    # a waiter, then the counters once both are done.
    lu = lockutils
    name = "rec-" + kind
    own = lu.Semaphores()
    kwargs = {
        "internal": {},
        "external": {"external": True, "lock_path": lock_path},
        "fair": {"fair": True},
        "semaphores": {"semaphores": own},
    }[kind]
    # Keeps the name's semaphore (and so its counters) alive throughout.
    keep = {
        "internal": lu._semaphores.get,
        "external": lu._semaphores.get,
        "fair": lu._fair_locks._registry.get,
        "semaphores": own.get,
    }[kind](name)
    inside = threading.Event()
    release = threading.Event()

    @lu.synchronized(name, **kwargs)
    def critical():
        inside.set()
        release.wait(TIMEOUT)

    def wait():
        with lu.lock(name, **kwargs):
            pass

    holder = _start(critical, "holder-" + kind)
    try:
        assert inside.wait(TIMEOUT)
        waiter = _start(wait, "waiter-" + kind)
        _wait_until(lambda: _waiters(lu, name) == 1, "one waiter")
        record = _record(lu, name)
        time.sleep(0.02)  # a hold longer than a coarse clock tick
        out = io.StringIO()
        lu.dump_locks(out)
    finally:
        release.set()
    holder.join(TIMEOUT)
    waiter.join(TIMEOUT)
    assert (record.name, record.kind, record.waiters) == (name, kind, 1)
    (h,) = record.holders
    function = lu._callable_name(critical.__wrapped__)
    assert (h.thread_name, h.thread_id, h.greenlet, h.function) == (
        "holder-" + kind, holder.ident, False, function)
    assert 0 <= h.held_seconds < TIMEOUT
    assert record.acquisitions == 1
    assert record.total_wait_seconds == record.longest_wait_seconds == 0.0
    text = out.getvalue()
    assert re.search(
        r"^Lock '%s' \(%s\): 1 holder\(s\), 1 waiting; 1 acquisitions, "
        r"waited 0\.000s in total, longest wait 0\.000s, longest hold "
        r"\d+\.\d{3}s$" % (name, kind), text, re.M), text
    assert re.search(
        r'^    held \d+\.\d{3}s by thread "holder-%s" \(id %d\) in "%s"$'
        % (kind, holder.ident, re.escape(function)), text, re.M), text
    assert _record(lu, name) is None
    # The counters stay with the name: two acquisitions, one waited (at
    # least the 20 ms above), the first hold the longest.
    with lu.lock(name, **kwargs):
        after = _record(lu, name)
    assert after.acquisitions == 3
    assert 0.02 <= after.longest_wait_seconds <= after.total_wait_seconds
    assert after.total_wait_seconds < TIMEOUT
    assert after.longest_hold_seconds >= 0.02 - 0.011  # to a coarse tick
    (me,) = after.holders
    assert (me.thread_id, me.function) == (threading.get_ident(), None)
    del keep


def test_dump_locks(lockutils):
    lu = lockutils

    @lu.synchronized("dump-me")
    def critical():
        out = io.StringIO()
        lu.dump_locks(out)
        return out.getvalue()

    text = critical()
    assert "Lock 'dump-me' (internal): 1 holder(s), 0 waiting" in text
    assert 'by thread "%s" (id %d)' % (
        threading.current_thread().name, threading.get_ident()) in text
    assert 'in "%s"' % lu._callable_name(critical.__wrapped__) in text
    out = io.StringIO()
    lu.dump_locks(out)
    assert out.getvalue() == "No lock is held or waited on.\n"


class _Seen(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []
        self.event = threading.Event()

    def emit(self, record):
        self.records.append(record)
        self.event.set()


@pytest.fixture
def warn_after():
    from fastlock import _config

    def set_to(seconds):
        _config.CONF.set_override(
            "warn_wait_seconds", seconds, group=_config.FASTLOCK_GROUP)

    yield set_to
    _config.CONF.clear_override(
        "warn_wait_seconds", group=_config.FASTLOCK_GROUP)


def test_slow_wait_warning_fires_while_waiting(lockutils, warn_after):
    # Two callers wait 0.2 s: one WARNING each, logged while they still
    # wait, and no more while the hog holds on for several more scans.
    lu = lockutils
    warn_after(0.2)
    seen = _Seen()
    logger = logging.getLogger("fastlock.lockutils")
    logger.addHandler(seen)
    acquired = threading.Event()
    still_waiting = []

    @lu.synchronized("slow-one")
    def hog():
        # Hold until both warnings are out: no timing in the assertions.
        _wait_until(lambda: len(seen.records) >= 2, "two warnings")
        time.sleep(0.3)  # six more scans (every 50 ms): nothing more

    def on_warning(record):
        still_waiting.append(not acquired.is_set())
        return True

    seen.addFilter(on_warning)

    def waiter():
        with lu.lock("slow-one"):
            acquired.set()

    try:
        h = _start(hog, "hog")
        _wait_until(lambda: _record(lu, "slow-one") is not None, "hog in")
        waiters = [_start(waiter, "patient-%d" % i) for i in range(2)]
        h.join(TIMEOUT)
        for w in waiters:
            w.join(TIMEOUT)
    finally:
        logger.removeHandler(seen)
    assert acquired.is_set()
    assert len(seen.records) == 2, [r.getMessage() for r in seen.records]
    assert still_waiting == [True, True]
    function = lu._callable_name(hog.__wrapped__)
    for record in seen.records:
        assert record.levelno == logging.WARNING
        message = record.getMessage()
        match = re.match(
            r'Lock "slow-one" still not acquired after waiting '
            r'(\d+\.\d{3})s; held by thread "hog" \(id %d\) in "%s" for '
            r'(\d+\.\d{3})s; 2 waiting$' % (h.ident, re.escape(function)),
            message)
        assert match, message
        waited, held = float(match[1]), float(match[2])
        assert 0.2 <= waited < TIMEOUT
        assert held >= waited - 0.011  # held longer (to a coarse tick)


def test_no_watchdog_when_off(lockutils, warn_after):
    from fastlock import _config, _table

    lu = lockutils
    watchdog = _table._Watchdog()
    watchdog.warn_seconds = _config.warn_wait_seconds
    previous = lu._core._set_wait_hook(watchdog.watch)
    release = threading.Event()

    def hold():
        with lu.lock("no-watch"):
            release.wait(TIMEOUT)

    def wait():
        with lu.lock("no-watch"):
            pass

    try:
        warn_after(0)
        h = _start(hold)
        _wait_until(lambda: _record(lu, "no-watch") is not None, "held")
        w1 = _start(wait)
        _wait_until(lambda: _waiters(lu, "no-watch") == 1, "a waiter")
        # The core asked, the watchdog declined: no thread.
        assert not watchdog._running and not watchdog._cores
        warn_after(1.0)  # scans every 0.25 s: a short test
        w2 = _start(wait)
        _wait_until(lambda: _waiters(lu, "no-watch") == 2, "two waiters")
        assert watchdog._running and watchdog._cores == {lu._core}
    finally:
        release.set()
        lu._core._set_wait_hook(previous)
    for t in (h, w1, w2):
        t.join(TIMEOUT)
    _wait_until(lambda: not watchdog._running, "the watchdog to end")


def test_no_thread_for_the_watchdog_does_not_fail_the_wait(
        lockutils, warn_after, monkeypatch):
    # Starting the watchdog's thread fails when a thread limit is reached
    # (as in a stalled service with too many threads) or the interpreter
    # exits: the caller still waits, and the next wait tries again.
    # Before, acquire() raised that RuntimeError, and no watchdog ever ran
    # again.
    from fastlock import _config, _table

    warn_after(0.2)  # scans every 0.05 s: the watchdog soon ends
    watchdog = _table._Watchdog()
    watchdog.warn_seconds = _config.warn_wait_seconds
    start_thread = _table._start_thread

    def no_thread(function, args):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_table, "_start_thread", no_thread)
    previous = lockutils._core._set_wait_hook(watchdog.watch)
    sem = lockutils._semaphores.get("no-thread")
    try:
        assert sem.acquire()
        assert sem.acquire(timeout=0.01) is False  # waited, unwatched
        assert not watchdog._running
        monkeypatch.setattr(_table, "_start_thread", start_thread)
        assert sem.acquire(timeout=0.01) is False
        assert watchdog._running
        sem.release()
    finally:
        lockutils._core._set_wait_hook(previous)
    _wait_until(lambda: not watchdog._running, "the watchdog to end")


def _wait_for_a_warning(lu, watchdog, name, seen):
    # One caller holds *name* while another waits, with *watchdog* as the
    # core's wait hook, until *seen* has a warning about *name*; then the
    # watchdog ends.
    previous = lu._core._set_wait_hook(watchdog.watch)
    release = threading.Event()

    def hold():
        with lu.lock(name):
            release.wait(TIMEOUT)

    def wait():
        with lu.lock(name):
            pass

    try:
        h = _start(hold)
        _wait_until(lambda: _record(lu, name) is not None, "held")
        w = _start(wait)
        _wait_until(lambda: any(name in r.getMessage() for r in seen.records),
                    "a warning about " + name)
    finally:
        release.set()
        lu._core._set_wait_hook(previous)
    h.join(TIMEOUT)
    w.join(TIMEOUT)
    _wait_until(lambda: not watchdog._running, "the watchdog to end")


def test_watchdog_logs_a_failing_scan_once_and_goes_on(lockutils, warn_after):
    # A scan that raises (here the first three) must not end the watchdog
    # silently: one ERROR with the traceback, then the slow-wait warning
    # still comes for the caller that still waits.
    from fastlock import _config, _table

    lu = lockutils
    warn_after(0.2)
    watchdog = _table._Watchdog()
    watchdog.warn_seconds = _config.warn_wait_seconds
    scan = watchdog._scan
    failures = []

    def failing_scan(warn):
        if len(failures) < 3:
            failures.append(warn)
            raise RuntimeError("scan broke")
        return scan(warn)

    watchdog._scan = failing_scan
    seen = _Seen()
    seen.setLevel(logging.WARNING)
    logger = logging.getLogger("fastlock.lockutils")
    logger.addHandler(seen)
    try:
        _wait_for_a_warning(lu, watchdog, "broken-scan", seen)
    finally:
        logger.removeHandler(seen)
    assert len(failures) == 3
    errors = [r for r in seen.records if r.levelno == logging.ERROR]
    (error,) = errors
    assert error.exc_info[0] is RuntimeError
    assert "watchdog" in error.getMessage()
    (warning,) = [r for r in seen.records if r.levelno == logging.WARNING]
    assert warning.getMessage().startswith('Lock "broken-scan" still not')


class _Injected(BaseException):
    """What a raising signal handler throws, e.g. KeyboardInterrupt."""


def _raising_on_line(code, line):
    # A trace function that raises _Injected before *line* of *code* runs,
    # as a signal handler's exception may; returns it and a list that
    # gets an item when it fired.
    fired = []

    def local(frame, event, arg):
        if event == "line" and frame.f_lineno == line and not fired:
            fired.append(line)
            raise _Injected
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code is code else None

    return tracer, fired


def test_a_watchdog_start_lost_to_an_exception_is_made_up_for(
        lockutils, monkeypatch):
    # An exception from a signal handler may land on any line of watch(),
    # for instance after it marked the watchdog running and before it
    # started the thread: a wait after stale_seconds starts one.  Before,
    # no slow-wait warning was logged again in the process (the matrix's
    # Python 3.12 lost the global one, and later tests timed out).
    from fastlock import _table

    lu = lockutils
    # The global watchdog stays quiet (and ends), so that every warning
    # seen comes from the watchdog under test.
    monkeypatch.setattr(_table._watchdog, "warn_seconds", lambda: 0.0)
    code = _table._Watchdog.watch.__code__
    lines = sorted({line for _, _, line in code.co_lines()
                    if line is not None and line > code.co_firstlineno})
    seen = _Seen()
    logger = logging.getLogger("fastlock.lockutils")
    logger.addHandler(seen)
    interrupted = []
    try:
        for line in lines:
            name = "lost-start-%d" % line
            watchdog = _table._Watchdog()
            watchdog.warn_seconds = lambda: 0.05
            watchdog.stale_seconds = 0.1
            tracer, fired = _raising_on_line(code, line)
            sys.settrace(tracer)
            try:
                watchdog.watch(lu._semaphores.get(name))
            except _Injected:
                pass
            finally:
                sys.settrace(None)
            interrupted += fired
            time.sleep(0.1)  # the lost start is stale now
            _wait_for_a_warning(lu, watchdog, name, seen)
    finally:
        logger.removeHandler(seen)
    # The lines between marking it running and starting the thread, at
    # least, ran (and raised).
    assert len(interrupted) >= 5, interrupted


def test_guru_meditation_section(lockutils):
    gmr = pytest.importorskip("oslo_reports.guru_meditation_report")
    lu = lockutils
    titles = [t for t, _ in gmr.TextGuruMeditation.persistent_sections]
    assert titles.count("Locks") == 1

    class Version:
        def vendor_string(self):
            return "fastlock"

        def product_string(self):
            return "fastlock tests"

        def version_string_with_package(self):
            return "0"

    @lu.synchronized("gmr-lock")
    def report():
        return gmr.TextGuruMeditation(Version()).run()

    text = report()
    section = text[text.index("Locks"):]
    assert "Lock 'gmr-lock' (internal): 1 holder(s), 0 waiting" in section
    assert 'in "%s"' % lu._callable_name(report.__wrapped__) in section


_GURU_ORDER = """
import sys
if sys.argv[1] == "reports-first":
    import oslo_reports.guru_meditation_report
from fastlock import lockutils
# fastlock never imports oslo.reports itself.
assert (sys.argv[1] == "reports-first") == (
    "oslo_reports.guru_meditation_report" in sys.modules)
from oslo_reports import guru_meditation_report as gmr
lockutils._table.register_guru_section()  # a second call adds nothing
print([t for t, _ in gmr.TextGuruMeditation.persistent_sections])
"""


@pytest.mark.parametrize("order", ["fastlock-first", "reports-first"])
def test_guru_meditation_section_in_either_import_order(order):
    pytest.importorskip("oslo_reports.guru_meditation_report")
    out = subprocess.run(
        [sys.executable, "-c", _GURU_ORDER, order],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    ).stdout
    assert out.strip() == "['Locks']"


def test_guru_section_registration_with_a_stand_in_module():
    # What _register_section needs of oslo.reports: TextGuruMeditation's
    # register_section() and persistent_sections (a stand-in, so this
    # holds without oslo.reports installed too).
    from fastlock import _table

    class TextGuruMeditation:
        persistent_sections = []

        @classmethod
        def register_section(cls, title, generator):
            cls.persistent_sections.append((title, generator))

    gmr = types.ModuleType("stand_in_gmr")
    gmr.TextGuruMeditation = TextGuruMeditation
    _table._register_section(gmr)
    _table._register_section(gmr)
    ((title, view),) = TextGuruMeditation.persistent_sections
    assert title == "Locks"
    assert view() == "\n".join(_table.format_table(_table.lock_table()))


def test_prometheus_collector(lockutils):
    prometheus_client = pytest.importorskip("prometheus_client")
    from fastlock import metrics

    lu = lockutils
    registry = prometheus_client.CollectorRegistry()
    before = prometheus_client.generate_latest(registry).decode()
    assert "fastlock" not in before

    @lu.synchronized("work-lock")
    def work():
        pass

    metrics.register(registry)
    try:
        with pytest.raises(ValueError):
            metrics.register(registry)
        for _ in range(3):
            work()
        for uuid in ("0c7a3c1e-7f43-4a8e-9b1c-2d3e4f5a6b7c",
                     "5e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"):
            with lu.lock("instance-" + uuid):
                pass
        with lu.lock("volume-12"):
            pass
        release = threading.Event()

        def hold():
            with lu.lock("volume-13"):
                release.wait(TIMEOUT)

        h = _start(hold)
        _wait_until(lambda: _record(lu, "volume-13") is not None, "held")
        w = _start(lambda: lu.lock("volume-13").__enter__().release())
        _wait_until(lambda: _waiters(lu, "volume-13") == 1, "a waiter")
        text = prometheus_client.generate_latest(registry).decode()
        release.set()
        h.join(TIMEOUT)
        w.join(TIMEOUT)
        after = prometheus_client.generate_latest(registry).decode()
    finally:
        metrics.unregister()
    fn = lu._callable_name(work.__wrapped__)
    assert "# TYPE fastlock_lock_wait_seconds histogram" in text
    assert "# TYPE fastlock_lock_hold_seconds histogram" in text
    assert "# TYPE fastlock_lock_waiters gauge" in text
    assert 'fastlock_lock_hold_seconds_count{lock="%s"} 3.0' % fn in text
    assert 'fastlock_lock_wait_seconds_count{lock="%s"} 3.0' % fn in text
    assert 'fastlock_lock_hold_seconds_count{lock="instance-<uuid>"} 2.0' in text
    assert 'fastlock_lock_hold_seconds_count{lock="volume-<n>"} 1.0' in text
    assert 'fastlock_lock_waiters{lock="volume-<n>"} 1.0' in text
    # Uncontended acquisitions waited 0: in the smallest bucket.
    assert 'fastlock_lock_wait_seconds_bucket{le="0.0001",lock="%s"} 3.0' % (
        fn) in text
    # The held one and its waiter, released: three, one waited.
    assert 'fastlock_lock_hold_seconds_count{lock="volume-<n>"} 3.0' in after
    assert "fastlock_lock_waiters{" not in after
    assert "fastlock" not in prometheus_client.generate_latest(registry).decode()
    # Unregistered: nothing is observed any more.
    assert lu._core._set_observer(None) is None


def test_prometheus_labels_stay_bounded(lockutils, monkeypatch):
    # Any hashable is a lock name: names that are not strings (whose
    # repr() has an address), hashes, or just many families must not
    # grow the label set (and the collector's memory) without bound, and
    # a name whose repr() raises must not make release() raise.
    prometheus_client = pytest.importorskip("prometheus_client")
    from fastlock import metrics

    class Unprintable:
        def __repr__(self):
            raise RuntimeError("no repr")

    monkeypatch.setattr(metrics, "LABELS_MAX", 5)
    collector = metrics.register(prometheus_client.CollectorRegistry())
    try:
        for _ in range(3):
            with lockutils.lock(object()):
                pass
        for digest in ("3f786850e387550fdab836ed7e6dc881de23001b",
                       "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"):
            with lockutils.lock("image-" + digest):
                pass
        with lockutils.lock(Unprintable()):
            pass
        for word in ("alpha", "beta", "gamma", "delta", "epsilon"):
            with lockutils.lock("family-" + word):
                pass
        labels = set(collector._hold)
    finally:
        metrics.unregister()
    assert labels == {
        "<object object at <hex>>", "image-<hex>", "<other>",
        "family-alpha", "family-beta",
    }


def test_family():
    from fastlock.metrics import family

    assert family("instance-0C7A3C1E-7F43-4A8E-9B1C-2D3E4F5A6B7C") == (
        "instance-<uuid>")
    assert family("compute_resources") == "compute_resources"
    assert family("refresh_cache-12-34") == "refresh_cache-<n>-<n>"
    assert family(("tuple", 3)) == "('tuple', <n>)"
    assert family("image-3f786850e387550fdab836ed7e6dc881de23001b") == (
        "image-<hex>")
    assert family("instance-0c7a3c1e7f434a8e9b1c2d3e4f5a6b7c") == (
        "instance-<uuid>")
    assert family("<Foo object at 0x7f3a2b1c0d90>") == (
        "<Foo object at <hex>>")
    assert family("deadbeef-cafe") == "deadbeef-cafe"  # words stay


def test_warn_wait_seconds_option():
    # Registered like the [oslo_concurrency] options: on CONF, in the
    # sample-config entry point, and on the stand-in without oslo.config.
    from importlib.metadata import entry_points

    from fastlock import _config

    assert _config.warn_wait_seconds() == 30.0
    ((group, (opt,)),) = _config.list_fastlock_opts()
    assert (group, opt.name, opt.default) == ("fastlock", "warn_wait_seconds", 30.0)
    (ep,) = [e for e in entry_points(group="oslo.config.opts")
             if e.name == "fastlock.diagnostics"]
    assert ep.load() is _config.list_fastlock_opts
    conf = _config.StandInConf()
    assert conf.fastlock.warn_wait_seconds == 30.0
    conf.set_override("warn_wait_seconds", 0, group="fastlock")
    assert conf.fastlock.warn_wait_seconds == 0
    with pytest.raises(KeyError):
        conf.set_override("warn_wait_seconds", 1, group="oslo_concurrency")


def test_warn_wait_seconds_zero_is_off(warn_after):
    from fastlock import _config, _table

    watchdog = _table._Watchdog()
    watchdog.warn_seconds = _config.warn_wait_seconds
    warn_after(0)
    assert _config.warn_wait_seconds() == 0.0
    watchdog.watch(object())  # declined before looking at the semaphore
    assert not watchdog._running


def test_lock_table_inside_the_twins_guard_does_not_hang(monkeypatch):
    # oslo.reports calls the section from a SIGUSR2 handler, which may run
    # in a thread that is inside the twin's (non-reentrant) guard: the
    # snapshot gives up after a bounded wait instead of deadlocking, and
    # the report's section says so.
    from fastlock import _core_py, _table, lockutils

    monkeypatch.setattr(_core_py, "_SNAPSHOT_WAIT", 0.05)
    previous = lockutils._use_core(_core_py)
    try:
        with lockutils.lock("guarded"):
            assert _core_py._guard.acquire(timeout=TIMEOUT)
            try:
                with pytest.raises(RuntimeError, match="busy"):
                    lockutils.lock_table()
                text = _table.LockTableView()()
            finally:
                _core_py._guard.release()
            assert text.startswith("Lock table unavailable: "), text
            (record,) = lockutils.lock_table()
            assert record.name == "guarded"
    finally:
        lockutils._use_core(previous)
