# External locks: one lock file per name, locked with Linux OFD record
# locks (whole file, exclusive), classic fcntl record locks where the
# kernel has no OFD.  Both conflict with the lockf() locks of oslo and
# fasteners.  flock() would not, so it is never used.
#
# OFD locks belong to an open file description, not to a thread: threads
# sharing one cached descriptor would not exclude each other, so every
# lock file also has an in-process semaphore, taken first.  With it at
# most one thread per process ever touches a descriptor's lock, which also
# keeps classic (per-process) record locks correct.  Descriptors are cached
# per path (bounded), so an uncontended acquire is fcntl + stat + fcntl.
# They are kept per file, not per spelling: a cache miss opens the path
# and looks the file's device and inode up, so that every name of one
# file (a symlinked directory, "//", "..") shares one descriptor and one
# semaphore; a second descriptor's OFD lock would conflict with ours.
# A relative path is made absolute with the working directory of the
# call, as open() would resolve it.
# Once locked, a stat of the path asks whether it still names the locked
# file, as oslo's open of the path at every acquire makes sure: a lock
# file unlinked or renamed over, a directory moved aside and made again, a
# symlinked lock path switched elsewhere all leave us a descriptor of a
# file that other processes no longer lock.  Then the lock is dropped and
# the file now at the path opened and locked instead.  (Our descriptor
# keeps the inode alive, so a new file never shares its number.)

from cpython.exc cimport PyErr_CheckSignals

from fastlock.posix_capi cimport (
    EACCES, EAGAIN, EINTR, EINVAL, EMFILE, ENFILE, F_OFD_SETLK, F_OFD_SETLKW,
    F_SETLK, F_SETLKW, F_UNLCK, F_WRLCK, O_CLOEXEC, O_CREAT, O_RDWR, SEEK_SET,
    ESTALE, c_stat, close, errno, fcntl, flock, fstat, open, stat, unlink,
)

import atexit as _atexit

cdef int _setlk = F_OFD_SETLK
cdef int _setlkw = F_OFD_SETLKW
cdef dict _lock_files = {}  # path -> _LockFile, any spelling
cdef dict _by_file = {}  # (st_dev, st_ino) -> _LockFile, one per open file
# The clock of the second-chance eviction: every open file's entry once,
# the hand at the front (entries dropped meanwhile are skipped, and swept
# when they pile up).  See _core_py._ADMIT_EVERY for where new files go.
cdef object _clock = deque()
cdef Py_ssize_t _ADMIT_EVERY = 32
cdef Py_ssize_t _admitted = 0
cdef Py_ssize_t _max_lock_files = 64  # set below
# Spellings remembered per file beyond the first (an alias costs a dict
# entry, not a descriptor; more spellings than this are looked up again).
cdef Py_ssize_t _MAX_ALIASES = 8
# How many times in a row one acquire may find the path re-pointed after
# locking before it gives up with an error (each time means some other
# party replaced the file meanwhile; a bound turns a livelock into an
# error).
cdef int _MAX_REOPENS = 100
cdef set _helper_waits = set()  # _HelperWait still in the kernel
_start_thread = _original("_thread").start_new_thread  # tests patch it

# _HelperWait.state
cdef enum:
    _PENDING = 0
    _DONE = 1
    _ABANDONED = 2
    _FORKED = 3  # in a fork child: the helper thread is gone

# FileLock._lock_fd outcomes
cdef enum:
    _NOT_LOCKED = 0
    _LOCKED = 1
    _RETRY = 2


