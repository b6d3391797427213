"""1,000,000 distinct names through the facade leave memory flat."""

from __future__ import annotations

import gc
import os

import pytest

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux only")
def test_million_distinct_names_keep_rss_flat(lockutils):
    def run(start, count):
        lock = lockutils.lock
        for i in range(start, start + count):
            with lock("instance-%d" % i):
                pass

    run(0, 100_000)  # warm up allocator pools and the registry table
    gc.collect()
    before = _rss_bytes()
    run(100_000, 1_000_000)
    gc.collect()
    grown = _rss_bytes() - before
    # Kept entries would cost well over 100 MB (a semaphore, a name and a
    # table slot each); a flat registry stays within allocator noise.
    assert grown < 16 * 1024 * 1024, "RSS grew by %d bytes" % grown
    assert len(lockutils._semaphores) == 0
