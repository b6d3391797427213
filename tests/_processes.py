"""Child Python processes for the tests that need more than one process:
each runs one fastlock core (or oslo.concurrency), whatever the parent
test process itself was started with."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable


def core_env(kind: str, **extra: str) -> dict[str, str]:
    """``os.environ`` for a child running core *kind*: ``py`` selects the
    pure-Python twin; anything else (``c``, ``oslo``) leaves the default,
    the compiled core.  Oslo is not patched unless *extra* says so."""
    env = dict(os.environ)
    env.pop("FASTLOCK_NO_EXTENSIONS", None)
    env.pop("FASTLOCK_PATCH_OSLO", None)
    if kind == "py":
        env["FASTLOCK_NO_EXTENSIONS"] = "1"
    env.update(extra)
    return env


def start_script(kind: str, code: str, args: Iterable[object] = (),
                 stdin: int | None = subprocess.PIPE) -> subprocess.Popen[str]:
    """Start ``python -c code args...`` under core *kind*, with text
    pipes for stdout and stderr (and stdin unless told otherwise)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        env=core_env(kind), stdin=stdin, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
