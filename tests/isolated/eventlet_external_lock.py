"""Green threads and external locks: waiting for a lock held by another
process parks only the waiting green thread; the hub keeps running."""
import eventlet

eventlet.monkey_patch()

import tempfile  # noqa: E402

from _common import check_implementation, hold_with_lockf  # noqa: E402
from eventlet import patcher  # noqa: E402

from fastlock import lockutils  # noqa: E402

check_implementation()
real_time = patcher.original("time")
lock_path = tempfile.mkdtemp()

holder = hold_with_lockf(lock_path + "/shared", 1)

ticks = []


def ticker():
    while True:
        ticks.append(1)
        eventlet.sleep(0.01)


tick = eventlet.spawn(ticker)
eventlet.sleep(0)

# A green waiter with a timeout gives up in time...
start = real_time.monotonic()
try:
    with lockutils.lock("shared", external=True, lock_path=lock_path,
                        timeout=0.1):
        raise AssertionError("acquired a lock held by another process")
except lockutils.AcquireLockFailedException:
    pass
assert 0.09 <= real_time.monotonic() - start < 5

# ...and one without waits (~1 s) while the ticker keeps ticking.
before = len(ticks)
start = real_time.monotonic()
with lockutils.lock("shared", external=True, lock_path=lock_path):
    waited = real_time.monotonic() - start
assert waited > 0.3, waited
assert len(ticks) - before >= 20, "the hub was blocked while waiting"
holder.wait()

# Green threads of this process exclude each other on the external lock.
state = {"count": 0, "inside": 0, "max": 0}


def work():
    for _ in range(20):
        with lockutils.lock("green", external=True, lock_path=lock_path):
            state["inside"] += 1
            state["max"] = max(state["max"], state["inside"])
            value = state["count"]
            eventlet.sleep(0)
            state["count"] = value + 1
            state["inside"] -= 1


pool = [eventlet.spawn(work) for _ in range(20)]
for g in pool:
    g.wait()
assert state == {"count": 400, "inside": 0, "max": 1}, state

# A green waiter killed while the kernel wait runs in its helper: the
# helper lets go once granted, and the lock stays usable.
holder = hold_with_lockf(lock_path + "/killed", 0.5)
ext = lockutils.external_lock("killed", lock_path=lock_path)
victim = eventlet.spawn(ext.acquire)
eventlet.sleep(0.1)
victim.kill()
assert not ext.acquired
holder.wait()
assert ext.acquire(timeout=10)
ext.release()

# Green threads and a native thread share one external lock.
real_threading = patcher.original("threading")
state = {"count": 0, "inside": 0, "max": 0}


def critical(switch):
    state["inside"] += 1
    state["max"] = max(state["max"], state["inside"])
    value = state["count"]
    switch()
    state["count"] = value + 1
    state["inside"] -= 1


def native():
    for _ in range(50):
        with lockutils.external_lock("mixed", lock_path=lock_path):
            critical(lambda: real_time.sleep(0.0005))


def green():
    for _ in range(50):
        with lockutils.lock("mixed", external=True, lock_path=lock_path):
            critical(lambda: eventlet.sleep(0))


native_thread = real_threading.Thread(target=native)
native_thread.start()
pool = [eventlet.spawn(green) for _ in range(3)]
for g in pool:
    g.wait()
while native_thread.is_alive():
    eventlet.sleep(0.01)
assert state == {"count": 200, "inside": 0, "max": 1}, state
tick.kill()
print("OK")
