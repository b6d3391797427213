"""Reader/writer locks: ``ReaderWriterLock`` (fasteners' API) and the
fair named locks of ``FairLocks``, on the core's FIFO semaphore.

``fastlock.lockutils`` exports both names.
"""

from __future__ import annotations

import collections
import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

import greenlet

from fastlock import _lockorder  # noqa: F401  (the core calls its before_acquire)
from fastlock._core import core as _selected_core

# The core that lockutils is bound to; lockutils._use_core rebinds it.
_core: ModuleType = _selected_core
_getcurrent = greenlet.getcurrent


def _native_lock() -> Any:
    # A lock from the unpatched ``_thread`` (eventlet may have patched the
    # one everybody else sees); held only for a few dict operations.
    patcher = sys.modules.get('eventlet.patcher')
    if patcher is not None:
        return patcher.original('_thread').allocate_lock()
    import _thread

    return _thread.allocate_lock()


def _eventlet_patched_threads() -> bool:
    # eventlet cannot have patched anything unless it was imported.
    patcher = sys.modules.get('eventlet.patcher')
    return patcher is not None and bool(patcher.is_monkey_patched('thread'))


class ReaderWriterLock:
    """A reader/writer lock.

    The API of ``fasteners.ReaderWriterLock`` (``read_lock()``,
    ``write_lock()``, ``is_reader()``, ``is_writer()``, ``owner``...):
    readers share the lock, a writer excludes everyone, writers are
    served in the order in which they asked (FIFO) and new readers wait
    while a writer is pending.  Under eventlet monkey-patching the caller
    is identified by its green thread.

    .. versionadded:: 0.4
    """

    WRITER = 'w'  #: Writer owner type/string constant.
    READER = 'r'  #: Reader owner type/string constant.

    def __init__(
        self,
        condition_cls: Any = threading.Condition,
        current_thread_functor: Callable[[], Any] = threading.current_thread,
    ) -> None:
        self._writer: Any = None
        self._writer_entries = 0
        self._pending_writers: collections.deque[Any] = collections.deque()
        self._readers: dict[Any, int] = {}
        self._cond = condition_cls()
        self._current_thread = current_thread_functor
        # Until https://github.com/eventlet/eventlet/issues/731 is resolved
        # we need to use eventlet.getcurrent instead of
        # threading.current_thread if we are running in a monkey patched
        # environment
        if _eventlet_patched_threads():
            self._current_thread = greenlet.getcurrent

    @property
    def has_pending_writers(self) -> bool:
        """Check if there pending writers

        Returns:
            Whether there are pending writers.
        """
        return bool(self._pending_writers)

    def is_writer(self, check_pending: bool = True) -> bool:
        """Check if caller is a writer (optionally pending writer).

        Args:
            check_pending:
                Whether to check for pending writer status.

        Returns:
            Whether the caller is the active (or optionally pending) writer.
        """
        me = self._current_thread()
        if self._writer == me:
            return True
        if check_pending:
            return me in self._pending_writers
        return False

    def is_reader(self) -> bool:
        """Check if caller is a reader.

        Returns:
            Whether the caller is an active reader.
        """
        return self._current_thread() in self._readers

    @property
    def owner(self) -> str | None:
        """Caller ownership (if any) of the lock

        Returns:
            `'w'` if caller is a writer, `'r'` if caller is a reader, None otherwise.
        """
        if self._writer is not None:
            return self.WRITER
        if self._readers:
            return self.READER
        return None

    def acquire_read_lock(self) -> None:
        """Acquire a read lock.

        Will wait until no active or pending writers.

        Raises:
            RuntimeError: if a pending writer tries to acquire a read lock.
        """
        self._acquire_read_lock(self._current_thread())

    def release_read_lock(self) -> None:
        """Release a read lock.

        Raises:
            RuntimeError: if the current thread does not own a read lock.
        """
        self._release_read_lock(self._current_thread())

    def _acquire_read_lock(self, me: Any) -> None:
        if me in self._pending_writers:
            raise RuntimeError(
                "Writer %s can not acquire a read lock"
                " while waiting for the write lock" % me
            )
        with self._cond:
            while True:
                # No active writer, or we are the writer;
                # Also no pending writers;
                # we are good to become a reader.
                if self._writer is None or self._writer == me:
                    if me in self._readers:
                        # ok to get a lock if current thread already has one
                        self._readers[me] += 1
                        break
                    if self._writer == me or not self._pending_writers:
                        self._readers[me] = 1
                        break
                # An active or pending writer; guess we have to wait.
                self._cond.wait()

    def _release_read_lock(self, me: Any, raise_on_not_owned: bool = True) -> None:
        # I am no longer a reader, remove *one* occurrence of myself.
        # If the current thread acquired two read locks, then it will
        # still have to remove that other read lock; this allows for
        # basic reentrancy to be possible.
        with self._cond:
            try:
                me_instances = self._readers[me]
                if me_instances > 1:
                    self._readers[me] = me_instances - 1
                else:
                    self._readers.pop(me)
            except KeyError:
                if raise_on_not_owned:
                    raise RuntimeError(
                        f"Thread {me} does not own a read lock"
                    ) from None
            self._cond.notify_all()

    @contextlib.contextmanager
    def read_lock(self) -> Iterator[ReaderWriterLock]:
        """Context manager that grants a read lock.

        Will wait until no active or pending writers.

        Raises:
            RuntimeError: if a pending writer tries to acquire a read lock.
        """
        me = self._current_thread()
        self._acquire_read_lock(me)
        try:
            yield self
        finally:
            self._release_read_lock(me, raise_on_not_owned=False)

    def _acquire_write_lock(self, me: Any) -> None:
        if me in self._readers:
            raise RuntimeError(
                "Reader %s to writer privilege escalation not allowed" % me
            )
        with self._cond:
            self._pending_writers.append(me)
            while True:
                # No readers, and no active writer, am I next??
                if not self._readers and self._writer is None:
                    if self._pending_writers[0] == me:
                        self._writer = self._pending_writers.popleft()
                        self._writer_entries = 1
                        break
                self._cond.wait()

    def _release_write_lock(self, me: Any) -> None:
        with self._cond:
            self._writer = None
            self._writer_entries = 0
            self._cond.notify_all()

    def acquire_write_lock(self) -> None:
        """Acquire a write lock.

        Will wait until no active readers. Blocks readers after acquiring.

        Guaranteed for locks to be processed in fair order (FIFO).

        Raises:
            RuntimeError: if an active reader attempts to acquire a lock.
        """
        me = self._current_thread()
        if self._writer == me:
            self._writer_entries += 1
        else:
            self._acquire_write_lock(me)

    def release_write_lock(self) -> None:
        """Release a write lock.

        Raises:
            RuntimeError: if the current thread does not own a write lock.
        """
        me = self._current_thread()
        if self._writer == me:
            self._writer_entries -= 1
            if self._writer_entries == 0:
                self._release_write_lock(me)
        else:
            raise RuntimeError(f"Thread {me} does not own a write lock")

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[ReaderWriterLock]:
        """Context manager that grants a write lock.

        Will wait until no active readers. Blocks readers after acquiring.

        Guaranteed for locks to be processed in fair order (FIFO).

        Raises:
            RuntimeError: if an active reader attempts to acquire a lock.
        """
        me = self._current_thread()
        if self.is_writer(check_pending=False):
            self._writer_entries += 1
            try:
                yield self
            finally:
                self._writer_entries -= 1
        else:
            self._acquire_write_lock(me)
            try:
                yield self
            finally:
                self._release_write_lock(me)


