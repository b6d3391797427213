# Fair locks (lockutils.FairLocks, lock(name, fair=True)): a reader/writer
# state per held name over the FIFO semaphores of a fair Registry.  See
# _core_py._FairTable, the reference.  Each method runs without a thread
# switch but at its marked switch points, which is the atomicity the twin
# gets from _fair_guard; the state is consistent before each of them.

cdef object _lock_decorator = None  # lockutils._lock_decorator, once bound
cdef tuple _NO_ARGS = ()
# Weak references to every _FairTable, for the fork child (see
# _registries).
cdef set _fair_tables = set()


cdef int _forget_fair_threads_but(object root) except -1:
    # After fork: see _FairTable._forget_threads_but.
    for ref in list(_fair_tables):
        table = ref()
        if table is not None:
            (<_FairTable>table)._forget_threads_but(root)
    return 0

cdef extern from *:
    """
    #include "structmember.h"
    /* Where a __slots__ attribute lives in its instances, given the
       class attribute (a member descriptor); -1 if it is anything else. */
    static Py_ssize_t fastlock_slot_offset(PyObject *descr) {
        PyMemberDef *m;
        if (Py_TYPE(descr) != &PyMemberDescr_Type)
            return -1;
        m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY))
            return -1;
        return m->offset;
    }
    /* obj.<slot at offset> = value, as the descriptor would set it. */
    static void fastlock_set_slot(PyObject *obj, Py_ssize_t offset,
                                  PyObject *value) {
        PyObject **slot = (PyObject **)((char *)obj + offset);
        Py_INCREF(value);
        Py_XSETREF(*slot, value);
    }
    """
    Py_ssize_t _slot_offset "fastlock_slot_offset"(object descr)
    void _set_slot "fastlock_set_slot"(object obj, Py_ssize_t offset,
                                       object value) noexcept


@cython.freelist(8)
cdef class _FairState:
    # Who holds one fair lock: exists only while it is written or read.
    pass


cdef inline _FairState _new_state(object writer, Py_ssize_t entries):
    cdef _FairState state = _FairState.__new__(_FairState)
    state.writer = writer
    state.entries = entries
    return state


cdef object _before_acquire(object name):
    # lockorder.before_acquire(core, name): the order of the blocking
    # acquisition that the non-blocking try stands for.
    return _sys_modules["fastlock._lockorder"].before_acquire(
        _sys_modules[__name__], name)  # switch point


