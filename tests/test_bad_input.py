"""Bad input gets a clear exception at the call, never a hang."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _processes import core_env

HASHABLE_NAMES = [None, 42, 1.5, b"bytes", "", ("a", 1), frozenset({"x"})]


@pytest.mark.parametrize("name", HASHABLE_NAMES, ids=repr)
def test_any_hashable_internal_name_works_as_in_oslo(any_lockutils, name):
    # oslo keys its Semaphores by the name: any hashable works.
    with any_lockutils.lock(name) as sem:
        assert any_lockutils.internal_lock(name) is sem
        assert not sem.acquire(blocking=False)

    @any_lockutils.synchronized(name)
    def work():
        assert not any_lockutils.internal_lock(name).acquire(blocking=False)
        return "ran"

    assert work() == "ran"
    with any_lockutils.lock(name, fair=True):
        pass


@pytest.mark.parametrize("name", HASHABLE_NAMES, ids=repr)
def test_held_locks_holds_the_name_objects(lockutils, name):
    with lockutils.lock(name):
        with lockutils.lock("inner"):
            held = lockutils.held_locks()
    assert held == [name, "inner"]
    assert held[0] is name or type(name) is str  # a str subclass becomes str
    assert lockutils.held_locks() == []


def test_unhashable_name_is_a_type_error_as_in_oslo(any_lockutils):
    with pytest.raises(TypeError, match="unhashable"):
        with any_lockutils.lock(["list"]):
            pass
    with pytest.raises(TypeError, match="unhashable"):
        any_lockutils.internal_lock({"a": 1})


def test_huge_and_odd_internal_names_work(lockutils):
    # Internal names are only dictionary keys: any str is fine.
    for name in ["x" * 1_000_000, "a/b", "nul\0byte", "ünïcødé ☃"]:
        with lockutils.lock(name):
            assert lockutils.held_locks() == [name]


@pytest.mark.parametrize("timeout", [-1, -0.001, float("nan")])
def test_negative_or_nan_timeout(lockutils, timeout):
    with pytest.raises(ValueError, match="non-negative"):
        lockutils.lock("t", timeout=timeout)
    with pytest.raises(ValueError, match="non-negative"):
        lockutils.synchronized("t", timeout=timeout)
    with pytest.raises(ValueError, match="non-negative"):
        lockutils.internal_lock("t", timeout=timeout)


def test_timeout_with_nonblocking(lockutils):
    with pytest.raises(ValueError, match="non-blocking"):
        lockutils.lock("t", blocking=False, timeout=1)


def test_release_of_unheld_lock(lockutils):
    sem = lockutils.internal_lock("never-taken")
    with pytest.raises(ValueError, match="released too many times"):
        sem.release()
    with lockutils.lock("twice") as sem:
        pass
    with pytest.raises(ValueError, match="released too many times"):
        sem.release()
    assert lockutils.held_locks() == []


NONE_FOR_A_SEMAPHORE = """
import fastlock
from fastlock import _rwlock
from fastlock._core import core as _core
assert fastlock.IMPLEMENTATION == {kind!r}, fastlock.IMPLEMENTATION
table = _core._FairTable(_rwlock._FairLock, object())
calls = [
    lambda: table.write_guard(None, None),
    lambda: table.write_acquire(None),
    lambda: table.write_release(None),
    lambda: table.read_guard(None, None),
    lambda: table.read_acquire(None),
    lambda: table.read_release(None, None),
    lambda: table.is_writer(None),
    lambda: table.is_reader(None),
    lambda: table.owner(None),
    lambda: _core._lock_info(None),
]
for call in calls:
    try:
        call()
    except Exception as exc:
        print(type(exc).__name__)
    else:
        print("returned")
"""


def test_none_for_a_semaphore_is_an_error_not_a_crash(impl_name):
    # The core's private entry points typed a Semaphore argument without
    # "not None": Cython lets None through, and three of these read
    # through it (a segfault).  The compiled core now refuses None; the
    # twin takes it for a semaphore nobody holds or raises as it finds.
    run = subprocess.run(
        [sys.executable, "-c", NONE_FOR_A_SEMAPHORE.format(kind=impl_name)],
        env=core_env(impl_name), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    outcomes = run.stdout.split()
    assert len(outcomes) == 10, outcomes
    if impl_name == "c":
        assert outcomes == ["TypeError"] * 10
