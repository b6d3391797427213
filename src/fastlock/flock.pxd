cdef class _LockFile:
    cdef bytes path
    cdef int fd
    # The open file's (st_dev, st_ino), and the spellings that reached it.
    cdef tuple key
    cdef unsigned long dev, ino
    cdef list paths
    # In-process exclusion: one holder (or waiter in the kernel) per file.
    cdef Semaphore sem
    # Reentrancy: the (green) thread holding the file and how many times.
    cdef object owner
    cdef Py_ssize_t count
    # Second chance for the cache eviction.
    cdef bint used

    cdef bint same_file(self, bytes path) noexcept
    cdef int discard(self) noexcept


cdef class _HelperWait:
    cdef _LockFile entry
    cdef Semaphore done
    cdef object waiter  # the (green) thread waiting for it
    cdef int state
    cdef int error


cdef class FileLock:
    cdef object _path
    cdef bytes _bpath
    cdef bint _relative
    cdef bytes _where  # the absolute path of the last acquire
    cdef _LockFile _entry
    # An absolute path's entry of the last acquire, reused while open; a
    # closed one (a few hundred bytes) is replaced at the next acquire.
    cdef _LockFile _last

    cdef bint _acquire(self, bint blocking, object timeout) except -1
    cdef int _lock_fd(self, _LockFile entry, bint blocking,
                      object timeout) except -1
    cdef int _release(self, bint delete) except -1
