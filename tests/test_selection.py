"""Which core ``import fastlock`` picks, checked in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _implementation(value):
    env = dict(os.environ)
    env.pop("FASTLOCK_NO_EXTENSIONS", None)
    if value is not None:
        env["FASTLOCK_NO_EXTENSIONS"] = value
    out = subprocess.run(
        [sys.executable, "-c",
         "import fastlock, fastlock.lockutils as l;"
         "print(fastlock.IMPLEMENTATION, l._core.__name__)"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    return out.stdout.split()


@pytest.mark.c_extension
@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "off"])
def test_compiled_core_by_default(value):
    assert _implementation(value) == ["c", "fastlock._core_c"]


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_env_var_selects_the_twin(value):
    assert _implementation(value) == ["py", "fastlock._core_py"]
