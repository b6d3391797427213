# The compiled entry of lockutils.lock() and of @synchronized calls: the
# plain cases, decided on the same conditions as the Python code in
# fastlock.lockutils (the specification), which gets every other case.
# See _core_py._fast_lock for the same logic in plain Python.

# lockutils' globals and what _bind_fast_path() read from them; _spec is
# None until the facade binds this core.
cdef dict _facade = None
cdef object _spec = None
cdef Registry _default = None
cdef object _log = None
cdef dict _log_cache = None
cdef object _entry = None
cdef object _semaphores_type = None
cdef object _unpatched_external_lock = None
cdef object _unpatched_ipl = None
cdef object _fasteners_log = None
cdef dict _fasteners_cache = None
cdef object _external_locks = None
cdef object _disabled_key = None
cdef object _path_key = None
cdef object _fair_locks = None
cdef _FairTable _fair_table = None
cdef object _unpatched_ifl = None
cdef object _semaphores = None  # lockutils._semaphores, as bound
# lockutils' DEBUG lines of lock(): _log_acquiring, _log_acquired,
# _log_acquired_external and _log_releasing, called with the name.
cdef object _log_acquiring = None
cdef object _log_acquired = None
cdef object _log_acquired_external = None
cdef object _log_releasing = None
cdef extern from "Python.h":
    object PyObject_GenericGetAttr(object o, object name)
    object PyObject_GenericGetDict(object o, void *context)

cdef object _DEBUG_LEVEL = 10  # logging.DEBUG
# The ExternalLocks last found in _external_locks, by the hash of their
# name: (name, lock_file_prefix, lock path, ExternalLock, whether the
# lock path was given), compared item by item (str, None or bool, which
# compare without running Python code), so that a hit costs no key tuple
# built, hashed and compared.  One the
# facade has since evicted still works as a fresh one would (an
# ExternalLock keeps no state between uses); forgotten at fork, as the
# facade forgets its own.
cdef enum:
    _MEMO_SLOTS = 4096
cdef list _memo = [None] * _MEMO_SLOTS
cdef object _BLATHER_LEVEL = 5  # fasteners' lock-file chatter


def _bind_fast_path(facade):
    """Serve the plain cases of the facade whose globals are *facade*
    (``fastlock.lockutils``); see :func:`_fast_lock`."""
    global _facade, _spec, _default, _log, _log_cache, _entry
    global _semaphores_type, _unpatched_external_lock, _unpatched_ipl
    global _fasteners_log, _fasteners_cache, _external_locks
    global _disabled_key, _path_key, _fair_locks, _fair_table
    global _unpatched_ifl, _lock_decorator, _semaphores
    global _log_acquiring, _log_acquired, _log_acquired_external
    global _log_releasing
    _facade = facade
    _spec = facade["_lock_spec"]
    _default = facade["_semaphores"]._registry
    _log = facade["LOG"]
    # logging clears each logger's _cache dict in place whenever levels
    # change (Manager._clear_cache), so one reference stays valid.
    _log_cache = _log._cache
    _entry = facade["lock"]
    _semaphores_type = facade["Semaphores"]
    _unpatched_external_lock = facade["_unpatched_external_lock"]
    _unpatched_ipl = facade["_UnpatchedInterProcessLock"]
    _fasteners_log = facade["_fasteners_log"]
    _fasteners_cache = _fasteners_log._cache
    _external_locks = facade["_external_locks"]
    _disabled_key = facade["_DISABLED_KEY"]
    _path_key = facade["_PATH_KEY"]
    _fair_locks = facade["_fair_locks"]
    _fair_table = _fair_locks._table
    _unpatched_ifl = facade["internal_fair_lock"]
    _lock_decorator = facade["_lock_decorator"]
    _semaphores = facade["_semaphores"]
    _log_acquiring = facade["_log_acquiring"]
    _log_acquired = facade["_log_acquired"]
    _log_acquired_external = facade["_log_acquired_external"]
    _log_releasing = facade["_log_releasing"]
    _forget_memo()


def _forget_memo():
    cdef Py_ssize_t i
    for i in range(_MEMO_SLOTS):
        _memo[i] = None


