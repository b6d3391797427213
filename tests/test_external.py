"""External (inter-process) locks, against both cores; other processes
are real subprocesses running fastlock, oslo.concurrency or plain lockf."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest


@pytest.fixture
def spawn(impl_name):
    """Start a Python subprocess using the same core; it prints READY once
    it holds what it should hold."""
    procs = []

    def start(code, *args):
        env = dict(os.environ)
        env.pop("FASTLOCK_NO_EXTENSIONS", None)
        if impl_name == "py":
            env["FASTLOCK_NO_EXTENSIONS"] = "1"
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


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


def test_threads_exclude_each_other(lockutils, lock_path):
    state = {"count": 0, "inside": 0, "max": 0}

    def critical():
        state["inside"] += 1
        state["max"] = max(state["max"], state["inside"])
        value = state["count"]
        time.sleep(0)
        state["count"] = value + 1
        state["inside"] -= 1

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
    assert state == {"count": 400, "inside": 0, "max": 1}


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
        path, lock_path, rounds, remove = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
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
