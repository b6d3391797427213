cdef class _FairState:
    cdef readonly object writer
    cdef readonly Py_ssize_t entries
    cdef dict readers


cdef class _FairTable:
    cdef readonly Registry registry
    cdef readonly dict held
    cdef readonly dict pending
    cdef object _handle_type
    cdef object _owner
    cdef Py_ssize_t _locks_at
    cdef Py_ssize_t _sem_at
    cdef object __weakref__

    cdef object _handle(self, Semaphore sem)
    cdef _FairWriter _writer(self, object name, object prefix,
                             object lock_path, object do_log, object delay,
                             bint log)
    cdef bint _write_acquire(self, Semaphore sem, bint blocking,
                             object timeout) except -1
    cdef int _write_release(self, Semaphore sem, object me) except -1
    cdef int _read_acquire(self, Semaphore sem) except -1
    cdef int _read_release(self, Semaphore sem, object me,
                           bint raise_on_not_owned) except -1
    cdef int _forget_threads_but(self, object root) except -1


cdef class _FairWriter:
    cdef _FairTable _table
    cdef Semaphore _sem
    cdef object _name
    cdef object _prefix
    cdef object _lock_path
    cdef object _do_log
    cdef object _delay
    cdef object _handle
    cdef bint _log  # DEBUG lines of oslo's lock()
    # A handle's write_lock(): decorates with itself, not a fresh lock().
    cdef bint _reuse
    cdef object _writer  # who entered: the exit releases its lock
    cdef Py_ssize_t _depth

    cdef int _leave(self) except -1


cdef class _FairReader:
    cdef _FairTable _table
    cdef Semaphore _sem
    cdef object _handle
    cdef object _reader
    cdef Py_ssize_t _depth
