"""External (inter-process) locks, against both cores; other processes
are real subprocesses running fastlock, oslo.concurrency or plain lockf."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from unittest import mock

import pytest
from _processes import start_script
from _reference import import_oslo


@pytest.fixture
def spawn(impl_name):
    """Start a Python subprocess using the same core; it prints READY once
    it holds what it should hold."""
    procs = []

    def start(code, *args):
        proc = start_script(impl_name, code, args, stdin=None)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)  # reaps it and closes its pipes


def _wait_ready(proc):
    line = proc.stdout.readline()
    assert line.strip() == "READY", line + proc.stderr.read()


HOLD_WITH_LOCKF = """
    import fcntl, sys, time
    f = open(sys.argv[1], "a")
    fcntl.lockf(f, fcntl.LOCK_EX)
    print("READY", flush=True)
    time.sleep(float(sys.argv[2]))
"""

HOLD_WITH_FASTLOCK = """
    import sys, time
    from fastlock import lockutils
    with lockutils.lock(sys.argv[1], external=True, lock_path=sys.argv[2]):
        print("READY", flush=True)
        time.sleep(float(sys.argv[3]))
"""


def test_lock_file_is_created_as_oslo_names_it(any_lockutils, lock_path):
    with any_lockutils.lock("a/b", "nova", external=True, lock_path=lock_path):
        assert os.listdir(lock_path) == ["nova-a_b"]


def test_missing_lock_directory_is_created(lockutils, tmp_path):
    path = tmp_path / "not" / "yet"
    with lockutils.lock("x", external=True, lock_path=str(path)):
        assert (path / "x").exists()


def test_threads_exclude_each_other(lockutils, lock_path, shared_counter):
    critical = shared_counter.bump

    def via_lock():
        for _ in range(100):
            with lockutils.lock("t", external=True, lock_path=lock_path):
                critical()

    def via_bare_object():
        # No in-process lock from lock(): the external lock alone must
        # exclude threads of this process.
        for _ in range(100):
            with lockutils.external_lock("t", lock_path=lock_path):
                critical()

    threads = [threading.Thread(target=f)
               for f in (via_lock, via_lock, via_bare_object, via_bare_object)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert shared_counter.state() == {"count": 400, "inside": 0, "max": 1}


def test_another_process_lockf_excludes_and_waiter_gets_it(
        lockutils, lock_path, spawn):
    holder = spawn(HOLD_WITH_LOCKF, os.path.join(lock_path, "p"), 0.5)
    _wait_ready(holder)
    with pytest.raises(lockutils.AcquireLockFailedException):
        with lockutils.lock("p", external=True, lock_path=lock_path,
                            blocking=False):
            pass
    start = time.monotonic()
    with pytest.raises(lockutils.AcquireLockFailedException):
        with lockutils.lock("p", external=True, lock_path=lock_path,
                            timeout=0.1):
            pass
    assert time.monotonic() - start >= 0.09
    # Blocks in the kernel until the holder exits, then gets it.
    with lockutils.lock("p", external=True, lock_path=lock_path):
        assert holder.poll() is not None or holder.wait(5) == 0


def test_oslo_process_and_fastlock_exclude_each_other(
        lockutils, lock_path, spawn):
    import_oslo("oslo_concurrency")  # the child imports it
    oslo_holder = spawn(
        """
        import sys, time
        from oslo_concurrency import lockutils
        with lockutils.lock("mixed", external=True, lock_path=sys.argv[1]):
            print("READY", flush=True)
            time.sleep(30)
        """,
        lock_path,
    )
    _wait_ready(oslo_holder)
    ext = lockutils.external_lock("mixed", lock_path=lock_path)
    assert not ext.acquire(blocking=False)
    oslo_holder.kill()
    oslo_holder.wait(10)
    assert ext.acquire(timeout=10)
    # And oslo cannot take it from us.
    probe = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            import sys
            from oslo_concurrency import lockutils
            lk = lockutils.external_lock("mixed", lock_path=sys.argv[1])
            print("GOT" if lk.acquire(blocking=False) else "BUSY")
        """), lock_path],
        capture_output=True, text=True, timeout=60,
    )
    assert probe.stdout.strip() == "BUSY", probe.stderr
    ext.release()


def test_sigkilled_holder_leaves_the_lock_free(lockutils, lock_path, spawn):
    holder = spawn(HOLD_WITH_FASTLOCK, "victim", lock_path, 60)
    _wait_ready(holder)
    ext = lockutils.external_lock("victim", lock_path=lock_path)
    assert not ext.acquire(blocking=False)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    assert ext.acquire(timeout=10)
    ext.release()


def test_closing_another_descriptor_keeps_the_lock(lockutils, lock_path, spawn):
    with lockutils.lock("fd", external=True, lock_path=lock_path):
        # Classic POSIX locks would be dropped by this close; OFD locks not.
        fd = os.open(os.path.join(lock_path, "fd"), os.O_RDWR)
        os.close(fd)
        probe = spawn(
            """
            import fcntl, sys
            f = open(sys.argv[1], "a")
            try:
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                print("GOT")
            except OSError:
                print("BUSY")
            """,
            os.path.join(lock_path, "fd"),
        )
        assert probe.stdout.readline().strip() == "BUSY"


