"""External locks between real processes: several fastlock processes (of
both cores), fastlock against unmodified oslo.concurrency, killed holders,
and lock-file removal racing with lockers.

Each critical section creates a marker file with ``O_CREAT | O_EXCL`` and
removes it on the way out: a second holder at the same time fails that
create and the process exits non-zero, so exclusion is checked directly,
not only through a final count.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from _processes import start_script
from _reference import import_oslo

WORKER = """
    import os, sys, time
    kind, lock_path, marker, counter, rounds, remove = sys.argv[1:7]
    rounds, remove = int(rounds), remove == "1"
    if kind == "oslo":
        from oslo_concurrency import lockutils
    else:
        from fastlock import lockutils
        import fastlock
        assert fastlock.IMPLEMENTATION == kind, fastlock.IMPLEMENTATION
    print("READY", flush=True)
    sys.stdin.readline()  # start together
    for i in range(rounds):
        with lockutils.lock("shared", external=True, lock_path=lock_path):
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            with open(counter) as f:
                value = int(f.read())
            time.sleep(0.0002)
            with open(counter, "w") as f:
                f.write(str(value + 1))
            os.close(fd)
            os.unlink(marker)
        if remove and i % 2 == 0:
            lockutils.remove_external_lock_file("shared", lock_path=lock_path)
    print("DONE", flush=True)
"""


def _run_workers(run_together, kinds, tmp_path, rounds, remove=(),
                 worker=WORKER):
    lock_path = tmp_path / "locks"
    lock_path.mkdir()
    counter = tmp_path / "counter"
    counter.write_text("0")
    marker = tmp_path / "inside"
    outputs = run_together([
        (kind, worker, [kind, lock_path, marker, counter, rounds,
                        "1" if i in remove else "0"])
        for i, kind in enumerate(kinds)
    ])
    assert [out.strip() for out in outputs] == ["DONE"] * len(kinds)
    assert not marker.exists()
    assert counter.read_text() == str(rounds * len(kinds))
    return lock_path


def test_fastlock_processes_of_both_cores_exclude_each_other(
        run_together, tmp_path):
    _run_workers(run_together, ["c", "py", "c", "py"], tmp_path, rounds=150)


def test_fastlock_and_oslo_processes_exclude_each_other(run_together, tmp_path):
    import_oslo("oslo_concurrency")
    _run_workers(run_together, ["c", "oslo", "py", "oslo"], tmp_path, rounds=60)


@pytest.mark.parametrize("kinds", [["c"] * 4, ["py"] * 4, ["c", "py"] * 2],
                         ids=["c", "py", "mixed"])
def test_lock_file_removal_never_lets_two_holders_in(
        run_together, tmp_path, kinds):
    # Half the processes remove the lock file every other round while the
    # others hold it or wait for it.
    _run_workers(run_together, kinds, tmp_path, rounds=200, remove={0, 2})


CHURNING_WORKER = WORKER.replace(
    'print("READY", flush=True)',
    # A descriptor cache of 1, and other names locked while holding the
    # shared one: every round closes and reopens descriptors, and the
    # held one must never be the one closed (that would unlock it).
    'lockutils._core.set_lock_file_cache_size(1)\n'
    '    print("READY", flush=True)',
).replace(
    '            with open(counter) as f:',
    '            for other in ("o1", "o2", "o3"):\n'
    '                with lockutils.lock(other, external=True,\n'
    '                                    lock_path=lock_path):\n'
    '                    pass\n'
    '            with open(counter) as f:',
)


@pytest.mark.parametrize("kinds", [["c"] * 3, ["py"] * 3, ["c", "py", "c"]],
                         ids=["c", "py", "mixed"])
def test_a_tiny_descriptor_cache_keeps_processes_exclusive(
        run_together, tmp_path, kinds):
    assert CHURNING_WORKER.count("set_lock_file_cache_size(1)") == 1
    assert CHURNING_WORKER.count('"o1", "o2", "o3"') == 1
    _run_workers(run_together, kinds, tmp_path, rounds=80,
                 worker=CHURNING_WORKER)


KILLABLE_HOLDER = """
    import sys, time
    from fastlock import lockutils
    with lockutils.lock("k", external=True, lock_path=sys.argv[1]):
        print("READY", flush=True)
        time.sleep(120)
"""

BLOCKED_WAITER = """
    import sys, time
    from fastlock import lockutils
    print("WAITING", flush=True)
    with lockutils.lock("k", external=True, lock_path=sys.argv[1]):
        print("GOT", flush=True)
"""


@pytest.mark.parametrize("kind", ["c", "py"])
def test_sigkilled_holder_wakes_a_waiter_blocked_in_the_kernel(
        tmp_path, kind):
    lock_path = str(tmp_path)
    holder = start_script(kind, KILLABLE_HOLDER, [lock_path])
    waiter = None
    try:
        assert holder.stdout.readline().strip() == "READY"
        waiter = start_script(kind, BLOCKED_WAITER, [lock_path])
        assert waiter.stdout.readline().strip() == "WAITING"
        # The waiter cannot get it while the holder lives.
        with pytest.raises(subprocess.TimeoutExpired):
            waiter.wait(0.3)
        os.kill(holder.pid, signal.SIGKILL)
        holder.communicate(timeout=30)
        out, _ = waiter.communicate(timeout=30)
        assert out.strip() == "GOT"
    finally:
        for proc in (holder, waiter):
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate(timeout=30)  # also closes its pipes
