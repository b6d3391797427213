"""fastlock imported *before* ``eventlet.monkey_patch()``.

monkey_patch() replaces ``os.read``, ``os.write``, ``_thread.allocate_lock``
and others in place, in the very module objects fastlock looked up at
import.  A core that calls them through the module later gets the green
versions: the hub's waker would run the green ``os.read`` inside the hub,
eventlet would drop it, and green threads released by native threads
would never wake.  The cores keep the functions as they were at import.
"""
import os
import sys

from fastlock import lockutils

assert "eventlet" not in sys.modules, "this scenario needs eventlet unimported"

import eventlet  # noqa: E402

eventlet.monkey_patch()

from _common import check_implementation  # noqa: E402
from eventlet import patcher  # noqa: E402

check_implementation()
assert os.read is not patcher.original("os").read, "os.read was not patched"
real_threading = patcher.original("threading")
real_time = patcher.original("time")
eventlet.sleep(0)  # start this thread's hub: the waiters park on it

ROUNDS = 20
GREENS = 3
lock = lockutils.internal_lock("imported-first")
held = real_threading.Event()
go = real_threading.Event()
woken = []


def native_holder():
    # Take the lock while green threads wait, then let them through,
    # round after round: every wake-up crosses from this native thread.
    for _ in range(ROUNDS):
        lock.acquire()
        held.set()
        go.wait(5)
        go.clear()
        real_time.sleep(0.005)
        lock.release()


def green_waiter(i):
    for _ in range(ROUNDS):
        start = real_time.monotonic()
        assert lock.acquire(timeout=5), "green waiter not woken"
        woken.append(real_time.monotonic() - start)
        lock.release()
        eventlet.sleep(0.001)


t = real_threading.Thread(target=native_holder)
t.start()
greens = [eventlet.spawn(green_waiter, i) for i in range(GREENS)]
while t.is_alive():
    if held.is_set():
        held.clear()
        eventlet.sleep(0.002)  # let the green threads queue behind it
        go.set()
    eventlet.sleep(0.001)
for g in greens:
    g.wait()
assert len(woken) == ROUNDS * GREENS, len(woken)
# Woken by the releases, not rescued by their 5 s timers.
assert max(woken) < 3, "green waiter not woken: %.1f s" % max(woken)
print("OK")
