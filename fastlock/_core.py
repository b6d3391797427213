"""Select the core implementation: compiled ``_core_c`` or its twin.

``FASTLOCK_NO_EXTENSIONS`` (``1``/``true``/``yes``/``on``, any case)
forces the pure-Python twin, as does any interpreter but CPython.
``IMPLEMENTATION`` says which one was picked (``"c"`` or ``"py"``).
"""

from __future__ import annotations

import os
import platform
from types import ModuleType
from typing import TYPE_CHECKING

_TRUTHY = frozenset({"1", "true", "yes", "on"})


def _is_truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUTHY


NO_EXTENSIONS = _is_truthy(
    os.environ.get("FASTLOCK_NO_EXTENSIONS")
) or platform.python_implementation() != "CPython"

core: ModuleType
if TYPE_CHECKING or NO_EXTENSIONS:
    from fastlock import _core_py as core
else:
    try:
        from fastlock import _core_c as core
    except ImportError:  # pragma: no cover
        from fastlock import _core_py as core

IMPLEMENTATION = "c" if core.__name__.endswith("_c") else "py"
