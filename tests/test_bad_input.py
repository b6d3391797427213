"""Bad input gets a clear exception at the call, never a hang."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("name", [None, 42, b"bytes", ["list"]])
def test_non_string_names(lockutils, name):
    with pytest.raises(TypeError, match="lock name must be a str"):
        with lockutils.lock(name):
            pass
    with pytest.raises(TypeError, match="lock name must be a str"):
        lockutils.internal_lock(name)

    @lockutils.synchronized(name)
    def work():
        raise AssertionError("must not run")

    with pytest.raises(TypeError, match="lock name must be a str"):
        work()


def test_empty_name(lockutils):
    with pytest.raises(ValueError, match="must not be empty"):
        with lockutils.lock(""):
            pass
    with pytest.raises(ValueError, match="must not be empty"):
        lockutils.internal_fair_lock("")


def test_huge_and_odd_internal_names_work(lockutils):
    # Internal names are only dictionary keys: any non-empty str is fine.
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
