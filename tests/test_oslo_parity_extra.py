"""Behaviour oslo.concurrency's own tests rely on, and what a drop-in
needs beyond them: lock() as a decorator, lock(name) as a
threading.Semaphore, remove_external_lock_file's contract and an
assignable InterProcessLock.lockfile (``any_lockutils``: oslo, c, py)."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import struct
import threading
from unittest import mock

import pytest
from test_lockutils_behaviour import _messages, _raised_in_thread


def test_lock_gives_a_threading_semaphore_kept_per_name(any_lockutils):
    with any_lockutils.lock("sem") as sem:
        assert isinstance(sem, threading.Semaphore)
    with any_lockutils.lock("sem") as again:
        assert again is sem  # `sem` keeps it alive


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"fair": True}, {"blocking": False}, {"external": True}],
    ids=["plain", "fair", "nonblocking", "external"],
)
def test_lock_decorates_functions_as_oslo(any_lockutils, lock_path, kwargs,
                                          shared_counter):
    if kwargs.get("external"):
        kwargs = dict(kwargs, lock_path=lock_path)
    calls = []

    @any_lockutils.lock("deco", **kwargs)
    def work(x, *, y):
        if not kwargs.get("fair"):  # fair locks have their own names
            assert not any_lockutils.internal_lock("deco").acquire(False)
        shared_counter.bump()
        calls.append((x, y))
        return x + y

    assert work(1, y=2) == 3
    assert work.__name__ == "work"
    if not kwargs.get("blocking", True):
        assert calls == [(1, 2)]
        return
    threads = [threading.Thread(target=work, args=(i,), kwargs={"y": 0})
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(calls) == 9
    assert shared_counter.state() == {"count": 9, "inside": 0, "max": 1}


def test_nonblocking_internal_lock_decorates_as_oslo(any_lockutils):
    @any_lockutils.internal_lock("nb", blocking=False)
    def work():
        return "ran"

    assert work() == "ran"
    with any_lockutils.lock("nb"):
        assert _raised_in_thread(work) is any_lockutils.AcquireLockFailedException
    assert work() == "ran"


def test_decorated_plain_lock_logs_as_oslo(any_lockutils, debug_log):
    sem = any_lockutils.lock("logged")  # made with DEBUG on or off alike

    @sem
    def work():
        return "done"

    debug_log.clear()
    assert work() == "done"
    assert _messages(debug_log) == [
        'Acquiring lock "logged"',
        'Acquired lock "logged"',
        'Releasing lock "logged"',
    ]


def test_decorated_external_lock_reads_the_lock_path_per_call(
        any_lockutils, tmp_path):
    # oslo's decorator re-enters lock() per call: a lock_path configured
    # after decoration (usual: decorators run at import) is used.
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    conf = any_lockutils.CONF
    conf.set_override("lock_path", str(first), group="oslo_concurrency")
    try:
        @any_lockutils.lock("late", external=True)
        def work():
            return sorted(os.listdir(second))

        conf.set_override("lock_path", str(second), group="oslo_concurrency")
        assert work() == ["late"]
    finally:
        conf.clear_override("lock_path", group="oslo_concurrency")


@mock.patch("logging.Logger.warning")
@mock.patch("os.remove")
def test_remove_external_lock_file_passes_anything_to_get_lock_path(
        remove, warning, any_lockutils):
    with mock.patch.object(any_lockutils, "_get_lock_path") as get_path:
        any_lockutils.remove_external_lock_file(mock.sentinel.name)
    get_path.assert_called_once_with(mock.sentinel.name, None, None)
    remove.assert_called_once_with(get_path.return_value)
    warning.assert_not_called()


@pytest.mark.parametrize("code, logged", [(errno.ENOENT, False),
                                          (errno.EPERM, True)])
def test_remove_external_lock_file_errors_as_oslo(
        any_lockutils, lock_path, caplog, code, logged):
    # A path that is no str (as in oslo's tests) goes to os.remove.
    caplog.set_level(logging.WARNING)
    with mock.patch("os.remove", side_effect=OSError(code, "nope")) as rm, \
            mock.patch.object(any_lockutils, "_get_lock_path",
                              return_value=mock.sentinel.path):
        any_lockutils.remove_external_lock_file("gone", lock_path=lock_path)
    rm.assert_called_once_with(mock.sentinel.path)
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING]
    expected = ["Failed to remove file %s" % mock.sentinel.path]
    assert warnings == (expected if logged else [])
    # The lock still works afterwards.
    with any_lockutils.lock("gone", external=True, lock_path=lock_path):
        pass


def test_remove_external_lock_file_removes(any_lockutils, lock_path):
    with any_lockutils.lock("rm", external=True, lock_path=lock_path):
        pass
    assert os.listdir(lock_path) == ["rm"]
    any_lockutils.remove_external_lock_file("rm", lock_path=lock_path)
    assert os.listdir(lock_path) == []
    any_lockutils.remove_external_lock_file("rm", lock_path=lock_path)  # ENOENT
    with any_lockutils.lock("rm", external=True, lock_path=lock_path):
        assert os.listdir(lock_path) == ["rm"]


def _locked_elsewhere(path):
    # An OFD lock conflicts with any other open file description's record
    # lock, even one of this process (lockf() locks would not).
    fd = os.open(path, os.O_RDWR)
    try:
        lock = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lock)
        except OSError:
            return True
        return False  # closing the descriptor drops the OFD lock
    finally:
        os.close(fd)


def test_interprocess_lock_lockfile_is_assignable(any_lockutils, tmp_path):
    # As fasteners: trylock()/unlock() then lock the file assigned.
    target = tmp_path / "assigned"
    lock = any_lockutils.InterProcessLock(str(tmp_path / "unused"))
    assert lock.lockfile is None
    lock.lockfile = open(target, "w")
    try:
        lock.trylock()
        assert _locked_elsewhere(target)
        lock.unlock()
        assert not _locked_elsewhere(target)
        assert lock.acquire(blocking=False)
        assert lock.acquired and _locked_elsewhere(target)
        lock.release()
        assert lock.lockfile is None  # released and closed, as fasteners
        assert not _locked_elsewhere(target)
    finally:
        if lock.lockfile is not None:
            lock.lockfile.close()
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize("kwargs", [{}, {"timeout": 5}, {"blocking": False}])
def test_logged_external_lock_logs_as_oslo(any_lockutils, debug_log,
                                           lock_path, kwargs):
    # The four lines of a lock file taken, and the three of one another
    # holds (oslo then logs 'Releasing' too).  A timeout is fastlock's.
    lu = any_lockutils
    if "timeout" in kwargs and lu.__name__.startswith("oslo"):
        kwargs = {}  # oslo has no timeout: its blocking lines
    with lu.lock("ext-log", external=True, lock_path=lock_path, **kwargs):
        pass
    debug_log.clear()
    with lu.lock("ext-log", external=True, lock_path=lock_path, **kwargs):
        pass
    assert _messages(debug_log) == [
        'Acquiring lock "ext-log"', 'Acquired lock "ext-log"',
        'Acquired external semaphore "ext-log"', 'Releasing lock "ext-log"',
    ]
    if kwargs.get("blocking") is not False:
        return
    fd = os.open(os.path.join(lock_path, "ext-log"), os.O_RDWR)
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack(
            "hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        debug_log.clear()
        with pytest.raises(lu.AcquireLockFailedException):
            with lu.lock("ext-log", external=True, lock_path=lock_path,
                         blocking=False):
                pass
    finally:
        os.close(fd)
    assert _messages(debug_log) == [
        'Acquiring lock "ext-log"', 'Acquired lock "ext-log"',
        'Releasing lock "ext-log"',
    ]
    assert lu.internal_lock("ext-log").acquire(blocking=False)
    lu.internal_lock("ext-log").release()


def test_logged_fair_lock_logs_as_oslo(any_lockutils, debug_log):
    lu = any_lockutils
    with lu.lock("fair-log", fair=True):
        with lu.lock("fair-log", fair=True):  # a fair lock is reentrant
            pass
    lines = ['Acquiring lock "fair-log"', 'Acquired lock "fair-log"']
    release = ['Releasing lock "fair-log"']
    assert _messages(debug_log) == lines + lines + release + release
