"""The core's entry of lock() and @synchronized calls (``_fast_lock``,
``_fast_call``) against the Python ``lock()`` it stands in for
(``lockutils._lock_spec``): the same result in the plain cases, the
Python code for everything else, and every change made at run time
(logging, patches, options, lock-order checking) seen on the next call.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from unittest import mock

import greenlet
import pytest

GROUP = "oslo_concurrency"


@pytest.fixture
def quiet(caplog):
    # DEBUG off for lockutils, and logging's cache filled for it (the
    # fast path reads that cache; the first call may fill it).
    caplog.set_level(logging.INFO, logger="fastlock.lockutils")
    return caplog


def test_lock_is_the_core_entry_with_the_python_signature(lockutils, impl):
    import inspect

    assert lockutils.lock is impl._fast_lock
    assert lockutils.lock.__wrapped__ is lockutils._lock_spec
    assert lockutils.lock.__doc__ == lockutils._lock_spec.__doc__
    assert inspect.signature(lockutils.lock) == inspect.signature(
        lockutils._lock_spec)


@pytest.mark.parametrize("kwargs", [
    {},
    {"do_log": False},
    {"semaphores": "S"},
    {"external": True},
    {"external": True, "lock_file_prefix": "pre"},
    {"external": True, "semaphores": "S"},
    {"fair": True},
    {"blocking": False},
    {"timeout": 1.0},
    {"external": True, "blocking": False},
    {"external": True, "timeout": 1.0},
])
def test_entry_gives_what_the_python_lock_gives(
        lockutils, quiet, lock_path, kwargs):
    if kwargs.get("semaphores") == "S":
        kwargs = dict(kwargs, semaphores=lockutils.Semaphores())
    if kwargs.get("external"):
        kwargs = dict(kwargs, lock_path=lock_path)
    for _ in range(2):  # the second call: logging's cache is filled
        fast = lockutils.lock("same", **kwargs)
        spec = lockutils._lock_spec("same", **kwargs)
        assert type(fast) is type(spec)
        if type(spec).__name__ in ("Semaphore", "ExternalLock"):
            assert fast is spec  # the plain cases: one object per name
        with fast as held:
            assert lockutils.held_locks() == ["same"]
        with spec as held_too:
            assert type(held) is type(held_too)
        assert lockutils.held_locks() == []


def test_semaphores_subclass_goes_to_the_python_code(lockutils, quiet):
    class Counting(lockutils.Semaphores):
        def __init__(self):
            super().__init__()
            self.gets = 0

        def get(self, name):
            self.gets += 1
            return super().get(name)

    sems = Counting()
    for _ in range(3):
        with lockutils.lock("sub", semaphores=sems):
            pass
    assert sems.gets == 3


def test_debug_switched_on_and_off_at_run_time(lockutils, quiet):
    @lockutils.synchronized("loud")
    def work():
        return 7

    def lines():
        quiet.clear()
        with lockutils.lock("loud"):
            pass
        assert work() == 7
        return [r.getMessage() for r in quiet.records
                if r.name == "fastlock.lockutils"]

    assert lines() == [] and lines() == []
    quiet.set_level(logging.DEBUG, logger="fastlock.lockutils")
    got = lines()
    assert got[:3] == [
        'Acquiring lock "loud"', 'Acquired lock "loud"',
        'Releasing lock "loud"',
    ]
    assert len(got) == 6 and 'by "' in got[3]
    quiet.set_level(logging.INFO, logger="fastlock.lockutils")
    assert lines() == []
    logging.disable(logging.CRITICAL)
    try:
        assert lines() == []
    finally:
        logging.disable(logging.NOTSET)


def test_patched_log_is_called(lockutils, quiet, monkeypatch):
    @lockutils.synchronized("mocked")
    def work():
        return 1

    with lockutils.lock("mocked"):
        pass
    assert work() == 1
    fake = mock.Mock()
    monkeypatch.setattr(lockutils, "LOG", fake)
    with lockutils.lock("mocked"):
        pass
    assert work() == 1
    messages = [c.args[0] for c in fake.debug.call_args_list]
    assert 'Acquiring lock "%s"' in messages
    assert 'Acquiring lock "%s" by "%s"' in messages


def test_synchronized_calls_a_patched_lock(lockutils, quiet, monkeypatch):
    # oslo's synchronized calls lock() on every call: a test that patches
    # lockutils.lock sees those calls.
    @lockutils.synchronized("patched")
    def work(x, *, y):
        return x + y

    assert work(1, y=2) == 3
    real = lockutils.lock
    calls = []

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(lockutils, "lock", spy)
    assert work(2, y=3) == 5
    assert calls == ["patched"]
    monkeypatch.undo()
    assert work(3, y=4) == 7
    assert calls == ["patched"]


def test_fast_call_releases_on_error_and_binds_methods(lockutils, quiet):
    class Box:
        @lockutils.synchronized("box")
        def take(self, value, *, fail=False):
            assert lockutils.held_locks() == ["box"]
            if fail:
                raise KeyError(value)
            return (self, value)

    box = Box()
    for _ in range(2):
        assert box.take(1) == (box, 1)
        with pytest.raises(KeyError):
            box.take(2, fail=True)
        assert lockutils.held_locks() == []
        assert not lockutils.internal_lock("box").locked()
    assert Box.take.__name__ == "take"
    assert Box.take.__wrapped__.__name__ == "take"


def test_fast_call_excludes_threads(lockutils, quiet, shared_counter):
    bump = lockutils.synchronized("fast-counter")(shared_counter.bump)
    bump()  # logging's cache filled: the rest take the fast path

    def work():
        for _ in range(200):
            bump()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert shared_counter.state() == {"count": 801, "inside": 0, "max": 1}


def test_options_changed_at_run_time(lockutils, quiet, lock_path, tmp_path):
    conf = lockutils.CONF
    other = str(tmp_path / "other")
    os.mkdir(other)
    conf.set_override("lock_path", lock_path, group=GROUP)
    try:
        for _ in range(2):
            with lockutils.lock("opt", external=True):
                pass
        assert os.listdir(lock_path) == ["opt"]
        conf.set_override("lock_path", other, group=GROUP)
        with lockutils.lock("opt", external=True) as held:
            assert os.fsdecode(held.path) == os.path.join(other, "opt")
        conf.set_override("disable_process_locking", True, group=GROUP)
        got = lockutils.lock("opt", external=True)
        assert got is lockutils.internal_lock("opt")
        conf.clear_override("disable_process_locking", group=GROUP)
        assert lockutils.lock("opt", external=True) is not got
    finally:
        conf.clear_override("lock_path", group=GROUP)
        conf.clear_override("disable_process_locking", group=GROUP)


def test_patched_external_lock_and_inter_process_lock_are_called(
        lockutils, quiet, lock_path, monkeypatch):
    for _ in range(2):
        with lockutils.lock("ext", external=True, lock_path=lock_path):
            pass
    for attr in ("external_lock", "InterProcessLock"):
        real = getattr(lockutils, attr)
        with mock.patch.object(lockutils, attr, wraps=real) as patched:
            for _ in range(2):
                with lockutils.lock("ext", external=True,
                                    lock_path=lock_path):
                    pass
        assert patched.call_count == 2, attr


def test_lock_order_checking_switched_on_at_run_time(lockutils, quiet):
    @lockutils.synchronized("order-b")
    def inner():
        pass

    def a_then_b():
        with lockutils.lock("order-a"):
            inner()

    a_then_b()  # before checking: nothing recorded, nothing said
    previous = lockutils.set_lock_order_checking("raise")
    try:
        a_then_b()
        with lockutils.lock("order-b"):
            with pytest.raises(lockutils.LockOrderError):
                with lockutils.lock("order-a"):
                    pass
    finally:
        lockutils.set_lock_order_checking(previous)
    assert lockutils.held_locks() == []



def test_lock_table_names_the_function_held_through_the_fast_path(
        lockutils, quiet):
    seen = {}

    @lockutils.synchronized("table")
    def work():
        # Called by the decorator's own frame (compiled core) or the
        # twin's _fast_call, not by the slow path's slow().
        import sys

        seen["caller"] = sys._getframe(1).f_code.co_name
        (record,) = [r for r in lockutils.lock_table() if r.name == "table"]
        seen["function"] = record.holders[0].function
        seen["acquisitions"] = record.acquisitions

    work()
    work()
    assert seen["caller"] in ("inner", "_fast_call")
    assert seen["function"] == lockutils._callable_name(work.__wrapped__)
    assert seen["acquisitions"] == 2


# -- lock(name, fair=True): the core's fair writer ---------------------------

def _fair_writer_type(impl):
    return impl._FairWriter


def test_plain_fair_lock_is_the_cores_writer_from_entry_and_spec(
        lockutils, impl, quiet, lock_path):
    for _ in range(2):  # the second call: logging's cache is filled
        fast = lockutils.lock("fw", fair=True)
        spec = lockutils._lock_spec("fw", fair=True)
    assert type(fast) is type(spec) is _fair_writer_type(impl)
    # Not plain: the Python code's _Lock, from both.
    for kwargs in ({"timeout": 1.0}, {"external": True, "lock_path": lock_path}):
        assert type(lockutils.lock("fw", fair=True, **kwargs)) is lockutils._Lock
        assert type(lockutils._lock_spec("fw", fair=True, **kwargs)) is (
            lockutils._Lock)
    # Logged: the writer too, which logs oslo's lines.
    quiet.set_level(logging.DEBUG, logger="fastlock.lockutils")
    quiet.clear()
    for kwargs in ({}, {"do_log": False}):
        logged = lockutils.lock("fw", fair=True, **kwargs)
        assert type(logged) is _fair_writer_type(impl)
        with logged:
            pass
    assert [r.getMessage() for r in quiet.records
            if r.name == "fastlock.lockutils"] == [
        'Acquiring lock "fw"', 'Acquired lock "fw"', 'Releasing lock "fw"']


def test_fair_writer_enters_like_the_python_lock(lockutils, quiet):
    lockutils.lock("fe", fair=True)  # fills logging's cache
    rw = lockutils.internal_fair_lock("fe")
    with lockutils.lock("fe", fair=True) as held:
        assert type(held) is type(rw) and held == rw
        assert isinstance(held, lockutils.ReaderWriterLock)
        assert held.is_writer() and held.is_writer(check_pending=False)
        assert rw.owner == "w" and not rw.is_reader()
        assert not rw.has_pending_writers
        assert lockutils.held_locks() == ["fe"]
        with lockutils.lock("fe", fair=True) as again:  # reentrant
            assert again == held
            assert lockutils.held_locks() == ["fe"]
        assert rw.owner == "w"
    assert rw.owner is None and not rw.is_writer()
    assert lockutils.held_locks() == []
    with lockutils._lock_spec("fe", fair=True, timeout=5) as held_too:
        assert type(held_too) is type(held)


def test_fair_lock_calls_a_patched_internal_fair_lock(
        lockutils, quiet, monkeypatch):
    real = lockutils.internal_fair_lock
    calls = []

    def spy(name):
        calls.append(name)
        return real(name)

    for _ in range(2):
        with lockutils.lock("fp", fair=True):
            pass
    monkeypatch.setattr(lockutils, "internal_fair_lock", spy)
    with lockutils.lock("fp", fair=True):
        pass
    assert calls == ["fp"]
    monkeypatch.undo()
    other = lockutils.FairLocks()
    monkeypatch.setattr(lockutils, "_fair_locks", other)
    with lockutils.lock("fp", fair=True):
        assert other.get("fp").owner == "w"
    assert other.get("fp").owner is None


def test_fair_writer_excludes_threads(lockutils, quiet, shared_counter):
    lockutils.lock("fair-counter", fair=True)  # fills logging's cache

    def work():
        for _ in range(100):
            with lockutils.lock("fair-counter", fair=True):
                shared_counter.bump()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert shared_counter.state() == {"count": 400, "inside": 0, "max": 1}


def test_fair_writer_serves_waiters_in_arrival_order(lockutils, quiet):
    lockutils.lock("fair-fifo", fair=True)  # fills logging's cache
    rw = lockutils.internal_fair_lock("fair-fifo")
    sem = lockutils._fair_locks._registry.get("fair-fifo")
    order = []
    waiting = []

    def work(i):
        with lockutils.lock("fair-fifo", fair=True):
            order.append(i)

    threads = []
    with lockutils.lock("fair-fifo", fair=True):
        for i in range(6):
            t = threading.Thread(target=work, args=(i,))
            t.start()
            threads.append(t)
            deadline = time.monotonic() + 10
            while sem.waiting < i + 1 and time.monotonic() < deadline:
                time.sleep(0.001)
            waiting.append(sem.waiting)
        assert rw.has_pending_writers
        assert len(lockutils._fair_locks._pending[sem]) == 6
    # No barging: the releaser asking again queues behind the waiters.
    with lockutils.lock("fair-fifo", fair=True):
        order.append("again")
    for t in threads:
        t.join(30)
    assert waiting == [1, 2, 3, 4, 5, 6]
    assert order == [0, 1, 2, 3, 4, 5, "again"]
    assert not rw.has_pending_writers and lockutils._fair_locks._pending == {}


def test_fair_writer_refuses_a_reader_and_an_exit_too_many(
        lockutils, quiet):
    lockutils.lock("fair-err", fair=True)  # fills logging's cache
    rw = lockutils.internal_fair_lock("fair-err")
    with rw.read_lock():
        with pytest.raises(RuntimeError, match="privilege escalation"):
            with lockutils.lock("fair-err", fair=True):
                pass
        assert rw.owner == "r"
    # Left by another thread, it releases the writer that entered (see
    # test_parity); left once more, it is not held.
    writer = lockutils.lock("fair-err", fair=True)
    writer.__enter__()
    t = threading.Thread(target=writer.__exit__, args=(None, None, None))
    t.start()
    t.join(30)
    assert rw.owner is None
    me = str(greenlet.getcurrent())
    for _ in range(2):
        with pytest.raises(RuntimeError) as raised:
            writer.__exit__(None, None, None)
        assert str(raised.value) == f"Thread {me} does not own a write lock"
    with writer:  # and it still works
        assert rw.owner == "w"
    assert rw.owner is None


def test_fair_writer_reads_inside_and_writes_on(lockutils, quiet):
    # A writer may read its own lock; the lock goes on as a read lock
    # when the write ends first.
    lockutils.lock("fair-rw", fair=True)  # fills logging's cache
    rw = lockutils.internal_fair_lock("fair-rw")
    writer = lockutils.lock("fair-rw", fair=True)
    writer.__enter__()
    rw.acquire_read_lock()
    writer.__exit__(None, None, None)
    assert rw.owner == "r" and rw.is_reader() and not rw.is_writer()
    assert lockutils.held_locks() == ["fair-rw"]
    rw.release_read_lock()
    assert rw.owner is None and lockutils.held_locks() == []


def _lock_calls_of(work, lockutils, monkeypatch):
    # The lock() calls that one call of the decorated *work* makes.
    real = lockutils.lock
    calls = []

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(lockutils, "lock", spy)
    assert work(3) == 6
    return calls


def test_fair_writer_decorates_with_a_fresh_lock_per_call(
        lockutils, quiet, monkeypatch):
    @lockutils.lock("fair-deco", fair=True)
    def work(x):
        assert lockutils.internal_fair_lock("fair-deco").is_writer()
        return x * 2

    assert work(2) == 4
    assert _lock_calls_of(work, lockutils, monkeypatch) == [(
        ("fair-deco", None, False, None, True, None, 0.01, True, True),
        {"timeout": None})]
    assert lockutils.internal_fair_lock("fair-deco").owner is None


@pytest.mark.parametrize("kwargs", [
    {"timeout": 2}, {"blocking": False},
    {"timeout": 2, "external": True}, {"blocking": False, "external": True},
])
def test_try_lock_decorates_with_a_fresh_lock_per_call(
        lockutils, impl, quiet, monkeypatch, lock_path, kwargs):
    external = kwargs.get("external", False)
    if external:
        kwargs = dict(kwargs, lock_path=lock_path)

    @lockutils.lock("try-deco", **kwargs)
    def work(x):
        assert lockutils.held_locks() == ["try-deco"]
        return x * 2

    assert type(lockutils.lock("try-deco", **kwargs)) is (
        impl.TryExternalLock if external else impl.TryLock)
    assert work(2) == 4
    blocking = kwargs.get("blocking", True)
    assert _lock_calls_of(work, lockutils, monkeypatch) == [(
        ("try-deco", None, external, kwargs.get("lock_path"), True, None,
         0.01, False, blocking),
        {"timeout": kwargs.get("timeout")})]
    assert lockutils.held_locks() == []


def test_internal_try_lock_decorates_with_itself(lockutils, impl):
    lock = lockutils.internal_lock("try-internal", blocking=False)
    assert type(lock) is impl.TryLock

    @lock
    def work():
        return lockutils.held_locks()

    assert work() == ["try-internal"]
    with lockutils.lock("try-internal"):
        # Held by this thread: a non-blocking acquire fails, as oslo's does.
        with pytest.raises(lockutils.AcquireLockFailedException,
                           match="Failed to acquire the lock try-internal"):
            work()
    assert lockutils.held_locks() == []


PLAIN_AND_TRY = [{}, {"blocking": False}, {"timeout": 1}]


def test_entry_takes_a_patched_default_container(lockutils, quiet,
                                                 monkeypatch, lock_path):
    # As oslo's lock() and synchronized read lockutils._semaphores.
    patched = lockutils.Semaphores()
    monkeypatch.setattr(lockutils, "_semaphores", patched)
    for kwargs in PLAIN_AND_TRY:
        with lockutils.lock("p", **kwargs) as sem:
            assert sem is patched.get("p")
    # And the semaphore an external lock is while process locking is off.
    conf = lockutils.CONF
    conf.set_override("disable_process_locking", True, group=GROUP)
    try:
        for _ in range(2):  # the second: the options in oslo.config's cache
            with lockutils.lock("p", external=True,
                                lock_path=lock_path) as sem:
                assert sem is patched.get("p")
    finally:
        conf.clear_override("disable_process_locking", group=GROUP)

    @lockutils.synchronized("p")
    def held():
        return patched.get("p").locked()

    assert held()


def test_entry_calls_a_patched_get(lockutils, quiet, monkeypatch):
    sems = lockutils.Semaphores()
    other = lockutils.Semaphores().get("elsewhere")
    monkeypatch.setattr(sems, "get", lambda name: other)
    for kwargs in PLAIN_AND_TRY:
        with lockutils.lock("x", semaphores=sems, **kwargs) as sem:
            assert sem is other


def test_try_lock_raises_a_patched_exception(lockutils, quiet, monkeypatch):
    class Mine(Exception):
        pass

    monkeypatch.setattr(lockutils, "AcquireLockFailedException", Mine)
    with lockutils.internal_lock("e"):
        with pytest.raises(Mine):
            with lockutils.lock("e", blocking=False):
                pass


@pytest.mark.parametrize("timeout", ["1", True, -1, float("nan"), 1j])
def test_entry_leaves_odd_timeouts_to_the_python_code(lockutils, quiet,
                                                      timeout):
    # What the Python lock() does with them, error and message included.
    try:
        spec = lockutils._lock_spec("odd-timeout", timeout=timeout)
    except Exception as e:
        with pytest.raises(type(e), match=re.escape(str(e))):
            lockutils.lock("odd-timeout", timeout=timeout)
    else:
        assert type(lockutils.lock("odd-timeout", timeout=timeout)) is type(
            spec)


@pytest.mark.parametrize("slots", [True, False])
def test_fair_table_makes_handles_without_calling_the_class(impl, slots):
    class Handle:
        if slots:
            __slots__ = ("_locks", "_sem")

        def __init__(self):  # never called
            raise AssertionError("called")

    owner = object()
    table = impl._FairTable(Handle, owner)
    writer = table.writer("h")
    with writer as handle:
        assert type(handle) is Handle
        assert handle._locks is owner
        assert handle._sem is table.registry.get("h")
        assert table.owner(handle._sem) == "w"
    assert table.owner(handle._sem) is None
    with pytest.raises(TypeError):
        impl._FairTable(object(), owner)


# -- logged locks: a raising log call gives everything back -----------------

class _Refused(Exception):
    pass


class _RaiseOn(logging.Handler):
    """Raises from the one DEBUG line given (as a signal handler may, or
    a broken handler): the lock must then be given back, not kept."""

    def __init__(self, start):
        super().__init__(logging.DEBUG)
        self.start = start

    def emit(self, record):
        if self.start and record.getMessage().startswith(self.start):
            raise _Refused(self.start)

    def handleError(self, record):  # pragma: no cover - emit raises past it
        raise


@pytest.mark.parametrize("line", ["Acquiring lock", "Acquired lock",
                                  "Acquired external", "Releasing lock"])
@pytest.mark.parametrize("kind", ["internal", "external", "fair"])
def test_a_raising_debug_line_leaves_nothing_held(
        lockutils, impl, lock_path, line, kind):
    if line == "Acquired external" and kind != "external":
        pytest.skip("only an external lock logs that line")
    kwargs = {"internal": {"timeout": 5},
              "external": {"external": True, "lock_path": lock_path},
              "fair": {"fair": True}}[kind]
    expected = {"internal": "TryLock", "external": "TryExternalLock",
                "fair": "_FairWriter"}[kind]
    logger = logging.getLogger("fastlock.lockutils")
    saved = logger.level, logger.propagate
    handler = _RaiseOn(line)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        handler.start = None
        with lockutils.lock("loud", **kwargs):  # makes the lock file
            pass
        handler.start = line
        entered = False
        made = lockutils.lock("loud", **kwargs)
        assert type(made).__name__ == expected
        with pytest.raises(_Refused):
            with made:
                entered = True
        assert entered is (line == "Releasing lock")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    assert lockutils.held_locks() == []
    got = []

    def take():
        with lockutils.lock("loud", blocking=True, **kwargs) as held:
            got.append(held is not None)

    other = threading.Thread(target=take)
    other.start()
    other.join(10)
    assert got == [True], "the lock was kept"
    if kind == "external":
        from test_oslo_parity_extra import _locked_elsewhere
        assert not _locked_elsewhere(os.path.join(lock_path, "loud"))


def test_fair_write_lock_gives_the_handle_and_decorates_with_itself(
        lockutils, impl):
    # A FairLocks of its own: a decorator that took lockutils.lock() per
    # call would lock the default container's lock of that name instead.
    rw = lockutils.FairLocks().get("wl")
    guard = rw.write_lock()
    assert type(guard) is impl._FairWriter
    with guard as held:
        assert held is rw and rw.is_writer()
        with rw.write_lock() as again:  # reentrant
            assert again is rw
        assert rw.is_writer()
    assert rw.owner is None

    @rw.write_lock()
    def work(x):
        """Doc."""
        assert rw.is_writer() and not lockutils.internal_fair_lock(
            "wl").is_writer()
        return x * 2

    assert work(21) == 42 and work.__doc__ == "Doc."
    assert rw.owner is None
    with rw.read_lock():
        with pytest.raises(RuntimeError):
            with rw.write_lock():
                pass
    assert rw.owner is None and lockutils.held_locks() == []


def test_fair_read_lock_gives_the_handle_and_decorates(
        lockutils, impl):
    rw = lockutils.FairLocks().get("rl")
    guard = rw.read_lock()
    assert type(guard) is impl._FairReader
    with guard as held:
        assert held is rw and rw.is_reader() and rw.owner == "r"
        with rw.read_lock() as again:  # reentrant
            assert again is rw
        assert rw.is_reader()
    assert rw.owner is None
    with rw.write_lock():
        with rw.read_lock():  # a writer may read its own lock
            assert rw.owner == "w"
        assert rw.is_writer() and not rw.is_reader()
    assert rw.owner is None

    # One decorator on a function two threads run at once: both read
    # at the same time (each meets the other inside), and a writer waits
    # for both to leave.
    inside, log = [], []
    both_in = threading.Barrier(3, timeout=10)  # two readers and this thread

    @rw.read_lock()
    def read(x):
        """Doc."""
        inside.append(x)
        both_in.wait()
        log.append(("read", x, len(inside)))
        time.sleep(0.05)
        inside.remove(x)
        return x * 2

    results = []
    readers = [threading.Thread(target=lambda x=x: results.append(read(x)))
               for x in (1, 2)]
    for t in readers:
        t.start()
    both_in.wait()
    with rw.write_lock():
        log.append(("write", len(inside)))
    for t in readers:
        t.join(10)
    assert sorted(results) == [2, 4] and read.__doc__ == "Doc."
    assert sorted(log[:2]) == [("read", 1, 2), ("read", 2, 2)]
    assert log[2] == ("write", 0)
    assert rw.owner is None and lockutils.held_locks() == []


def test_fair_read_lock_is_released_for_who_entered_it(lockutils):
    # A generator holding the block may be resumed by another thread, as
    # with fasteners' read_lock(): the exit releases the entering reader's
    # lock, not the resuming thread's (which reads on in its own block).
    rw = lockutils.FairLocks().get("rx")

    def reading():
        with rw.read_lock():
            yield
        yield

    def in_thread(func):
        t = threading.Thread(target=func)
        t.start()
        t.join(10)

    gen = reading()
    in_thread(lambda: next(gen))  # enters in one thread
    seen = []

    def resume_while_reading():
        with rw.read_lock():
            next(gen)  # exits in this one
            seen.append(rw.is_reader())

    in_thread(resume_while_reading)
    assert seen == [True]
    assert rw.owner is None
    with rw.write_lock():
        assert rw.is_writer()

    # One guard is one reader's: another thread entering it while held
    # gets an error, not a share of the first reader's count.
    guard, errors = rw.read_lock(), []
    with guard:
        def enter():
            try:
                with guard:
                    pass
            except RuntimeError as exc:
                errors.append(str(exc))

        in_thread(enter)
    assert len(errors) == 1 and "another thread" in errors[0]
    assert rw.owner is None
