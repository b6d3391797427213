"""The critical section the multi-process load tests run, and its check.

Each critical section creates a per-name marker file with ``O_EXCL`` (a
second holder at once fails, and its process exits non-zero) and does a
read-pause-write increment of a per-name counter file: the counters must
add up to the acquisitions the processes report.
"""

from __future__ import annotations

# Worker code, indented as the workers' own (they are dedented whole).
CRITICAL = """
    import os

    def critical(work, name, pause):
        marker = os.path.join(work, name + ".inside")
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        counter = os.path.join(work, name + ".count")
        try:
            with open(counter) as f:
                value = int(f.read())
        except FileNotFoundError:
            value = 0
        pause(0)
        with open(counter, "w") as f:
            f.write(str(value + 1))
        os.close(fd)
        os.unlink(marker)
"""


def check_counts(work, acquisitions):
    """Assert that no holder is inside and no increment was lost."""
    counted = sum(int(p.read_text()) for p in work.glob("*.count"))
    assert not list(work.glob("*.inside"))
    assert counted == acquisitions, "lost updates: %d counted of %d" % (
        counted, acquisitions)
