"""The core semaphore, against both implementations (``impl`` fixture)."""

from __future__ import annotations

import sys
import threading
import time

import pytest


def _hammer(sem, threads=8, rounds=300):
    """Run a read-yield-write critical section from many threads.

    Without exclusion the sleep(0) between read and write loses updates
    and lets two threads inside at once; both are recorded.
    """
    state = {"count": 0, "inside": 0, "max_inside": 0}

    def work():
        for _ in range(rounds):
            with sem:
                state["inside"] += 1
                state["max_inside"] = max(state["max_inside"], state["inside"])
                value = state["count"]
                time.sleep(0)
                state["count"] = value + 1
                state["inside"] -= 1

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
        assert not t.is_alive(), "a worker hung"
    return state


@pytest.mark.parametrize("fair", [False, True])
def test_mutual_exclusion_threads(impl, fair):
    state = _hammer(impl.Semaphore(fair=fair))
    assert state == {"count": 8 * 300, "inside": 0, "max_inside": 1}


def test_registry_default_mode_excludes_with_tight_critical_section(impl):
    # The default (barging) mode, with and without a GIL release inside:
    # the running thread takes the permit again and again, so lost
    # updates would show if a release let a woken waiter in as well.
    sem = impl.Registry().get("tight")
    assert not sem.fair
    state = {"count": 0}

    def work():
        for _ in range(3000):
            with sem:
                value = state["count"]
                state["count"] = value + 1

    workers = [threading.Thread(target=work) for _ in range(16)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
        assert not t.is_alive(), "a worker hung"
    assert state["count"] == 16 * 3000
    assert (sem.value, sem.waiting) == (1, 0)
    assert _hammer(sem, threads=16) == {
        "count": 16 * 300, "inside": 0, "max_inside": 1}


@pytest.mark.parametrize("value", [2, 3])
def test_barging_counting_semaphore_with_timeouts_loses_no_wakeup(
        impl, value):
    # Waiters that give up (timeouts) while woken or queued must pass on
    # what they were given: afterwards every permit is back and every
    # blocking acquire got through.
    sem = impl.Semaphore(value, fair=False)
    state = {"inside": 0, "peak": 0, "timed_out": 0, "got": 0}

    def work(i):
        for n in range(200):
            timeout = 0.0005 * (n % 3) if i % 2 else None
            if not sem.acquire(timeout=timeout):
                state["timed_out"] += 1
                continue
            state["inside"] += 1
            state["peak"] = max(state["peak"], state["inside"])
            time.sleep(0)
            state["inside"] -= 1
            state["got"] += 1
            sem.release()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
        assert not t.is_alive(), "a worker hung: a wake-up was lost"
    assert state["peak"] <= value
    assert state["got"] + state["timed_out"] == 12 * 200
    assert state["got"] >= 6 * 200  # the blocking half always gets it
    assert (sem.value, sem.waiting) == (value, 0)


@pytest.fixture
def no_forced_switch():
    # With a huge switch interval the GIL changes hands only when its
    # holder blocks: a thread that barges back in after each release then
    # never lets a waiter run, unless a release hands the permit over.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    yield
    sys.setswitchinterval(previous)


def test_release_hands_over_to_a_waiter_that_waited_long(
        impl, no_forced_switch):
    sem = impl.Semaphore(fair=False)
    sem.acquire()
    got = []
    t = threading.Thread(target=lambda: got.append(sem.acquire()))
    t.start()
    while sem.waiting == 0:
        time.sleep(0.001)
    time.sleep(60 * impl.HAND_OFF_AFTER)  # a lone waiter: 12x its limit
    sem.release()
    # The waiter waited longer than its limit: the permit is its
    # own now, before it even runs, and a barging acquire fails.
    assert not sem.acquire(blocking=False)
    t.join(10)
    assert got == [True]
    sem.release()
    assert (sem.value, sem.waiting) == (1, 0)


@pytest.mark.parametrize("queued", [1, 2, 4, 12])
def test_no_hand_off_limit_nears_the_gil_switch_interval(
        impl, no_forced_switch, queued):
    # Whatever the queue's length, the oldest waiter is handed the permit
    # once it has waited 0.5 ms (the longest limit).  A limit near the
    # GIL's 5 ms switch interval let a woken waiter force the barging
    # thread off the GIL, which doubled the waits.
    sem = impl.Semaphore(fair=False)
    sem.acquire()
    order = []

    def waiter(i):
        with sem:
            order.append(i)

    threads = []
    for i in range(queued):
        threads.append(threading.Thread(target=waiter, args=(i,)))
        threads[-1].start()
        while sem.waiting <= i:  # queued in this order
            time.sleep(0.0005)
    time.sleep(0.0006)
    sem.release()
    # Handed over before any waiter runs (the switch interval is huge):
    # a barging acquire fails.
    barged = sem.acquire(blocking=False)
    if barged:
        sem.release()  # let the waiters finish before failing
    for t in threads:
        t.join(10)
    assert not barged, "no hand-over after %d waiters waited 0.6 ms" % queued
    assert order[0] == 0, "the permit went to a younger waiter"
    assert sorted(order) == list(range(queued))
    assert (sem.value, sem.waiting) == (1, 0)


@pytest.mark.parametrize("registry", [False, True])
def test_barging_thread_cannot_starve_a_waiter(
        impl, no_forced_switch, registry):
    # The main thread releases and takes the lock again in a loop without
    # ever blocking; with the GIL never forced away, a waiter gets in only
    # if a release hands the permit to it.  Plain barging would finish all
    # the rounds with the waiter still waiting.
    if registry:
        sem = impl.Registry().get("starve")
    else:
        sem = impl.Semaphore(fair=False)
    rounds = 200_000
    state = {"round": 0, "waiter_in_round": None}

    def waiter():
        with sem:
            state["waiter_in_round"] = state["round"]

    sem.acquire()
    t = threading.Thread(target=waiter)
    t.start()
    while sem.waiting == 0:
        time.sleep(0.001)
    for i in range(rounds):
        state["round"] = i
        sem.release()
        sem.acquire()
        if state["waiter_in_round"] is not None:
            break
    sem.release()
    t.join(10)
    assert state["waiter_in_round"] is not None
    assert state["waiter_in_round"] < rounds - 1, "the waiter starved"


def test_counting_semaphore_admits_exactly_value(impl):
    sem = impl.Semaphore(3)
    inside = []
    peak = []
    gate = threading.Event()

    def work():
        with sem:
            inside.append(1)
            peak.append(len(inside))
            gate.wait(0.05)
            time.sleep(0.01)
            inside.pop()

    workers = [threading.Thread(target=work) for _ in range(9)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(30)
    assert max(peak) == 3
    assert sem.value == 3


def test_nonblocking_and_timeout(impl):
    sem = impl.Semaphore()
    assert sem.acquire(blocking=False)
    assert sem.locked()
    assert not sem.acquire(blocking=False)
    assert not sem.acquire(timeout=0)
    start = time.monotonic()
    assert not sem.acquire(timeout=0.2)
    assert time.monotonic() - start >= 0.15
    assert sem.waiting == 0, "a timed-out waiter stayed queued"
    sem.release()
    assert not sem.locked()


def test_timed_waiter_gets_lock_released_in_time(impl):
    sem = impl.Semaphore()
    sem.acquire()
    result = []
    t = threading.Thread(target=lambda: result.append(sem.acquire(timeout=10)))
    t.start()
    while sem.waiting == 0:
        time.sleep(0.001)
    sem.release()
    t.join(10)
    assert result == [True]
    sem.release()


@pytest.mark.parametrize("fair", [False, True])
def test_waiters_are_served_in_arrival_order(impl, fair):
    # Unfair semaphores still wake in FIFO order; with no newcomer to
    # barge in, the order of service is the arrival order for both.
    sem = impl.Semaphore(fair=fair)
    sem.acquire()
    order = []

    def work(i):
        with sem:
            order.append(i)

    workers = []
    for i in range(6):
        t = threading.Thread(target=work, args=(i,))
        t.start()
        workers.append(t)
        while sem.waiting < i + 1:
            time.sleep(0.001)
    sem.release()
    for t in workers:
        t.join(10)
    assert order == list(range(6))


def test_fair_hand_off_does_not_let_a_newcomer_barge(impl):
    sem = impl.Semaphore(fair=True)
    sem.acquire()
    got = []
    t = threading.Thread(target=lambda: got.append(sem.acquire()))
    t.start()
    while sem.waiting == 0:
        time.sleep(0.001)
    sem.release()
    # The permit now belongs to the waiter, even before it runs.
    assert not sem.acquire(blocking=False)
    t.join(10)
    assert got == [True]
    sem.release()


def test_exception_in_critical_section_releases(impl):
    sem = impl.Semaphore()
    with pytest.raises(KeyError):
        with sem:
            raise KeyError("boom")
    assert sem.acquire(blocking=False)
    sem.release()


def test_release_too_many_times(impl):
    sem = impl.Semaphore()
    with pytest.raises(ValueError, match="released too many times"):
        sem.release()
    sem.acquire()
    sem.release()
    with pytest.raises(ValueError, match="released too many times"):
        sem.release()


def test_release_from_another_thread_is_semaphore_semantics(impl):
    # Like threading.Semaphore (what oslo hands out), a permit may be
    # released by a thread other than the one that took it.
    sem = impl.Semaphore()
    sem.acquire()
    t = threading.Thread(target=sem.release)
    t.start()
    t.join(10)
    assert sem.acquire(blocking=False)
    sem.release()


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"timeout": -1}, ValueError),
        ({"timeout": float("nan")}, ValueError),
        ({"timeout": "soon"}, TypeError),
        ({"blocking": False, "timeout": 1}, ValueError),
    ],
)
def test_bad_acquire_arguments(impl, kwargs, error):
    sem = impl.Semaphore()
    sem.acquire()
    with pytest.raises(error):
        sem.acquire(**kwargs)
    sem.release()
    assert sem.value == 1


