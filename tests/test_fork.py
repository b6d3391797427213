"""fork() while other threads hold locks: the child can take them all."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest


def _in_child(check, then=lambda: None):
    """Run *check* in a forked child, and *then* in the parent while the
    child runs; return the child's exit status (0 = ok)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            check()
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    then()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _acquire_while_a_handler_forks(sem, handler, timeout, done):
    """Acquire *sem* (waiting up to *timeout* s) while SIGALRM runs
    *handler* every 10 ms.  A child the handler forked exits: 0 if it got
    *sem* a second or more before its timeout, else 1.  The parent calls
    *done()* and returns whether it got *sem*."""
    parent = os.getpid()
    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
    try:
        started = time.monotonic()
        got = sem.acquire(timeout=timeout)
        if os.getpid() != parent:  # pragma: no cover - the child
            waited = time.monotonic() - started
            os._exit(0 if got and waited < timeout - 1 else 1)
    finally:
        if os.getpid() == parent:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            done()
    return got


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_child_can_take_locks_held_by_other_threads(lockutils):
    taken = threading.Event()
    done = threading.Event()

    def holder():
        with lockutils.lock("plain"), lockutils.lock("fair", fair=True):
            taken.set()
            done.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    taken.wait(10)
    try:
        with lockutils.lock("mine"):

            def check():
                assert lockutils.held_locks() == ["mine"]
                with lockutils.lock("plain", blocking=False):
                    assert lockutils.held_locks() == ["mine", "plain"]
                with lockutils.lock("fair", fair=True, timeout=1):
                    pass
                # The forking thread's own lock is still its own.
                assert not lockutils.internal_lock("mine").acquire(
                    blocking=False)

            assert _in_child(check) == 0
            # The parent is untouched.
            assert not lockutils.internal_lock("plain").acquire(blocking=False)
    finally:
        done.set()
        t.join(10)


