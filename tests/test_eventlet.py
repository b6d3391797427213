"""Run every ``tests/isolated/eventlet_*.py`` scenario in a fresh,
monkey-patched interpreter, once per core, so that eventlet's patching
cannot leak into the rest of the run."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from _processes import core_env

SCRIPTS = sorted((pathlib.Path(__file__).parent / "isolated").glob("eventlet_*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_isolated(script, impl_name):
    pytest.importorskip("eventlet")
    env = core_env(impl_name, FASTLOCK_EXPECT_IMPLEMENTATION=impl_name)
    try:
        proc = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True,
            text=True, timeout=180,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail("%s hung:\n%s" % (script.name, exc.stdout or ""))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("OK"), proc.stdout
