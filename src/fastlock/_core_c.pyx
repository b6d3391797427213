# cython: freethreading_compatible = False
# cython: auto_pickle = False
# Smaller code at no measured cost (callgrind per lock within 0.3%), to
# keep the module under the 400 KiB that make dist allows: methods of zero
# or one argument take METH_NOARGS / METH_O instead of parsing keywords
# (the public ones that take one argument keep keywords), and a call of a
# Python method takes the bound method rather than inlining its unpacking.
# cython: always_allow_keywords = False
# cython: optimize.unpack_method_calls = False
"""Compiled core of fastlock: named-semaphore registry, a semaphore that
parks OS threads natively and eventlet green threads on their hub, and the
per-(green)thread list of held lock names.

The pure-Python twin ``fastlock._core_py`` has the same names and is the
reference for behaviour.  Policy (logging, config, decorators) lives in
``fastlock.lockutils``.
"""

cimport cython
from cpython.dict cimport (
    PyDict_GetItemWithError, PyDict_Next, PyDict_SetDefault,
)
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_REFCNT
from libc.math cimport INFINITY
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport read, write

from fastlock.greenlet_capi cimport PyGreenlet_GetCurrent, PyGreenlet_Import
from fastlock.posix_capi cimport close

cdef extern from "pythread.h":
    unsigned long PyThread_get_thread_ident() nogil

cdef extern from "Python.h":
    # d[key] or NULL, unchecked: only for keys whose comparison with every
    # key of d cannot fail (str, int, greenlet, tuples of str).
    PyObject *_dict_get "PyDict_GetItemWithError"(object d, object key)

import sys
from collections import deque
from functools import wraps as _wraps
from time import monotonic as _monotonic
from types import SimpleNamespace
from weakref import ref as _weakref

PyGreenlet_Import()

__all__ = [
    "HAND_OFF_AFTER", "ExternalLock", "FileLock", "Registry", "Semaphore",
    "TryExternalLock", "TryLock", "held_locks", "set_lock_file_cache_size",
]


def _original(module_name):
    # See _core_py._original: a copy of the functions, not the module that
    # eventlet's monkey_patch() may patch in place after our import.
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None:
        module = patcher.original(module_name)
    else:
        module = __import__(module_name)
    return SimpleNamespace(**vars(module))


cdef object _os = _original("os")
cdef object _allocate_lock = _original("_thread").allocate_lock
cdef dict _sys_modules = sys.modules

include "held.pyx"
include "lockorder.pyx"
include "semaphore.pyx"
include "registry.pyx"
include "fair.pyx"
include "flock.pyx"
include "table.pyx"
include "entry.pyx"