def _reads_in_thread(rw, started, leave):
    def reader():
        with rw.read_lock():
            started.set()
            leave.wait(30)

    t = threading.Thread(target=reader)
    t.start()
    started.wait(10)
    return t


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_child_keeps_fair_readers_and_writers_apart(lockutils):
    # A reading group begun by a thread that does not exist in the child
    # (or joined by one): the child's readers and writers must still
    # exclude each other, and the lock must be free once they are done.
    rw = lockutils.internal_fair_lock("rw")
    started, leave = threading.Event(), threading.Event()
    t = _reads_in_thread(rw, started, leave)

    def check():
        joined, out = threading.Event(), threading.Event()
        child_reader = _reads_in_thread(rw, joined, out)
        try:
            # A child thread reads: no writer may get in.
            assert not rw.acquire(timeout=0.05)
        finally:
            out.set()
            child_reader.join(10)
        assert rw.acquire(timeout=1)
        rw.release()
        assert lockutils._fair_locks._held == {}

    def check_begun_here():
        # This thread began the group and left it to the vanished one.
        assert rw.owner is None and lockutils._fair_locks._held == {}
        assert rw.acquire(blocking=False)
        rw.release()

    def check_joined_here():
        # The vanished thread began the group, this one joined it.
        def write(timeout):
            if rw.acquire(timeout=timeout):
                rw.release()
                got.append(timeout)

        got: list[float] = []
        writer = threading.Thread(target=write, args=(0.05,))
        writer.start()
        writer.join(10)
        assert got == []
        assert [h.thread_id for r in lockutils.lock_table()
                for h in r.holders] == [threading.get_ident()]
        rw.release_read_lock()
        write(1)
        assert got == [1]

    try:
        assert _in_child(check) == 0
        rw.acquire_read_lock()
        assert _in_child(check_joined_here) == 0
        rw.release_read_lock()
        leave.set()
        t.join(10)
        rw.acquire_read_lock()
        started.clear()
        leave.clear()
        t = _reads_in_thread(rw, started, leave)
        rw.release_read_lock()
        assert _in_child(check_begun_here) == 0
    finally:
        leave.set()
        t.join(10)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_child_forgets_pending_fair_writers_of_other_threads(lockutils):
    rw = lockutils.internal_fair_lock("pw")
    rw.acquire_read_lock()
    waiting = threading.Thread(target=lambda: (rw.acquire(), rw.release()))
    waiting.start()
    try:
        while not rw.has_pending_writers:
            waiting.join(0.001)

        def check():
            assert not rw.has_pending_writers
            assert lockutils._fair_locks._pending == {}

        assert _in_child(check) == 0
    finally:
        rw.release_read_lock()
        waiting.join(10)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_child_takes_an_external_lock_a_parent_thread_held(lockutils, tmp_path):
    # lock(external=True) objects are reused per name: the child must not
    # inherit one half-held by a thread that is gone.
    lock_path = str(tmp_path)
    taken = threading.Event()
    release = threading.Event()

    def holder():
        with lockutils.lock("ext", external=True, lock_path=lock_path):
            taken.set()
            release.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    taken.wait(10)

    def check():
        # The parent process still holds the file: wait for it.
        with lockutils.lock("ext", external=True, lock_path=lock_path,
                            timeout=20):
            assert lockutils.held_locks() == ["ext"]
        with lockutils.lock("ext", external=True, lock_path=lock_path):
            pass

    def let_go():
        release.set()
        t.join(10)

    assert _in_child(check, then=let_go) == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_child_releases_with_metrics_registered(lockutils):
    # A thread counting a release in the Prometheus collector at fork
    # time holds the collector's guard, which the child inherits held:
    # before, every release of a named lock in the child then hung.
    prometheus_client = pytest.importorskip("prometheus_client")
    from fastlock import metrics

    collector = metrics.register(prometheus_client.CollectorRegistry())
    try:
        with collector._guard:  # as that thread's is at fork time

            def check():
                signal.alarm(5)  # a hang kills the child
                with lockutils.lock("counted"):
                    pass
                assert collector._hold["counted"].counts[-1] == 0
                assert sum(collector._hold["counted"].counts) == 1

            status = _in_child(check)
    finally:
        metrics.unregister()
    assert status == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("fair", [True, False], ids=["granted", "woken"])
