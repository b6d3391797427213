# Unused entries are kept until the table reaches this size (or twice
# what survived the last sweep): a semaphore is about 250 bytes with its
# slot, so at most some 4 MB, and names cycled over fewer than this many
# (external locks, whose ExternalLock looks the semaphore up on each
# entry) find theirs instead of making it again; at 1,024, cycling
# 10,000 external names cost 2,600 more instructions per lock (callgrind).
cdef Py_ssize_t _MIN_SWEEP = 16384
# Weak references to every Registry, each removing itself when its registry
# dies.  A set, not a WeakSet: list() of it is one C call, where iterating
# a WeakSet runs Python code, so that a Registry made by another thread
# meanwhile raised "Set changed size during iteration" in lock_table().
cdef set _registries = set()


cdef list _live_registries():
    # Every Registry alive now, taken without running Python code.
    found = []
    for ref in list(_registries):
        registry = ref()
        if registry is not None:
            found.append(registry)
    return found


cdef class Registry:
    """A registry of named semaphores.

    ``get(name)`` returns the semaphore for *name*, creating it if needed.
    An entry lives while anyone holds, waits on or references its
    semaphore and is dropped afterwards, so any number of distinct names
    can pass through in constant memory.  A name is any hashable, as for
    oslo's ``Semaphores``.  The semaphores are ``fair=False`` (bounded
    barging, see :class:`Semaphore`) unless *fair* is true.

    :param semaphore_type: the class of the semaphores made, a subclass
        of :class:`Semaphore` (the default).
    """

    # Entries are kept strongly and swept when the table has doubled since
    # the last sweep: a reused name then costs one dict lookup, where a
    # weak dictionary would free and rebuild its semaphore on every use.
    # An entry is dead when the table holds its only reference (refcount 1)
    # and it is idle: then no one can tell it from a fresh one.
    #
    # A str name is hashed and compared without running Python code, so
    # its lookup, insertion and removal cannot be interleaved with another
    # thread's.  Other names may have __hash__/__eq__ written in Python
    # (a thread switch point): they are looked up and inserted, and every
    # sweep removes entries, holding _guard, so that no name's entry is
    # removed after another thread found it.

    def __init__(self, fair=False, semaphore_type=None):
        if semaphore_type is None:
            semaphore_type = Semaphore
        if not (isinstance(semaphore_type, type)
                and issubclass(semaphore_type, Semaphore)):
            raise TypeError("semaphore_type must be a subclass of Semaphore")
        self._entries = {}
        self._fair = fair
        self._type = semaphore_type
        self._guard = _allocate_lock()
        self._sweep_at = _MIN_SWEEP
        _registries.add(_weakref(self, _registries.discard))

    @cython.always_allow_keywords(True)
    def get(self, name):
        """Return the semaphore for *name*, creating it if needed.

        :raises TypeError: if *name* is not hashable.
        """
        return self._get(name)

    cdef Semaphore _get(self, object name):
        cdef PyObject *found
        if type(name) is not str:
            if not isinstance(name, str):
                return self._get_other(name)
            name = str.__str__(name)
        # (A name of another type with this hash may compare in Python:
        # its error is raised, not swallowed.)
        found = PyDict_GetItemWithError(self._entries, name)
        if found is not NULL:
            return <Semaphore>found
        if len(self._entries) >= self._sweep_at:
            self._sweep()
        return self._insert(name)

    cdef Semaphore _get_other(self, object name):
        cdef PyObject *found
        if len(self._entries) >= self._sweep_at:
            self._sweep()
        with self._guard:
            found = PyDict_GetItemWithError(self._entries, name)
            if found is not NULL:
                return <Semaphore>found
            return self._insert(name)

    cdef Semaphore _insert(self, object name):
        cdef Semaphore sem = self._type(1, self._fair)
        sem._name = name
        # setdefault: an entry another thread made meanwhile wins.
        return <Semaphore>PyDict_SetDefault(self._entries, name, sem)

    cdef int _sweep(self) except -1:
        cdef Py_ssize_t pos = 0
        cdef PyObject *key
        cdef PyObject *value
        cdef list dead = []
        with self._guard:
            while PyDict_Next(self._entries, &pos, &key, &value):
                if Py_REFCNT(<object>value) == 1 and (
                        <Semaphore>value)._is_idle():
                    dead.append(<object>key)
            for key_obj in dead:
                # Look again: removing a non-str name may have run Python
                # code, and a str name's entry may have been found since.
                value = PyDict_GetItemWithError(self._entries, key_obj)
                if value is not NULL and Py_REFCNT(<object>value) == 1 and (
                        <Semaphore>value)._is_idle():
                    del self._entries[key_obj]
            self._sweep_at = max(_MIN_SWEEP, 2 * len(self._entries))
        return 0

    def __len__(self):
        """Return how many names have a live semaphore."""
        self._sweep()
        return len(self._entries)


cdef int _renew_waker_after_fork() except -1:
    # The child inherits the hub's waker pipe, shared with the parent: a
    # byte posted in one process could be drained by the other, and its
    # waiter never woken.  Give the child's waker a pipe of its own.  The
    # old one stays open and registered: the hub's epoll set is shared
    # with the parent too, so unregistering it would deafen the parent's
    # hub; its events now only make the waker read its new pipe.
    cdef _HubWaker waker
    cdef char byte = 0
    hubs = _sys_modules.get("eventlet.hubs")
    hub = None if hubs is None else getattr(hubs._threadlocal, "hub", None)
    mine = getattr(_thread_wakers, "mine", None)
    waker = None if mine is None else (<_ThreadWaker>mine).waker
    if waker is None or waker.hub is not hub:
        return 0
    waker._rfd, waker._wfd = _os.pipe()
    _os.set_blocking(waker._rfd, False)
    _os.set_blocking(waker._wfd, False)
    hub.add(hub.READ, waker._rfd, waker._drain, waker._fail, _noop)
    if waker._pending:
        write(waker._wfd, &byte, 1)  # posted before the fork: drain them
    return 0


def _after_fork_in_child():
    """Release what the vanished OS threads held, in every registry.

    A lock held by another thread at fork time would otherwise stay held
    in the child forever.  Locks of the forking thread (and of the green
    threads of its hub, which live on in the child) stay as they were.
    """
    cdef Registry registry
    cdef Semaphore sem
    root = _root(PyGreenlet_GetCurrent())
    for registry in _live_registries():
        registry._guard = _allocate_lock()  # a vanished thread's, maybe
    _forget_fair_threads_but(root)  # first: it reads the owners
    _held_forget_last()
    for owner in [o for o in _held if _root(o) is not root]:
        del _held[owner]
    woken = []
    for registry in _live_registries():
        for sem in list(registry._entries.values()):
            woken.extend(sem._forget_threads_but(root))
    error = None
    for waiter in woken:
        try:
            (<_Waiter>waiter).wake()
        except BaseException as exc:  # the waiter is resumed all the same
            error = error or exc
    _renew_waker_after_fork()  # last: the locks are freed even if it raises
    if error is not None:
        raise error


_os.register_at_fork(after_in_child=_after_fork_in_child)
