"""Green threads on one name: exclusion, FIFO, timeouts, kills, held list."""
import eventlet

eventlet.monkey_patch()

import time  # noqa: E402

from _common import check_implementation  # noqa: E402

from fastlock import lockutils  # noqa: E402

check_implementation()


def exclusion(n, **lock_kwargs):
    state = {"count": 0, "inside": 0, "max": 0}

    def work():
        with lockutils.lock("one", **lock_kwargs):
            state["inside"] += 1
            state["max"] = max(state["max"], state["inside"])
            value = state["count"]
            eventlet.sleep(0)  # let every other green thread try to enter
            state["count"] = value + 1
            state["inside"] -= 1

    threads = [eventlet.spawn(work) for _ in range(n)]
    for t in threads:
        t.wait()
    assert state == {"count": n, "inside": 0, "max": 1}, state


exclusion(1000)
exclusion(300, fair=True)
# ... through the core's fair writer (DEBUG is off here), by green thread.
assert type(lockutils.lock("one", fair=True)) is lockutils._core._FairWriter
exclusion(100, timeout=30)


# Counting: at most 3 inside, and 3 are reached.
sem = lockutils._core.Semaphore(3)
inside, peak = [0], [0]


def counted():
    with sem:
        inside[0] += 1
        peak[0] = max(peak[0], inside[0])
        eventlet.sleep(0.001)
        inside[0] -= 1


pool = [eventlet.spawn(counted) for _ in range(30)]
for t in pool:
    t.wait()
assert peak[0] == 3, peak


# FIFO: fair waiters are served in arrival order.
order = []


def fair_worker(i):
    with lockutils.lock("fifo", fair=True):
        order.append(i)


with lockutils.lock("fifo", fair=True):
    pool = [eventlet.spawn(fair_worker, i) for i in range(50)]
    eventlet.sleep(0.01)
for t in pool:
    t.wait()
assert order == list(range(50)), order


# The hub keeps running while a green thread waits.
ticks = []


def ticker():
    while True:
        ticks.append(1)
        eventlet.sleep(0.01)


tick = eventlet.spawn(ticker)
holder_in = eventlet.event.Event()


def slow_holder():
    with lockutils.lock("slow"):
        holder_in.send()
        eventlet.sleep(0.3)


h = eventlet.spawn(slow_holder)
holder_in.wait()
before = len(ticks)
with lockutils.lock("slow"):
    pass
assert len(ticks) - before >= 5, "hub blocked while waiting"
h.wait()


# Timeout of a green waiter.
h = eventlet.spawn(slow_holder)
holder_in = eventlet.event.Event()
h.kill()
h = eventlet.spawn(slow_holder)
holder_in.wait()
start = time.monotonic()
try:
    with lockutils.lock("slow", timeout=0.05):
        raise AssertionError("acquired a held lock")
except lockutils.AcquireLockFailedException:
    pass
assert time.monotonic() - start >= 0.04
h.wait()


# A killed waiter loses nothing: the next waiter still gets the lock,
# also when the kill lands after the permit was handed over.
for fair in (False, True):
    got = []

    def waiter(tag, fair=fair, got=got):
        with lockutils.lock("kill", fair=fair):
            got.append(tag)

    holder = lockutils.internal_fair_lock("kill") if fair else \
        lockutils.internal_lock("kill")
    holder.acquire()
    w1 = eventlet.spawn(waiter, "w1")
    w2 = eventlet.spawn(waiter, "w2")
    eventlet.sleep(0.01)
    holder.release()  # hands to / wakes w1, which has not run yet
    w1.kill()
    w2.wait()
    assert got == ["w2"], (fair, got)
    assert lockutils.internal_lock("kill").acquire(blocking=False)
    lockutils.internal_lock("kill").release()
    assert lockutils.internal_fair_lock("kill").acquire(blocking=False)
    lockutils.internal_fair_lock("kill").release()


# eventlet.Timeout raised inside the wait removes the waiter.
holder = lockutils.internal_lock("etimeout")
holder.acquire()
try:
    with eventlet.Timeout(0.02):
        with lockutils.lock("etimeout"):
            raise AssertionError("acquired a held lock")
except eventlet.Timeout:
    pass
assert holder.waiting == 0
holder.release()


# held_locks() is per green thread.
seen = {}


def holds(name, other_in, me_in):
    with lockutils.lock(name):
        me_in.send()
        other_in.wait()
        seen[name] = lockutils.held_locks()


a_in, b_in = eventlet.event.Event(), eventlet.event.Event()
ga = eventlet.spawn(holds, "a", b_in, a_in)
gb = eventlet.spawn(holds, "b", a_in, b_in)
ga.wait()
gb.wait()
assert seen == {"a": ["a"], "b": ["b"]}, seen
assert lockutils.held_locks() == []

tick.kill()
print("OK")
