"""One lock shared by green threads and a native OS thread.

eventlet's own Semaphore fails here ("cannot switch to a different
thread"); fastlock parks each waiter in its own way and wakes it from
either side.
"""
import eventlet

eventlet.monkey_patch()

from _common import check_implementation  # noqa: E402
from eventlet import patcher  # noqa: E402

from fastlock import lockutils  # noqa: E402

check_implementation()
real_threading = patcher.original("threading")
real_time = patcher.original("time")

# First contact, hub otherwise idle: a native releaser must wake a green
# waiter at once.  A hub with no file descriptors to watch sleeps in
# time.sleep() until its next timer, so a wake-up channel registered from
# the foreign thread is not seen: the acquire would time out.
first = lockutils.internal_lock("first-contact")
first_in = real_threading.Event()


def native_first():
    with first:
        first_in.set()
        real_time.sleep(0.2)


eventlet.sleep(0)  # start this thread's hub: the waiter parks on it
t = real_threading.Thread(target=native_first)
t.start()
first_in.wait()
start = real_time.monotonic()
assert first.acquire(timeout=20)
# Woken by the release after ~0.2 s, not rescued by the 20 s timer.
assert real_time.monotonic() - start < 10, "green waiter not woken"
first.release()
t.join()

state = {"count": 0, "inside": 0, "max": 0}
ROUNDS = 300


def critical(pause):
    state["inside"] += 1
    state["max"] = max(state["max"], state["inside"])
    value = state["count"]
    pause()
    state["count"] = value + 1
    state["inside"] -= 1


def native_worker():
    for _ in range(ROUNDS):
        with lockutils.lock("mixed"):
            critical(lambda: real_time.sleep(0.0001))


def green_worker():
    for _ in range(ROUNDS):
        with lockutils.lock("mixed"):
            critical(lambda: eventlet.sleep(0))


ticks = []


def ticker():
    while True:
        ticks.append(1)
        eventlet.sleep(0.005)


tick = eventlet.spawn(ticker)
natives = [real_threading.Thread(target=native_worker) for _ in range(2)]
for t in natives:
    t.start()
greens = [eventlet.spawn(green_worker) for _ in range(3)]
for g in greens:
    g.wait()
while any(t.is_alive() for t in natives):
    eventlet.sleep(0.01)
assert state == {"count": 5 * ROUNDS, "inside": 0, "max": 1}, state

# A native holder must not block the hub while a green thread waits.
native_in = real_threading.Event()


def native_holder():
    with lockutils.lock("native-held"):
        native_in.set()
        real_time.sleep(0.3)


t = real_threading.Thread(target=native_holder)
t.start()
while not native_in.is_set():
    eventlet.sleep(0.001)
before = len(ticks)
with lockutils.lock("native-held"):
    pass
assert len(ticks) - before >= 10, "hub blocked while a green thread waited"
t.join()

# And a native waiter is woken by a green releaser.
result = []
green_holder = lockutils.internal_lock("green-held")
green_holder.acquire()
t = real_threading.Thread(
    target=lambda: result.append(
        lockutils.internal_lock("green-held").acquire(timeout=10)))
t.start()
eventlet.sleep(0.05)
green_holder.release()
while t.is_alive():
    eventlet.sleep(0.01)
assert result == [True], result
lockutils.internal_lock("green-held").release()

tick.kill()
print("OK")
