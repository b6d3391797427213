cdef class Registry:
    cdef dict _entries
    cdef bint _fair
    cdef Py_ssize_t _sweep_at
    cdef object __weakref__

    cdef Semaphore _get(self, object name)
    cdef int _sweep(self) except -1
