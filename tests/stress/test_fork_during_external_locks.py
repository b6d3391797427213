"""A process forks from a signal handler every few milliseconds while its
threads take and release external locks, contended across the parent and
its children (some waits timed, so some in helper threads).  Every child
must go on locking, and exclusion must hold among all of them.

A fork while holding duplicates the holder (as with oslo: the child does
not own the parent's file lock), so the main thread does not fork inside
its critical sections, and an acquisition during which the process forked
is not used by the child.  Critical sections are the marker-and-counter
ones of ``_counter``.
"""

from __future__ import annotations

import json

from _counter import CRITICAL, check_counts

WORKER = """
    import faulthandler, json, os, random, signal, sys, threading, time
    import traceback
    lock_path, work, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    import fastlock
    from fastlock import lockutils
    state = {"child": 0, "acquisitions": 0, "critical": False}
    children = []
    count_lock = threading.Lock()

    twin = (sys.modules["fastlock._core_py"]
            if fastlock.IMPLEMENTATION == "py" else None)

    def inside_twins_guard(frame):
        # The twin's guarded sections are bytecode, where this handler
        # may run: a fork there gives the child the half-made changes of
        # the forking thread itself (as with any pure-Python lock).
        if twin is None or not twin._guard.locked():
            return False
        while frame is not None:
            if frame.f_code.co_filename == twin.__file__:
                return True
            frame = frame.f_back
        return False

    def fork_now(signum, frame):
        if state["child"] or state["critical"] or inside_twins_guard(frame):
            return
        pid = os.fork()
        if pid:
            children.append(pid)
            return
        state["child"] = time.monotonic() + 0.2  # lock for a while, exit
        state["acquisitions"] = 0
        # What a failed child did, for the parent's report: its exception,
        # or where its threads stood if it hangs.
        state["errors"] = open(error_file(os.getpid()), "w")
        faulthandler.dump_traceback_later(20, file=state["errors"])

    def error_file(pid):
        return os.path.join(work, "%d.err" % pid)

""" + CRITICAL + """

    def loop(deadline, rng):
        while time.monotonic() < (state["child"] or deadline):
            child_before = state["child"]
            name = "n%d" % rng.randrange(2)
            timeout = rng.choice((None, 5))
            main = threading.current_thread() is threading.main_thread()
            with lockutils.lock(name, external=True, lock_path=lock_path,
                                timeout=timeout):
                if main:  # Python signal handlers run in it only
                    state["critical"] = True
                try:
                    if state["child"] == child_before:
                        critical(work, name, time.sleep)
                        with count_lock:
                            state["acquisitions"] += 1
                finally:
                    if main:
                        state["critical"] = False

    def finish():
        with open(os.path.join(work, "%d.acq" % os.getpid()), "w") as f:
            f.write(str(state["acquisitions"]))

    print("READY", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + seconds
    other = threading.Thread(target=loop, args=(deadline, random.Random()))
    other.start()  # a second thread: gone in the children
    signal.signal(signal.SIGALRM, fork_now)
    signal.setitimer(signal.ITIMER_REAL, 0.03, 0.047)
    code = 1
    try:
        loop(deadline, random.Random())
        # A loaded machine may fork fewer children in the time: go on
        # (bounded) until enough have been made to mean something.
        hard_deadline = deadline + 20
        while (len(children) < 5 and not state["child"]
               and time.monotonic() < hard_deadline):
            loop(time.monotonic() + 0.5, random.Random())
        code = 0
    except BaseException:
        traceback.print_exc(file=state.get("errors", sys.stderr))
    if state["child"]:
        state["errors"].close()
        finish()
        os._exit(code)
    signal.setitimer(signal.ITIMER_REAL, 0)
    other.join()
    finish()
    failed, errors = 0, []
    for pid in children:
        for _ in range(600):  # 30 s for each
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            code = "hung"
        if code != 0:
            failed += 1
            with open(error_file(pid)) as f:
                errors.append("child %d: %s\\n%s" % (pid, code, f.read()))
    print(json.dumps({"children": len(children), "failed": failed,
                      "errors": errors}))
"""


def test_forks_at_any_point_of_external_locking(
        impl_name, tmp_path, stress_seconds, report, run_together):
    lock_path, work = tmp_path / "locks", tmp_path / "work"
    lock_path.mkdir()
    work.mkdir()
    [out] = run_together([(impl_name, WORKER, [lock_path, work,
                                                stress_seconds])],
                         timeout=stress_seconds + 120)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["children"] >= 5, result
    assert result["failed"] == 0, "\n".join(result["errors"])
    acquisitions = sum(int(p.read_text()) for p in work.glob("*.acq"))
    assert len(list(work.glob("*.acq"))) == result["children"] + 1
    check_counts(work, acquisitions)
    report(children=result["children"], acquisitions=acquisitions)