cdef class _FairTable:
    """The fair locks of one ``lockutils.FairLocks``: a fair (FIFO)
    :class:`Registry` and, per semaphore, who holds it (``held``) and
    which writers wait for it (``pending``).

    Writers hold the semaphore, so they are served in arrival order by
    it; the write lock is reentrant.  Readers share the semaphore as a
    group: the first one in takes it, the last one out gives it back; a
    reader joins a running group only while nobody waits for the lock.

    :param handle_type: the class of what entering a :class:`_FairWriter`
        gives (lockutils' fair ``ReaderWriterLock``): made without calling
        it, with its ``_locks`` set to *owner* and its ``_sem`` to the
        name's semaphore.
    :param owner: the ``FairLocks`` this table serves.
    """

    def __init__(self, handle_type, owner):
        if not isinstance(handle_type, type):
            raise TypeError("handle_type must be a class")
        self.registry = Registry(fair=True)
        self.held = {}
        self.pending = {}
        self._handle_type = handle_type
        self._owner = owner
        _fair_tables.add(_weakref(self, _fair_tables.discard))
        # Slots (lockutils' _FairLock has them) are set in place: a
        # setattr costs a twentieth of the lock.
        self._locks_at = _slot_offset(getattr(handle_type, "_locks", None))
        self._sem_at = _slot_offset(getattr(handle_type, "_sem", None))

    cdef object _handle(self, Semaphore sem):
        # object.__new__(handle_type) without the Python calls: a call to
        # the class and its __init__ would cost a third of the lock.
        handle = (<PyTypeObject *>self._handle_type).tp_new(
            <type>self._handle_type, <PyObject *>_NO_ARGS, NULL)
        if self._locks_at >= 0 and self._sem_at >= 0:
            _set_slot(handle, self._locks_at, self._owner)
            _set_slot(handle, self._sem_at, sem)
        else:
            handle._locks = self._owner
            handle._sem = sem
        return handle

    def writer(self, name, lock_file_prefix=None, lock_path=None,
               do_log=True, delay=0.01, log=False):
        """What plain ``lock(name, fair=True, ...)`` returns (the other
        arguments are kept for decorating); with *log*, it logs the DEBUG
        lines of oslo's ``lock()``."""
        return self._writer(name, lock_file_prefix, lock_path, do_log, delay,
                            log)

    cdef _FairWriter _writer(self, object name, object prefix,
                             object lock_path, object do_log, object delay,
                             bint log):
        cdef _FairWriter writer = _FairWriter.__new__(_FairWriter)
        writer._table = self
        writer._sem = self.registry._get(name)
        writer._name = name
        writer._prefix = prefix
        writer._lock_path = lock_path
        writer._do_log = do_log
        writer._delay = delay
        writer._log = log
        return writer

    def write_guard(self, Semaphore sem not None, handle):
        """What *handle*'s ``write_lock()`` returns: ``with`` it holds the
        write lock of *sem* and gives *handle*; it also decorates a
        function, each call of which then holds the lock."""
        cdef _FairWriter writer = _FairWriter.__new__(_FairWriter)
        writer._table = self
        writer._sem = sem
        writer._name = sem.name
        writer._handle = handle
        writer._reuse = True
        return writer

    def write_acquire(self, Semaphore sem not None, blocking=True,
                      timeout=None):
        """Acquire the write lock of *sem*; return False if *blocking* is
        False or *timeout* expires first.

        :raises RuntimeError: if the caller reads the lock.
        """
        return self._write_acquire(sem, blocking, timeout)

    cdef bint _write_acquire(self, Semaphore sem, bint blocking,
                             object timeout) except -1:
        cdef _FairState state
        cdef list waiting
        cdef bint gotten
        # Semaphore keys compare by identity: the unchecked lookup is safe.
        cdef PyObject *found = _dict_get(self.held, sem)
        cdef object me = None
        if found is not NULL:
            me = PyGreenlet_GetCurrent()
            state = <_FairState>found
            if state.writer is me:
                state.entries += 1
                return True
            if state.readers and me in state.readers:
                raise RuntimeError(
                    "Reader %s to writer privilege escalation not allowed"
                    % me)
        if blocking and _lock_order is not None:
            # The try below records no lock order (a try cannot
            # deadlock); this acquisition can.
            _before_acquire(sem._name)  # switch point
        if not sem._acquire(False, None):  # switch point (lock-order hook)
            if not blocking:
                return False
            if me is None:
                me = PyGreenlet_GetCurrent()
            # Only a wait shows in pending (has_pending_writers).
            found = _dict_get(self.pending, sem)
            if found is NULL:
                waiting = [me]
                self.pending[sem] = waiting
            else:
                (<list>found).append(me)
            try:
                gotten = sem._acquire(True, timeout)  # switch point
            finally:
                waiting = self.pending[sem]
                waiting.remove(me)
                if not waiting:
                    del self.pending[sem]
            if not gotten:
                return False
        elif me is None:
            # The owner the semaphore just recorded: the caller, without
            # another look-up of the current greenlet.
            me = sem._owners[len(sem._owners) - 1]
        self.held[sem] = _new_state(me, 1)
        return True

    def write_release(self, Semaphore sem not None):
        """Release the write lock of *sem* once (it is reentrant).

        :raises RuntimeError: if the caller does not hold it.
        """
        self._write_release(sem, PyGreenlet_GetCurrent())

    cdef int _write_release(self, Semaphore sem, object me) except -1:
        # *me*: the writer whose lock this is.
        cdef _FairState state
        cdef PyObject *found = _dict_get(self.held, sem)
        if found is NULL or (<_FairState>found).writer is not me:
            raise RuntimeError("Thread %s does not own a write lock" % me)
        state = <_FairState>found
        state.entries -= 1
        if state.entries:
            return 0
        state.writer = None
        if state.readers:
            return 0  # still a reader: the lock goes on as a read lock
        del self.held[sem]
        sem._release()  # switch point (metrics observer)
        return 0

    def read_guard(self, Semaphore sem not None, handle):
        """What *handle*'s ``read_lock()`` returns: ``with`` it holds a
        read lock of *sem* and gives *handle*; it also decorates a
        function, each call of which then holds a read lock."""
        cdef _FairReader reader = _FairReader.__new__(_FairReader)
        reader._table = self
        reader._sem = sem
        reader._handle = handle
        reader._reader = None
        reader._depth = 0
        return reader

    def read_acquire(self, Semaphore sem not None):
        """Acquire a read lock of *sem*: join the running reading group
        (or the caller's own write lock), else wait for the semaphore."""
        self._read_acquire(sem)

    cdef int _read_acquire(self, Semaphore sem) except -1:
        cdef _FairState state
        cdef PyObject *found = _dict_get(self.held, sem)
        me = PyGreenlet_GetCurrent()
        if found is not NULL:
            state = <_FairState>found
            if state.readers and me in state.readers:
                state.readers[me] += 1
                return 0
            if state.writer is me or (
                    state.writer is None and sem._waiters is None):
                if state.readers is None:
                    state.readers = {}
                state.readers[me] = 1
                return 0
        sem._acquire(True, None)  # switch point (waits)
        state = _new_state(None, 0)
        state.readers = {me: 1}
        self.held[sem] = state
        return 0

    def read_release(self, Semaphore sem not None, me,
                     raise_on_not_owned=True):
        """Release one read lock of *sem* held by *me*.

        :raises RuntimeError: if *me* reads no lock and
            *raise_on_not_owned* is true.
        """
        self._read_release(sem, me, raise_on_not_owned)

    cdef int _read_release(self, Semaphore sem, object me,
                           bint raise_on_not_owned) except -1:
        cdef _FairState state = self.held.get(sem)
        cdef dict readers = None if state is None else state.readers
        count = None if not readers else readers.get(me)
        if count is None:
            if raise_on_not_owned:
                raise RuntimeError("Thread %s does not own a read lock" % me)
            return 0
        if count > 1:
            readers[me] = count - 1
            return 0
        del readers[me]
        if readers or state.writer is not None:
            return 0
        del self.held[sem]
        sem._release()  # switch point; perhaps not by the reader that took it
        return 0

    def is_writer(self, Semaphore sem not None, check_pending=True):
        """Whether the caller writes *sem* (or, with *check_pending*,
        waits to)."""
        cdef _FairState state = self.held.get(sem)
        me = PyGreenlet_GetCurrent()
        if state is not None and state.writer is me:
            return True
        return bool(check_pending) and me in self.pending.get(sem, ())

    def is_reader(self, Semaphore sem not None):
        """Whether the caller reads *sem*."""
        cdef _FairState state = self.held.get(sem)
        return (state is not None and bool(state.readers)
                and PyGreenlet_GetCurrent() in state.readers)

    def owner(self, Semaphore sem not None):
        """``'w'`` while *sem* is written, ``'r'`` while only read, else
        None."""
        cdef _FairState state = self.held.get(sem)
        if state is None:
            return None
        return "w" if state.writer is not None else "r"

    cdef int _forget_threads_but(self, object root) except -1:
        # In a fork child, before the semaphores forget the vanished
        # threads: those leave the readers, writers and pending writers.
        # A reading group that goes on must hold its semaphore (its first
        # reader may have vanished, in the group or after leaving it), one
        # that ended must not (its first reader may be alive, but left
        # before the others): the semaphore's owner becomes a member, or a
        # vanished one.
        cdef _FairState state
        cdef Semaphore sem
        for key, value in list(self.held.items()):
            sem = <Semaphore>key
            state = <_FairState>value
            gone = None
            if state.writer is not None and _root(state.writer) is not root:
                gone = state.writer
                state.writer = None
                state.entries = 0
            if state.readers:
                for reader in [r for r in state.readers
                               if _root(r) is not root]:
                    gone = reader
                    del state.readers[reader]
            if not sem._owners:
                continue
            live = state.writer
            if live is None and state.readers:
                live = next(iter(state.readers))
            if live is None:
                del self.held[sem]
            owner = sem._owners[0]
            if (live is None) is (_root(owner) is root):
                sem._owners[0] = gone if live is None else live
                # The release looks the new owner's list up (_drop_owner).
                sem._names = None
                if sem._name is not _UNNAMED:
                    names = _held.get(owner)
                    if names is not None and sem._name in names:
                        names.remove(sem._name)
                    if live is not None:
                        _held_push(live, sem._name)
                        # the forking thread's
                        sem._thread = PyThread_get_thread_ident()
        for key, waiting in list(self.pending.items()):
            (<list>waiting)[:] = [w for w in waiting if _root(w) is root]
            if not waiting:
                del self.pending[key]
        return 0