def test_child_gets_the_wake_up_a_vanished_releaser_owed(
        impl_name, impl, monkeypatch, fair):
    # The main thread waits; another thread releases, signals it and is
    # cut before waking it, as a fork from a signal handler cuts a thread
    # at any switch point.  The child's waiter must still be woken: before,
    # it slept until its timeout (or forever without one).
    if impl_name == "c":
        pytest.skip("the compiled core's release has no switch point "
                    "between signalling a waiter and waking it")
    sem = impl.Semaphore(1, fair=fair)
    stalled, leave = threading.Event(), threading.Event()
    wake = impl.Semaphore._wake

    def cut_before_waking(self, waiter):
        if waiter is not None and threading.current_thread() is releaser:
            stalled.set()
            leave.wait(30)
        wake(self, waiter)

    monkeypatch.setattr(impl.Semaphore, "_wake", cut_before_waking)

    def release_to_main():
        sem.acquire()
        while sem.waiting == 0:
            threading.Event().wait(0.001)
        sem.release()

    parent, children, forked = os.getpid(), [], []

    def fork_once_stalled(signum, frame):
        if stalled.is_set() and not forked and os.getpid() == parent:
            forked.append(True)  # first: the handler may run again in fork
            pid = os.fork()
            if pid:
                children.append(pid)
                leave.set()  # the parent's releaser goes on

    def done():
        leave.set()
        releaser.join(10)

    releaser = threading.Thread(target=release_to_main)
    releaser.start()
    while sem.value:  # until the releaser holds it
        threading.Event().wait(0.001)
    got = _acquire_while_a_handler_forks(sem, fork_once_stalled, 5, done)
    assert got  # the parent's waiter, woken once the releaser goes on
    sem.release()
    [child] = children
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_child_wakes_a_waiter_for_the_permit_a_vanished_one_was_woken_for(
        lockutils):
    # A release frees the permit and wakes the oldest waiter, of another
    # thread, which has yet to run when a signal handler forks.  The
    # child's own waiter, queued behind it, must be woken for the free
    # permit: before, it slept until its timeout (forever without one).
    sem = lockutils.internal_lock("woken-then-gone")
    sem.acquire()  # for the handler to release, as another thread would
    parent, children, forked = os.getpid(), [], []

    def starved():
        sem.acquire()  # handed the permit the handler then releases

    def woken():
        with sem:
            pass

    def fork_when_all_wait(signum, frame):
        if os.getpid() != parent or forked:
            return
        if sem.waiting != 3:
            return  # the next alarm asks again
        sem.release()  # the first waiter has starved: handed to it
        sem.release()  # its permit, at once: freed, the second one woken
        forked.append(True)  # first: the handler may run again in fork
        children.append(os.fork())

    threads = [threading.Thread(target=starved),
               threading.Thread(target=woken)]
    for i, t in enumerate(threads):
        t.start()
        while sem.waiting <= i:  # queued in this order
            time.sleep(0.001)
    time.sleep(0.01)  # longer than any hand-off limit
    got = _acquire_while_a_handler_forks(
        sem, fork_when_all_wait, 3, lambda: [t.join(10) for t in threads])
    assert got
    sem.release()
    assert (sem.value, sem.waiting) == (1, 0)
    [child] = children
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_child_keeps_a_reading_group_whose_first_reader_left(lockutils):
    # Another thread began the reading group (so holds its semaphore) and
    # left it; this thread still reads when it forks.  In the child a
    # writer must stay out, and the read lock must release.
    rw = lockutils.internal_fair_lock("rw-left")
    began, left = threading.Event(), threading.Event()

    def first_reader():
        rw.acquire_read_lock()
        began.set()
        left.wait(10)
        rw.release_read_lock()

    t = threading.Thread(target=first_reader)
    t.start()
    began.wait(10)
    rw.acquire_read_lock()
    left.set()
    t.join(10)

    def write(out, timeout):
        if rw.acquire(timeout=timeout):
            rw.release()
            out.append(timeout)

    def check():
        out: list[float] = []
        writer = threading.Thread(target=write, args=(out, 0.05))
        writer.start()
        writer.join(10)
        assert out == [], "a writer got in while this thread reads"
        rw.release_read_lock()
        write(out, 1)
        assert out == [1]

    try:
        assert _in_child(check) == 0
    finally:
        rw.release_read_lock()
    assert rw.acquire(timeout=1)
    rw.release()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_child_retrying_the_guard_a_fork_hook_took_gets_it(
        impl_name, impl, lockutils):
    # The main thread blocks on the twin's guard, which another thread
    # holds; a signal handler forks meanwhile, so the fork hooks wait for
    # that guard and take it.  Once the handler returns, the child's main
    # thread retries that very lock: before, it waited forever.
    if impl_name == "c":
        pytest.skip("the compiled core has no guard: the GIL orders it")
    lock = lockutils.internal_lock("guarded")
    inside = threading.Event()
    parent, children, forked = os.getpid(), [], []

    def in_guard():
        with impl._guard:
            inside.set()
            time.sleep(0.3)

    def fork(signum, frame):
        if os.getpid() == parent and not forked:
            forked.append(True)  # first: it runs again while fork waits
            pid = os.fork()
            children.append(pid)
            if pid == 0:  # pragma: no cover - the child
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(5)  # kills a child that hangs

    t = threading.Thread(target=in_guard)
    t.start()
    inside.wait(10)
    # The acquire blocks on the guard; the handler forks meanwhile.
    assert _acquire_while_a_handler_forks(lock, fork, 3, lambda: t.join(10))
    lock.release()
    [child] = children
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
