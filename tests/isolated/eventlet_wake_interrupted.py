"""A signal handler raising while a release wakes a green waiter.

A release hands the permit to the oldest green waiter, then asks the hub
to resume it (``hub.schedule_call_global``, Python code).  A signal
handler that raises in there must not leave the permit with a green
thread that sleeps forever: the exception reaches the releaser, the
waiter is resumed all the same, and the name stays usable.  Waiters wait
without a timeout, so no timer can rescue a lost wake-up.
"""
import signal

import eventlet

eventlet.monkey_patch()

from _common import check_implementation  # noqa: E402
from eventlet import hubs, patcher  # noqa: E402

from fastlock import _core, lockutils  # noqa: E402

check_implementation()
real_time = patcher.original("time")
hub = hubs.get_hub()
schedule = hub.schedule_call_global


class Interrupted(Exception):
    pass


def interrupt(signum, frame):
    raise Interrupted


signal.signal(signal.SIGUSR1, interrupt)
armed = []


def flaky_schedule(seconds, callback, *args, **kwargs):
    # The signal arrives while the hub schedules a waiter's resume: its
    # handler raises before ("before") or after ("after") the timer is set.
    if armed and getattr(callback, "__name__", "") == "resume":
        when = armed.pop()
        if when == "after":
            schedule(seconds, callback, *args, **kwargs)
        signal.raise_signal(signal.SIGUSR1)
    return schedule(seconds, callback, *args, **kwargs)


hub.schedule_call_global = flaky_schedule


def wait_for(predicate, what):
    deadline = real_time.monotonic() + 5
    while not predicate():
        assert real_time.monotonic() < deadline, what
        eventlet.sleep(0.01)


def locker(lock, got):
    lock.acquire()  # no timeout: only a wake-up gets us out
    got.append(1)
    eventlet.sleep(0.01)
    lock.release()


def check_usable(lock, label):
    assert lock.acquire(timeout=5), "%s: the name is dead" % label
    lock.release()


# A release interrupted while waking the next owner.
for label, lock in [
    ("facade", lockutils.internal_lock("wake-interrupted")),
    ("fair", _core.core.Semaphore(fair=True)),
    ("unfair", _core.core.Semaphore(fair=False)),
]:
    for when in ("before", "after"):
        got = []
        lock.acquire()
        g = eventlet.spawn(locker, lock, got)
        wait_for(lambda lock=lock: lock.waiting == 1, "locker did not queue")
        armed.append(when)
        try:
            lock.release()
        except Interrupted:
            pass
        else:
            raise AssertionError("the signal handler did not run")
        assert not armed
        wait_for(lambda got=got: got == [1], "%s/%s: owner sleeps" % (label, when))
        g.wait()
        check_usable(lock, label)

# A granted waiter killed before it ran hands the permit on; that wake-up
# is interrupted in turn.
for when in ("before", "after"):
    lock = _core.core.Semaphore()
    first, second = [], []
    lock.acquire()
    g1 = eventlet.spawn(locker, lock, first)
    wait_for(lambda lock=lock: lock.waiting == 1, "first locker did not queue")
    g2 = eventlet.spawn(locker, lock, second)
    wait_for(lambda lock=lock: lock.waiting == 2, "second locker did not queue")
    lock.release()  # granted to g1, which has not run yet
    armed.append(when)
    g1.kill()  # g1 gives the permit on to g2 while it dies
    try:
        g1.wait()
    except Interrupted:
        pass
    else:
        raise AssertionError("g1 did not see the signal handler's exception")
    assert not armed, "g1's hand-off did not wake anyone"
    wait_for(lambda second=second: second == [1], "abandon/%s: owner sleeps" % when)
    g2.wait()
    assert first == []
    check_usable(lock, "abandon")

# A timed wait interrupted once its timeout timer is set: when that timer
# fires later it must not resume the green thread, which by then is
# somewhere else (here: sleeping).
lock = _core.core.Semaphore()
lock.acquire()
slept = []


def timed_then_sleep():
    armed.append("after")
    try:
        lock.acquire(timeout=0.05)
    except Interrupted:
        pass
    else:
        raise AssertionError("the signal handler did not run")
    start = real_time.monotonic()
    eventlet.sleep(0.5)
    slept.append(real_time.monotonic() - start)


g = eventlet.spawn(timed_then_sleep)
g.wait()
assert not armed
assert lock.waiting == 0
assert slept[0] >= 0.45, "a stale timer cut a sleep short: %.3f s" % slept[0]
lock.release()
check_usable(lock, "timed")

hub.schedule_call_global = schedule
print("OK")