cdef inline PyObject *_lookup(dict d, object key) noexcept:
    # d[key] or NULL, for a str, int or (str, str) key of a dict holding
    # only such keys, whose comparison cannot fail (PyDict_GetItem would
    # also save and restore the error state: twice the cost).
    return _dict_get(d, key)


cdef inline bint _cached_off(dict cache, object level) noexcept:
    # Whether logging's own cache says *level* is off for its logger; not
    # cached yet or on is for the Python code to decide.
    cdef PyObject *found = _lookup(cache, level)
    return found is not NULL and <object>found is False


cdef inline bint _quiet() noexcept:
    # lockutils.LOG is the logger bound (not patched) and DEBUG is off
    # for it.  No Python code runs here.
    cdef PyObject *found = _lookup(_facade, "LOG")
    return (found is not NULL and <object>found is _log
            and _cached_off(_log_cache, _DEBUG_LEVEL))


def _fast_lock(name, lock_file_prefix=None, external=False, lock_path=None,
               do_log=True, semaphores=None, delay=0.01, fair=False,
               blocking=True, *, timeout=None):
    """``lockutils.lock()``: what it returns in the plain cases, else what
    the Python ``lock()`` returns.  The facade installs it as ``lock``."""
    cdef PyObject *found
    if _spec is None or (do_log and not _quiet()):
        return _call_spec(name, lock_file_prefix, external, lock_path,
                          do_log, semaphores, delay, fair, blocking, timeout)
    if blocking is not True or timeout is not None:
        # Non-blocking or timed: a TryLock on the name's semaphore, or a
        # TryExternalLock on its cached ExternalLock, whose compiled
        # __enter__ no signal handler can cut between acquire and return
        # (the Python code's can).  (A timeout or delay the Python code
        # may refuse goes there for its error.)
        if (blocking is False or blocking is True) and not fair and (
                timeout is None or (blocking is True and (
                    type(timeout) is float or type(timeout) is int)
                    and timeout >= 0)):
            args = (name, lock_file_prefix, external, lock_path, do_log,
                    semaphores, delay, fair, blocking)
            sem = None
            if not external:
                sem = _plain_semaphore(name, semaphores)
            elif semaphores is None and (
                    type(delay) is float or type(delay) is int) and delay >= 0:
                # The cached ExternalLock, or the semaphore while process
                # locking is disabled.
                sem = _cached_external(name, lock_file_prefix, lock_path)
                if isinstance(sem, ExternalLock):
                    return TryExternalLock(sem, blocking, timeout, args)
            if sem is not None:
                return TryLock(sem, name, blocking, timeout, args)
        return _call_spec(name, lock_file_prefix, external, lock_path,
                          do_log, semaphores, delay, fair, blocking, timeout)
    if fair:
        # The fair writer, unless the Python code would call something
        # patched (lockutils.internal_fair_lock, _fair_locks).
        if not external and semaphores is None:
            found = _lookup(_facade, "_fair_locks")
            if found is not NULL and <object>found is _fair_locks:
                found = _lookup(_facade, "internal_fair_lock")
                if found is not NULL and <object>found is _unpatched_ifl:
                    return _fair_table._writer(
                        name, lock_file_prefix, lock_path, do_log, delay,
                        False)
    elif not external:
        sem = _plain_semaphore(name, semaphores)
        if sem is not None:
            return sem
    elif semaphores is None:
        ext = _cached_external(name, lock_file_prefix, lock_path)
        if ext is not None:
            return ext
    return _call_spec(name, lock_file_prefix, external, lock_path, do_log,
                      semaphores, delay, fair, blocking, timeout)


cdef inline object _plain_semaphore(name, semaphores):
    # The name's semaphore from lockutils' default container (not
    # patched) or from a Semaphores of this core (not a subclass nor an
    # instance with get() patched, which may give another), as the Python
    # code gives it; else None.
    cdef PyObject *found
    if semaphores is None:
        found = _lookup(_facade, "_semaphores")
        if found is not NULL and <object>found is _semaphores:
            return _default._get(name)
        return None
    if type(semaphores) is _semaphores_type:
        found = _lookup(PyObject_GenericGetDict(semaphores, NULL), "get")
        reg = semaphores._registry
        if found is NULL and type(reg) is Registry:
            return (<Registry>reg)._get(name)
    return None