class _FairLock(ReaderWriterLock):
    """What :func:`internal_fair_lock` returns: a :class:`ReaderWriterLock`
    on the FIFO (fair) core semaphore of one name.

    Writers hold the semaphore, so they are served in arrival order by the
    core, without waking every waiter; the write lock is reentrant, as
    fasteners' is.  Readers share the semaphore as a group: the first one
    in takes it, the last one out gives it back; a reader joins a running
    group only while nobody waits for the lock.  Handles are light: two
    handles on one name compare equal and share all state.
    """

    __slots__ = ('_locks', '_sem')

    def __init__(self, locks: FairLocks, sem: Any) -> None:  # noqa: PLW0231
        self._locks = locks
        self._sem = sem

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FairLock) and other._sem is self._sem

    def __hash__(self) -> int:
        return hash(self._sem)

    def __repr__(self) -> str:
        return '<fair ReaderWriterLock %r owner=%r>' % (self._sem.name, self.owner)

    # -- writers: the ``lock(fair=True)`` path ------------------------------

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Acquire the write lock; return False if *blocking* is False or
        *timeout* expires first."""
        return self._locks._table.write_acquire(self._sem, blocking, timeout)  # type: ignore[no-any-return]

    def release(self) -> None:
        """Release the write lock once (it is reentrant)."""
        self._locks._table.write_release(self._sem)

    def acquire_write_lock(self) -> None:
        """Acquire a write lock.

        Will wait until no active readers. Blocks readers after acquiring.

        Guaranteed for locks to be processed in fair order (FIFO).

        Raises:
            RuntimeError: if an active reader attempts to acquire a lock.
        """
        self.acquire()

    def release_write_lock(self) -> None:
        """Release a write lock.

        Raises:
            RuntimeError: if the current thread does not own a write lock.
        """
        self.release()

    def write_lock(self) -> AbstractContextManager[ReaderWriterLock]:  # type: ignore[override]
        """Context manager that grants a write lock.

        Will wait until no active readers. Blocks readers after acquiring.

        Guaranteed for locks to be processed in fair order (FIFO).

        Raises:
            RuntimeError: if an active reader attempts to acquire a lock.
        """
        # The core's, not a generator: with the compiled core no signal
        # handler can cut it between taking the lock and the with block.
        return self._locks._table.write_guard(self._sem, self)  # type: ignore[no-any-return]

    # -- readers -------------------------------------------------------------

    def acquire_read_lock(self) -> None:
        """Acquire a read lock.

        Will wait until no active or pending writers.
        """
        self._locks._table.read_acquire(self._sem)

    def release_read_lock(self) -> None:
        """Release a read lock.

        Raises:
            RuntimeError: if the current thread does not own a read lock.
        """
        self._locks._table.read_release(self._sem, _getcurrent(), True)

    def read_lock(self) -> AbstractContextManager[ReaderWriterLock]:  # type: ignore[override]
        """Context manager that grants a read lock.

        Will wait until no active or pending writers.
        """
        # The core's, not a generator: see write_lock().
        return self._locks._table.read_guard(self._sem, self)  # type: ignore[no-any-return]

    # -- introspection -------------------------------------------------------

    @property
    def has_pending_writers(self) -> bool:
        """Check if there pending writers

        Returns:
            Whether there are pending writers.
        """
        return bool(self._locks._pending.get(self._sem))

    def is_writer(self, check_pending: bool = True) -> bool:
        """Check if caller is a writer (optionally pending writer).

        Args:
            check_pending:
                Whether to check for pending writer status.

        Returns:
            Whether the caller is the active (or optionally pending) writer.
        """
        return self._locks._table.is_writer(self._sem, check_pending)  # type: ignore[no-any-return]

    def is_reader(self) -> bool:
        """Check if caller is a reader.

        Returns:
            Whether the caller is an active reader.
        """
        return self._locks._table.is_reader(self._sem)  # type: ignore[no-any-return]

    @property
    def owner(self) -> str | None:
        """Caller ownership (if any) of the lock

        Returns:
            `'w'` if caller is a writer, `'r'` if caller is a reader, None otherwise.
        """
        return self._locks._table.owner(self._sem)  # type: ignore[no-any-return]


class FairLocks:
    """A garbage collected container of fair locks.

    With a fair lock, contending lockers will get the lock in the order in
    which they tried to acquire it.

    This collection drops a lock as soon as it is no longer in use (by any
    threads), so it never grows with the number of names seen.
    """

    def __init__(self) -> None:
        # The core keeps the state: the fair registry, who holds each
        # semaphore and which writers wait for it.
        self._table = _core._FairTable(_FairLock, self)
        self._registry = self._table.registry
        self._held = self._table.held
        self._pending = self._table.pending

    def get(self, name: str) -> ReaderWriterLock:
        """Gets (or creates) a lock with a given name.

        :param name: The lock name to get/create (used to associate
                     previously created names with the same lock).

        Returns an newly constructed lock (or an existing one if it was
        already created for the given name).
        """
        # The write lock is the core's FIFO semaphore: fairness without
        # waking every waiter on each release.
        return _FairLock(self, self._registry.get(name))

    def writer(
        self, name: str, lock_file_prefix: str | None = None,
        lock_path: str | None = None, do_log: bool = True,
        delay: float = 0.01, log: bool = False,
    ) -> Any:
        """What ``lock(name, fair=True)`` returns: a context manager
        holding the write lock of *name* (entering it gives the lock, as
        :meth:`get` does) and, with *log*, logging the DEBUG lines of
        oslo's ``lock()``; the other arguments serve its use as a
        decorator."""
        return self._table.writer(
            name, lock_file_prefix, lock_path, do_log, delay, log)

    def __len__(self) -> int:
        """Returns how many locks exist at the current time."""
        return len(self._registry)
