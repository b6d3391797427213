"""Instructions per uncontended operation, counted by callgrind.

    python bench/callgrind_ops.py [lock|sync|threading]

Runs ``valgrind --tool=callgrind`` on this interpreter twice, with 100,000
and 200,000 operations after a warm-up, and prints the difference of the
two totals / 100,000: start-up and warm-up cancel out.  Unlike times, the
count does not move with machine load.  Valgrind has no vDSO, so a
``clock_gettime`` is counted as its system-call wrapper in glibc.  Run it
with ``PYTHONPATH=<tree>`` to count another checkout's build.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

SMALL, LARGE = 100_000, 200_000


def _operations(n: int, what: str) -> None:
    import threading

    from fastlock import lockutils

    if what == "lock":
        lock = lockutils.lock

        def op() -> None:
            with lock("bench"):
                pass

    elif what == "sync":

        @lockutils.synchronized("bench")
        def op() -> None:
            pass

    else:
        tl = threading.Lock()

        def op() -> None:
            with tl:
                pass

    for _ in range(1000):  # warm: registry entry, caches
        op()
    for _ in range(n):
        op()


def _instructions(n: int, what: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
             sys.executable, __file__, "--run", str(n), what],
            check=True, capture_output=True,
            env=dict(os.environ, PYTHONHASHSEED="0"),
        )
        with open(out) as f:
            match = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
    assert match is not None, "no total in callgrind's output"
    return int(match[1])


def main() -> None:
    if sys.argv[1:2] == ["--run"]:
        _operations(int(sys.argv[2]), sys.argv[3])
        return
    what = sys.argv[1] if len(sys.argv) > 1 else "lock"
    if what not in ("lock", "sync", "threading"):
        sys.exit("usage: callgrind_ops.py [lock|sync|threading]")
    per_op = (_instructions(LARGE, what) - _instructions(SMALL, what)) / (
        LARGE - SMALL
    )
    print("%s: %.1f instructions per operation" % (what, per_op))


if __name__ == "__main__":
    main()