@cython.freelist(8)
cdef class _FairWriter:
    """What ``lock(name, fair=True)`` returns: ``with`` it holds the
    name's fair write lock and gives the name's ``ReaderWriterLock``
    handle, logging the DEBUG lines of oslo's ``lock()`` when made to; it
    also decorates a function, as oslo's does.  Compiled: no signal
    handler (nor logging) can cut it between taking the lock and the
    ``with`` block."""

    # Not bound as cyfunctions: see Semaphore.__enter__.
    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __enter__(self):
        # The handle first, as lockutils' _Lock does: nothing can fail
        # once the lock is held but the logging, which lets it go.
        if self._handle is None:
            self._handle = self._table._handle(self._sem)
        if self._log:
            _log_acquiring(self._name)  # switch point: nothing held yet
        self._table._write_acquire(self._sem, True, None)
        # The lock is exclusive: whoever enters last is who holds it.
        self._writer = PyGreenlet_GetCurrent()
        self._depth += 1
        if self._log:
            try:
                _log_acquired(self._name)  # switch point
            except BaseException:
                self._leave()
                raise
        return self._handle

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __exit__(self, exc_type, exc_value, traceback):
        self._leave()
        return False

    cdef int _leave(self) except -1:
        # The writer is who entered, not who exits: a generator holding
        # the block may be resumed by another thread (as fasteners').
        if not self._depth:  # not entered: the caller's error
            writer = PyGreenlet_GetCurrent()
        else:
            writer = self._writer
            self._depth -= 1
            if not self._depth:
                self._writer = None
        if self._log:
            try:
                _log_releasing(self._name)  # switch point
            finally:
                self._table._write_release(self._sem, writer)
        else:
            self._table._write_release(self._sem, writer)
        return 0

    def __call__(self, func):
        """Decorate *func*: each call holds a fresh ``lock()`` with these
        arguments, as with oslo's (a ``ContextDecorator``); or, made by
        ``write_lock()``, this write lock."""
        if self._reuse:
            return _held_through(self, func)
        if _lock_decorator is None:
            raise TypeError("no lockutils is bound to this core")
        return _lock_decorator(func, (  # switch point
            self._name, self._prefix, False, self._lock_path, self._do_log,
            None, self._delay, True, True))


