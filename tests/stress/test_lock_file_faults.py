"""Lock files under abuse: no descriptors left (EMFILE), no space left
(ENOSPC), the lock directory deleted or made read-only while in use.

Each failure must be a clear ``OSError`` naming the lock file, with the
in-process lock given back; each lock that can still work must work.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
import subprocess
import threading

import pytest


def _assert_nothing_held(lockutils, name):
    assert lockutils.held_locks() == []
    sem = lockutils.internal_lock(name)
    assert sem.acquire(blocking=False), "the in-process lock was kept"
    sem.release()


def _assert_clear_error(excinfo, code, path):
    exc = excinfo.value
    assert exc.errno == code, exc
    assert exc.filename == path, exc
    assert path in str(exc)


@contextlib.contextmanager
def _no_descriptors_left():
    """Lower the descriptor limit and use up what is left under it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 32, hard))
    fds = []
    try:
        with pytest.raises(OSError) as excinfo:
            while True:
                fds.append(os.open(os.devnull, os.O_RDONLY))
        assert excinfo.value.errno == errno.EMFILE
        yield
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def empty_cache(impl):
    """No idle lock file descriptor cached at the start of the test."""
    previous = impl.set_lock_file_cache_size(0)
    impl.set_lock_file_cache_size(previous)
    yield


def test_emfile_is_a_clear_error_and_releases_the_lock(
        lockutils, lock_path, empty_cache, report):
    path = os.path.join(lock_path, "emfile")
    with _no_descriptors_left():
        with pytest.raises(OSError) as excinfo:
            with lockutils.lock("emfile", external=True, lock_path=lock_path):
                raise AssertionError("locked without a descriptor")
        _assert_clear_error(excinfo, errno.EMFILE, path)
        _assert_nothing_held(lockutils, "emfile")
        with pytest.raises(OSError):
            with lockutils.lock("emfile", external=True, lock_path=lock_path,
                                timeout=1):
                pass
        _assert_nothing_held(lockutils, "emfile")
    with lockutils.lock("emfile", external=True, lock_path=lock_path):
        assert lockutils.held_locks() == ["emfile"]
    report(emfile="clear error, in-process lock released, works after")


def test_emfile_gives_back_idle_cached_descriptors(
        lockutils, lock_path, empty_cache):
    # Out of descriptors with some idle ones cached: the cache closes
    # them and the new lock file opens.
    for i in range(3):
        with lockutils.lock("idle-%d" % i, external=True, lock_path=lock_path):
            pass
    with _no_descriptors_left():
        with lockutils.lock("fresh", external=True, lock_path=lock_path):
            assert lockutils.held_locks() == ["fresh"]
    _assert_nothing_held(lockutils, "fresh")


def test_lock_directory_deleted_while_in_use(lockutils, tmp_path, shared_counter):
    lock_path = str(tmp_path / "locks")
    with lockutils.lock("cached", external=True, lock_path=lock_path):
        pass  # the directory is made, the descriptor cached
    with lockutils.lock("held", external=True, lock_path=lock_path):
        shutil.rmtree(lock_path)
    _assert_nothing_held(lockutils, "held")
    # Both the cached name and a new one work again: the directory is
    # made again and the locked files are the ones at the paths.
    for name in ("cached", "held", "new"):
        with lockutils.lock(name, external=True, lock_path=lock_path) as lk:
            path = os.path.join(lock_path, name)
            assert os.path.samestat(os.stat(path), os.fstat(lk.lockfile.fileno()))

    def worker():
        for _ in range(50):
            with lockutils.lock("cached", external=True, lock_path=lock_path):
                shared_counter.bump()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    # Again, while the threads run (which may make it again meanwhile).
    shutil.rmtree(lock_path, ignore_errors=True)
    for t in threads:
        t.join(60)
    assert shared_counter.state() == {"count": 150, "inside": 0, "max": 1}


def _is_root():
    return os.geteuid() == 0


@pytest.fixture
def tmpfs(tmp_path):
    """A tiny tmpfs (4 inodes): root only."""
    if not _is_root():
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "tmpfs"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=4", "tmpfs",
         str(where)], capture_output=True)
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here: %s" % mounted.stderr.strip())
    yield str(where)
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_enospc_is_a_clear_error_and_releases_the_lock(
        lockutils, tmpfs, empty_cache, report):
    with lockutils.lock("first", external=True, lock_path=tmpfs):
        pass
    filled = 0
    with pytest.raises(OSError) as excinfo:
        while True:  # use up the inodes
            open(os.path.join(tmpfs, "filler-%d" % filled), "w").close()
            filled += 1
    assert excinfo.value.errno == errno.ENOSPC
    path = os.path.join(tmpfs, "nospace")
    with pytest.raises(OSError) as excinfo:
        with lockutils.lock("nospace", external=True, lock_path=tmpfs):
            raise AssertionError("locked a file that cannot exist")
    _assert_clear_error(excinfo, errno.ENOSPC, path)
    _assert_nothing_held(lockutils, "nospace")
    # A lock file that exists still locks.
    with lockutils.lock("first", external=True, lock_path=tmpfs):
        assert lockutils.held_locks() == ["first"]
    report(enospc="clear error, in-process lock released, old files lock")


@contextlib.contextmanager
def _read_only(lockutils, directory):
    """Make *directory* read-only: a read-only bind mount for root
    (permissions do not stop root), chmod otherwise."""
    if not _is_root():
        os.chmod(directory, 0o555)
        try:
            yield errno.EACCES
        finally:
            os.chmod(directory, 0o755)
        return
    bind = subprocess.run(["mount", "--bind", directory, directory],
                          capture_output=True)
    if bind.returncode:
        pytest.skip("cannot bind-mount here: %s" % bind.stderr.strip())
    try:
        remount = subprocess.run(
            ["mount", "-o", "remount,bind,ro", directory], capture_output=True)
        if remount.returncode:
            pytest.skip("cannot remount read-only: %s" % remount.stderr.strip())
        yield errno.EROFS
    finally:
        subprocess.run(["umount", "-l", directory], check=False)


def test_lock_directory_made_read_only_while_in_use(
        lockutils, lock_path, empty_cache, report):
    with lockutils.lock("kept", external=True, lock_path=lock_path):
        pass
    with _read_only(lockutils, lock_path) as code:
        path = os.path.join(lock_path, "new")
        with pytest.raises(OSError) as excinfo:
            with lockutils.lock("new", external=True, lock_path=lock_path):
                raise AssertionError("created a lock file in a read-only dir")
        _assert_clear_error(excinfo, code, path)
        _assert_nothing_held(lockutils, "new")
        # The cached descriptor of an existing lock file still locks.
        with lockutils.lock("kept", external=True, lock_path=lock_path):
            assert lockutils.held_locks() == ["kept"]
    with lockutils.lock("new", external=True, lock_path=lock_path):
        pass
    report(read_only_dir="clear error, in-process lock released")
