"""Documented oslo.concurrency behaviours, each run for oslo (the
reference), fastlock-c and fastlock-py through ``any_lockutils``.

Complements test_lockutils_behaviour.py (log lines, basic exclusion,
fair order of ``lock(fair=True)``): reader/writer locks, the fair lock
handles, prefixes, non-blocking variants, container shrinking and the
external-lock cases (skipped while fastlock's external locks are not
there).  Where fastlock deliberately differs, the test says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from _processes import core_env
from _reference import import_oslo

TIMEOUT = 10


def _start(target, *args):
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def _wait_until(predicate, what):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.001)


def _is_fastlock(lu):
    return lu.__name__.startswith("fastlock")


# -- non-blocking ---------------------------------------------------------


def test_nonblocking_lock_raises_before_the_body(any_lockutils):
    lu = any_lockutils
    ran = []
    errors = []

    def contender():
        try:
            with lu.lock("nb-ctx", blocking=False):
                ran.append(1)
        except lu.AcquireLockFailedException as exc:
            errors.append(str(exc))

    with lu.lock("nb-ctx"):
        _start(contender).join(TIMEOUT)
    assert ran == []
    assert errors == ["Failed to acquire the lock nb-ctx"]
    with lu.lock("nb-ctx", blocking=False):
        ran.append(2)  # free again: a non-blocking lock is simply taken
    assert ran == [2]


def test_internal_lock_nonblocking(any_lockutils):
    lu = any_lockutils
    outcome = []

    def contender():
        try:
            with lu.internal_lock("nb-int", blocking=False):
                outcome.append("entered")
        except lu.AcquireLockFailedException:
            outcome.append("refused")

    with lu.internal_lock("nb-int"):
        _start(contender).join(TIMEOUT)
    _start(contender).join(TIMEOUT)
    assert outcome == ["refused", "entered"]


def test_nonblocking_synchronized_logs_unacquired(any_lockutils, debug_log):
    lu = any_lockutils

    @lu.synchronized("nb-log", blocking=False)
    def work():
        raise AssertionError("must not run")

    errors = []

    def contender():
        try:
            work()
        except lu.AcquireLockFailedException:
            errors.append(1)

    with lu.lock("nb-log", do_log=False):
        _start(contender).join(TIMEOUT)
    assert errors == [1]
    lines = [r.getMessage() for r in debug_log.records]
    assert any(
        line.startswith('Lock "nb-log" "unacquired" by "')
        and line.endswith('work" :: held N/A')
        for line in lines
    ), lines


# -- fair locks -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"semaphores": True},
         "Specifying semaphores is not supported when using fair locks."),
        ({"blocking": False},
         "Disabling blocking is not supported when using fair locks."),
    ],
)
def test_fair_rejects_with_oslo_message(any_lockutils, kwargs, message):
    if "semaphores" in kwargs:
        kwargs = {"semaphores": any_lockutils.Semaphores()}
    ran = []
    with pytest.raises(NotImplementedError) as info:
        with any_lockutils.lock("fair-msg", fair=True, **kwargs):
            ran.append(1)
    assert str(info.value) == message
    assert ran == []


def test_fair_lock_is_reentrant_in_one_thread(any_lockutils):
    # oslo's fair lock is a fasteners write lock, which a thread may
    # take again while holding it.  fastlock keeps that (its plain lock,
    # like oslo's threading.Semaphore, is not reentrant).
    lu = any_lockutils
    # oslo imports eventlet when it makes its first ReaderWriterLock, and a
    # thread that imports eventlet cannot be joined: make it here.
    with lu.lock("fair-re", fair=True):
        pass
    done = []
    finished = threading.Event()

    def nested():
        with lu.lock("fair-re", fair=True):
            with lu.lock("fair-re", fair=True):
                done.append(1)
            done.append(2)
        finished.set()

    _start(nested)
    assert finished.wait(TIMEOUT), "nested fair lock deadlocked"
    assert done == [1, 2]
    finished.clear()
    _start(nested)  # and it is really released afterwards
    assert finished.wait(TIMEOUT)
    assert done == [1, 2, 1, 2]


def test_fair_lock_excludes_with_shared_counter(any_lockutils):
    lu = any_lockutils
    state = {"count": 0, "inside": 0, "max": 0}

    def work():
        for _ in range(50):
            with lu.lock("fair-count", fair=True):
                state["inside"] += 1
                state["max"] = max(state["max"], state["inside"])
                value = state["count"]
                time.sleep(0)  # invite a switch inside the critical section
                state["count"] = value + 1
                state["inside"] -= 1

    workers = [_start(work) for _ in range(6)]
    for t in workers:
        t.join(TIMEOUT)
    assert state == {"count": 300, "inside": 0, "max": 1}


@pytest.mark.parametrize("how", ["lock", "write_lock"])
def test_fair_write_lock_left_by_another_thread_is_released(
        any_lockutils, how):
    # A generator holding the block may be resumed by another thread: the
    # exit releases the write lock of the thread that entered, as
    # fasteners' write_lock() (and so oslo's lock()) does.
    lu = any_lockutils
    name = "fair-left-" + how

    def block():
        if how == "lock":
            return lu.lock(name, fair=True)
        return lu.internal_fair_lock(name).write_lock()

    def writing():
        with block():
            yield
        yield

    def in_thread(func):
        # Waits for func, not for the thread's end: with oslo, the thread
        # that ran the generator's first step was seen not to end, even
        # once the lock was released (CPython 3.11; cause not sought).
        done = threading.Event()
        _start(lambda: (func(), done.set()))
        assert done.wait(TIMEOUT)

    gen = writing()
    in_thread(lambda: next(gen))  # enters in one thread
    assert lu.internal_fair_lock(name).owner == "w"
    errors = []

    def resume():
        try:
            next(gen)  # leaves in this one
        except RuntimeError as exc:
            errors.append(exc)

    in_thread(resume)
    assert errors == []
    assert lu.internal_fair_lock(name).owner is None
    taken = []

    def take():
        with block():
            taken.append(True)

    in_thread(take)
    assert taken == [True]


def _fair_count(lu):
    # oslo's FairLocks has no __len__ (fastlock adds one): count its
    # weak dictionary.
    if _is_fastlock(lu):
        return len(lu._fair_locks)
    return len(lu._fair_locks._locks)


def test_fair_locks_container_shrinks(any_lockutils):
    lu = any_lockutils
    before = _fair_count(lu)
    for i in range(20):
        with lu.lock("fair-shrink-%d" % i, fair=True):
            assert _fair_count(lu) == before + 1
    with lu.internal_fair_lock("fair-shrink-x").write_lock():
        pass
    with lu.internal_fair_lock("fair-shrink-y").read_lock():
        pass
    assert _fair_count(lu) == before


# -- reader/writer locks --------------------------------------------------


def _standalone(lu):
    return lu.ReaderWriterLock()


def _fair(lu):
    return lu.internal_fair_lock("rw-fair")


RW_FACTORIES = [
    pytest.param(_standalone, id="ReaderWriterLock"),
    pytest.param(_fair, id="internal_fair_lock"),
]


def _pending_writers(rw):
    # How many writers wait: oslo's and fastlock's standalone lock keep
    # fasteners' deque; fastlock's fair handle keeps them per semaphore.
    if hasattr(rw, "_pending_writers"):
        return len(rw._pending_writers)
    return len(rw._locks._pending.get(rw._sem, ()))


def _hold(rw, mode, entered, leave):
    def run():
        with getattr(rw, mode + "_lock")():
            entered.set()
            leave.wait(TIMEOUT)

    return _start(run)


@pytest.mark.parametrize("factory", RW_FACTORIES)
def test_rw_owner_and_roles(any_lockutils, factory):
    rw = factory(any_lockutils)
    assert rw.owner is None
    assert not rw.is_reader() and not rw.is_writer()
    assert not rw.has_pending_writers
    with rw.read_lock() as got:
        assert got is rw
        assert rw.owner == rw.READER == "r"
        assert rw.is_reader() and not rw.is_writer()
        with rw.read_lock():  # readers may nest
            assert rw.is_reader()
        assert rw.is_reader()
    assert rw.owner is None and not rw.is_reader()
    with rw.write_lock() as got:
        assert got is rw
        assert rw.owner == rw.WRITER == "w"
        assert rw.is_writer() and rw.is_writer(check_pending=False)
        with rw.write_lock():  # the write lock is reentrant
            assert rw.is_writer()
        assert rw.is_writer()
        with rw.read_lock():  # a writer may also read
            assert rw.is_reader()
        assert not rw.is_reader()
    assert rw.owner is None and not rw.is_writer()


@pytest.mark.parametrize("factory", RW_FACTORIES)
def test_rw_misuse_raises_runtime_error(any_lockutils, factory):
    rw = factory(any_lockutils)
    with rw.read_lock():
        with pytest.raises(RuntimeError):
            with rw.write_lock():  # no reader-to-writer escalation
                pass
    with pytest.raises(RuntimeError):
        rw.release_write_lock()
    with pytest.raises(RuntimeError):
        rw.release_read_lock()
    rw.acquire_write_lock()
    rw.acquire_write_lock()
    rw.release_write_lock()
    assert rw.is_writer()
    rw.release_write_lock()
    assert rw.owner is None
    rw.acquire_read_lock()
    assert rw.owner == "r"
    rw.release_read_lock()
    assert rw.owner is None


@pytest.mark.parametrize("factory", RW_FACTORIES)
def test_rw_readers_share(any_lockutils, factory):
    rw = factory(any_lockutils)
    both = threading.Barrier(2, timeout=TIMEOUT)
    met = []

    def reader():
        with rw.read_lock():
            both.wait()  # only passes if both readers are inside at once
            met.append(1)

    workers = [_start(reader) for _ in range(2)]
    for t in workers:
        t.join(TIMEOUT)
    assert met == [1, 1]
    assert rw.owner is None


@pytest.mark.parametrize("factory", RW_FACTORIES)
def test_rw_writer_excludes_readers_and_writers(any_lockutils, factory):
    rw = factory(any_lockutils)
    state = {"writers": 0, "readers": 0, "bad": 0, "count": 0}

    def writer():
        for _ in range(30):
            with rw.write_lock():
                state["writers"] += 1
                if state["writers"] != 1 or state["readers"]:
                    state["bad"] += 1
                value = state["count"]
                time.sleep(0)
                state["count"] = value + 1
                state["writers"] -= 1

    def reader():
        for _ in range(30):
            with rw.read_lock():
                state["readers"] += 1
                if state["writers"]:
                    state["bad"] += 1
                time.sleep(0)
                state["readers"] -= 1

    workers = [_start(writer) for _ in range(3)] + [_start(reader) for _ in range(3)]
    for t in workers:
        t.join(TIMEOUT)
    assert state == {"writers": 0, "readers": 0, "bad": 0, "count": 90}


@pytest.mark.parametrize("factory", RW_FACTORIES)
def test_rw_writers_are_fifo(any_lockutils, factory):
    rw = factory(any_lockutils)
    order = []

    def writer(i):
        with rw.write_lock():
            order.append(i)

    workers = []
    with rw.write_lock():
        for i in range(6):
            workers.append(_start(writer, i))
            _wait_until(lambda i=i: _pending_writers(rw) == i + 1,
                        "writer %d" % i)
        assert rw.has_pending_writers
    for t in workers:
        t.join(TIMEOUT)
    assert order == list(range(6))
    assert not rw.has_pending_writers


@pytest.mark.parametrize("factory", RW_FACTORIES)
def test_rw_pending_writer_blocks_new_readers(any_lockutils, factory):
    rw = factory(any_lockutils)
    order = []
    reading, leave = threading.Event(), threading.Event()
    first = _hold(rw, "read", reading, leave)
    assert reading.wait(TIMEOUT)

    def writer():
        with rw.write_lock():
            order.append("writer")

    def late_reader():
        with rw.read_lock():
            order.append("reader")

    w = _start(writer)
    _wait_until(lambda: rw.has_pending_writers, "the writer to wait")
    r = _start(late_reader)
    time.sleep(0.05)
    assert order == []  # the late reader waits behind the pending writer
    leave.set()
    for t in (first, w, r):
        t.join(TIMEOUT)
    assert order == ["writer", "reader"]


def test_fair_handles_share_state(any_lockutils):
    # oslo returns the same ReaderWriterLock object while it is referenced.
    # fastlock returns a light handle per call: two handles on one name
    # compare equal and share all state, but are not the same object.
    lu = any_lockutils
    a = lu.internal_fair_lock("handles")
    b = lu.internal_fair_lock("handles")
    assert a == b and hash(a) == hash(b)
    assert a != lu.internal_fair_lock("other-handles")
    assert isinstance(a, lu.ReaderWriterLock)
    with a.write_lock():
        assert b.is_writer() and b.owner == "w"
    if _is_fastlock(lu):
        assert a is not b
    else:
        assert a is b


def test_fair_lock_excludes_internal_fair_lock_users(any_lockutils):
    # lock(fair=True) and internal_fair_lock(name).write_lock()/read_lock()
    # are one lock.
    lu = any_lockutils
    inside = []
    entered, leave = threading.Event(), threading.Event()

    def holder():
        with lu.lock("fair-mixed", fair=True):
            entered.set()
            leave.wait(TIMEOUT)

    def reader():
        with lu.internal_fair_lock("fair-mixed").read_lock():
            inside.append("reader")

    h = _start(holder)
    assert entered.wait(TIMEOUT)
    r = _start(reader)
    time.sleep(0.05)
    assert inside == []
    leave.set()
    for t in (h, r):
        t.join(TIMEOUT)
    assert inside == ["reader"]


# -- prefixes, paths and configuration ------------------------------------


def test_prefix_partials(any_lockutils):
    lu = any_lockutils
    for prefix in ("nova", "nova-"):
        for factory, target in (
            (lu.lock_with_prefix, lu.lock),
            (lu.synchronized_with_prefix, lu.synchronized),
        ):
            partial = factory(prefix)
            assert partial.func is target
            assert partial.args == ()
            assert partial.keywords == {"lock_file_prefix": prefix}
    with lu.lock_with_prefix("nova")("prefixed") as sem:
        assert sem is not None

    @lu.synchronized_with_prefix("nova-")("prefixed")
    def work():
        return "ran"

    assert work() == "ran"


@pytest.mark.parametrize(
    "name, prefix, expected",
    [
        ("mylock", None, "mylock"),
        ("mylock", "", "mylock"),
        ("mylock", "nova", "nova-mylock"),
        ("mylock", "nova-", "nova-mylock"),
        ("a/b/c", "nova", "nova-a_b_c"),
    ],
)
def test_lock_file_names(any_lockutils, tmp_path, name, prefix, expected):
    path = any_lockutils._get_lock_path(name, prefix, str(tmp_path))
    assert path == os.path.join(str(tmp_path), expected)


def test_missing_lock_path_is_required_opt_error(any_lockutils):
    lu = any_lockutils
    lu.CONF.set_override("lock_path", None, group="oslo_concurrency")
    try:
        with pytest.raises(Exception) as info:
            lu._get_lock_path("x", None)
    finally:
        lu.CONF.clear_override("lock_path", group="oslo_concurrency")
    assert type(info.value).__name__ == "RequiredOptError"
    assert "lock_path" in str(info.value) and "oslo_concurrency" in str(info.value)


_SET_DEFAULTS = textwrap.dedent(
    """
    import sys
    if sys.argv[1] == "oslo":
        from oslo_concurrency import lockutils
    else:
        from fastlock import lockutils
    lockutils.set_defaults("/some/where")
    assert lockutils.get_lock_path(lockutils.CONF) == "/some/where"
    assert lockutils.CONF.oslo_concurrency.lock_path == "/some/where"
    assert lockutils._get_lock_path("n", "p") == "/some/where/p-n"
    print("OK")
    """
)


def _child_env(lu):
    # The environment of a child process running lu's core (the twin's,
    # or the compiled one for fastlock-c and oslo).
    core = getattr(lu, "_core", None)
    twin = core is not None and core.__name__.endswith("_py")
    return core_env("py" if twin else "c")


def test_set_defaults_and_get_lock_path(any_lockutils):
    # In a fresh interpreter: set_defaults changes option defaults for the
    # rest of the process.  (Both libraries in one unpatched process is
    # another matter: see test_patch.py.)
    env = _child_env(any_lockutils)
    env.pop("OSLO_LOCK_PATH", None)
    kind = "fastlock" if _is_fastlock(any_lockutils) else "oslo"
    proc = subprocess.run(
        [sys.executable, "-c", _SET_DEFAULTS, kind], env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert proc.stdout.strip() == "OK", proc.stderr


# -- external locks (need fastlock's external locks) ----------------------


def _external_or_skip(lu, lock_path):
    try:
        with lu.lock("probe", external=True, lock_path=lock_path):
            pass
    except NotImplementedError:
        pytest.skip("fastlock external locks are not implemented yet")


def test_external_lock_creates_prefixed_file(any_lockutils, lock_path):
    lu = any_lockutils
    _external_or_skip(lu, lock_path)
    with lu.lock("ext", "nova", external=True, lock_path=lock_path):
        assert os.path.exists(os.path.join(lock_path, "nova-ext"))

    @lu.synchronized("ext2", "nova-", external=True, lock_path=lock_path)
    def work():
        assert os.path.exists(os.path.join(lock_path, "nova-ext2"))

    work()


def test_external_lock_excludes_threads(any_lockutils, lock_path, shared_counter):
    lu = any_lockutils
    _external_or_skip(lu, lock_path)
    work = lu.synchronized("ext-count", external=True, lock_path=lock_path)(
        shared_counter.bump
    )

    def loop():
        for _ in range(25):
            work()

    workers = [_start(loop) for _ in range(4)]
    for t in workers:
        t.join(TIMEOUT)
    assert shared_counter.state() == {"count": 100, "inside": 0, "max": 1}


_HOLDER = textwrap.dedent(
    """
    import sys
    if sys.argv[1] == "oslo":
        from oslo_concurrency import lockutils
    else:
        from fastlock import lockutils
    with lockutils.lock("ext-proc", external=True, lock_path=sys.argv[2]):
        print("held", flush=True)
        sys.stdin.read()
    """
)


@pytest.mark.parametrize("holder", ["oslo", "same"])
def test_external_nonblocking_across_processes(any_lockutils, lock_path, holder):
    # A lock held by another process, be it oslo or the same
    # implementation, makes a non-blocking attempt fail at once.
    lu = any_lockutils
    _external_or_skip(lu, lock_path)
    env = _child_env(lu)
    kind = "oslo" if holder == "oslo" or not _is_fastlock(lu) else "fastlock"
    if kind == "oslo":
        import_oslo("oslo_concurrency")  # the child imports it
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, kind, lock_path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(lu.AcquireLockFailedException):
            with lu.lock("ext-proc", external=True, lock_path=lock_path,
                         blocking=False):
                pass
    finally:
        proc.communicate(timeout=TIMEOUT)  # closes stdin: the holder exits
    with lu.lock("ext-proc", external=True, lock_path=lock_path, blocking=False):
        pass  # released with the process