def test_infinite_timeout_means_wait(impl):
    sem = impl.Semaphore()
    assert sem.acquire(timeout=float("inf"))
    sem.release()


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError),
                                          ("1", TypeError), (1.5, TypeError)])
def test_bad_initial_value(impl, value, error):
    with pytest.raises(error):
        impl.Semaphore(value)


@pytest.mark.parametrize("timeout", [3e6, 1e10, 1e300])
def test_timeout_beyond_timeout_max_is_a_long_wait(impl, timeout):
    # Beyond threading.TIMEOUT_MAX: a wait that ends at its deadline (here:
    # a release), never an OverflowError.
    sem = impl.Semaphore()
    sem.acquire()
    timer = threading.Timer(0.2, sem.release)
    timer.start()
    assert sem.acquire(timeout=timeout)
    timer.join(10)
    sem.release()


def test_a_wait_longer_than_one_park_parks_again(impl, monkeypatch):
    # With parks shortened to 20 ms, a 0.3 s wait takes many parks and
    # still ends at its deadline, and a release still ends it early.
    monkeypatch.setattr(impl, "_LONGEST_PARK", 0.02)
    sem = impl.Semaphore()
    sem.acquire()
    start = time.monotonic()
    assert not sem.acquire(timeout=0.3)
    assert 0.29 <= time.monotonic() - start < 10
    timer = threading.Timer(0.2, sem.release)
    timer.start()
    assert sem.acquire(timeout=30)
    timer.join(10)
    sem.release()