def test_processes_exclude_each_other_with_a_shared_counter(
        lockutils, lock_path, spawn, tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    code = """
        import os, sys, time
        from fastlock import lockutils
        path, lock_path = sys.argv[1], sys.argv[2]
        rounds, remove = int(sys.argv[3]), sys.argv[4] == "1"
        print("READY", flush=True)
        for i in range(rounds):
            with lockutils.lock("count", external=True, lock_path=lock_path):
                with open(path) as f:
                    value = int(f.read())
                time.sleep(0.0005)
                with open(path, "w") as f:
                    f.write(str(value + 1))
            if remove and i % 3 == 0:
                lockutils.remove_external_lock_file("count", lock_path=lock_path)
    """
    procs = [spawn(code, counter, lock_path, 150, int(i % 2 == 0))
             for i in range(4)]
    for proc in procs:
        _wait_ready(proc)
    for proc in procs:
        assert proc.wait(120) == 0, proc.stderr.read()
    # Two processes alternate removing the lock file while others wait on
    # it: still no lost update.
    assert counter.read_text() == str(4 * 150)


def test_release_of_unacquired_external_lock(lockutils, lock_path):
    ext = lockutils.external_lock("never", lock_path=lock_path)
    with pytest.raises(threading.ThreadError, match="unaquired"):
        ext.release()


@pytest.mark.parametrize("name, error, match", [
    ("nul\0byte", ValueError, "NUL"),
    ("x" * 300, ValueError, "longer than 255 bytes"),
])
def test_bad_external_names(lockutils, lock_path, name, error, match):
    with pytest.raises(error, match=match):
        with lockutils.lock(name, external=True, lock_path=lock_path):
            pass
    assert lockutils.held_locks() == []


def test_lock_path_problems_name_the_path(lockutils, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(NotADirectoryError, match=str(a_file)):
        with lockutils.lock("x", external=True, lock_path=str(a_file)):
            pass
    with pytest.raises(OSError, match="/proc/fastlock-nope"):
        with lockutils.lock("x", external=True, lock_path="/proc/fastlock-nope"):
            pass
    assert lockutils.held_locks() == []


def test_missing_lock_path_is_oslos_error(lockutils, monkeypatch):
    monkeypatch.delenv("OSLO_LOCK_PATH", raising=False)
    with pytest.raises(Exception, match="lock_path"):
        with lockutils.lock("x", external=True):
            pass
    assert lockutils.held_locks() == []


# -- the core's FileLock ------------------------------------------------------


def test_core_filelock_is_reentrant_per_thread(impl, lock_path):
    path = os.path.join(lock_path, "re")
    outer, inner = impl.FileLock(path), impl.FileLock(path)
    assert outer.acquire() and inner.acquire(blocking=False)
    assert outer.fileno() == inner.fileno() >= 0
    with pytest.raises(RuntimeError):
        outer.acquire()  # the same object twice is a caller bug
    inner.release()
    # Still held: another thread cannot take it.
    seen = []
    t = threading.Thread(
        target=lambda: seen.append(impl.FileLock(path).acquire(blocking=False)))
    t.start()
    t.join(10)
    assert seen == [False]
    outer.release()
    with pytest.raises(RuntimeError):
        outer.release()
    t = threading.Thread(target=lambda: seen.append(_take_and_drop(impl, path)))
    t.start()
    t.join(10)
    assert seen == [False, True]


def _take_and_drop(impl, path):
    lock = impl.FileLock(path)
    if not lock.acquire(blocking=False):
        return False
    lock.release()
    return True


def test_core_filelock_rejects_bad_paths(impl, lock_path):
    with pytest.raises(ValueError):
        impl.FileLock(os.path.join(lock_path, "a\0b"))
    with pytest.raises(ValueError):
        impl.FileLock("")
    with pytest.raises(OSError) as info:
        impl.FileLock(os.path.join(lock_path, "no", "dir")).acquire()
    assert info.value.filename == os.path.join(lock_path, "no", "dir")


def test_core_timeout_leaves_the_kernel_wait_to_a_helper(
        impl, lock_path, spawn):
    # A timed wait gives up in time; the helper left in the kernel keeps
    # the file for this process until the holder goes, then lets go, so
    # a later acquire (blocking or not) works.
    path = os.path.join(lock_path, "t")
    holder = spawn(HOLD_WITH_LOCKF, path, 0.6)
    _wait_ready(holder)
    lock = impl.FileLock(path)
    start = time.monotonic()
    assert not lock.acquire(timeout=0.1)
    assert time.monotonic() - start >= 0.09
    assert not lock.acquire(timeout=0)
    assert not lock.acquire(blocking=False)
    assert lock.acquire(timeout=30)  # once the holder exits
    assert holder.wait(10) == 0
    lock.release()
    assert lock.acquire(blocking=False)
    lock.release()


def test_core_threads_blocked_in_the_kernel_get_it_in_turn(
        impl, lock_path, spawn):
    path = os.path.join(lock_path, "k")
    holder = spawn(HOLD_WITH_LOCKF, path, 0.3)
    _wait_ready(holder)
    inside, order = [], []

    def work(i):
        with impl.FileLock(path):
            inside.append(i)
            assert len(inside) == 1
            time.sleep(0.01)
            order.append(i)
            inside.remove(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(order) == [0, 1, 2, 3]


def test_core_release_with_delete_unlinks_and_waiters_follow(impl, lock_path):
    path = os.path.join(lock_path, "d")
    first = impl.FileLock(path)
    assert first.acquire()
    got = threading.Event()
    second = impl.FileLock(path)

    def wait_for_it():
        assert second.acquire(timeout=30)
        got.set()

    t = threading.Thread(target=wait_for_it)
    t.start()
    time.sleep(0.05)
    first.release(delete=True)
    t.join(30)
    assert got.is_set()
    # The waiter locked the file now at the path, not the unlinked one.
    assert os.path.exists(path)
    assert os.fstat(second.fileno()).st_ino == os.stat(path).st_ino
    second.release()


@pytest.mark.parametrize("how", ["unlinked", "renamed-over"])
def test_core_notices_a_lock_file_removed_behind_its_back(
        impl, lock_path, how):
    # A cached descriptor of a file that lost its name must not be
    # trusted: the acquire after the removal locks the file at the path.
    path = os.path.join(lock_path, "gone")
    lock = impl.FileLock(path)
    with lock:
        pass
    if how == "unlinked":
        os.unlink(path)
    else:
        replacement = path + ".new"
        open(replacement, "w").close()
        os.rename(replacement, path)
    with lock:
        assert os.path.exists(path)
        st = os.fstat(lock.fileno())
        assert st.st_nlink == 1 and st.st_ino == os.stat(path).st_ino


def test_core_gives_up_on_a_path_replaced_at_every_acquire(
        impl, impl_name, lock_path, monkeypatch):
    # Someone replacing the file after each of our locks would make the
    # acquire loop for ever: it ends with an error and leaves nothing
    # held.  Only the twin can be made to see that deterministically.
    if impl_name != "py":
        pytest.skip("the compiled core's path check cannot be patched")
    path = os.path.join(lock_path, "replaced")
    lock = impl.FileLock(path)
    with monkeypatch.context() as patch:
        patch.setattr(impl._LockFile, "same_file", lambda self, path: False)
        with pytest.raises(OSError) as caught:
            lock.acquire()
    assert caught.value.errno == errno.ESTALE
    assert not lock.acquired
    assert lock.acquire(blocking=False)  # neither semaphore nor file held
    lock.release()


def _open_fds_under(directory):
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        count += target.startswith(directory)
    return count


def _open_names_under(directory):
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith(directory):
            names.add(os.path.basename(target))
    return names


def test_core_descriptor_cache_evicts_one_at_a_time(impl, lock_path):
    # A full cache closes one descriptor per new file, not a batch: the
    # newest file not used again (on probation, in front of the hand)
    # goes first, and the hand gives a file used since it last passed a
    # second chance.
    previous = impl.set_lock_file_cache_size(8)
    try:
        impl.set_lock_file_cache_size(0)
        impl.set_lock_file_cache_size(8)
        names = ["n%d" % i for i in range(8)]
        for name in names:
            with impl.FileLock(os.path.join(lock_path, name)):
                pass
        assert _open_names_under(lock_path) == set(names)
        with impl.FileLock(os.path.join(lock_path, "n7")):
            pass  # used again: the hand spares it once
        with impl.FileLock(os.path.join(lock_path, "new")):
            pass
        assert _open_names_under(lock_path) == set(names) - {"n6"} | {"new"}
        with impl.FileLock(os.path.join(lock_path, "newer")):
            pass  # "new" was on probation and not used again
        assert _open_names_under(lock_path) == (
            set(names) - {"n6"} | {"newer"})
    finally:
        impl.set_lock_file_cache_size(previous)


def test_core_descriptor_cache_keeps_files_when_names_cycle_beyond_it(
        impl, lock_path):
    # Names cycled over twice the cache: a clock, LRU or FIFO cache
    # reopens every file in turn (no hits at all); one that keeps new
    # files on probation keeps most of its files open for good.
    size, names = 8, ["c%d" % i for i in range(16)]
    previous = impl.set_lock_file_cache_size(size)
    try:
        impl.set_lock_file_cache_size(0)
        impl.set_lock_file_cache_size(size)
        hits = 0
        for rounds in range(4):
            for name in names:
                if rounds > 0 and name in _open_names_under(lock_path):
                    hits += 1
                with impl.FileLock(os.path.join(lock_path, name)):
                    pass
                assert len(_open_names_under(lock_path)) <= size
        # 3 rounds of 16 acquisitions; 7 of the 8 files stay open.
        assert hits >= 3 * (size - 2), hits
    finally:
        impl.set_lock_file_cache_size(previous)


def test_default_descriptor_cache_follows_the_descriptor_limit(impl):
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    previous = impl.set_lock_file_cache_size(0)
    impl.set_lock_file_cache_size(previous)
    assert previous == impl._default_cache_size()
    if 8 <= soft < 2 * 16384:
        assert previous == soft // 2


def test_external_lock_cache_evicts_one_entry_at_a_time(
        lockutils, lock_path, monkeypatch):
    # Full: the newest entry goes, and the oldest at every 32nd eviction.
    monkeypatch.setattr(lockutils, "_EXTERNAL_LOCKS_MAX", 4)
    monkeypatch.setattr(lockutils, "_external_admitted", 0)
    lockutils._external_locks.clear()
    for i in range(6):
        with lockutils.lock("c%d" % i, external=True, lock_path=lock_path):
            pass
    assert [k[0] for k in lockutils._external_locks] == [
        "c0", "c1", "c2", "c5"]
    monkeypatch.setattr(lockutils, "_external_admitted", 31)
    with lockutils.lock("c6", external=True, lock_path=lock_path):
        pass
    assert [k[0] for k in lockutils._external_locks] == [
        "c1", "c2", "c5", "c6"]


def test_external_lock_cache_keeps_entries_when_names_cycle_beyond_it(
        lockutils, lock_path, monkeypatch):
    # Names cycled over twice the bound: first in, first out rebuilds
    # every lock in turn; keeping most entries for good leaves them the
    # same objects round after round.
    monkeypatch.setattr(lockutils, "_EXTERNAL_LOCKS_MAX", 8)
    monkeypatch.setattr(lockutils, "_external_admitted", 0)
    lockutils._external_locks.clear()
    names = ["k%d" % i for i in range(16)]
    kept = 0
    for rounds in range(4):
        seen = dict(lockutils._external_locks)
        for name in names:
            with lockutils.lock(name, external=True, lock_path=lock_path):
                pass
        assert len(lockutils._external_locks) <= 8
        if rounds:
            kept += sum(seen.get(k) is v
                        for k, v in lockutils._external_locks.items())
    assert kept >= 3 * 6, kept


def test_core_descriptor_cache_is_bounded(impl, lock_path):
    previous = impl.set_lock_file_cache_size(8)
    try:
        held = impl.FileLock(os.path.join(lock_path, "held"))
        held.acquire()
        for i in range(50):
            with impl.FileLock(os.path.join(lock_path, "n%d" % i)):
                pass
        assert _open_fds_under(lock_path) <= 9
        assert impl.set_lock_file_cache_size(0) == 8
        assert _open_fds_under(lock_path) == 1  # the held one stays open
        assert held.fileno() >= 0
        held.release()
        with pytest.raises(ValueError):
            impl.set_lock_file_cache_size(-1)
        with pytest.raises(TypeError):
            impl.set_lock_file_cache_size(1.5)
    finally:
        impl.set_lock_file_cache_size(previous)


def test_core_fork_child_does_not_share_the_parents_lock(impl, lock_path):
    path = os.path.join(lock_path, "fork")
    lock = impl.FileLock(path)
    lock.acquire()
    pid = os.fork()
    if pid == 0:  # child: the parent's lock is not ours, and stays held
        code = 1
        try:
            child_lock = impl.FileLock(path)
            if not child_lock.acquire(blocking=False):
                lock.release()  # must not unlock the parent's lock
                code = 0 if not child_lock.acquire(timeout=0.05) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # Still ours after the child released and exited.
    probe = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            import fcntl, sys
            f = open(sys.argv[1], "a")
            try:
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                print("GOT")
            except OSError:
                print("BUSY")
        """), path], capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "BUSY"
    lock.release()


# -- the facade's InterProcessLock --------------------------------------------


def test_interprocesslock_api_is_fasteners(lockutils, lock_path):
    path = os.path.join(lock_path, "api")
    lk = lockutils.InterProcessLock(path)
    assert lk.path == os.fsencode(path)
    assert lk.lockfile is None and not lk.acquired and not lk.exists()
    assert lk.acquire(delay=0.5, max_delay=0.1)
    assert lk.acquired and lk.lockfile.fileno() >= 0 and lk.exists()
    assert lk.acquire()  # re-acquiring what it holds succeeds, as lockf
    lk.release()
    assert not lk.acquired and lk.lockfile is None
    with pytest.raises(threading.ThreadError):
        lk.release()
    lk.trylock()
    other = lockutils.InterProcessLock(path)
    result = []
    t = threading.Thread(target=lambda: result.append(
        pytest.raises(BlockingIOError, other.trylock)))
    t.start()
    t.join(10)
    assert len(result) == 1
    lk.unlock()
    with pytest.raises(ValueError):
        lk.acquire(delay=-1)
    with pytest.raises(ValueError):
        lk.acquire(timeout=-1)
    with lk as entered:
        assert entered is lk


def test_external_lock_returns_an_interprocesslock(any_lockutils, lock_path):
    lk = any_lockutils.external_lock("x", "pfx", lock_path)
    assert isinstance(lk, any_lockutils.InterProcessLock)
    assert lk.path == os.fsencode(os.path.join(lock_path, "pfx-x"))
    with lk:
        assert lk.acquired
    assert not lk.acquired


def test_remove_external_lock_file_as_oslo(any_lockutils, lock_path):
    lu = any_lockutils
    with lu.lock("rm", "p", external=True, lock_path=lock_path):
        pass
    assert os.listdir(lock_path) == ["p-rm"]
    lu.remove_external_lock_file("rm", "p", lock_path=lock_path)
    assert os.listdir(lock_path) == []
    lu.remove_external_lock_file("rm", "p", lock_path=lock_path)  # absent
    cleanup = lu.remove_external_lock_file_with_prefix("q")
    with lu.lock("rm", "q", external=True, lock_path=lock_path):
        pass
    cleanup("rm", lock_path=lock_path)
    assert os.listdir(lock_path) == []


def test_remove_never_removes_a_file_made_after_its_check(
        lockutils, lock_path, spawn, monkeypatch):
    # remove_external_lock_file finds no file, and before it goes on
    # another process makes the file and locks it.  Removing it then (as
    # an os.remove expecting ENOENT would) lets a third locker make a new
    # file and hold it too.  The interleaving is forced through the check.
    path = os.path.join(lock_path, "late")
    exists = os.path.exists
    holders = []

    def exists_then_someone_locks(candidate):
        found = exists(candidate)
        if os.fspath(candidate) == path and not holders:
            holders.append(spawn(HOLD_WITH_LOCKF, path, 30))
            _wait_ready(holders[0])
        return found

    monkeypatch.setattr(os.path, "exists", exists_then_someone_locks)
    lockutils.remove_external_lock_file("late", lock_path=lock_path)
    monkeypatch.undo()
    assert holders, "the check was not reached"
    assert os.path.exists(path), "removed a file another process holds"
    with pytest.raises(lockutils.AcquireLockFailedException):
        with lockutils.lock("late", external=True, lock_path=lock_path,
                            blocking=False):
            pass


def test_remove_waits_for_a_holder_in_this_process(lockutils, lock_path):
    # Removal happens only while holding the lock: never under a holder.
    holder = lockutils.external_lock("busy", lock_path=lock_path)
    holder.acquire()
    done = threading.Event()
    t = threading.Thread(target=lambda: (
        lockutils.remove_external_lock_file("busy", lock_path=lock_path),
        done.set()))
    t.start()
    assert not done.wait(0.2)
    assert os.path.exists(os.path.join(lock_path, "busy"))
    holder.release()
    t.join(30)
    assert done.is_set() and not os.path.exists(os.path.join(lock_path, "busy"))


def test_timeout_covers_the_whole_acquisition(lockutils, lock_path, spawn):
    holder = spawn(HOLD_WITH_LOCKF, os.path.join(lock_path, "w"), 30)
    _wait_ready(holder)
    cm = lockutils.lock("w", external=True, lock_path=lock_path, timeout=0.2)
    for _ in range(2):  # a reused lock() keeps its full timeout
        start = time.monotonic()
        with pytest.raises(lockutils.AcquireLockFailedException):
            with cm:
                pass
        assert 0.19 <= time.monotonic() - start < 10
    assert lockutils.held_locks() == []


def test_disable_process_locking_takes_no_file_lock(lockutils, lock_path):
    lockutils.CONF.set_override(
        "disable_process_locking", True, group="oslo_concurrency")
    try:
        with lockutils.lock("off", external=True, lock_path=lock_path):
            assert os.listdir(lock_path) == []
    finally:
        lockutils.CONF.clear_override(
            "disable_process_locking", group="oslo_concurrency")


def test_disable_process_locking_applies_to_a_cached_lock(
        lockutils, lock_path):
    def file_locked():
        fd = os.open(os.path.join(lock_path, "cached"), os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    with lockutils.lock("cached", external=True, lock_path=lock_path):
        assert file_locked()
    lockutils.CONF.set_override(
        "disable_process_locking", True, group="oslo_concurrency")
    try:
        with lockutils.lock("cached", external=True, lock_path=lock_path):
            assert not file_locked()
            assert lockutils.held_locks() == ["cached"]
    finally:
        lockutils.CONF.clear_override(
            "disable_process_locking", group="oslo_concurrency")
    with lockutils.lock("cached", external=True, lock_path=lock_path):
        assert file_locked()


@pytest.fixture
def classic_locks(impl):
    """The core using classic fcntl record locks, as on kernels without
    OFD locks."""
    previous = impl._use_ofd_locks(False)
    impl.set_lock_file_cache_size(impl.set_lock_file_cache_size(0))
    try:
        yield impl
    finally:
        impl._use_ofd_locks(previous)
        impl.set_lock_file_cache_size(impl.set_lock_file_cache_size(0))


def test_classic_record_lock_fallback(
        classic_locks, lock_path, spawn, shared_counter):
    impl = classic_locks
    path = os.path.join(lock_path, "classic")
    # Threads still exclude each other (the in-process semaphore)...

    def work():
        for _ in range(50):
            with impl.FileLock(path):
                shared_counter.bump()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert shared_counter.state() == {"count": 200, "inside": 0, "max": 1}
    # ...and other processes' lockf locks conflict with ours.
    holder = spawn(HOLD_WITH_LOCKF, path, 0.3)
    _wait_ready(holder)
    lock = impl.FileLock(path)
    assert not lock.acquire(blocking=False)
    assert lock.acquire(timeout=30)
    lock.release()


def test_a_signal_interrupts_a_kernel_wait(impl, lock_path, spawn):
    # The main thread blocked in fcntl(F_OFD_SETLKW) runs signal handlers;
    # one that raises ends the wait cleanly.
    path = os.path.join(lock_path, "sig")
    holder = spawn(HOLD_WITH_LOCKF, path, 30)
    _wait_ready(holder)

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        lock = impl.FileLock(path)
        with pytest.raises(Interrupted):
            lock.acquire()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not lock.acquired
    holder.kill()
    holder.wait(10)
    assert lock.acquire(timeout=30)
    lock.release()


def test_lock_calls_a_patched_external_lock_every_time(lockutils, lock_path):
    # lock(external=True) reuses one object per name; a test that patches
    # external_lock must still see every call, as with oslo.
    with lockutils.lock("m", external=True, lock_path=lock_path):
        pass
    real = lockutils.external_lock
    with mock.patch.object(lockutils, "external_lock", wraps=real) as patched:
        for _ in range(2):
            with lockutils.lock("m", external=True, lock_path=lock_path):
                pass
    assert patched.call_count == 2
    patched.assert_called_with("m", None, lock_path)


def test_lock_reports_a_bad_external_lock_on_entry_as_oslo(
        any_lockutils, lock_path):
    # oslo's lock() is a generator: nothing is checked until it is entered.
    unentered = [
        any_lockutils.lock("x\0y", external=True, lock_path=lock_path),
        any_lockutils.lock(123, external=True, lock_path=lock_path),
    ]
    for cm in unentered:
        with pytest.raises((ValueError, TypeError, AttributeError)):
            with cm:
                pass


# -- helper-thread waits: fork, thread start failures, huge timeouts ----------


@pytest.mark.parametrize("timeout", [20, None], ids=["timed", "untimed"])
def test_fork_during_a_kernel_wait_lets_the_child_wait_itself(
        impl, lock_path, spawn, timeout):
    # A signal handler forks while the main thread waits for a file held
    # by another process.  A timed wait runs in a helper OS thread, which
    # the child does not have; an untimed one in the main thread itself,
    # on a descriptor the child closes.  The child must still get the
    # lock once the holder (and then the parent) lets go, well before any
    # timeout, and then lock it again.
    path = os.path.join(lock_path, "forkwait")
    holder = spawn(HOLD_WITH_LOCKF, path, 1)
    _wait_ready(holder)
    parent = os.getpid()
    children = []

    def fork_now(signum, frame):
        pid = os.fork()
        if pid:
            children.append(pid)

    old = signal.signal(signal.SIGALRM, fork_now)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        lock = impl.FileLock(path)
        start = time.monotonic()
        try:
            got = lock.acquire(timeout=timeout)
        except BaseException:
            if os.getpid() != parent:  # pragma: no cover - child
                os._exit(3)
            raise
        if os.getpid() != parent:  # pragma: no cover - runs in the child
            code = 1
            try:
                if got and time.monotonic() - start < 15:
                    lock.release()
                    code = 0 if impl.FileLock(path).acquire(timeout=5) else 2
            finally:
                os._exit(code)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert got and len(children) == 1
    lock.release()
    _, status = os.waitpid(children[0], 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_fork_while_waiting_for_a_name_another_thread_holds(
        lockutils, lock_path):
    # lock(name, external=True) hands out one object per name.  A signal
    # handler forks while the main thread waits for the name that another
    # thread holds through that object: in the child that thread is gone,
    # the main thread gets the name, and the object's file lock must not
    # count as "already held by this object".
    taken, release = threading.Event(), threading.Event()

    def hold():
        with lockutils.lock("shared", external=True, lock_path=lock_path):
            taken.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    assert taken.wait(10)
    parent = os.getpid()
    children = []

    def fork_now(signum, frame):
        pid = os.fork()
        if pid:
            children.append(pid)
            threading.Timer(0.5, release.set).start()

    old = signal.signal(signal.SIGALRM, fork_now)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        try:
            with lockutils.lock("shared", external=True, lock_path=lock_path):
                if os.getpid() != parent:  # pragma: no cover - child
                    os._exit(0)
        except BaseException:
            if os.getpid() != parent:  # pragma: no cover - child
                traceback.print_exc()
                os._exit(1)
            raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    t.join(10)
    assert len(children) == 1
    _, status = os.waitpid(children[0], 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_fork_as_a_timed_wait_starts_its_helper(
        impl, lock_path, spawn, monkeypatch):
    # A signal handler forks just before the helper thread of a timed wait
    # is started (the twin runs handlers between any two lines): the child
    # starts the helper itself, on the descriptor its fork clean-up has
    # closed.  It must wait again, not fail with EBADF; the child lets its
    # helper finish first so that the interleaving is certain.
    path = os.path.join(lock_path, "forkstart")
    holder = spawn(HOLD_WITH_LOCKF, path, 0.5)
    _wait_ready(holder)
    start_thread = impl._start_thread
    parent = os.getpid()
    children = []

    def fork_then_start(function, args):
        if os.getpid() == parent and not children:
            pid = os.fork()
            if pid:
                children.append(pid)
            else:  # pragma: no cover - runs in the child
                start_thread(function, args)
                time.sleep(0.2)
                return None
        return start_thread(function, args)

    monkeypatch.setattr(impl, "_start_thread", fork_then_start)
    lock = impl.FileLock(path)
    try:
        got = lock.acquire(timeout=20)
    except BaseException:
        if os.getpid() != parent:  # pragma: no cover - child
            traceback.print_exc()
            os._exit(3)
        raise
    if os.getpid() != parent:  # pragma: no cover - runs in the child
        os._exit(0 if got else 2)
    assert got and len(children) == 1
    lock.release()
    _, status = os.waitpid(children[0], 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _cannot_start_thread(function, args):
    raise RuntimeError("can't start new thread")


def test_a_failed_helper_thread_start_leaves_nothing_behind(
        lockutils, impl, lock_path, spawn, monkeypatch):
    # RuntimeError from starting the helper (thread or memory limits)
    # reaches the caller; the lock file and the name stay usable.
    path = os.path.join(lock_path, "nothread")
    holder = spawn(HOLD_WITH_LOCKF, path, 0.5)
    _wait_ready(holder)
    monkeypatch.setattr(impl, "_start_thread", _cannot_start_thread)
    lock = impl.FileLock(path)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        lock.acquire(timeout=10)
    assert not lock.acquired
    with pytest.raises(RuntimeError, match="can't start new thread"):
        with lockutils.lock("nothread", external=True, lock_path=lock_path,
                            timeout=10):
            pass
    assert lockutils.held_locks() == []
    monkeypatch.undo()
    assert holder.wait(10) == 0
    assert lock.acquire(blocking=False), "the lock file leaked"
    lock.release()
    with lockutils.lock("nothread", external=True, lock_path=lock_path,
                        blocking=False):
        assert lockutils.held_locks() == ["nothread"]


@pytest.mark.parametrize("timeout", [3e6, 1e10, 1e300])
def test_timeout_beyond_timeout_max_is_a_long_wait(
        lockutils, lock_path, spawn, timeout):
    # threading.TIMEOUT_MAX is about 292 years; a longer timeout is a wait
    # that ends at its deadline, never an OverflowError.  Internal and
    # external, contended in this process and by another process.
    assert timeout > 2**31 / 1000  # also beyond what poll() takes in ms
    for external in (False, True):
        taken, release = threading.Event(), threading.Event()

        def hold(external=external, taken=taken, release=release):
            with lockutils.lock("big", external=external, lock_path=lock_path):
                taken.set()
                release.wait(30)

        t = threading.Thread(target=hold)
        t.start()
        assert taken.wait(10)
        threading.Timer(0.2, release.set).start()
        with lockutils.lock("big", external=external, lock_path=lock_path,
                            timeout=timeout):
            assert lockutils.held_locks() == ["big"]
        t.join(10)
    holder = spawn(HOLD_WITH_LOCKF, os.path.join(lock_path, "big"), 0.3)
    _wait_ready(holder)
    with lockutils.lock("big", external=True, lock_path=lock_path,
                        timeout=timeout):
        assert holder.poll() is not None or holder.wait(5) == 0


# -- lock path spellings -------------------------------------------------------


def _spellings(lock_path, tmp_path):
    # Other names for the same directory.
    link = tmp_path / "link"
    link.symlink_to(lock_path)
    return {
        "symlink": str(link),
        "double-slash": lock_path.replace("/", "//"),
        "dot-dot": os.path.join(lock_path, "..", os.path.basename(lock_path)),
        "relative": os.path.relpath(lock_path),
    }


@pytest.mark.parametrize(
    "spelling", ["symlink", "double-slash", "dot-dot", "relative"])
def test_holder_retakes_its_lock_through_another_spelling(
        lockutils, lock_path, tmp_path, spelling):
    # A second open file description of the same file would conflict with
    # our own OFD lock: the holder must get it again, as with oslo.
    other = _spellings(lock_path, tmp_path)[spelling]
    outer = lockutils.external_lock("same", lock_path=lock_path)
    inner = lockutils.external_lock("same", lock_path=other)
    assert outer.acquire()
    try:
        assert inner.acquire(timeout=5), "deadlocked on its own lock"
        inner.release()
        # Still held through the first spelling: another thread, through
        # the second, cannot take it.
        seen = []
        t = threading.Thread(target=lambda: seen.append(
            lockutils.external_lock("same", lock_path=other).acquire(
                blocking=False)))
        t.start()
        t.join(10)
        assert seen == [False]
    finally:
        outer.release()
    assert inner.acquire(blocking=False)
    inner.release()


def test_spellings_of_one_directory_exclude_each_other_across_threads(
        lockutils, lock_path, tmp_path, shared_counter):
    paths = [lock_path, *_spellings(lock_path, tmp_path).values()]

    def work(path):
        for _ in range(100):
            with lockutils.lock("count", external=True, lock_path=path,
                                semaphores=lockutils.Semaphores()):
                shared_counter.bump()

    threads = [threading.Thread(target=work, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert shared_counter.state() == {
        "count": 100 * len(paths), "inside": 0, "max": 1}


def _probe_locked(path):
    # Whether another process finds *path* locked (lockf, as oslo).
    probe = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            import fcntl, sys
            f = open(sys.argv[1], "a")
            try:
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                print("FREE")
            except OSError:
                print("BUSY")
        """), path], capture_output=True, text=True, timeout=60)
    return probe.stdout.strip() == "BUSY"


