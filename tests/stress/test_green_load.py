"""Run green_load.py (monkey-patched) in a child interpreter per core."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).with_name("green_load.py")


@pytest.mark.parametrize("names", [1, 100])
def test_green_and_native_hammer(impl_name, names, stress_seconds, report):
    pytest.importorskip("eventlet")
    env = dict(os.environ, FASTLOCK_EXPECT_IMPLEMENTATION=impl_name)
    env.pop("FASTLOCK_NO_EXTENSIONS", None)
    if impl_name == "py":
        env["FASTLOCK_NO_EXTENSIONS"] = "1"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(names), str(stress_seconds)],
        env=env, capture_output=True, text=True, timeout=stress_seconds + 120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    totals = json.loads(proc.stdout.strip().splitlines()[-1])
    report(impl=impl_name, green_threads=1000, native_threads=16, names=names,
           green_acquisitions=totals["green"],
           native_acquisitions=totals["native"],
           max_wait_ms=round(totals["max_wait"] * 1000, 1))
