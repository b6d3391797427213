"""A native thread that runs a hub ends while one of its green threads
waits for a lock.

That green thread never runs again.  A release must not hand it the lock
(or, unfair, the wake-up for a freed permit): its turn goes to the next
waiter, and the name stays usable, as it does with oslo.concurrency.
"""
import eventlet

eventlet.monkey_patch()

from _common import check_implementation  # noqa: E402
from eventlet import patcher  # noqa: E402

from fastlock import _core, lockutils  # noqa: E402

check_implementation()
real_threading = patcher.original("threading")
real_time = patcher.original("time")


def orphan_a_waiter(lock):
    def run():
        eventlet.spawn(lock.acquire)  # never returns: its thread ends
        eventlet.sleep(0.05)

    t = real_threading.Thread(target=run)
    t.start()
    t.join()
    assert lock.waiting == 1


def queue_behind_the_orphan(lock):
    # A green thread that waits (up to 5 s) behind the orphan; wait() on
    # it says whether it got the lock.
    waiter = eventlet.spawn(lock.acquire, timeout=5)
    while lock.waiting < 2:
        eventlet.sleep(0.001)
    return waiter


for label, lock in [
    ("facade", lockutils.internal_lock("orphaned")),
    ("fair", _core.core.Semaphore(fair=True)),
    ("unfair", _core.core.Semaphore(fair=False)),
]:
    lock.acquire()
    orphan_a_waiter(lock)
    # The next waiter, queued behind the orphan, gets the lock.
    next_waiter = queue_behind_the_orphan(lock)
    start = real_time.monotonic()
    lock.release()
    assert next_waiter.wait(), "%s: the orphan kept the lock" % label
    assert real_time.monotonic() - start < 3, label
    lock.release()
    # Released with no one queued but an orphan: a native thread later on
    # gets the lock.
    lock.acquire()
    orphan_a_waiter(lock)
    lock.release()
    result = []
    t = real_threading.Thread(
        target=lambda lock=lock, result=result: result.append(
            lock.acquire(timeout=5)))
    t.start()
    t.join()
    assert result == [True], "%s: the name is dead" % label
    lock.release()
    assert lockutils.held_locks() == []

    # Released while the thread still runs, but it ends before its hub
    # resumes the waiter (blocked natively meanwhile): the turn still
    # goes on when the thread ends.
    lock.acquire()
    queued, released = real_threading.Event(), real_threading.Event()

    def run(lock=lock, queued=queued, released=released):
        eventlet.spawn(lock.acquire)
        eventlet.sleep(0.05)
        queued.set()
        released.wait(10)  # natively: this hub never runs again

    t = real_threading.Thread(target=run)
    t.start()
    queued.wait(10)
    next_waiter = queue_behind_the_orphan(lock)
    lock.release()  # posted to the orphan's hub, which never drains it
    released.set()
    t.join()
    assert next_waiter.wait(), "%s: the lock died with the thread" % label
    lock.release()
    assert lockutils.held_locks() == []

    # The thread itself hands the lock to its green waiter (a wake-up
    # through its hub's timers) and ends before the hub runs it.
    queued = real_threading.Event()
    go = real_threading.Event()

    def run(lock=lock, queued=queued, go=go):
        lock.acquire()
        eventlet.spawn(lock.acquire)
        eventlet.sleep(0.05)
        queued.set()
        go.wait(10)
        lock.release()  # to the green waiter, which never runs

    t = real_threading.Thread(target=run)
    t.start()
    queued.wait(10)
    next_waiter = queue_behind_the_orphan(lock)
    go.set()
    t.join()
    assert next_waiter.wait(), "%s: the lock died with the thread" % label
    lock.release()
    assert lockutils.held_locks() == []
print("OK")