@cython.freelist(8)
cdef class TryLock:
    """What ``lock(name, blocking=False)``, ``lock(name, timeout=T)``,
    ``internal_lock(name, ...)`` with either, and ``lock(name)`` with DEBUG
    logging on return: ``with`` it acquires the name's semaphore with
    *blocking* and *timeout* and gives the semaphore, or raises
    :class:`AcquireLockFailedException` when the lock cannot be had.  With
    *log*, it logs the DEBUG lines of oslo's ``lock()``.  It also decorates
    a function, as oslo's does.

    Acquiring and giving the semaphore is compiled: an exception from a
    signal handler (or from logging) comes before the lock is held, or
    once it is held where the lock is released, never in between (where
    the lock would never be released).
    """

    cdef object _lock
    cdef object _name
    cdef bint _blocking
    cdef object _timeout
    # lock()'s arguments, for a decorator that takes a fresh lock() per
    # call; None from internal_lock(), whose decorator reuses this one.
    cdef object _args
    cdef bint _log

    def __init__(self, lock, name, blocking, timeout, args=None, log=False):
        self._lock = lock
        self._name = name
        self._blocking = blocking
        self._timeout = timeout
        self._args = args
        self._log = log

    # Not bound as cyfunctions: see Semaphore.__enter__.
    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __enter__(self):
        if self._log:
            _log_acquiring(self._name)  # switch point: nothing held yet
        if not self._lock.acquire(self._blocking, self._timeout):
            raise _facade["AcquireLockFailedException"](self._name)
        if self._log:
            try:
                _log_acquired(self._name)  # switch point
            except BaseException:
                self._leave()
                raise
        return self._lock

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __exit__(self, exc_type, exc_value, traceback):
        self._leave()
        return False

    cdef int _leave(self) except -1:
        if self._log:
            try:
                _log_releasing(self._name)  # switch point
            finally:
                self._lock.release()
        else:
            self._lock.release()
        return 0

    def __call__(self, func):
        """Decorate *func*: each call holds the lock, as with oslo's."""
        if self._args is None:
            return _facade["_decorate"](func, lambda: self)
        return _facade["_lock_decorator"](func, self._args, self._timeout)

    def __repr__(self):
        return "<%s %r blocking=%s timeout=%r log=%s>" % (
            type(self).__name__, self._name, self._blocking, self._timeout,
            self._log)


@cython.freelist(8)
cdef class TryExternalLock:
    """What ``lock(name, external=True)`` with ``blocking=False``, a
    ``timeout`` or DEBUG logging on returns for a name whose
    :class:`ExternalLock` is cached: ``with`` it takes the name's
    semaphore and then its lock file, both within the one *timeout*, and
    gives the lock file object (an ``InterProcessLock``), or raises
    :class:`AcquireLockFailedException` when either cannot be had.  With
    *log*, it logs the DEBUG lines of oslo's ``lock()``.  It also
    decorates a function, as oslo's does.  Like :class:`TryLock`,
    compiled: no signal handler (nor logging) can cut it between taking
    the locks and the ``with`` block.
    """

    cdef ExternalLock _ext
    cdef bint _blocking
    cdef object _timeout
    cdef object _args  # lock()'s, for a decorator: a fresh lock() per call
    cdef bint _log

    def __init__(self, ext, blocking, timeout, args, log=False):
        if not isinstance(ext, ExternalLock):
            raise TypeError(
                "ext must be an ExternalLock, not %s" % type(ext).__name__)
        self._ext = ext
        self._blocking = blocking
        self._timeout = timeout
        self._args = args
        self._log = log

    # Not bound as cyfunctions: see Semaphore.__enter__.
    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __enter__(self):
        if self._log:
            _log_acquiring(self._ext._name)  # switch point: nothing held yet
        if not self._ext._enter(self._blocking, self._timeout, self._log):
            raise _facade["AcquireLockFailedException"](self._ext._name)
        return self._ext._owner

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __exit__(self, exc_type, exc_value, traceback):
        self._ext._exit(self._log)
        return False

    def __call__(self, func):
        """Decorate *func*: each call holds the lock, as with oslo's."""
        return _facade["_lock_decorator"](func, self._args, self._timeout)

    def __repr__(self):
        return "<%s %r blocking=%s timeout=%r log=%s>" % (
            type(self).__name__, self._ext._name, self._blocking,
            self._timeout, self._log)