def test_relative_lock_path_means_what_it_means_at_the_call(
        lockutils, impl, tmp_path, monkeypatch):
    # As oslo: a relative lock_path is relative to the working directory
    # of the call, not to the one where the lock file was first opened.
    for d in ("a", "b"):
        (tmp_path / d / "locks").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    plain = lockutils.lock("cwd", external=True, lock_path="locks")
    core = impl.FileLock(os.path.join("locks", "core"))
    with plain, core:
        assert _probe_locked(str(tmp_path / "a" / "locks" / "cwd"))
    monkeypatch.chdir(tmp_path / "b")
    with lockutils.lock("cwd", external=True, lock_path="locks"), core:
        assert _probe_locked(str(tmp_path / "b" / "locks" / "cwd"))
        assert _probe_locked(str(tmp_path / "b" / "locks" / "core"))
        assert not _probe_locked(str(tmp_path / "a" / "locks" / "cwd"))
        assert not _probe_locked(str(tmp_path / "a" / "locks" / "core"))
    with lockutils.lock("cwd", external=True, lock_path="locks",
                        blocking=False):
        assert _probe_locked(str(tmp_path / "b" / "locks" / "cwd"))


def test_relative_lock_path_under_a_cwd_deeper_than_path_max(
        lockutils, tmp_path, monkeypatch):
    # open() takes a relative path there, while the absolute one is too
    # long for any system call (ENAMETOOLONG): as oslo, it must work.
    monkeypatch.chdir(tmp_path)
    for _ in range(24):
        os.mkdir("d" * 200)
        os.chdir("d" * 200)
    assert len(os.getcwdb()) > os.pathconf("/", "PC_PATH_MAX")
    with lockutils.lock("deep", external=True, lock_path="locks"):
        assert os.path.exists(os.path.join("locks", "deep"))
    with lockutils.lock("deep", external=True, lock_path="locks",
                        blocking=False):
        pass