def _default_cache_size():
    # See _core_py._default_cache_size.
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except Exception:  # pragma: no cover - not on Linux
        return 64
    if soft < 0:
        return 16384
    return max(4, min(16384, soft // 2))


_max_lock_files = _default_cache_size()


cdef int _fcntl_lock(int fd, short kind, bint wait) noexcept nogil:
    # Returns 0 or an errno value.  EINTR is left to the caller.
    global _setlk, _setlkw
    cdef flock fl
    fl.l_type = kind
    fl.l_whence = SEEK_SET
    fl.l_start = 0
    fl.l_len = 0  # the whole file, as lockf(fd, LOCK_EX) locks it
    fl.l_pid = 0  # required by OFD locks
    if fcntl(fd, _setlkw if wait else _setlk, &fl) == 0:
        return 0
    if errno == EINVAL and _setlk == F_OFD_SETLK:
        # No OFD locks in this kernel: classic record locks, for good.
        # The in-process semaphore keeps them one holder per process.
        _setlk = F_SETLK
        _setlkw = F_SETLKW
        return _fcntl_lock(fd, kind, wait)
    return errno


cdef int _raise_errno(int error, bytes path) except -1:
    raise OSError(error, _os.strerror(error), _os.fsdecode(path))


cdef class _LockFile:
    """A cached lock file descriptor and its in-process semaphore."""

    def __cinit__(self, bytes path, bytes given):
        # *path* is absolute; *given* is opened, as the caller spelled it
        # (a relative path may work where the absolute one is too long).
        cdef stat st
        self.path = path
        self.fd = open(given, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        if self.fd < 0:
            _raise_errno(errno, given)
        if fstat(self.fd, &st) != 0:
            error = errno
            self.discard()
            _raise_errno(error, given)
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.key = (st.st_dev, st.st_ino)
        self.paths = [path]
        self.sem = Semaphore()

    cdef bint same_file(self, bytes path) noexcept:
        # Does *path* name our file now?  Asked after each lock and before
        # unlinking.  One stat: our file's identity is known since open.
        cdef stat st
        if c_stat(path, &st) != 0:
            return False
        return st.st_dev == self.dev and st.st_ino == self.ino

    cdef int discard(self) noexcept:
        # Closing drops our OFD lock, if any; in a fork child it only
        # drops the child's reference to the parent's lock.
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1
        return 0


cdef inline bint _is_idle(_LockFile entry) noexcept:
    # Nobody holds it, waits for it, or waits in the kernel through it.
    return entry.sem._is_idle() and not entry.sem._waiters


cdef int _drop(_LockFile entry) except -1:
    entry.discard()
    for path in entry.paths:
        if _lock_files.get(path) is entry:
            del _lock_files[path]
    if _by_file.get(entry.key) is entry:
        del _by_file[entry.key]
    return 0


cdef int _evict(Py_ssize_t keep) except -1:
    # Close idle descriptors until at most *keep* remain: first those not
    # used since the last eviction (second chance), then any idle one.
    cdef _LockFile entry
    for second_round in (False, True):
        for entry in list(_by_file.values()):
            if len(_by_file) <= keep:
                return 0
            if not _is_idle(entry):
                continue
            if entry.used and not second_round:
                entry.used = False
                continue
            _drop(entry)
    _sweep_clock()
    return 0


cdef int _evict_one() except -1:
    # One step of the clock: the first entry at the hand not used since
    # it last passed and idle is closed; a used or busy one gets its bit
    # cleared and goes to the back.  Two laps at most (the first may only
    # clear bits); if everything is busy, nothing is closed.
    cdef _LockFile entry
    cdef Py_ssize_t steps = 2 * len(_clock)
    while steps > 0 and _clock:
        steps -= 1
        entry = _clock.popleft()
        if _by_file.get(entry.key) is not entry:
            continue  # dropped meanwhile
        if entry.used or not _is_idle(entry):
            entry.used = False
            _clock.append(entry)
            continue
        _drop(entry)
        return 1
    return 0


cdef int _sweep_clock() except -1:
    global _clock
    _clock = deque(_by_file.values())
    return 0


cdef _LockFile _lock_file(bytes path, bytes given):
    cdef _LockFile entry = _lock_files.get(path)
    cdef _LockFile known
    if entry is not None:
        entry.used = True
        return entry
    if len(_by_file) >= _max_lock_files:
        _evict_one()
    elif len(_clock) > 2 * len(_by_file) + 64:
        _sweep_clock()  # entries dropped by deletes and faults
    try:
        entry = _LockFile(path, given)
    except OSError as exc:
        if exc.errno not in (EMFILE, ENFILE) or not _by_file:
            raise
        _evict(0)  # out of descriptors: give back all we can and retry
        entry = _LockFile(path, given)
    known = _by_file.get(entry.key)
    if known is not None:
        # Another spelling of a file we have open: use that one.
        entry.discard()
        if len(known.paths) > _MAX_ALIASES:
            forgotten = known.paths.pop(1)
            if _lock_files.get(forgotten) is known:
                del _lock_files[forgotten]
        known.paths.append(path)
        known.used = True
        _lock_files[path] = known
        return known
    _lock_files[path] = entry
    _by_file[entry.key] = entry
    _admit(entry)
    return entry


cdef int _admit(_LockFile entry) except -1:
    # See _core_py._admit.
    global _admitted
    _admitted += 1
    if _admitted % _ADMIT_EVERY == 0:
        _clock.append(entry)
    else:
        _clock.appendleft(entry)
    return 0


cdef inline bint _take(Semaphore sem, object me, bint blocking,
                       object timeout) except -1:
    # sem._acquire() for a lock file's semaphore, which is unnamed (no
    # hooks, no holder bookkeeping): a free permit nobody waits for is
    # taken here, without looking the caller up again.
    if sem._value > 0 and sem._waiters is None and sem._name is _UNNAMED:
        sem._value -= 1
        sem._own(me)
        return True
    return sem._acquire(blocking, timeout)


cdef bytes _absolute(bytes path):
    # What open() would resolve a relative path against right now.
    return _os.path.join(_os.getcwdb(), path)


@cython.always_allow_keywords(True)
def set_lock_file_cache_size(size):
    """Keep at most *size* idle lock file descriptors open; return the
    previous limit.  Descriptors in use are never closed."""
    global _max_lock_files, _admitted
    if type(size) is not int:
        raise TypeError("size must be an int, not %s" % type(size).__name__)
    if size < 0:
        raise ValueError("size must not be negative")
    previous = _max_lock_files
    _max_lock_files = size
    _admitted = 0
    _evict(size)
    return previous


cdef class _HelperWait:
    """A kernel wait for a file lock, made by a helper OS thread so that a
    green thread, or a caller with a timeout, waits on a semaphore.

    A caller that gives up leaves the wait running (the kernel call cannot
    be cancelled) and leaves the file's in-process semaphore to it: the
    helper unlocks and releases both when the kernel answers, so that no
    other thread of this process touches the descriptor meanwhile.
    """

    def __cinit__(self, _LockFile entry not None):
        self.entry = entry
        self.done = Semaphore()
        self.done._acquire(True, None)
        self.waiter = PyGreenlet_GetCurrent()

    def run(self):
        cdef int fd = self.entry.fd
        cdef int error = EINTR
        while error == EINTR:  # signals are the main thread's business
            with nogil:
                error = _fcntl_lock(fd, F_WRLCK, True)
        # Back under the GIL: this block and the waiter's give-up check
        # cannot interleave.
        _helper_waits.discard(self)
        if self.state == _FORKED:
            # Started in a fork child after its clean-up, which closed the
            # descriptor and told the waiter to try again.
            return
        if self.state == _ABANDONED:
            if error == 0:
                _fcntl_lock(fd, F_UNLCK, False)
            self.entry.sem._release()
        else:
            self.state = _DONE
            self.error = error
            self.done._release()  # switch point (wakes the waiter)


cdef class FileLock:
    """An exclusive lock on a lock file, for threads, green threads and
    processes alike.

    Every ``FileLock`` of one file in a process, whatever the spelling
    of its path, shares one cached descriptor and one in-process
    semaphore; the (green) thread holding the file may acquire it again
    through another ``FileLock`` (the file is unlocked at the outermost
    release).  A relative path is resolved at each acquire, against the
    working directory of the moment.  A process that dies
    holding the lock releases it.

    Waits block in the kernel: an OS thread without a timeout waits in
    ``fcntl(F_OFD_SETLKW)`` with the GIL released.  A green thread, or a
    caller with a timeout, hands that call to a helper OS thread and waits
    for it on a semaphore (parked on its hub, or natively with the
    timeout); a caller whose timeout expires leaves the kernel wait to
    the helper, which unlocks as soon as it is granted.
    """

    def __init__(self, path):
        cdef bytes bpath = _os.fsencode(path)
        if b"\0" in bpath:
            raise ValueError("embedded null byte in lock path %r" % (path,))
        if not bpath:
            raise ValueError("lock path must not be empty")
        self._path = path
        self._bpath = bpath
        self._relative = not bpath.startswith(b"/")
        self._where = bpath

    @property
    def path(self):
        """The lock file's path, as given."""
        return self._path

    @property
    def acquired(self):
        """Whether this object holds the lock."""
        return self._entry is not None

    def fileno(self):
        """The locked descriptor while held, else -1."""
        if self._entry is None:
            return -1
        return self._entry.fd

    def acquire(self, blocking=True, timeout=None):
        """Acquire the lock; return True on success.

        :param blocking: when False, return False at once if another
            thread or process holds the lock.
        :param timeout: wait at most this many seconds (blocking only).
        :raises RuntimeError: if this object already holds the lock.
        :raises OSError: if the lock file cannot be opened or locked.
        """
        return self._acquire(blocking, timeout)

    cdef bint _acquire(self, bint blocking, object timeout) except -1:
        cdef _LockFile entry
        cdef double deadline = 0
        cdef int reopened = 0
        me = PyGreenlet_GetCurrent()
        if self._entry is not None:
            if self._entry.fd >= 0:
                raise RuntimeError(
                    "lock on %r is already held by this object"
                    % (self._path,))
            # A fork child: the parent holds the lock, not us (nor the
            # thread that held it through this object, if it is gone).
            self._entry = None
        if timeout is not None:
            timeout = _check_timeout(blocking, timeout)
            if timeout is not None:
                deadline = _monotonic() + <double>timeout
        while True:
            # The path a delete at release unlinks: this spelling's, not
            # the first one's (hard links are names of one file too).
            if self._relative:
                self._where = _absolute(self._bpath)
                entry = _lock_file(self._where, self._bpath)
            else:
                # The entry of the last acquire while it is open (a
                # dropped one is closed): any open entry is as good as
                # the path's, since the check after locking decides.
                entry = self._last
                if entry is not None and entry.fd >= 0:
                    entry.used = True
                else:
                    entry = _lock_file(self._bpath, self._bpath)
                    self._last = entry
            if entry.owner is me:
                entry.count += 1
                self._entry = entry
                return True
            if not _take(entry.sem, me, blocking, timeout):
                return False
            if entry.fd >= 0:
                outcome = self._lock_fd(entry, blocking, timeout)
                if outcome == _NOT_LOCKED:
                    return False  # _lock_fd gave the semaphore back
                if outcome == _LOCKED:
                    # As the caller spelled it: what open() would reach.
                    if entry.same_file(self._bpath):
                        entry.owner = me
                        entry.count = 1
                        self._entry = entry
                        return True
                    # The path names another file now (or none): lock
                    # the file now at the path instead.
                    _fcntl_lock(entry.fd, F_UNLCK, False)
                    _drop(entry)
                    reopened += 1
                    if reopened > _MAX_REOPENS:
                        entry.sem._release()
                        raise OSError(
                            ESTALE, "lock file replaced %d times in a row "
                            "while locking it" % reopened,
                            _os.fsdecode(self._where))
                # else _RETRY: a fork child lost its kernel wait
            # else: dropped while we waited for the semaphore
            entry.sem._release()
            if timeout is not None:
                timeout = max(0.0, deadline - _monotonic())

    cdef int _lock_fd(self, _LockFile entry, bint blocking,
                      object timeout) except -1:
        # Lock the descriptor; called holding entry.sem, which stays held
        # on _LOCKED and _RETRY and is given back (or left to the helper)
        # on _NOT_LOCKED or an exception.
        cdef int error = _fcntl_lock(entry.fd, F_WRLCK, False)
        cdef _HelperWait helper
        if error == 0:
            return _LOCKED
        if error != EAGAIN and error != EACCES:
            entry.sem._release()
            _raise_errno(error, entry.path)
        if not blocking or timeout == 0:
            entry.sem._release()
            return _NOT_LOCKED
        if timeout is None and _current_hub() is None:
            try:
                while True:
                    with nogil:
                        error = _fcntl_lock(entry.fd, F_WRLCK, True)
                    if error != EINTR:
                        break
                    PyErr_CheckSignals()  # may raise KeyboardInterrupt
                if error and entry.fd < 0:
                    return _RETRY  # a signal handler forked: we are the child
                if error:
                    _raise_errno(error, entry.path)
            except BaseException:
                entry.sem._release()
                raise
            return _LOCKED
        helper = _HelperWait(entry)
        _helper_waits.add(helper)
        try:
            _start_thread(helper.run, ())  # switch point
        except BaseException:
            # No thread (thread or memory limits): leave nothing behind.
            _helper_waits.discard(helper)
            entry.sem._release()
            raise
        try:
            helper.done._acquire(True, timeout)  # switch point
        except BaseException:
            # Killed or interrupted while waiting.
            if helper.state == _PENDING:
                helper.state = _ABANDONED
            else:
                if helper.error == 0 and helper.state == _DONE:
                    _fcntl_lock(entry.fd, F_UNLCK, False)
                entry.sem._release()
            raise
        if helper.state == _PENDING:
            helper.state = _ABANDONED  # timed out: the helper cleans up
            return _NOT_LOCKED
        if helper.state == _FORKED or entry.fd < 0:
            # The process forked (a signal handler of this thread) before
            # or while the helper started: we are the child, whose
            # clean-up closed the descriptor.
            return _RETRY
        if helper.error:
            entry.sem._release()
            _raise_errno(helper.error, entry.path)
        return _LOCKED

    def release(self, delete=False):
        """Release the lock.

        With *delete*, the outermost release of the holder unlinks the
        lock file while still holding it; other lockers (of fastlock)
        notice that the path changed and lock the new file.  Processes
        running oslo.concurrency or fasteners do not check: never delete
        lock files that they use too.

        :raises RuntimeError: if this object does not hold the lock.
        """
        self._release(delete)

    cdef int _release(self, bint delete) except -1:
        cdef _LockFile entry = self._entry
        if entry is None:
            raise RuntimeError("Unable to release an unacquired lock")
        self._entry = None
        entry.count -= 1
        if entry.count > 0:
            return 0
        entry.owner = None
        try:
            if entry.fd >= 0:  # not dropped in a fork child
                if delete:
                    if entry.same_file(self._where):
                        unlink(self._where)
                    # closing the descriptor releases the lock
                    _drop(entry)
                elif (len(_by_file) > _max_lock_files
                      and entry.sem._waiters is None):
                    # More files open than the cache keeps (held at once,
                    # or the cache shrunk since): close this one, which
                    # also releases the lock, so idle descriptors stay
                    # within the bound.
                    _drop(entry)
                else:
                    _fcntl_lock(entry.fd, F_UNLCK, False)
        finally:
            entry.sem._release()
        return 0

    def __enter__(self):
        self._acquire(True, None)
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self._release(False)
        return False

    def __repr__(self):
        return "<%s %r acquired=%s>" % (
            type(self).__name__, self._path, self._entry is not None)


cdef class ExternalLock:
    """What ``with lock(name, external=True)`` enters: the semaphore of
    *name* in *registry*, then the lock file, released in reverse.

    One object serves any number of acquisitions, by any thread, one at a
    time (the semaphore orders them), so the facade can keep it per name.
    The semaphore is looked up on each entry, not kept, so the registry
    still frees it between uses.

    :param owner: the facade's lock file object, returned by
        ``__enter__``; its ``_lock`` attribute is the :class:`FileLock`
        taken here.  When the lock file cannot be opened because its
        directory is missing, ``owner.acquire()`` is called instead, which
        makes the directory (policy stays in the facade).
    """

    cdef Registry _registry
    cdef str _name
    cdef object _owner
    cdef FileLock _file
    cdef Semaphore _held  # while held

    def __init__(self, registry, name, owner):
        if not isinstance(registry, Registry):
            raise TypeError("registry must be a Registry, not %s"
                            % type(registry).__name__)
        if not isinstance(name, str):
            raise TypeError("name must be a str, not %s" % type(name).__name__)
        self._registry = registry
        self._name = str.__str__(name)
        self._owner = owner
        self._file = owner._lock

    # Unbound, as Semaphore.__enter__/__exit__ (see there).
    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __enter__(self):
        self._enter(True, None, False)
        return self._owner

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __exit__(self, exc_type, exc_value, traceback):
        self._exit(False)
        return False

    cdef bint _enter(self, bint blocking, object timeout,
                     bint log) except -1:
        # The semaphore, then the lock file, within one *timeout*; False
        # (nothing held) when either cannot be had.  With *log*, the DEBUG
        # lines of oslo's lock() after each (see TryExternalLock).
        cdef Semaphore sem = self._registry._get(self._name)
        cdef double deadline = 0
        if timeout is not None:
            deadline = _now() + <double>timeout
        if not sem._acquire(blocking, timeout):
            return False
        try:
            if log:
                _log_acquired(self._name)  # switch point
            if timeout is not None:
                timeout = max(0.0, deadline - _now())
            try:
                got = self._file._acquire(blocking, timeout)
            except FileNotFoundError:
                got = self._owner.acquire(blocking, timeout=timeout)
        except BaseException:
            self._give_back(sem, log)
            raise
        if not got:
            self._give_back(sem, log)
            return False
        self._held = sem
        if log:
            try:
                _log_acquired_external(self._name)  # switch point
            except BaseException:
                self._exit(log)
                raise
        return True

    cdef int _exit(self, bint log) except -1:
        cdef Semaphore sem = self._held
        if sem is None:
            raise RuntimeError("Unable to release an unacquired lock")
        self._held = None
        try:
            self._file._release(False)
        finally:
            self._give_back(sem, log)
        return 0

    cdef int _give_back(self, Semaphore sem, bint log) except -1:
        # The semaphore, after oslo's last DEBUG line with *log*.
        if log:
            try:
                _log_releasing(self._name)  # switch point
            finally:
                sem._release()
        else:
            sem._release()
        return 0


def _use_ofd_locks(flag):
    # For tests: switch between OFD and classic record locks (the
    # fallback for kernels without OFD); return the previous choice.
    global _setlk, _setlkw
    previous = _setlk == F_OFD_SETLK
    if flag:
        _setlk, _setlkw = F_OFD_SETLK, F_OFD_SETLKW
    else:
        _setlk, _setlkw = F_SETLK, F_SETLKW
    return previous


def _forget_lock_files():
    # In a fork child the cached descriptors share their open file
    # descriptions (and so their locks) with the parent: close them
    # without unlocking, and open afresh when needed.  Kernel waits of
    # helper threads died with the threads: their waiters try again.
    cdef _HelperWait helper
    for entry in _by_file.values():
        (<_LockFile>entry).discard()
    _lock_files.clear()
    _by_file.clear()
    _clock.clear()
    root = _root(PyGreenlet_GetCurrent())
    for helper in list(_helper_waits):
        if helper.state == _PENDING:
            helper.state = _FORKED
            if _root(helper.waiter) is root:  # else its thread is gone too
                helper.done._release()  # switch point (wakes the waiter)
    _helper_waits.clear()


def _close_lock_files():
    # At exit: close what nobody uses.
    _evict(0)


_os.register_at_fork(after_in_child=_forget_lock_files)
_atexit.register(_close_lock_files)
