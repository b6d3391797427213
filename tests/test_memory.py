"""1,000,000 distinct names through the facade leave memory flat."""

from __future__ import annotations

import gc


def test_million_distinct_names_keep_rss_flat(lockutils, rss_bytes):
    def run(start, count):
        lock = lockutils.lock
        for i in range(start, start + count):
            with lock("instance-%d" % i):
                pass

    run(0, 100_000)  # warm up allocator pools and the registry table
    gc.collect()
    before = rss_bytes()
    run(100_000, 1_000_000)
    gc.collect()
    grown = rss_bytes() - before
    # Kept entries would cost well over 100 MB (a semaphore, a name and a
    # table slot each); a flat registry stays within allocator noise.
    assert grown < 16 * 1024 * 1024, "RSS grew by %d bytes" % grown
    assert len(lockutils._semaphores) == 0
