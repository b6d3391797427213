"""Child process for the coordination tests (not an eventlet scenario).

    coordination_worker.py count URL NAME COUNTER N [nolock]
        N times: take the cluster lock, read the counter file, yield, write
        it back plus one; prints the acquisitions.
    coordination_worker.py hold URL NAME TTL
        take the lock, print "held", then sleep until killed.
"""

from __future__ import annotations

import os
import sys
import time

from fastlock import coordination


def bump(path: str) -> None:
    with open(path) as f:
        value = int(f.read() or 0)
    time.sleep(0.001)  # let another process in, if the lock does not
    # Write aside and rename: unlocked writers then lose updates but never
    # interleave their bytes ("1000" overwritten by "99" reads "9900").
    scratch = '%s.%d' % (path, os.getpid())
    with open(scratch, 'w') as f:
        f.write(str(value + 1))
    os.replace(scratch, path)


def main() -> int:
    mode, url, name = sys.argv[1:4]
    if mode == 'count':
        counter, n = sys.argv[4], int(sys.argv[5])
        if len(sys.argv) > 6:  # the control: no lock, no server
            for _ in range(n):
                bump(counter)
            return 0
        coord = coordination.Coordinator(
            prefix='t-', backend_url=url, lock_ttl=10, backend_timeout=5)
        coord.start()
        try:
            for _ in range(n):
                with coord.lock(name, timeout=30):
                    bump(counter)
        finally:
            coord.stop()
        print('done', os.getpid(), flush=True)
        return 0
    if mode == 'hold':
        ttl = int(sys.argv[4])
        coord = coordination.Coordinator(
            prefix='t-', backend_url=url, lock_ttl=ttl, backend_timeout=5)
        coord.start()
        lock = coord.get_lock(name)
        assert lock.acquire(timeout=30)
        print('held', flush=True)
        time.sleep(120)
        return 1
    raise SystemExit(f'unknown mode {mode}')


if __name__ == '__main__':
    sys.exit(main())
