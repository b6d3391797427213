"""Build the one compiled module, ``fastlock._core_c``.

All metadata lives in pyproject.toml; this file only assembles
``ext_modules``.  ``FASTLOCK_NO_EXTENSIONS=1`` (or a non-CPython
interpreter) gives a pure-Python build; otherwise a compile failure
fails the install, so CI can never pass on the pure twin alone.
"""

import os
import platform
import sys

from setuptools import setup

TRUTHY = {"1", "true", "yes", "on"}


def _flag(name):
    return os.environ.get(name, "").strip().lower() in TRUTHY


def _extensions():
    import greenlet
    from Cython.Build import cythonize
    from setuptools import Extension

    debug = _flag("FASTLOCK_DEBUG_BUILD")
    directives = {"language_level": 3, "embedsignature": True}
    macros = []
    if debug:
        directives["linetrace"] = True
        macros.append(("CYTHON_TRACE_NOGIL", "1"))
    ext = Extension(
        "fastlock._core_c",
        ["src/fastlock/_core_c.pyx"],
        # greenlet ships greenlet/greenlet.h inside its package directory.
        include_dirs=[os.path.dirname(os.path.dirname(greenlet.__file__))],
        define_macros=macros,
        extra_compile_args=["-O0", "-g"] if debug else ["-O2"],
    )
    return cythonize(
        [ext],
        include_path=["src"],
        compiler_directives=directives,
        annotate=_flag("FASTLOCK_CYTHON_ANNOTATE"),
    )


if _flag("FASTLOCK_NO_EXTENSIONS") or platform.python_implementation() != "CPython":
    print("*********************\n* Pure Python build *\n*********************",
          file=sys.stderr)
    setup()
else:
    setup(ext_modules=_extensions())