@cython.freelist(8)
cdef class _FairReader:
    """What a fair handle's ``read_lock()`` returns: ``with`` it holds a
    read lock of the handle's name and gives the handle; it also
    decorates a function, each call of which then holds a read lock.
    Compiled: no signal handler can cut it between taking the lock and
    the ``with`` block."""

    # Not bound as cyfunctions: see Semaphore.__enter__.
    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __enter__(self):
        me = PyGreenlet_GetCurrent()
        if self._depth and self._reader is not me:
            raise RuntimeError(_SHARED_READER)
        self._table._read_acquire(self._sem)
        self._reader = me
        self._depth += 1
        return self._handle

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __exit__(self, exc_type, exc_value, traceback):
        # The reader is who entered, not who exits: a generator holding
        # the block may be resumed by another thread (as fasteners').
        reader = self._reader
        self._depth -= 1
        if not self._depth:
            self._reader = None
        self._table._read_release(self._sem, reader, False)
        return False

    def __call__(self, func):
        """Decorate *func*: each call holds a read lock of its own."""
        table, sem, handle = self._table, self._sem, self._handle

        @_wraps(func)
        def inner(*args, **kwargs):
            with table.read_guard(sem, handle):
                return func(*args, **kwargs)

        return inner


_SHARED_READER = ("this read_lock() is held by another thread: "
                  "call read_lock() in each")


def _held_through(guard, func):
    # *func*, each call of which runs inside ``with guard``.
    @_wraps(func)
    def inner(*args, **kwargs):
        with guard:
            return func(*args, **kwargs)

    return inner
