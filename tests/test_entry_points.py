"""The command-line entry points follow the conventions of the commands
they stand in for: ``python -m fastlock`` those of ``python`` (``-c``,
``-m``, script; ``--help``), ``fastlock-wrapper`` those of a command
runner.  Asked for help they print usage and exit 0; given nothing or a
wrong argument they print usage on stderr and exit 2; never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest


def _run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, **kw)


def _fastlock(*args, **kw):
    return _run(sys.executable, "-m", "fastlock", *args, **kw)


def _wrapper_script():
    found = shutil.which("fastlock-wrapper") or os.path.join(
        os.path.dirname(sys.executable), "fastlock-wrapper"
    )
    if not os.path.exists(found):
        pytest.skip("fastlock-wrapper console script is not installed")
    return found


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_python_m_fastlock_help(flag):
    proc = _fastlock(flag)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m fastlock [-c command | -m module")
    assert "-c command" in proc.stdout and "Traceback" not in proc.stderr


def test_python_m_fastlock_c_runs_code_like_python_c():
    code = (
        "import sys\n"
        "import oslo_concurrency.lockutils as l\n"
        "assert l.__name__ == 'fastlock.lockutils', l\n"
        "def f(): return __name__\n"  # globals of the code are __main__'s
        "print(f(), sys.argv, sys.modules['__main__'].f is f)\n"
    )
    proc = _fastlock("-c", code, "a", "-b")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "__main__ ['-c', 'a', '-b'] True"


def test_python_m_fastlock_c_exit_status_and_errors_pass_through():
    assert _fastlock("-c", "raise SystemExit(3)").returncode == 3
    proc = _fastlock("-c", "1/0")
    assert proc.returncode == 1
    assert proc.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert 'File "<string>", line 1' in proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "nothing to run"),
        (("-c",), "argument -c: expected one argument"),
        (("-m",), "argument -m: expected one argument"),
        (("--frobnicate",), "unknown option --frobnicate"),
    ],
)
def test_python_m_fastlock_usage_errors(args, message):
    proc = _fastlock(*args)
    assert proc.returncode == 2
    assert "usage: python -m fastlock" in proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_python_m_fastlock_missing_script_or_module(tmp_path):
    missing = str(tmp_path / "nope.py")
    proc = _fastlock(missing)
    assert proc.returncode == 2  # python's own status for this
    assert "can't open file %r" % missing in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _fastlock("-m", "no_such_module_fastlock_test")
    assert proc.returncode == 1
    assert "No module named no_such_module_fastlock_test" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_python_m_fastlock_keeps_import_errors_of_the_module(tmp_path):
    # An ImportError raised by the module itself is its own, not "no module".
    (tmp_path / "broken.py").write_text("import no_such_dependency_xyz\n")
    proc = _fastlock("-m", "broken", cwd=tmp_path)
    assert proc.returncode == 1
    assert "No module named 'no_such_dependency_xyz'" in proc.stderr
    assert "Traceback" in proc.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_wrapper_help(flag):
    proc = _run(_wrapper_script(), flag)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: fastlock-wrapper COMMAND")
    assert "OSLO_LOCK_PATH" in proc.stdout


def test_wrapper_without_command():
    proc = _run(_wrapper_script())
    assert proc.returncode == 2
    assert "usage: fastlock-wrapper COMMAND" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_wrapper_command_that_cannot_start(tmp_path):
    missing = tmp_path / "no-such-command"
    proc = _run(_wrapper_script(), str(missing), "x")
    assert proc.returncode == 127, proc.stderr
    # endswith: a free-threaded interpreter warns about the GIL first
    assert proc.stderr.endswith(
        "fastlock-wrapper: %s: No such file or directory\n" % missing)
    not_executable = tmp_path / "data.txt"
    not_executable.write_text("")
    proc = _run(_wrapper_script(), str(not_executable))
    assert proc.returncode == 126, proc.stderr
    assert "Permission denied" in proc.stderr and "Traceback" not in proc.stderr
