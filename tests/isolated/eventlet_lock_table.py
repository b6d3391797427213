"""lock_table() under eventlet: green holders and waiters, function names,
counters, and the slow-wait warning for a green waiter."""
import eventlet

eventlet.monkey_patch()

import io  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402

from _common import check_implementation  # noqa: E402

from fastlock import _config, lockutils  # noqa: E402

check_implementation()

release = eventlet.event.Event()
keep = lockutils._semaphores.get("green-one")  # keeps the counters


@lockutils.synchronized("green-one")
def hold():
    release.wait()


def wait():
    with lockutils.lock("green-one"):
        pass


holder = eventlet.spawn(hold)
eventlet.sleep(0)
waiters = [eventlet.spawn(wait) for _ in range(2)]
for _ in range(100):
    eventlet.sleep(0)
    table = [r for r in lockutils.lock_table() if r.name == "green-one"]
    if table and table[0].waiters == 2:
        break
(record,) = table
assert record.kind == "internal", record
assert record.waiters == 2, record
(h,) = record.holders
assert h.greenlet is True, h
assert h.thread_id == id(holder), (h, id(holder))
# A green thread that is not a threading.Thread: named after its greenlet.
assert h.thread_name == "GreenThread-%#x" % id(holder), h
assert h.function == lockutils._callable_name(hold.__wrapped__), h
assert h.held_seconds >= 0, h
out = io.StringIO()
lockutils.dump_locks(out)
assert "Lock 'green-one' (internal): 1 holder(s), 2 waiting" in out.getvalue()
assert 'held' in out.getvalue() and "green thread" in out.getvalue()
release.send()
holder.wait()
for w in waiters:
    w.wait()
assert not [r for r in lockutils.lock_table() if r.name == "green-one"]
with lockutils.lock("green-one"):
    (record,) = lockutils.lock_table()
# Three acquisitions before this one, two of them waited.
assert record.acquisitions == 4, record
assert 0 < record.longest_wait_seconds <= record.total_wait_seconds, record

# The slow-wait warning: the native watchdog thread sees a parked green
# waiter and logs once while it still waits.
_config.CONF.set_override(
    "warn_wait_seconds", 0.2, group=_config.FASTLOCK_GROUP)
logged = []


class Seen(logging.Handler):
    def emit(self, record):
        logged.append((record.getMessage(), acquired))


logging.getLogger("fastlock.lockutils").addHandler(Seen(logging.WARNING))
acquired = False
release = eventlet.event.Event()


@lockutils.synchronized("green-slow")
def hog():
    release.wait()


def patient():
    global acquired
    with lockutils.lock("green-slow"):
        acquired = True


hogger = eventlet.spawn(hog)
eventlet.sleep(0)
waiter = eventlet.spawn(patient)
for _ in range(2000):  # at most 20 s
    eventlet.sleep(0.01)
    if logged:
        break
eventlet.sleep(0.3)  # six more scans: no second warning
release.send()
hogger.wait()
waiter.wait()
assert acquired
assert len(logged) == 1, logged
((message, was_acquired),) = logged
assert not was_acquired, message
assert re.match(
    r'Lock "green-slow" still not acquired after waiting \d+\.\d{3}s; '
    r'held by green thread "GreenThread-%#x" \(id %d\) in "%s" for '
    r'\d+\.\d{3}s; 1 waiting$'
    % (id(hogger), id(hogger), re.escape(lockutils._callable_name(hog.__wrapped__))),
    message), message
del keep
print("OK")
