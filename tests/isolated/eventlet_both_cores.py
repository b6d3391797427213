"""Both cores in one monkey-patched process, each waking a green waiter
from a native thread: their per-hub wakers must not collide."""
import eventlet

eventlet.monkey_patch()

from eventlet import patcher  # noqa: E402

from fastlock import _core_c, _core_py  # noqa: E402

real_threading = patcher.original("threading")
real_time = patcher.original("time")
eventlet.sleep(0)  # start the hub: waiters park on it

for core in (_core_c, _core_py, _core_c):
    sem = core.Semaphore()
    held = real_threading.Event()

    def native_holder(sem=sem, held=held):
        with sem:
            held.set()
            real_time.sleep(0.05)

    t = real_threading.Thread(target=native_holder)
    t.start()
    held.wait()
    start = real_time.monotonic()
    assert sem.acquire(timeout=10), core.__name__
    # Woken by the release, not rescued by the timeout timer.
    assert real_time.monotonic() - start < 5, core.__name__
    sem.release()
    t.join()
print("OK")
