"""``make test-oslo``: oslo.concurrency's own lockutils tests, shipped in
its installed package, with fastlock swapped in.

Four runs, as oslo's tox runs them (``lockutils-wrapper``, which sets a
fresh ``OSLO_LOCK_PATH``) in both of its modes: threads
(``test_lockutils``) and eventlet-patched (``TEST_EVENTLET=1``, which
makes oslo's test package call ``eventlet.monkey_patch()``; then also
``test_lockutils_eventlet``, which needs it), each against the compiled
core and the pure-Python twin.  No test is skipped or deselected; the run
fails unless every test of the suite passes, and unless the number of
tests is the number the suite has.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = "oslo_concurrency.tests.unit."
RUNS = [
    # (mode, modules, tests the modules hold)
    ("threads", [UNIT + "test_lockutils"], 33),
    ("eventlet", [UNIT + "test_lockutils", UNIT + "test_lockutils_eventlet"], 42),
]
CORES = ["c", "py"]


def start(mode, modules, core, workdir):
    env = dict(os.environ)
    for var in ("FASTLOCK_NO_EXTENSIONS", "TEST_EVENTLET", "FASTLOCK_PATCH_OSLO"):
        env.pop(var, None)
    if core == "py":
        env["FASTLOCK_NO_EXTENSIONS"] = "1"
    if mode == "eventlet":
        env["TEST_EVENTLET"] = "1"
    env["FASTLOCK_EXPECT_IMPLEMENTATION"] = core
    env["OSLO_LOCK_PATH"] = os.path.join(workdir, "locks")  # lockutils-wrapper
    os.mkdir(env["OSLO_LOCK_PATH"])
    env["PYTHONPATH"] = os.pathsep.join(
        [HERE] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    junit = os.path.join(workdir, "junit.xml")
    # In a scratch directory: some tests lock files named by relative path.
    cmd = [
        sys.executable, "-m", "pytest", "-p", "fastlock_swap", "-p",
        "no:cacheprovider", "-q", "-o", "faulthandler_timeout=120",
        "--junitxml", junit, "--pyargs", *modules,
    ]
    log = open(os.path.join(workdir, "log"), "w+")
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=log)
    return proc, log, junit


def main():
    base = tempfile.mkdtemp(prefix="fastlock-oslo-")
    runs = []
    # All four at once: the suites mostly sleep (0.5 s handshakes).
    for mode, modules, expected in RUNS:
        for core in CORES:
            workdir = os.path.join(base, "%s-%s" % (mode, core))
            os.mkdir(workdir)
            runs.append((mode, core, expected, *start(mode, modules, core, workdir)))
    failed = False
    total = 0
    for mode, core, expected, proc, log, junit in runs:
        try:
            code = proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "timeout"
        log.seek(0)
        output = log.read()
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if os.path.exists(junit):
            for suite in ET.parse(junit).getroot().iter("testsuite"):
                for key in counts:
                    counts[key] += int(suite.get(key, 0))
        passed = counts["tests"] - counts["failures"] - counts["errors"] - counts[
            "skipped"
        ]
        ok = (
            code == 0 and counts["tests"] == expected and passed == expected
        )
        total += passed if ok else 0
        print(
            "oslo.concurrency lockutils tests, %-8s mode, fastlock core %-2s: "
            "%d/%d passed (%d failed, %d errors, %d skipped; exit %s)%s"
            % (
                mode, core, passed, expected, counts["failures"],
                counts["errors"], counts["skipped"], code,
                "" if ok else "  FAILED",
            )
        )
        if not ok:
            failed = True
            print(output)
    print(
        "%d of %d tests passed (%d per core: %s)"
        % (total, sum(r[2] for r in runs), sum(r[2] for r in RUNS),
           " + ".join("%d %s" % (r[2], r[0]) for r in RUNS))
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
