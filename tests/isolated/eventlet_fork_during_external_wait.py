"""fork() while a green thread waits for an external lock held by another
process: its kernel wait runs in a helper OS thread, which the child does
not have.  In the child the waiter must still get the lock once the holder
(and the parent) let go, and the name must stay usable."""
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

from _common import check_implementation, hold_with_lockf  # noqa: E402

from fastlock import lockutils  # noqa: E402

check_implementation()
warnings.simplefilter("ignore", DeprecationWarning)  # eventlet's fork warning
lock_path = tempfile.mkdtemp()

holder = hold_with_lockf(lock_path + "/shared", 1)

got = []


def waiter(timeout=None):
    with lockutils.lock("shared", external=True, lock_path=lock_path,
                        timeout=timeout):
        got.append(os.getpid())


# Untimed and timed green waits, both parked on helper threads.
waiters = [eventlet.spawn(waiter), eventlet.spawn(waiter, 30)]
eventlet.sleep(0.3)
assert not got
pid = os.fork()
if pid == 0:
    code = 1
    try:
        with eventlet.Timeout(20):
            for g in waiters:
                g.wait()
            assert got == [os.getpid()] * 2, got
            # A new locker of the name in the child.
            with lockutils.lock("shared", external=True, lock_path=lock_path,
                                timeout=10):
                pass
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)
for g in waiters:
    g.wait()
assert got == [os.getpid()] * 2, got
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
holder.communicate(timeout=30)
print("OK")
