# External locks: one lock file per name, locked with Linux OFD record
# locks (whole file, exclusive), classic fcntl record locks where the
# kernel has no OFD.  Both conflict with the lockf() locks of oslo and
# fasteners.  flock() would not, so it is never used.
#
# OFD locks belong to an open file description, not to a thread: threads
# sharing one cached descriptor would not exclude each other, so every
# lock file also has an in-process semaphore taken first.  Descriptors are
# cached per path (bounded), so an uncontended acquire is fcntl + stat +
# fcntl; the stat compares the path with the locked file, so a lock file
# that was unlinked while we waited is never trusted.

cdef int _setlk = F_OFD_SETLK
cdef int _setlkw = F_OFD_SETLKW
cdef dict _lock_files = {}
cdef Py_ssize_t _MAX_LOCK_FILES = 1024
cdef object _start_thread = _original("_thread").start_new_thread


cdef int _fcntl_lock(int fd, short kind, bint wait) noexcept nogil:
    # Returns 0 or an errno value.  EINTR is left to the caller.
    global _setlk, _setlkw
    cdef flock fl
    fl.l_type = kind
    fl.l_whence = SEEK_SET
    fl.l_start = 0
    fl.l_len = 0
    fl.l_pid = 0
    if fcntl(fd, _setlkw if wait else _setlk, &fl) == 0:
        return 0
    if errno == EINVAL and _setlk == F_OFD_SETLK:
        # No OFD locks in this kernel: classic record locks, for good.
        _setlk = F_SETLK
        _setlkw = F_SETLKW
        return _fcntl_lock(fd, kind, wait)
    return errno


cdef int _wait_in_kernel(int fd) except -1:
    # An OS thread waits in fcntl with the GIL released; signal handlers
    # run between retries, and may raise.
    cdef int error = EINTR
    while error == EINTR:
        with nogil:
            error = _fcntl_lock(fd, F_WRLCK, True)
        if error == EINTR:
            PyErr_CheckSignals()
    return error


cdef int _check_errno(int error, bytes path) except -1:
    if error:
        raise OSError(error, _os.strerror(error), _os.fsdecode(path))
    return 0


cdef class _LockFile:
    """A cached lock file descriptor and its in-process semaphore."""

    def __cinit__(self, bytes path):
        cdef stat st
        self.path = path
        self.fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        if self.fd < 0:
            _check_errno(errno, path)
        fstat(self.fd, &st)
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.sem = Semaphore()

    cdef bint same_file(self) noexcept:
        cdef stat st
        if c_stat(self.path, &st) != 0:
            return False
        return st.st_dev == self.dev and st.st_ino == self.ino

    cdef int discard(self) noexcept:
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1
        return 0


cdef _LockFile _lock_file(bytes path):
    cdef _LockFile entry = _lock_files.get(path)
    if entry is not None and entry.fd >= 0:
        return entry
    if len(_lock_files) >= _MAX_LOCK_FILES:
        for key, old in list(_lock_files.items()):
            if (<_LockFile>old).sem._is_idle() and \
                    not (<_LockFile>old).sem._waiters:
                (<_LockFile>old).discard()
                del _lock_files[key]
    entry = _LockFile(path)
    _lock_files[path] = entry
    return entry


cdef class _HelperWait:
    """Waits for a file lock in a helper OS thread, so that a green thread
    (or a caller with a timeout) can wait on a semaphore instead.

    Exactly one side decides the outcome, atomically under the GIL: either
    the helper delivers (the caller owns the file lock), or the caller
    abandons first (the helper then unlocks and releases the lock file's
    in-process semaphore itself).
    """

    def __cinit__(self, _LockFile entry):
        self.entry = entry
        self.done = Semaphore()
        self.done._acquire(True, None)
        _start_thread(self._run, ())

    def _run(self):
        cdef int fd = self.entry.fd
        cdef int error = EINTR
        while error == EINTR:
            with nogil:
                error = _fcntl_lock(fd, F_WRLCK, True)
        self.error = error
        self.delivered = not self.abandoned
        if self.delivered:
            self.done._release()
            return
        if error == 0:
            _fcntl_lock(fd, F_UNLCK, False)
        self.entry.sem._release()

    cdef bint _abandon(self) noexcept:
        self.abandoned = not self.delivered
        return self.abandoned

    cdef bint wait(self, object timeout) except -1:
        """Wait for the helper; False if the timeout expired first."""
        try:
            gotten = self.done._acquire(True, timeout)
        except BaseException:
            if not self._abandon() and self.error == 0:
                _fcntl_lock(self.entry.fd, F_UNLCK, False)
            raise
        return gotten or not self._abandon()


