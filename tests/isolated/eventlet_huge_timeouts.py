"""Green waiters with timeouts far beyond what eventlet's hub can wait
(2**31 ms) or threading.TIMEOUT_MAX: long waits that end when the lock is
let go, with the hub still running afterwards (a timer that far away made
epoll raise OverflowError inside the hub)."""
import eventlet

eventlet.monkey_patch()

import tempfile  # noqa: E402

from _common import check_implementation, hold_with_lockf  # noqa: E402
from eventlet import patcher  # noqa: E402

from fastlock import _core, lockutils  # noqa: E402

check_implementation()
real_time = patcher.original("time")
lock_path = tempfile.mkdtemp()

for timeout in (3e6, 1e10, 1e300):
    # Contended by another green thread: an internal wait...
    for external in (False, True):
        got = []

        def holder(external=external):
            with lockutils.lock("in", external=external, lock_path=lock_path):
                eventlet.sleep(0.1)

        def waiter(external=external, timeout=timeout, got=got):
            with lockutils.lock("in", external=external, lock_path=lock_path,
                                timeout=timeout):
                got.append(1)

        first = eventlet.spawn(holder)
        eventlet.sleep(0)
        second = eventlet.spawn(waiter)
        first.wait()
        second.wait()
        assert got == [1], (timeout, external)
        # The hub still runs its timers.
        start = real_time.monotonic()
        eventlet.sleep(0.05)
        assert real_time.monotonic() - start < 5

    # ...and a helper's kernel wait for a file another process holds.
    holder_proc = hold_with_lockf(lock_path + "/out", 0.3)
    with lockutils.lock("out", external=True, lock_path=lock_path,
                        timeout=timeout):
        pass
    holder_proc.communicate(timeout=30)
    eventlet.sleep(0.05)

# A wait longer than one park parks again, yielding to the hub each time:
# a green holder still gets to let go.
_core.core._LONGEST_PARK = 0.02
sem = _core.core.Semaphore()
got = []


def short_holder():
    with sem:
        eventlet.sleep(0.3)


def long_waiter():
    start = real_time.monotonic()
    assert sem.acquire(timeout=20)
    got.append(real_time.monotonic() - start)
    sem.release()


first = eventlet.spawn(short_holder)
eventlet.sleep(0)
second = eventlet.spawn(long_waiter)
first.wait()
second.wait()
assert 0.2 <= got[0] < 10, got
start = real_time.monotonic()
with sem:
    assert not eventlet.spawn(sem.acquire, timeout=0.3).wait()
assert 0.29 <= real_time.monotonic() - start < 10

print("OK")
