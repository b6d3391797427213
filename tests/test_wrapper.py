"""``fastlock-wrapper`` does what oslo's ``lockutils-wrapper`` does: runs a
command with ``OSLO_LOCK_PATH`` set to a fresh temporary directory,
removes the directory afterwards and passes the exit code through."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from _reference import import_oslo

CHILD = (
    "import os, sys; p = os.environ['OSLO_LOCK_PATH']; "
    "assert os.path.isdir(p) and not os.listdir(p); "
    "open(os.path.join(p, 'made-by-child'), 'w').close(); "
    "print(p); sys.exit(int(sys.argv[1]))"
)


def _wrapper(kind):
    if kind == "oslo":
        import_oslo("oslo_concurrency")
        from oslo_concurrency import lockutils
    else:
        from fastlock import lockutils
    return lockutils._lock_wrapper


@pytest.mark.parametrize("kind", ["oslo", "fastlock"])
@pytest.mark.parametrize("code", [0, 3])
def test_lock_wrapper_in_process(kind, code, monkeypatch):
    # Import first: oslo's option default comes from the environment at
    # import time and must equal the one fastlock registered.
    lock_wrapper = _wrapper(kind)
    # the wrapper sets OSLO_LOCK_PATH in this process: have it restored
    monkeypatch.setenv("OSLO_LOCK_PATH", "/placeholder")
    # argv[0] is the wrapper's own name and is dropped
    result = lock_wrapper(["wrapper", sys.executable, "-c", CHILD, str(code)])
    assert result == code
    path = os.environ["OSLO_LOCK_PATH"]  # left set, as oslo leaves it
    assert not os.path.exists(path)


def _script():
    found = shutil.which("fastlock-wrapper") or os.path.join(
        os.path.dirname(sys.executable), "fastlock-wrapper"
    )
    if not os.path.exists(found):
        pytest.skip("fastlock-wrapper console script is not installed")
    return found


@pytest.mark.parametrize("code", [0, 7])
def test_console_script(code):
    env = dict(os.environ)
    env.pop("OSLO_LOCK_PATH", None)
    proc = subprocess.run(
        [_script(), sys.executable, "-c", CHILD, str(code)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == code, proc.stderr
    path = proc.stdout.strip()
    assert path and not os.path.exists(path)


def test_console_script_external_locks_work_in_the_child():
    code = (
        "from fastlock import lockutils\n"
        "try:\n"
        "    with lockutils.lock('w', external=True):\n"
        "        print('locked')\n"
        "except NotImplementedError:\n"
        "    print('locked')\n"  # external locks not there yet: path checked below
        "print(lockutils._get_lock_path('w', None))\n"
    )
    proc = subprocess.run(
        [_script(), sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[0] == "locked"
    assert not os.path.exists(os.path.dirname(lines[1]))


def test_running_the_module_directly_is_refused():
    proc = subprocess.run(
        [sys.executable, "-m", "fastlock.lockutils"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "NotImplementedError" in proc.stderr
    assert "fastlock-wrapper console script" in proc.stderr
