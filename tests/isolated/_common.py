"""Helpers shared by the isolated eventlet scenarios (imported after
``eventlet.monkey_patch()``)."""

import os
import subprocess
import sys

import fastlock

HOLD_WITH_LOCKF = """\
import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX)
print("READY", flush=True)
time.sleep(float(sys.argv[2]))
"""


def check_implementation():
    """Fail loudly if the core in use is not the one the runner asked for."""
    expected = os.environ.get("FASTLOCK_EXPECT_IMPLEMENTATION")
    assert expected in (None, fastlock.IMPLEMENTATION), (
        "expected core %r, got %r" % (expected, fastlock.IMPLEMENTATION))


def hold_with_lockf(path, seconds):
    """Start a process that holds *path* with lockf (as oslo would) for
    *seconds*; return its Popen once it holds the lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WITH_LOCKF, path, str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "READY"
    return holder