def test_release_with_delete_unlinks_the_name_it_was_taken_by(
        impl, lock_path):
    # Two hard links are two names of one file, so they share one cached
    # descriptor; a delete must still unlink the name it was asked for.
    first = os.path.join(lock_path, "first")
    second = os.path.join(lock_path, "second")
    with impl.FileLock(first):
        pass
    os.link(first, second)
    lock = impl.FileLock(second)
    lock.acquire()
    lock.release(delete=True)
    assert os.path.exists(first) and not os.path.exists(second)


@pytest.mark.parametrize("how", ["symlink re-pointed", "directory moved"])
def test_lock_path_re_pointed_locks_the_file_now_at_the_path(
        any_lockutils, tmp_path, how):
    # oslo opens the lock file at each acquisition: once the lock path
    # names another directory (a symlink switched to a new release, the
    # directory moved aside and made again), it locks the file there, as
    # every process starting afresh does.  A descriptor cached from
    # before still names a linked file, the old one.  (A file replaced
    # at the path: test_core_notices_a_lock_file_removed_behind_its_back.)
    lockutils = any_lockutils
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    lock_path = str(tmp_path / "locks")
    if how == "symlink re-pointed":
        os.symlink("old", lock_path)
    else:
        os.rename(tmp_path / "old", lock_path)
    with lockutils.lock("moved", external=True, lock_path=lock_path):
        pass
    if how == "symlink re-pointed":
        os.symlink("new", str(tmp_path / "tmp-link"))
        os.rename(str(tmp_path / "tmp-link"), lock_path)
    else:
        os.rename(lock_path, tmp_path / "old")
        os.rename(tmp_path / "new", lock_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLD_WITH_LOCKF),
         os.path.join(lock_path, "moved"), "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_ready(holder)
        with pytest.raises(lockutils.AcquireLockFailedException):
            with lockutils.lock("moved", external=True, lock_path=lock_path,
                                blocking=False):
                pass
    finally:
        holder.kill()
        holder.communicate(timeout=30)


def test_fork_child_retakes_the_parents_lock_through_the_same_object(
        any_lockutils, lock_path):
    # The child of a holder does not hold the lock: taking it again through
    # the inherited object must wait for the parent, as with oslo.
    ipl = any_lockutils.InterProcessLock(os.path.join(lock_path, "forked"))
    assert ipl.acquire()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            got = ipl.acquire(blocking=False)
            os.write(write_end, b"GOT" if got else b"BUSY")
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        assert os.read(read_end, 16) == b"BUSY"
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
        ipl.release()
