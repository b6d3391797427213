"""Opt-in lock-order checking (lockdep-style), through the facade, on both
cores: order inversions, actual wait-for deadlocks, and no false reports."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import uuid
import warnings

import pytest

import fastlock
from fastlock import _lockorder

JOIN = 20  # seconds: far above what any scenario needs


@pytest.fixture
def checking(lockutils):
    """``checking(mode, classify=None)`` turns checking on for one test."""
    previous = []

    def turn_on(mode, classify=None):
        previous.append(lockutils.set_lock_order_checking(mode, classify))
        return lockutils

    yield turn_on
    if previous:
        lockutils.set_lock_order_checking(previous[0])


def in_thread(fn, *args, **kwargs):
    """Run *fn* in a new thread to the end; return what it raised."""
    errors = []

    def run():
        try:
            fn(*args, **kwargs)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(JOIN)
    assert not t.is_alive(), "thread hung"
    return errors[0] if errors else None


def nest(lockutils, *names, **kwargs):
    """Take *names* one inside the other, in that order."""
    if names:
        with lockutils.lock(names[0], **kwargs):
            nest(lockutils, *names[1:], **kwargs)


def test_inversion_of_two_locks_across_threads(checking):
    lockutils = checking("raise")

    def a_then_b():
        with lockutils.lock("a"):
            with lockutils.lock("b"):
                pass

    assert in_thread(a_then_b) is None
    with lockutils.lock("b"):
        with pytest.raises(fastlock.LockOrderError) as info:
            with lockutils.lock("a"):
                pytest.fail("acquired")
        # Refused before acquiring anything.
        assert lockutils.held_locks() == ["b"]
        assert not lockutils.lock("a").locked()
        with pytest.raises(lockutils.LockOrderError):  # and again
            lockutils.lock("a").acquire()
    assert lockutils.held_locks() == []
    message = str(info.value)
    assert "'b' -> 'a' -> 'b'" in message
    # Where each order was seen, as file:line in function.
    assert "test_lockorder.py:%d in a_then_b" % (
        a_then_b.__code__.co_firstlineno + 2) in message
    assert "in test_inversion_of_two_locks_across_threads" in message
    assert isinstance(info.value, RuntimeError)


def test_inversion_over_three_locks(checking):
    lockutils = checking("raise")
    assert in_thread(nest, lockutils, "a", "b") is None
    assert in_thread(nest, lockutils, "b", "c") is None
    error = in_thread(nest, lockutils, "c", "a")
    assert isinstance(error, lockutils.LockOrderError)
    message = str(error)
    assert "'c' -> 'a' -> 'b' -> 'c'" in message
    for edge in ("'c' -> 'a' this acquisition", "'a' -> 'b' first seen",
                 "'b' -> 'c' first seen"):
        assert edge in message
    assert lockutils.held_locks() == []


def test_consistent_orders_are_never_reported(checking, shared_counter):
    lockutils = checking("raise")

    @lockutils.synchronized("c")
    def innermost():
        shared_counter.bump()

    def work():
        for _ in range(200):
            with lockutils.lock("a"):
                with lockutils.lock("b", fair=True):
                    innermost()
            with lockutils.lock("b", fair=True):  # a subset, same order
                innermost()
            with lockutils.lock("c"):  # alone: no order at all
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN)
    assert shared_counter.state() == {"count": 1600, "inside": 0, "max": 1}
    # Sequential uses in the other order are no inversion either.
    with lockutils.lock("c"):
        pass
    with lockutils.lock("a"):
        pass


def test_synchronized_functions(checking):
    lockutils = checking("raise")

    @lockutils.synchronized("b")
    def inner():
        pass

    @lockutils.synchronized("a")
    def outer():
        inner()

    @lockutils.synchronized("b")
    def inverted():
        with lockutils.lock("a"):
            pass

    assert in_thread(outer) is None
    error = in_thread(inverted)
    assert isinstance(error, lockutils.LockOrderError)
    assert "in outer" in str(error) and "in inverted" in str(error)


def test_a_try_records_no_order(checking):
    lockutils = checking("raise")
    nest(lockutils, "a", "b")
    with lockutils.lock("b"):
        # A try cannot deadlock, so taking 'a' after 'b' this way is fine.
        with lockutils.lock("a", blocking=False):
            assert lockutils.held_locks() == ["b", "a"]
    with lockutils.lock("b"):
        with pytest.raises(lockutils.LockOrderError):
            with lockutils.lock("a", timeout=1):  # a timed wait can
                pass


def test_warn_mode_reports_each_new_cycle_once(checking, caplog):
    lockutils = checking("warn")
    caplog.set_level(logging.WARNING, logger="fastlock.lockorder")
    nest(lockutils, "a", "b")
    with pytest.warns(lockutils.LockOrderWarning) as record:
        for _ in range(3):
            with lockutils.lock("b"):
                with lockutils.lock("a"):  # acquired despite the warning
                    assert lockutils.held_locks() == ["b", "a"]
    assert len(record) == 1
    assert record[0].filename == __file__
    assert issubclass(record[0].category, RuntimeWarning)
    logged = [r for r in caplog.records if r.name == "fastlock.lockorder"]
    assert [r.levelno for r in logged] == [logging.WARNING]
    assert logged[0].getMessage() == str(record[0].message)
    # A new cycle through a new lock is reported again.
    nest(lockutils, "a", "c")
    with pytest.warns(lockutils.LockOrderWarning) as record:
        nest(lockutils, "c", "b")
    assert len(record) == 1
    assert "'c' -> 'b' -> 'a' -> 'c'" in str(record[0].message)


def test_off_records_nothing(checking, impl):
    lockutils = checking("raise")
    hook = impl._set_lock_order(None)
    assert hook is not None
    impl._set_lock_order(hook)
    checking(None)
    assert _lockorder.checker is None
    assert impl._set_lock_order(None) is None  # no hook in the core
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nest(lockutils, "a", "b")
        nest(lockutils, "b", "a")
    # Turned on again, the earlier orders are unknown.
    checking("raise")
    nest(lockutils, "b", "a")
    assert _lockorder.checker is not None
    assert _lockorder.checker.edges == 1


def test_actual_deadlock_raises_in_one_thread(checking):
    """Two threads each hold a lock the other waits for: without the
    checker both would wait forever (same class: the order graph cannot
    tell, the wait-for graph can)."""
    lockutils = checking("raise")
    first, second = ("instance-%s" % uuid.uuid4() for _ in range(2))
    both_hold = threading.Barrier(2, timeout=JOIN)
    outcome = {}

    def take(mine, theirs):
        try:
            with lockutils.lock(mine):
                both_hold.wait()
                with lockutils.lock(theirs):
                    outcome[mine] = "acquired"
        except lockutils.LockOrderError as exc:
            outcome[mine] = exc
            outcome[mine, "held"] = lockutils.held_locks()

    threads = [threading.Thread(target=take, args=pair, daemon=True)
               for pair in ((first, second), (second, first))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN)
    if any(t.is_alive() for t in threads):
        for name in (first, second):  # unstick them before failing
            lockutils.lock(name).release()
        pytest.fail("deadlocked")
    errors = [v for v in outcome.values()
              if isinstance(v, lockutils.LockOrderError)]
    assert len(errors) == 1, outcome
    assert sorted(outcome.values(), key=str).count("acquired") == 1
    message = str(errors[0])
    assert message.startswith("Deadlock")
    assert first in message and second in message
    assert outcome[first, "held"] == [] or outcome[second, "held"] == []


def test_waiting_for_a_lock_you_hold_raises(checking):
    lockutils = checking("raise")

    def twice():
        with lockutils.lock("a"):
            with lockutils.lock("a"):
                pass

    error = in_thread(twice)
    assert isinstance(error, lockutils.LockOrderError)
    assert "waits for 'a', held by thread" in str(error)


def test_per_object_locks_default_to_one_class(checking):
    lockutils = checking("raise")
    one, two = ("instance-%s" % uuid.uuid4() for _ in range(2))
    # Two instance locks nested either way: not an order problem.
    nest(lockutils, one, two)
    nest(lockutils, two, one)
    # But instance -> b and b -> (another) instance is one.
    nest(lockutils, one, "b")
    with pytest.raises(lockutils.LockOrderError) as info:
        nest(lockutils, "b", two)
    assert "(class 'instance-<uuid>')" in str(info.value)
    assert two in str(info.value)
    assert lockutils.default_lock_class(one) == "instance-<uuid>"
    assert lockutils.default_lock_class("pool1") == "pool1"
    assert lockutils.default_lock_class(("any", 1)) == ("any", 1)


def test_classify_maps_names_to_classes(checking):
    lockutils = checking("raise", classify=lambda name: name)
    one, two = ("instance-%s" % uuid.uuid4() for _ in range(2))
    nest(lockutils, one, two)
    with pytest.raises(lockutils.LockOrderError):
        nest(lockutils, two, one)
    checking("raise", classify=lambda name: name.rstrip("0123456789"))
    nest(lockutils, "pool1", "b")
    with pytest.raises(lockutils.LockOrderError):
        nest(lockutils, "b", "pool2")


def test_bad_arguments(lockutils):
    before = _lockorder.checker
    with pytest.raises(ValueError, match="'warn' or 'raise'"):
        lockutils.set_lock_order_checking("error")
    with pytest.raises(TypeError, match="classify must be callable"):
        lockutils.set_lock_order_checking("warn", classify="name")
    assert _lockorder.checker is before  # unchanged


def test_fair_locks(checking):
    lockutils = checking("raise")
    with lockutils.lock("f", fair=True):
        with lockutils.lock("b"):
            pass
    with lockutils.lock("b"):
        with pytest.raises(lockutils.LockOrderError):
            with lockutils.lock("f", fair=True):
                pass
        assert lockutils.internal_fair_lock("f").owner is None
        assert lockutils.held_locks() == ["b"]
    # The reentrant write lock is no new acquisition.
    with lockutils.lock("f", fair=True):
        with lockutils.lock("f", fair=True):
            with lockutils.lock("b"):
                pass


def test_external_locks(checking, lock_path):
    lockutils = checking("raise")

    def both(**kwargs):
        with lockutils.lock("x", external=True, lock_path=lock_path,
                            **kwargs):
            with lockutils.lock("y"):
                # Re-entering your own external lock is no inversion.
                again = lockutils.external_lock("x", lock_path=lock_path)
                with again:
                    pass

    both()
    both(timeout=5)  # the general _Lock path
    for kwargs in ({}, {"timeout": 5}):
        with lockutils.lock("y"):
            with pytest.raises(lockutils.LockOrderError):
                with lockutils.lock("x", external=True, lock_path=lock_path,
                                    **kwargs):
                    pass
            assert lockutils.held_locks() == ["y"]
    # Nothing left held: another thread takes the external lock at once.
    assert in_thread(both, timeout=1) is None


def _run(code, **env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env}, capture_output=True, text=True,
        timeout=60,
    )


INVERT = """
    from fastlock import lockutils
    for names in (("a", "b"), ("b", "a")):
        with lockutils.lock(names[0]):
            with lockutils.lock(names[1]):
                pass
    print("not reported")
