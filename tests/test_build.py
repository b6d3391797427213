"""Building from source: what a user without a C compiler is told, and
that the pure-Python build it is pointed to works."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FILES = ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE")


@pytest.fixture
def source_copy(tmp_path):
    """The project's build inputs copied to a fresh folder (no compiled
    module; a generated .c is kept with its time stamp, so Cython need
    not translate again)."""
    if not (ROOT / "setup.py").exists():
        pytest.skip("needs the source tree")
    pytest.importorskip("Cython")
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("needs setuptools>=77 (the dev extra) to read pyproject.toml")
    dest = tmp_path / "src-copy"
    dest.mkdir()
    for name in FILES:
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("*.html"))
    shutil.copytree(ROOT / "fastlock", dest / "fastlock",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    return dest


def _pip_wheel(source, tmp_path, **env):
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation",
         "--no-deps", "--no-cache-dir", "-q", "-w", str(tmp_path / "out"), str(source)],
        env={**os.environ, "PIP_NO_INPUT": "1", **env},
        capture_output=True, text=True, timeout=120,
    )


def test_no_compiler_says_how_to_build_pure_python(source_copy, tmp_path):
    proc = _pip_wheel(source_copy, tmp_path, CC="/nonexistent/cc",
                      FASTLOCK_NO_EXTENSIONS="")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "FASTLOCK_NO_EXTENSIONS=1 pip install fastlock" in output, output
    assert "/nonexistent/cc" in output, output  # the original error is kept


def test_pure_python_build_needs_no_compiler(source_copy, tmp_path):
    proc = _pip_wheel(source_copy, tmp_path, CC="/nonexistent/cc",
                      FASTLOCK_NO_EXTENSIONS="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "out").glob("fastlock-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
