"""Show that faulthandler's watchdog can crash the interpreter by itself.

``faulthandler.dump_traceback_later()`` (what pytest's
``faulthandler_timeout`` uses) dumps every thread's frames from a C thread
that does not hold the GIL, while those threads keep running: it can read
a frame the moment it is popped and freed.  This script has no fastlock in
it; on CPython 3.11 it usually dies with SIGSEGV within seconds (gdb:
``dump_frame`` in ``faulthandler_thread`` while the main thread is in
``_PyFrame_Push``).  The watchdog is a last resort for hangs; a test that
merely runs long enough to trip it risks this crash, so every test stays
well below the timeout.

Usage: python tests/tools/faulthandler_watchdog_crash.py [seconds]
Exit status 0 and "survived" if no crash happened in that time.
"""

import faulthandler
import os
import sys
import threading
import time


def leaf(x):
    return x + 1


def frames(n):
    # Generators and calls: frames pushed and popped as fast as possible.
    for i in range(n):
        yield leaf(i) + leaf(i)


def churn(stop):
    while not stop.is_set():
        sum(frames(1000))
        # Code objects made and freed under the dumper's feet.
        exec(compile("def f(a):\n return a\nf(1)", "<churn>", "exec"), {})


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    stop = threading.Event()
    threads = [threading.Thread(target=churn, args=(stop,)) for _ in range(3)]
    for t in threads:
        t.start()
    with open(os.devnull, "w") as sink:
        faulthandler.dump_traceback_later(0.0002, repeat=True, file=sink)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                sum(frames(1000))
        finally:
            faulthandler.cancel_dump_traceback_later()
            stop.set()
            for t in threads:
                t.join()
    print("survived")


if __name__ == "__main__":
    main()
