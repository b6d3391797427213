"""held_locks(): names held by the calling (green) thread, in order."""

from __future__ import annotations

import threading

import pytest


def test_nested_locks_in_acquisition_order(lockutils):
    assert lockutils.held_locks() == []
    with lockutils.lock("outer"):
        with lockutils.lock("inner"):
            with lockutils.lock("third", fair=True):
                assert lockutils.held_locks() == ["outer", "inner", "third"]
            assert lockutils.held_locks() == ["outer", "inner"]
        assert lockutils.held_locks() == ["outer"]
    assert lockutils.held_locks() == []


def test_out_of_order_release(lockutils):
    a = lockutils.internal_lock("a")
    b = lockutils.internal_lock("b")
    a.acquire()
    b.acquire()
    a.release()
    assert lockutils.held_locks() == ["b"]
    b.release()
    assert lockutils.held_locks() == []


def test_exception_clears_held_list(lockutils):
    @lockutils.synchronized("sync")
    def boom():
        assert lockutils.held_locks() == ["ctx", "sync"]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        with lockutils.lock("ctx"):
            boom()
    assert lockutils.held_locks() == []


def test_each_thread_sees_its_own_list(lockutils):
    inside = threading.Event()
    done = threading.Event()
    seen = {}

    def other():
        with lockutils.lock("theirs"):
            seen["other"] = lockutils.held_locks()
            inside.set()
            done.wait(10)

    t = threading.Thread(target=other)
    t.start()
    inside.wait(10)
    with lockutils.lock("mine"):
        seen["main"] = lockutils.held_locks()
    done.set()
    t.join(10)
    assert seen == {"other": ["theirs"], "main": ["mine"]}


def test_release_on_behalf_moves_the_entry(lockutils):
    # A semaphore released by another thread leaves the holder's list.
    sem = lockutils.internal_lock("shared")
    sem.acquire()
    t = threading.Thread(target=sem.release)
    t.start()
    t.join(10)
    assert lockutils.held_locks() == []


def test_failed_acquire_leaves_no_entry(lockutils):
    with lockutils.lock("busy"):
        result = []

        def other():
            try:
                with lockutils.lock("busy", blocking=False):
                    pass
            except lockutils.AcquireLockFailedException:
                result.append(lockutils.held_locks())

        t = threading.Thread(target=other)
        t.start()
        t.join(10)
        assert result == [[]]
