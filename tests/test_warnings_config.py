"""The suite's warning filters (pyproject.toml): every warning is an
error, except the few named there.  On a free-threaded CPython, loading
the compiled core (declared GIL-needing) re-enables the GIL with a
RuntimeWarning; that one must not turn into a collection error, and no
other RuntimeWarning may slip through with it."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# CPython 3.13's text (Python/import.c), for a module imported by a test.
GIL_WARNING = (
    "The global interpreter lock (GIL) has been enabled to load module "
    "'fastlock._core_c', which has not declared that it can run safely without "
    "the GIL. To override this behavior and keep the GIL disabled (at your own "
    "risk), run with PYTHON_GIL=0 or -Xgil=0."
)


def _pytest_on_module(tmp_path, message):
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("needs the project's pyproject.toml")
    (tmp_path / "test_imports.py").write_text(
        "import warnings\n"
        f"warnings.warn({message!r}, RuntimeWarning)\n"  # at import, as CPython does
        "def test_ok():\n"
        "    pass\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-q",
         str(tmp_path / "test_imports.py")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )


def test_gil_reenabled_warning_is_not_a_collection_error(tmp_path):
    proc = _pytest_on_module(tmp_path, GIL_WARNING)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_other_runtime_warnings_still_fail(tmp_path):
    proc = _pytest_on_module(tmp_path, "The global interpreter lock is fine")
    assert proc.returncode != 0, proc.stdout
    assert "RuntimeWarning: The global interpreter lock is fine" in proc.stdout
