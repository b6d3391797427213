"""fastlock: a Cython-accelerated drop-in for ``oslo_concurrency.lockutils``.

Import the API from :mod:`fastlock.lockutils`.  ``IMPLEMENTATION`` is
``"c"`` when the compiled core is in use and ``"py"`` for the pure-Python
twin (``FASTLOCK_NO_EXTENSIONS=1``).

``patch_oslo()`` makes ``oslo_concurrency.lockutils`` be fastlock's in the
whole process (``unpatch_oslo()`` undoes it); ``FASTLOCK_PATCH_OSLO=1`` in
the environment does it at ``import fastlock``.

``FASTLOCK_LOCK_ORDER=warn|raise`` in the environment turns on lock-order
checking at ``import fastlock`` (see
:func:`fastlock.lockutils.set_lock_order_checking`), which reports
problems as ``LockOrderWarning`` or ``LockOrderError``.
"""

import os as _os

from fastlock._core import IMPLEMENTATION, _is_truthy
from fastlock._lockorder import LockOrderError, LockOrderWarning

__version__ = "0.1.0"
__all__ = [
    "IMPLEMENTATION", "LockOrderError", "LockOrderWarning", "__version__",
    "patch_oslo", "unpatch_oslo",
]


def patch_oslo() -> bool:
    """Make ``import oslo_concurrency.lockutils`` give
    :mod:`fastlock.lockutils` everywhere in this process, including for
    code that imported it already; see :mod:`fastlock._patch`."""
    from fastlock._patch import patch_oslo as _patch_oslo

    return _patch_oslo()


def unpatch_oslo() -> bool:
    """Undo :func:`patch_oslo`."""
    from fastlock._patch import unpatch_oslo as _unpatch_oslo

    return _unpatch_oslo()


if _is_truthy(_os.environ.get("FASTLOCK_PATCH_OSLO")):
    patch_oslo()