cdef object _call_spec(name, lock_file_prefix, external, lock_path, do_log,
                       semaphores, delay, fair, blocking, timeout):
    return _spec(name, lock_file_prefix, external, lock_path, do_log,
                 semaphores, delay, fair, blocking,
                 timeout=timeout)  # switch point


cdef object _cached_external(name, lock_file_prefix, lock_path):
    # The name's cached ExternalLock, or its semaphore while process
    # locking is disabled; None for the Python code (nothing cached, the
    # options not in oslo.config's cache, a patched external_lock or
    # InterProcessLock, fasteners' chatter logged, a name, prefix or path
    # not a str).
    cdef PyObject *found
    found = _lookup(_facade, "CONF")
    if found is NULL:
        return None
    # The instance's own attribute, without ConfigOpts.__getattr__ (that
    # hook alone costs a tenth of the lock); not there: the Python code.
    try:
        values = PyObject_GenericGetAttr(<object>found, "_ConfigOpts__cache")
    except AttributeError:
        return None
    if type(values) is not dict:
        return None
    found = _lookup(<dict>values, _disabled_key)
    if found is NULL:
        return None
    if <object>found:
        return _plain_semaphore(name, None)
    # A lock_path given and the configured one are cached apart (see
    # lockutils._external_locks).
    cdef bint given = True if lock_path else False
    if not given:
        found = _lookup(<dict>values, _path_key)
        if found is NULL:
            return None
        lock_path = <object>found
    found = _lookup(_facade, "external_lock")
    if found is NULL or <object>found is not _unpatched_external_lock:
        return None
    found = _lookup(_facade, "InterProcessLock")
    if found is NULL or <object>found is not _unpatched_ipl:
        return None
    if not _cached_off(_fasteners_cache, _BLATHER_LEVEL):
        return None
    # Only str itself is cached: a subclass may compare equal to (and
    # hash as) a name, prefix or path of another file.
    if not (type(name) is str and type(lock_path) is str
            and (lock_file_prefix is None or type(lock_file_prefix) is str)):
        return None
    cdef Py_ssize_t slot = <Py_ssize_t>(<size_t>hash(name) % _MEMO_SLOTS)
    cdef tuple memo = _memo[slot]
    if (memo is not None and <str>memo[0] == <str>name
            and memo[4] is given
            and <str>memo[2] == <str>lock_path
            and (memo[1] is lock_file_prefix
                 or (lock_file_prefix is not None
                     and memo[1] is not None
                     and <str>memo[1] == <str>lock_file_prefix))):
        return memo[3]
    key = ((name, lock_file_prefix, lock_path) if given
           else (name, lock_file_prefix, None, lock_path))
    found = PyDict_GetItemWithError(_external_locks, key)
    if found is NULL:
        return None
    _memo[slot] = (name, lock_file_prefix, lock_path, <object>found, given)
    return <object>found


def _fast_call(name, func, args, kwargs, slow):
    """Call ``func(*args, **kwargs)`` holding ``lock(name)``, as a plain
    ``@synchronized(name)`` does, when DEBUG logging is off and neither
    ``lockutils.lock`` nor ``lockutils._semaphores`` is patched; else
    return ``slow(*args, **kwargs)`` (the Python code)."""
    cdef PyObject *found
    cdef Semaphore sem = None
    if _spec is not None and _quiet():
        found = _lookup(_facade, "lock")
        if found is not NULL and <object>found is _entry:
            sem = _plain_semaphore(name, None)
    if sem is not None:
        sem._acquire(True, None)  # switch point (lock-order hook)
        try:
            return func(*args, **kwargs)  # switch point
        finally:
            sem._release()
    return slow(*args, **kwargs)  # switch point


_os.register_at_fork(after_in_child=_forget_memo)
