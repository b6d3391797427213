"""Model-based and property tests (hypothesis).

Several OS threads (actors) drive one Semaphores container through random
non-blocking, timed and releasing calls; after every step the result, every
actor's held_locks() and each lock's state must match a simple model:
one owner per name, a held list per actor."""

from __future__ import annotations

import queue
import threading

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

ACTORS = 3
NAMES = ("a", "b", "c")


class _Actor:
    """An OS thread that runs one call at a time on request."""

    def __init__(self):
        self._calls: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            fn = self._calls.get()
            if fn is None:
                return
            try:
                self._results.put((True, fn()))
            except Exception as exc:  # handed back to the test
                self._results.put((False, exc))

    def call(self, fn):
        self._calls.put(fn)
        ok, value = self._results.get(timeout=30)
        if not ok:
            raise value
        return value

    def stop(self):
        self._calls.put(None)
        self._thread.join(10)


def _machine(lockutils):
    class LockModel(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.sems = lockutils.Semaphores()
            self.actors = [_Actor() for _ in range(ACTORS)]
            self.owner: dict[str, int] = {}
            self.held: list[list[str]] = [[] for _ in range(ACTORS)]

        def teardown(self):
            for actor, names in zip(self.actors, self.held, strict=True):
                for name in reversed(names):
                    actor.call(self.sems.get(name).release)
                actor.stop()

        @rule(who=st.integers(0, ACTORS - 1), name=st.sampled_from(NAMES),
              timed=st.booleans())
        def try_acquire(self, who, name, timed):
            kwargs = {"timeout": 0.001} if timed else {"blocking": False}

            def attempt():
                try:
                    with_lock = lockutils.internal_lock(name, self.sems, **kwargs)
                    with_lock.__enter__()
                    return True
                except lockutils.AcquireLockFailedException:
                    return False

            got = self.actors[who].call(attempt)
            assert got == (name not in self.owner)
            if got:
                self.owner[name] = who
                self.held[who].append(name)

        @precondition(lambda self: self.owner)
        @rule(data=st.data())
        def release(self, data):
            name = data.draw(st.sampled_from(sorted(self.owner)))
            who = self.owner.pop(name)
            self.actors[who].call(self.sems.get(name).release)
            self.held[who].remove(name)

        @rule(who=st.integers(0, ACTORS - 1), name=st.sampled_from(NAMES))
        def release_unheld(self, who, name):
            if name in self.owner:
                return
            with pytest.raises(ValueError):
                self.actors[who].call(self.sems.get(name).release)

        @invariant()
        def matches_model(self):
            for who, actor in enumerate(self.actors):
                assert actor.call(lockutils.held_locks) == self.held[who]
            for name in NAMES:
                assert self.sems.get(name).locked() == (name in self.owner)

    return LockModel


def test_lock_state_machine(lockutils, stress_scale):
    machine = _machine(lockutils)
    machine.TestCase.settings = settings(
        max_examples=30 * stress_scale, stateful_step_count=25,
        deadline=None, suppress_health_check=list(HealthCheck),
    )
    machine.TestCase().runTest()


_names = st.one_of(
    st.text(min_size=1, max_size=300),
    st.text(alphabet="/\0.-_ ", min_size=1, max_size=20),
)


@settings(max_examples=200, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(name=_names)
def test_any_str_is_a_valid_internal_name(lockutils, name):
    with lockutils.lock(name):
        assert lockutils.held_locks() == [name]
        assert not lockutils.internal_lock(name).acquire(blocking=False)
    assert lockutils.held_locks() == []


@settings(max_examples=100, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(name=st.one_of(st.none(), st.integers(), st.binary(), st.floats(),
                      st.tuples(st.text(), st.integers()), st.just("")))
def test_any_hashable_is_a_valid_internal_name(lockutils, name):
    # As in oslo: names are keys of a dict; equal names share a lock.
    with lockutils.lock(name):
        assert lockutils.held_locks() == [name]
        assert not lockutils.internal_lock(name).acquire(blocking=False)
    assert lockutils.held_locks() == []


@settings(max_examples=50, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(name=st.lists(st.text()))
def test_unhashable_names_get_clear_errors(lockutils, name):
    with pytest.raises(TypeError, match="unhashable"):
        lockutils.lock(name).__enter__()
