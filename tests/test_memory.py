"""Up to 1,000,000 distinct names through the facade leave memory flat."""

from __future__ import annotations

import gc
import time

# Bounded by time, well below pytest's 60 s watchdog: the twin takes 20 s
# for a million names on a loaded machine.
SECONDS = 8.0


def test_million_distinct_names_keep_rss_flat(lockutils, rss_bytes):
    chunk = 50_000

    def run(start, count):
        lock = lockutils.lock
        for i in range(start, start + count):
            with lock("instance-%d" % i):
                pass

    run(0, 2 * chunk)  # warm up allocator pools and the registry table
    gc.collect()
    before = rss_bytes()
    names = 0
    started = time.monotonic()
    while names < 1_000_000 and time.monotonic() - started < SECONDS:
        run(2 * chunk + names, chunk)
        names += chunk
    gc.collect()
    grown = rss_bytes() - before
    # A kept entry costs well over 100 bytes (a semaphore, a name and a
    # table slot): kept entries would grow RSS past this bound however
    # many names ran; a flat registry stays within allocator noise.
    assert grown < min(16 * 1024 * 1024, 64 * names), (
        "RSS grew by %d bytes over %d names" % (grown, names))
    assert len(lockutils._semaphores) == 0