cdef class FileLock:
    """An exclusive lock on a lock file, for threads, green threads and
    processes alike.

    Waits block in the kernel: an OS thread without a timeout waits in
    ``fcntl(F_OFD_SETLKW)`` with the GIL released; a green thread, or a
    caller with a timeout, lets a helper OS thread make that call and
    waits for it.  A process that dies holding the lock releases it.
    """

    def __init__(self, path):
        self._path = path
        self._bpath = _os.fsencode(path)

    @property
    def path(self):
        """The lock file's path."""
        return self._path

    @property
    def acquired(self):
        """Whether this object holds the lock."""
        return self._entry is not None

    def acquire(self, blocking=True, timeout=None):
        """Acquire the lock; return True on success.

        :param blocking: when False, return False at once if another
            thread or process holds the lock.
        :param timeout: wait at most this many seconds (blocking only).
        """
        cdef _LockFile entry
        cdef int error
        cdef double deadline = 0
        if self._entry is not None:
            raise RuntimeError("lock on %s is already held by this object"
                               % self._path)
        if timeout is not None:
            timeout = _check_timeout(blocking, timeout)
            deadline = _monotonic() + <double>timeout
        while True:
            entry = _lock_file(self._bpath)
            if not entry.sem._acquire(blocking, timeout):
                return False
            helper = None
            try:
                error = _fcntl_lock(entry.fd, F_WRLCK, False)
                if (error == EAGAIN or error == EACCES) and blocking:
                    if timeout is not None:
                        timeout = max(0.0, deadline - _monotonic())
                    if timeout is None and _current_hub() is None:
                        error = _wait_in_kernel(entry.fd)
                    else:
                        helper = _HelperWait(entry)
                        if not helper.wait(timeout):
                            return False  # the helper releases entry.sem
                        error = helper.error
                if error == EAGAIN or error == EACCES:
                    entry.sem._release()
                    return False
                _check_errno(error, self._bpath)
            except BaseException:
                if helper is None or not helper.abandoned:
                    entry.sem._release()
                raise
            if entry.same_file():
                self._entry = entry
                return True
            # Unlinked or replaced while we waited: lock the new file.
            _fcntl_lock(entry.fd, F_UNLCK, False)
            entry.discard()
            entry.sem._release()
            if timeout is not None:
                timeout = max(0.0, deadline - _monotonic())

    def release(self, delete=False):
        """Release the lock; with *delete*, unlink the lock file first
        (safe: other fastlock lockers notice and lock the new file).

        :raises RuntimeError: if this object does not hold the lock.
        """
        cdef _LockFile entry = self._entry
        if entry is None:
            raise RuntimeError("Unable to release an unacquired lock")
        self._entry = None
        try:
            if entry.fd >= 0:
                if delete:
                    unlink(entry.path)
                _fcntl_lock(entry.fd, F_UNLCK, False)
                if delete:
                    entry.discard()
        finally:
            entry.sem._release()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.release()
        return False


def _forget_lock_files():
    # In a fork child the cached descriptors share their open file
    # descriptions (and so their locks) with the parent: close them
    # without unlocking, and open afresh when needed.
    for entry in _lock_files.values():
        (<_LockFile>entry).discard()
    _lock_files.clear()


_os.register_at_fork(after_in_child=_forget_lock_files)