"""


def test_environment_variable(impl_name):
    flag = "1" if impl_name == "py" else ""
    proc = _run(INVERT, FASTLOCK_LOCK_ORDER="raise",
                FASTLOCK_NO_EXTENSIONS=flag)
    assert "fastlock._lockorder.LockOrderError" in proc.stderr, proc.stderr
    proc = _run(INVERT, FASTLOCK_LOCK_ORDER="", FASTLOCK_NO_EXTENSIONS=flag)
    assert proc.stdout == "not reported\n", proc.stderr
    proc = _run(INVERT, FASTLOCK_LOCK_ORDER="loud")
    assert "FASTLOCK_LOCK_ORDER must be 'warn' or 'raise'" in proc.stderr


def test_pytest_option(tmp_path):
    test = tmp_path / "test_inverts.py"
    test.write_text(textwrap.dedent("""
        import pytest
        import fastlock
        from fastlock import lockutils

        def test_inverts():
            with lockutils.lock("a"):
                with lockutils.lock("b"):
                    pass
            with lockutils.lock("b"):
                with pytest.raises(fastlock.LockOrderError):
                    with lockutils.lock("a"):
                        pass
    """))
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            str(test)]
    proc = subprocess.run(args + ["--fastlock-lock-order=raise"],
                          capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
