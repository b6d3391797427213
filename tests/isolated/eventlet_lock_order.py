"""Lock-order checking between green threads: an inversion seen by two
green threads at different times, and an actual deadlock between two
green threads, which raises in one of them instead of hanging the hub.
"""
import eventlet

eventlet.monkey_patch()

import uuid  # noqa: E402

from _common import check_implementation  # noqa: E402

import fastlock  # noqa: E402
from fastlock import lockutils  # noqa: E402

check_implementation()
lockutils.set_lock_order_checking("raise")


def nest(first, second):
    with lockutils.lock(first):
        eventlet.sleep(0)  # let the other green thread run in between
        with lockutils.lock(second):
            eventlet.sleep(0)


# An inversion: one green thread a -> b, later another b -> a.
eventlet.spawn(nest, "a", "b").wait()
try:
    eventlet.spawn(nest, "b", "a").wait()
except fastlock.LockOrderError as exc:
    assert "'b' -> 'a' -> 'b'" in str(exc), exc
else:
    raise AssertionError("inversion not reported")
assert lockutils.held_locks() == []

# An actual deadlock: each holds one instance lock and waits for the
# other's (one lock class, so only the wait-for graph can tell).
first, second = ("instance-%s" % uuid.uuid4() for _ in range(2))
outcome = {}


def take(mine, theirs):
    try:
        nest(mine, theirs)
        outcome[mine] = "acquired"
    except fastlock.LockOrderError as exc:
        outcome[mine] = exc
        assert lockutils.held_locks() == []


threads = [eventlet.spawn(take, first, second),
           eventlet.spawn(take, second, first)]
with eventlet.Timeout(20):  # rather than hanging if not caught
    for t in threads:
        t.wait()
errors = [v for v in outcome.values() if isinstance(v, Exception)]
assert len(errors) == 1, outcome
assert "acquired" in outcome.values(), outcome
assert str(errors[0]).startswith("Deadlock"), errors[0]
assert "green thread" in str(errors[0]), errors[0]

# Consistent orders from many green threads: never reported.
state = {"count": 0}


def consistent():
    for _ in range(50):
        with lockutils.lock("x"):
            with lockutils.lock("y"):
                value = state["count"]
                eventlet.sleep(0)
                state["count"] = value + 1


pool = [eventlet.spawn(consistent) for _ in range(10)]
for t in pool:
    t.wait()
assert state["count"] == 500, state
print("OK")
