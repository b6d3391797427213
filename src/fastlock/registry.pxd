cdef class Registry:
    cdef dict _entries
    cdef bint _fair
    cdef object _type
    cdef object _guard
    cdef Py_ssize_t _sweep_at
    cdef object __weakref__

    cdef Semaphore _get(self, object name)
    cdef Semaphore _get_other(self, object name)
    cdef Semaphore _insert(self, object name)
    cdef int _sweep(self) except -1
