"""Facade behaviour; where oslo defines it, checked against oslo too
(``any_lockutils`` runs each test for oslo, c and py)."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest
from _reference import import_oslo


def _messages(caplog):
    # Timings vary from run to run; everything else must be identical.
    return [
        re.sub(r"\d+\.\d{3}s", "N.NNNs", r.getMessage())
        for r in caplog.records
        if r.levelno == logging.DEBUG and r.name.endswith("lockutils")
    ]


def _raised_in_thread(call):
    # The type of what call() raised in another thread, or None.
    raised = []

    def run():
        try:
            call()
        except BaseException as exc:
            raised.append(type(exc))
        else:
            raised.append(None)

    t = threading.Thread(target=run)
    t.start()
    t.join(10)
    assert raised, "the thread did not finish"
    return raised[0]


def _scenario_lock(lu):
    with lu.lock("ctx-lock"):
        pass


def _scenario_synchronized(lu):
    @lu.synchronized("sync-lock")
    def work():
        return 42

    assert work() == 42


def _scenario_unacquired(lu):
    @lu.synchronized("busy-lock", blocking=False)
    def work():
        raise AssertionError("must not run")

    taken = threading.Event()
    done = threading.Event()

    def holder():
        with lu.lock("busy-lock", do_log=False):
            taken.set()
            done.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    taken.wait(10)
    try:
        with pytest.raises(lu.AcquireLockFailedException):
            work()
    finally:
        done.set()
        t.join(10)


def _scenario_fair_and_prefix(lu):
    with lu.lock("fair-lock", fair=True):
        pass
    with lu.lock_with_prefix("nova-")("prefixed"):
        pass


@pytest.mark.parametrize(
    "scenario",
    [_scenario_lock, _scenario_synchronized, _scenario_unacquired,
     _scenario_fair_and_prefix],
)
def test_debug_log_lines_match_oslo(scenario, lockutils, debug_log):
    oslo = import_oslo()
    scenario(oslo)
    expected = _messages(debug_log)
    debug_log.clear()
    scenario(lockutils)
    assert expected, "the scenario logged nothing"
    assert _messages(debug_log) == expected


def test_fasteners_lock_file_lines_match_oslo(lockutils, lock_path, caplog):
    # Level 5 (fasteners' BLATHER) makes oslo's lock file log each use,
    # also a use that fastlock would otherwise serve from its cache.
    oslo = import_oslo()

    def lines(lu):
        caplog.set_level(logging.WARNING, logger="fasteners.process_lock")
        with lu.lock("chatty", external=True, lock_path=lock_path):
            pass
        caplog.clear()
        caplog.set_level(5, logger="fasteners.process_lock")
        with lu.lock("chatty", external=True, lock_path=lock_path):
            pass
        return [re.sub(r"\d+\.\d{3}s", "N.NNNs", r.getMessage())
                for r in caplog.records if r.name.startswith("fasteners")]

    expected = lines(oslo)
    assert len(expected) == 2
    assert lines(lockutils) == expected


def test_no_log_calls_when_debug_is_off(lockutils, caplog, monkeypatch):
    calls = []
    monkeypatch.setattr(lockutils.LOG, "debug", lambda *a, **k: calls.append(a))
    caplog.set_level(logging.INFO, logger="fastlock.lockutils")

    @lockutils.synchronized("quiet")
    def work():
        return 1

    with lockutils.lock("quiet"):
        pass
    assert work() == 1
    assert calls == []


def test_synchronized_excludes_threads(any_lockutils, shared_counter):
    bump = any_lockutils.synchronized("counter")(shared_counter.bump)

    def work():
        for _ in range(200):
            bump()

    workers = [threading.Thread(target=work) for _ in range(6)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert shared_counter.state() == {"count": 1200, "inside": 0, "max": 1}


def test_different_names_do_not_exclude(any_lockutils):
    with any_lockutils.lock("one"):
        result = []
        t = threading.Thread(
            target=lambda: result.append(
                any_lockutils.internal_lock("two", blocking=False).__enter__()
                is not None
            )
        )
        t.start()
        t.join(10)
        assert result == [True]
    # release what the thread took
    any_lockutils.internal_lock("two").release()


def test_nonblocking_raises_without_running(any_lockutils):
    ran = []

    @any_lockutils.synchronized("nb", blocking=False)
    def work():
        ran.append(1)

    with any_lockutils.lock("nb"):
        raised = _raised_in_thread(work)
    assert raised is any_lockutils.AcquireLockFailedException
    assert ran == []
    work()
    assert ran == [1]


def test_exception_message(any_lockutils):
    exc = any_lockutils.AcquireLockFailedException("some-lock")
    assert str(exc) == "Failed to acquire the lock some-lock"


def test_separate_semaphore_containers_do_not_exclude(any_lockutils):
    mine = any_lockutils.Semaphores()
    with any_lockutils.lock("same", semaphores=mine):
        with any_lockutils.lock("same"):
            pass  # would deadlock if the containers were shared


def test_fair_lock_serves_in_arrival_order(any_lockutils):
    order = []
    started = []

    def work(i):
        started.append(i)
        with any_lockutils.lock("fair", fair=True):
            order.append(i)

    with any_lockutils.lock("fair", fair=True):
        workers = []
        for i in range(5):
            t = threading.Thread(target=work, args=(i,))
            t.start()
            workers.append(t)
            while len(started) < i + 1:
                time.sleep(0.001)
            time.sleep(0.05)  # let thread i block before i+1 starts
    for t in workers:
        t.join(10)
    assert order == list(range(5))


@pytest.mark.parametrize("kwargs", [{"semaphores": "sems"}, {"blocking": False}])
def test_fair_rejects_unsupported_options(any_lockutils, kwargs):
    if "semaphores" in kwargs:
        kwargs = {"semaphores": any_lockutils.Semaphores()}
    with pytest.raises(NotImplementedError):
        with any_lockutils.lock("fair-bad", fair=True, **kwargs):
            pass


@pytest.mark.parametrize("external", [False, True], ids=["internal", "external"])
def test_semaphores_shrink_back_after_use(any_lockutils, tmp_path, external):
    before = len(any_lockutils._semaphores)

    def work(i):
        with any_lockutils.lock("shrink-%d" % (i % 3), external=external,
                                lock_path=str(tmp_path)):
            pass

    workers = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(10)
    assert len(any_lockutils._semaphores) == before


def test_lock_yields_the_semaphore(lockutils):
    with lockutils.lock("yield") as sem:
        assert sem is lockutils.internal_lock("yield")
        assert sem.locked()


def test_timeout_raises_after_waiting(lockutils):
    with lockutils.lock("slow"):
        errors = []

        def other():
            start = time.monotonic()
            try:
                with lockutils.lock("slow", timeout=0.2):
                    pass
            except lockutils.AcquireLockFailedException as exc:
                errors.append((str(exc), time.monotonic() - start))

        t = threading.Thread(target=other)
        t.start()
        t.join(10)
    [(message, waited)] = errors
    assert message == "Failed to acquire the lock slow"
    assert waited >= 0.15


def test_synchronized_timeout_and_internal_lock_timeout(lockutils):
    ran = []

    @lockutils.synchronized("sync-timeout", timeout=0.05)
    def work():
        ran.append(1)

    with lockutils.lock("sync-timeout"):
        assert _raised_in_thread(work) is lockutils.AcquireLockFailedException
        enter = lockutils.internal_lock("sync-timeout", timeout=0.05).__enter__
        assert _raised_in_thread(enter) is lockutils.AcquireLockFailedException
    assert ran == []
    work()
    assert ran == [1]


def test_synchronized_keeps_metadata_and_result(any_lockutils):
    @any_lockutils.synchronized("meta")
    def documented(a, b=2):
        """Docs."""
        return a + b

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Docs."
    assert documented(1, b=3) == 4


def test_disable_process_locking_makes_external_internal(lockutils):
    lockutils.CONF.set_override(
        "disable_process_locking", True, group="oslo_concurrency")
    try:
        with lockutils.lock("ext", external=True, lock_path="/nonexistent"):
            assert lockutils.held_locks() == ["ext"]
    finally:
        lockutils.CONF.clear_override(
            "disable_process_locking", group="oslo_concurrency")
