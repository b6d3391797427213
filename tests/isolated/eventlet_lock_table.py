"""lock_table() under eventlet: green holders and waiters, function names."""
import eventlet

eventlet.monkey_patch()

import io  # noqa: E402

from _common import check_implementation  # noqa: E402

from fastlock import lockutils  # noqa: E402

check_implementation()

release = eventlet.event.Event()


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
print("OK")
