"""Build the one compiled module, ``fastlock._core_c``.

All metadata lives in pyproject.toml; this file only assembles
``ext_modules``.  ``FASTLOCK_NO_EXTENSIONS=1`` (or a non-CPython
interpreter) gives a pure-Python build; otherwise a compile failure
fails the install, so CI can never pass on the pure twin alone, and the
error says how to ask for the pure-Python build instead.

Release builds carry no debug information (``-g0``) and no symbol table
beyond the dynamic one (stripped at link time); ``FASTLOCK_DEBUG_BUILD=1``
gives ``-O0 -g`` and Cython line tracing instead.
"""

import os
import platform
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

TRUTHY = {"1", "true", "yes", "on"}

NO_COMPILER = """
*************************************************************************
fastlock could not build its C extension (fastlock._core_c):
    {error}
It needs a C compiler and the Python headers (Debian/Ubuntu:
"apt-get install gcc python3-dev"; Fedora: "dnf install gcc python3-devel").
Or install the pure-Python build, which behaves the same, only slower:
    FASTLOCK_NO_EXTENSIONS=1 pip install fastlock
*************************************************************************
"""


def _flag(name):
    return os.environ.get(name, "").strip().lower() in TRUTHY


class BuildExt(build_ext):
    """build_ext whose compiler failures say how to build without one."""

    def run(self):
        from setuptools.errors import CCompilerError, ExecError, PlatformError

        try:
            super().run()
        except (CCompilerError, ExecError, PlatformError) as exc:
            # A missing compiler reads "command 'cc' failed: No such file
            # or directory", which tells nobody what to do about it.
            raise type(exc)(NO_COMPILER.format(error=exc)) from exc


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
        # Python's own CFLAGS carry -g; the later -g0 wins.  Debug info
        # makes the module five times larger (1.25 MB against 245 KB),
        # and the symbol table adds a seventh (only tools read it: the
        # module's one export, PyInit__core_c, is in the dynamic table).
        extra_compile_args=["-O0", "-g"] if debug else ["-O2", "-g0"],
        extra_link_args=[] if debug else ["-Wl,--strip-all"],
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
    setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
