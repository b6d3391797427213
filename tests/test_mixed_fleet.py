"""A mixed fleet: processes running unmodified oslo.concurrency and
processes running fastlock (either core) on one lock_path, hammering the
same external lock names, with ``remove_external_lock_file`` called from
either side between rounds, while nobody holds the locks.

Each critical section creates a marker file with ``O_CREAT | O_EXCL`` (a
second holder at the same time fails that create and its process exits
non-zero) and does a read-yield-write on a per-name counter file (a lost
update shows in the final counts).  After a removal the fastlock processes
still have descriptors of the removed files cached while the oslo
processes lock the new files: a fastlock process that trusted its cached
descriptor would hold an orphaned file beside an oslo holder.
"""

from __future__ import annotations

import os

import pytest
from _processes import start_script
from _reference import import_oslo

WORKER = """
    import os, sys, time
    kind, lock_path, work, names, rounds = sys.argv[1:6]
    names = ["name-%d" % i for i in range(int(names))]
    rounds = int(rounds)
    if kind == "oslo":
        from oslo_concurrency import lockutils
        assert not hasattr(lockutils, "held_locks")  # the real one
    else:
        import fastlock
        from fastlock import lockutils
        assert fastlock.IMPLEMENTATION == kind, fastlock.IMPLEMENTATION
    print("READY", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "hammer":
            for i in range(rounds):
                name = names[(i + os.getpid()) % len(names)]
                with lockutils.lock(name, external=True, lock_path=lock_path):
                    marker = os.path.join(work, name + ".inside")
                    fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                    counter = os.path.join(work, name + ".count")
                    with open(counter) as f:
                        value = int(f.read())
                    time.sleep(0.0002)
                    with open(counter, "w") as f:
                        f.write(str(value + 1))
                    os.close(fd)
                    os.unlink(marker)
        elif command == "remove":
            for name in names:
                lockutils.remove_external_lock_file(name, lock_path=lock_path)
        else:
            break
        print(command, flush=True)
"""

NAMES = 6
ROUNDS = 36  # per process and phase: 6 per name
PHASES = 4


def _command(procs, command):
    for proc in procs:
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
    for proc in procs:
        line = proc.stdout.readline()
        assert line.strip() == command, line + proc.stderr.read()


@pytest.mark.parametrize("kind", ["c", "py"])
def test_oslo_and_fastlock_processes_share_names_and_removals(tmp_path, kind):
    import_oslo("oslo_concurrency")
    lock_path = tmp_path / "locks"
    lock_path.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    for i in range(NAMES):
        (work / ("name-%d.count" % i)).write_text("0")
    kinds = ["oslo", kind, "oslo", kind]
    procs = []
    try:
        for k in kinds:
            procs.append(start_script(
                k, WORKER, [k, lock_path, work, NAMES, ROUNDS]))
        for proc in procs:
            line = proc.stdout.readline()
            assert line.strip() == "READY", line + proc.stderr.read()
        for phase in range(PHASES):
            _command(procs, "hammer")
            assert sorted(os.listdir(lock_path)) == [
                "name-%d" % i for i in range(NAMES)]
            # Nobody holds a lock now; the remover alternates: an oslo
            # process, then a fastlock one.
            _command([procs[phase % 2]], "remove")
            assert os.listdir(lock_path) == []
        for proc in procs:
            _, err = proc.communicate("quit\n", timeout=60)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)  # also closes its pipes
    assert not list(work.glob("*.inside"))
    # Every process takes each name ROUNDS / NAMES times per phase.
    expected = str(PHASES * len(kinds) * ROUNDS // NAMES)
    for i in range(NAMES):
        assert (work / ("name-%d.count" % i)).read_text() == expected
