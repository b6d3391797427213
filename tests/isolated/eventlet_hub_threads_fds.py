"""Native threads that each run an eventlet hub and park on a lock leave
no descriptors behind.

A green waiter's hub gets a wake-up pipe (two descriptors) so that other
OS threads can resume it.  200 short-lived threads, each running a hub
whose green thread waits on a contended lock, must not cost 400
descriptors more than the same threads cost eventlet alone.
"""
import gc
import os

import eventlet

eventlet.monkey_patch()

from _common import check_implementation  # noqa: E402
from eventlet import patcher  # noqa: E402

from fastlock import lockutils  # noqa: E402

check_implementation()
real_threading = patcher.original("threading")
THREADS = 200


def open_fds():
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def run_threads(target):
    # A few at a time: what matters is what each leaves behind.
    for _ in range(THREADS // 20):
        threads = [real_threading.Thread(target=target) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
            assert not t.is_alive()


def eventlet_only():
    eventlet.sleep(0)  # start this thread's hub
    eventlet.sleep(0.001)


lock = lockutils.internal_lock("hub-threads")
parked = []


def parks_on_lock():
    eventlet.sleep(0)  # start this thread's hub: the waiter parks on it
    with lock:  # contended: held by the main thread
        parked.append(1)


def contended():
    # Hold the lock until the threads queue, so each one parks.
    with lock:
        ts = [real_threading.Thread(target=parks_on_lock) for _ in range(20)]
        for t in ts:
            t.start()
        while lock.waiting < len(ts):
            eventlet.sleep(0.001)
    for t in ts:
        t.join(30)
        assert not t.is_alive()


run_threads(eventlet_only)  # warm up: imports, caches
before = open_fds()
run_threads(eventlet_only)
eventlet_cost = open_fds() - before

before = open_fds()
for _ in range(THREADS // 20):
    contended()
fastlock_cost = open_fds() - before
assert len(parked) == THREADS, len(parked)
print("descriptors left: eventlet %d, with fastlock waits %d"
      % (eventlet_cost, fastlock_cost))
assert fastlock_cost <= eventlet_cost + 8, (
    "%d descriptors leaked by %d threads' hubs"
    % (fastlock_cost - eventlet_cost, THREADS))
print("OK")
