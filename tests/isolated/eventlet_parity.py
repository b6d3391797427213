"""oslo behaviours under eventlet monkey-patching, for green threads: the
same scenarios run against oslo.concurrency (the reference, when
installed) and fastlock (core chosen by FASTLOCK_NO_EXTENSIONS)."""
import eventlet

eventlet.monkey_patch()

import warnings  # noqa: E402

import greenlet  # noqa: E402
from _common import check_implementation  # noqa: E402

from fastlock import lockutils as fastlock_lockutils  # noqa: E402

check_implementation()
warnings.simplefilter("ignore")  # oslo's eventlet deprecation warnings


def rw_identifies_green_threads(lu):
    # oslo bug 2160596 regression: two green writers must exclude.
    for _ in range(2):
        rw = lu.ReaderWriterLock()
        assert rw._current_thread is greenlet.getcurrent or (
            rw._current_thread.__name__ == "getcurrent"
        ), rw._current_thread
        acquired = []
        stop = eventlet.event.Event()

        def writer(i, rw=rw, acquired=acquired, stop=stop):
            rw.acquire_write_lock()
            acquired.append(i)
            stop.wait()
            rw.release_write_lock()

        threads = [eventlet.spawn(writer, i) for i in range(2)]
        eventlet.sleep(0.05)
        assert acquired == [0], acquired
        stop.send()
        for t in threads:
            t.wait()
        assert acquired == [0, 1], acquired


def rw_readers_share_writer_excludes(lu, rw):
    state = {"readers": 0, "writers": 0, "bad": 0, "count": 0, "max_readers": 0}

    def reader():
        for _ in range(20):
            with rw.read_lock():
                state["readers"] += 1
                state["max_readers"] = max(state["max_readers"], state["readers"])
                if state["writers"]:
                    state["bad"] += 1
                eventlet.sleep(0)
                state["readers"] -= 1

    def writer():
        for _ in range(20):
            with rw.write_lock():
                state["writers"] += 1
                if state["writers"] != 1 or state["readers"]:
                    state["bad"] += 1
                value = state["count"]
                eventlet.sleep(0)
                state["count"] = value + 1
                state["writers"] -= 1

    threads = [eventlet.spawn(reader) for _ in range(4)]
    threads += [eventlet.spawn(writer) for _ in range(3)]
    for t in threads:
        t.wait()
    assert state["bad"] == 0 and state["count"] == 60, state
    assert state["max_readers"] > 1, state  # readers did share
    assert rw.owner is None


def fair_fifo(lu):
    order = []

    def worker(i):
        with lu.lock("green-fair", fair=True):
            order.append(i)

    with lu.lock("green-fair", fair=True):
        threads = []
        for i in range(10):
            threads.append(eventlet.spawn(worker, i))
            eventlet.sleep(0)  # let worker i queue before i+1 starts
    for t in threads:
        t.wait()
    assert order == list(range(10)), order

    order[:] = []
    rw = lu.internal_fair_lock("green-fair-rw")

    def writer(i):
        with rw.write_lock():
            order.append(i)

    with rw.write_lock():
        threads = []
        for i in range(10):
            threads.append(eventlet.spawn(writer, i))
            eventlet.sleep(0)
        assert rw.has_pending_writers
    for t in threads:
        t.wait()
    assert order == list(range(10)), order


def fair_reentrant(lu):
    done = []

    def nested():
        with lu.lock("green-re", fair=True):
            with lu.lock("green-re", fair=True):
                done.append(1)

    t = eventlet.spawn(nested)
    with eventlet.Timeout(5):
        t.wait()
    assert done == [1]


def nonblocking(lu):
    ran = []
    errors = []

    @lu.synchronized("green-nb", blocking=False)
    def work():
        ran.append(1)

    def contender():
        try:
            work()
        except lu.AcquireLockFailedException:
            errors.append(1)

    with lu.lock("green-nb"):
        eventlet.spawn(contender).wait()
    assert ran == [] and errors == [1], (ran, errors)
    work()
    assert ran == [1]


def shrink(lu):
    before = len(lu._semaphores)

    def worker(i):
        with lu.lock("green-shrink-%d" % (i % 4)):
            eventlet.sleep(0)

    threads = [eventlet.spawn(worker, i) for i in range(40)]
    for t in threads:
        t.wait()
    assert len(lu._semaphores) == before, (len(lu._semaphores), before)


def run_all(lu):
    rw_identifies_green_threads(lu)
    rw_readers_share_writer_excludes(lu, lu.ReaderWriterLock())
    rw_readers_share_writer_excludes(lu, lu.internal_fair_lock("green-rw"))
    fair_fifo(lu)
    fair_reentrant(lu)
    nonblocking(lu)
    shrink(lu)


try:
    from oslo_concurrency import lockutils as oslo_lockutils
except ImportError:
    oslo_lockutils = None
if oslo_lockutils is not None:
    run_all(oslo_lockutils)  # the reference passes the same scenarios
run_all(fastlock_lockutils)
print("OK")
