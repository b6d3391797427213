"""fastlock: a Cython-accelerated drop-in for ``oslo_concurrency.lockutils``.

Import the API from :mod:`fastlock.lockutils`.  ``IMPLEMENTATION`` is
``"c"`` when the compiled core is in use and ``"py"`` for the pure-Python
twin (``FASTLOCK_NO_EXTENSIONS=1``).
"""

from fastlock._core import IMPLEMENTATION

__version__ = "0.1.0"
__all__ = ["IMPLEMENTATION", "__version__"]
