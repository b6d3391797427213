"""Drop-in replacement for ``oslo_concurrency.lockutils``.

Same names, signatures, defaults, exceptions, configuration options and
DEBUG log lines as oslo.concurrency 7.6.1; the mechanism (registry,
semaphore, held-locks list) lives in the compiled core.  Beyond oslo:
``held_locks()``, and a keyword-only ``timeout`` on ``lock``,
``synchronized`` and ``internal_lock``.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import functools
import inspect
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any, Literal, ParamSpec, Protocol, TypeVar, overload

import greenlet

from fastlock import _config
from fastlock._core import core as _core

P = ParamSpec('P')
T = TypeVar('T')

LOG = logging.getLogger(__name__)
_DEBUG = logging.DEBUG
_now = time.monotonic
_getcurrent = greenlet.getcurrent

CONF = _config.CONF
_opts = _config._opts
_register_opts = _config.register_opts
set_defaults = _config.set_defaults
get_lock_path = _config.get_lock_path


def held_locks() -> list[str]:
    """Return the names of the locks held by the calling thread.

    Under eventlet the list belongs to the calling green thread.  Names
    come in acquisition order, oldest first; the list is a copy.
    """
    names: list[str] = _core.held_locks()
    return names


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


_fair_guard = _native_lock()


def _after_fork_in_child() -> None:
    # A thread that vanished in fork() may have held the guard, or be
    # inside a cached ExternalLock.
    global _fair_guard
    _fair_guard = _native_lock()
    _external_locks.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


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


class _FairState:
    # Who holds one fair lock: exists only while it is written or read.
    __slots__ = ('writer', 'entries', 'readers')

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.entries = 1
        self.readers: dict[Any, int] = {}


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
        sem = self._sem
        held = self._locks._held
        me = _getcurrent()
        state = held.get(sem)
        if state is not None:
            if state.writer is me:
                state.entries += 1
                return True
            if me in state.readers:
                raise RuntimeError(
                    "Reader %s to writer privilege escalation not allowed" % me
                )
        if not sem.acquire(False):
            if not blocking:
                return False
            pending = self._locks._pending
            with _fair_guard:
                pending.setdefault(sem, []).append(me)
            try:
                gotten = sem.acquire(True, timeout)
            finally:
                with _fair_guard:
                    waiting = pending[sem]
                    waiting.remove(me)
                    if not waiting:
                        del pending[sem]
            if not gotten:
                return False
        held[sem] = _FairState(me)
        return True

    def release(self) -> None:
        """Release the write lock once (it is reentrant)."""
        sem = self._sem
        me = _getcurrent()
        with _fair_guard:
            state = self._locks._held.get(sem)
            if state is None or state.writer is not me:
                raise RuntimeError(f"Thread {me} does not own a write lock")
            state.entries -= 1
            if state.entries:
                return
            state.writer = None
            if state.readers:
                return  # still a reader: the lock goes on as a read lock
            del self._locks._held[sem]
        sem.release()

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

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[ReaderWriterLock]:
        """Context manager that grants a write lock.

        Will wait until no active readers. Blocks readers after acquiring.

        Guaranteed for locks to be processed in fair order (FIFO).

        Raises:
            RuntimeError: if an active reader attempts to acquire a lock.
        """
        self.acquire()
        try:
            yield self
        finally:
            self.release()

    # -- readers -------------------------------------------------------------

    def acquire_read_lock(self) -> None:
        """Acquire a read lock.

        Will wait until no active or pending writers.
        """
        sem = self._sem
        held = self._locks._held
        me = _getcurrent()
        with _fair_guard:
            state = held.get(sem)
            if state is not None:
                readers = state.readers
                if me in readers:
                    readers[me] += 1
                    return
                if state.writer is me or (
                    state.writer is None and not sem.waiting
                ):
                    readers[me] = 1
                    return
        sem.acquire()
        state = _FairState(None)
        state.entries = 0
        state.readers[me] = 1
        with _fair_guard:
            held[sem] = state

    def release_read_lock(self) -> None:
        """Release a read lock.

        Raises:
            RuntimeError: if the current thread does not own a read lock.
        """
        self._release_read(_getcurrent(), True)

    def _release_read(self, me: Any, raise_on_not_owned: bool) -> None:
        sem = self._sem
        held = self._locks._held
        with _fair_guard:
            state = held.get(sem)
            count = None if state is None else state.readers.get(me)
            if count is None:
                if raise_on_not_owned:
                    raise RuntimeError(f"Thread {me} does not own a read lock")
                return
            if count > 1:
                state.readers[me] = count - 1  # type: ignore[union-attr]
                return
            del state.readers[me]  # type: ignore[union-attr]
            if state.readers or state.writer is not None:  # type: ignore[union-attr]
                return
            del held[sem]
        sem.release()  # perhaps not by the reader that took it: allowed

    @contextlib.contextmanager
    def read_lock(self) -> Iterator[ReaderWriterLock]:
        """Context manager that grants a read lock.

        Will wait until no active or pending writers.
        """
        me = _getcurrent()
        self.acquire_read_lock()
        try:
            yield self
        finally:
            self._release_read(me, False)

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
        me = _getcurrent()
        state = self._locks._held.get(self._sem)
        if state is not None and state.writer is me:
            return True
        return check_pending and me in self._locks._pending.get(self._sem, ())

    def is_reader(self) -> bool:
        """Check if caller is a reader.

        Returns:
            Whether the caller is an active reader.
        """
        state = self._locks._held.get(self._sem)
        return state is not None and _getcurrent() in state.readers

    @property
    def owner(self) -> str | None:
        """Caller ownership (if any) of the lock

        Returns:
            `'w'` if caller is a writer, `'r'` if caller is a reader, None otherwise.
        """
        state = self._locks._held.get(self._sem)
        if state is None:
            return None
        return self.WRITER if state.writer is not None else self.READER


class FairLocks:
    """A garbage collected container of fair locks.

    With a fair lock, contending lockers will get the lock in the order in
    which they tried to acquire it.

    This collection drops a lock as soon as it is no longer in use (by any
    threads), so it never grows with the number of names seen.
    """

    def __init__(self) -> None:
        self._registry = _core.Registry(fair=True)
        # semaphore -> who holds it, while it is held; the key keeps the
        # semaphore (and so its registry entry) alive for a reading group
        self._held: dict[Any, _FairState] = {}
        # semaphore -> writers waiting for it, while any wait
        self._pending: dict[Any, list[Any]] = {}

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

    def __len__(self) -> int:
        """Returns how many locks exist at the current time."""
        return len(self._registry)


def internal_fair_lock(name: str) -> ReaderWriterLock:
    return _fair_locks.get(name)


class Semaphores:
    """A garbage collected container of semaphores.

    This collection drops a semaphore as soon as it is no longer in use
    (by any threads), so it never grows with the number of names seen.

    .. versionadded:: 0.3
    """

    def __init__(self) -> None:
        self._registry = _core.Registry()

    def get(self, name: str) -> Any:
        """Gets (or creates) a semaphore with a given name.

        :param name: The semaphore name to get/create (used to associate
                     previously created names with the same semaphore).

        Returns an newly constructed semaphore (or an existing one if it was
        already created for the given name).
        """
        return self._registry.get(name)

    def __len__(self) -> int:
        """Returns how many semaphores exist at the current time."""
        return len(self._registry)


class AcquireLockFailedException(Exception):
    """Raised when a non-blocking or timed acquisition fails."""

    def __init__(self, lock_name: str) -> None:
        self.message = f"Failed to acquire the lock {lock_name}"

    def __str__(self) -> str:
        return self.message


def _get_lock_path(
    name: str, lock_file_prefix: str | None, lock_path: str | None = None
) -> str:
    # NOTE(mikal): the lock name cannot contain directory
    # separators
    name = name.replace(os.sep, '_')
    if lock_file_prefix:
        sep = '' if lock_file_prefix.endswith('-') else '-'
        name = f'{lock_file_prefix}{sep}{name}'

    local_lock_path = _config.require_lock_path(lock_path)

    # fastlock: fail here, clearly, rather than at open() (where a NUL
    # gives "embedded null byte" and a long name ENAMETOOLONG).
    if '\0' in name:
        raise ValueError('lock name must not contain NUL: %r' % name)
    if len(os.fsencode(name)) > _NAME_MAX:
        raise ValueError(
            'lock file name is longer than %d bytes: %r' % (_NAME_MAX, name)
        )
    return os.path.join(local_lock_path, name)


# Longest file name (in bytes) that Linux filesystems take.
_NAME_MAX = 255

# fasteners' log level for its lock-file chatter.
_BLATHER = 5
_fasteners_log = logging.getLogger('fasteners.process_lock')


def _ensure_tree(path: bytes | str) -> bool:
    # As fasteners does: create a directory and its parents; False if it
    # was there already; FileExistsError if a file is in the way.
    try:
        os.makedirs(path)
    except OSError as e:
        if e.errno == errno.EEXIST:
            if not os.path.isdir(path):
                raise
            return False
        if e.errno == errno.EISDIR:
            return False
        raise
    return True


class InterProcessLock:
    """An interprocess lock.

    What ``oslo_concurrency.lockutils.InterProcessLock`` (that is,
    ``fasteners.InterProcessLock``) does, on the fastlock core:

    - the lock is a Linux OFD record lock on the whole file (classic
      ``fcntl`` record locks where OFD is missing), so it excludes, and
      is excluded by, the ``lockf`` locks of oslo.concurrency and
      fasteners on the same file;
    - it also excludes other threads and green threads of this process
      (a thread holding the file may take it again through another
      object; it is unlocked at the outermost release);
    - waiting blocks in the kernel instead of polling, so *delay*,
      *max_delay* and *sleep_func* are accepted and unused;
    - the lock file stays open in a bounded per-process cache instead of
      being opened and closed on each use.

    ``path`` is the canonical (bytes) path, as in fasteners; ``lockfile``
    is None unless the lock is held, then an object with ``fileno()``.
    """

    MAX_DELAY = 0.1  # For backwards compatibility
    DELAY_INCREMENT = 0.01  # For backwards compatibility

    def __init__(
        self,
        path: str | bytes | os.PathLike[str],
        sleep_func: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        if not isinstance(path, (str, bytes)):
            path = str(path)
        self.path = os.fsencode(path)
        self.sleep_func = sleep_func
        self.logger = _fasteners_log if logger is None else logger
        self._lock = _core.FileLock(self.path)

    @property
    def acquired(self) -> bool:
        """Whether this object holds the lock."""
        return bool(self._lock.acquired)

    @property
    def lockfile(self) -> Any:
        """None unless held; then the locked file (``fileno()``)."""
        return self._lock if self._lock.acquired else None

    def _do_open(self) -> None:
        basedir = os.path.dirname(self.path)
        if basedir:
            made_basedir = _ensure_tree(basedir)
            if made_basedir:
                self.logger.log(
                    _BLATHER, 'Created lock base path `%s`', basedir
                )

    def acquire(
        self,
        blocking: bool = True,
        delay: float = 0.01,
        max_delay: float = 0.1,
        timeout: float | None = None,
    ) -> bool:
        """Attempt to acquire the lock.

        Args:
            blocking:
                Whether to wait to try to acquire the lock.
            delay:
                Unused (fastlock waits in the kernel, it does not poll).
            max_delay:
                Unused (fastlock waits in the kernel, it does not poll).
            timeout:
                When `blocking`, maximal waiting time (in seconds).

        Returns:
            whether or not the acquisition succeeded
        """
        if delay < 0:
            raise ValueError('Delay must be greater than or equal to zero')
        if timeout is not None and timeout < 0:
            raise ValueError('Timeout must be greater than or equal to zero')
        lock = self._lock
        if lock.acquired:
            return True  # as re-locking a file this process holds
        if not blocking:
            timeout = None
        started = _now()
        try:
            gotten = lock.acquire(blocking, timeout)
        except FileNotFoundError:
            # A missing lock directory is created, as fasteners does.
            self._do_open()
            if timeout is not None:
                timeout = max(0.0, timeout - (_now() - started))
            gotten = lock.acquire(blocking, timeout)
        if not gotten:
            return False
        if self.logger.isEnabledFor(_BLATHER):
            self.logger.log(
                _BLATHER,
                'Acquired file lock `%s` after waiting %0.3fs [%s'
                ' attempts were required]', self.path, _now() - started, 1,
            )
        return True

    def __enter__(self) -> InterProcessLock:
        gotten = self.acquire()
        if not gotten:
            # This shouldn't happen, but just in case...
            raise threading.ThreadError(
                'Unable to acquire a file lock'
                ' on `%r` (when used as a'
                ' context manager)' % self.path
            )
        return self

    def release(self) -> None:
        """Release the previously acquired lock."""
        if not self._lock.acquired:
            raise threading.ThreadError('Unable to release an unaquired lock')
        self._lock.release()
        if self.logger.isEnabledFor(_BLATHER):
            self.logger.log(
                _BLATHER, 'Unlocked and closed file lock open on `%s`',
                self.path,
            )

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def trylock(self) -> None:
        """Take the lock without waiting; BlockingIOError if it is busy."""
        if not self.acquire(blocking=False):
            raise BlockingIOError(
                errno.EAGAIN, 'lock is held elsewhere', os.fsdecode(self.path)
            )

    def unlock(self) -> None:
        """Release the lock (fasteners' low-level name for release)."""
        self.release()

    def _release_and_delete(self) -> None:
        # Unlink while holding: fastlock lockers that waited on the old
        # file notice the swap and lock the new one.
        self._lock.release(True)


def external_lock(
    name: str,
    lock_file_prefix: str | None = None,
    lock_path: str | None = None,
) -> InterProcessLock:
    """Return the inter-process lock for *name*."""
    lock_file_path = _get_lock_path(name, lock_file_prefix, lock_path)

    return InterProcessLock(lock_file_path)


_unpatched_external_lock = external_lock
_UnpatchedInterProcessLock = InterProcessLock


def remove_external_lock_file(
    name: str,
    lock_file_prefix: str | None = None,
    lock_path: str | None = None,
    semaphores: Semaphores | None = None,
) -> None:
    """Remove an external lock file when it's not used anymore

    This will be helpful when we have a lot of lock files

    fastlock removes the file while holding its lock, and every fastlock
    locker checks after locking that the file it locked is still the one
    at the path, so removal is safe while other fastlock processes use
    the lock; it waits for the current holder, if any.  Processes running
    oslo.concurrency do not check: in a fleet that mixes both, do not
    remove lock files that are in use.
    """
    with internal_lock(name, semaphores=semaphores):
        lock_file_path = _get_lock_path(name, lock_file_prefix, lock_path)
        if not os.path.exists(lock_file_path):
            return
        ext_lock = InterProcessLock(lock_file_path)
        try:
            ext_lock.acquire()
            ext_lock._release_and_delete()
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                LOG.warning(
                    'Failed to remove file %(file)s', {'file': lock_file_path}
                )


# (name, lock_file_prefix, lock path) -> the core ExternalLock that
# lock(name, external=True) returns.  Building one (path, checks, objects)
# costs more than the lock itself, and one object serves every
# acquisition; bounded, and emptied wholesale when full.
_external_locks: dict[tuple[Any, Any, Any], AbstractContextManager[Any]] = {}
_EXTERNAL_LOCKS_MAX = 1024
_DISABLED_KEY = (_config.GROUP, 'disable_process_locking')
_PATH_KEY = (_config.GROUP, 'lock_path')


def _plain_external_lock(
    name: str, lock_file_prefix: str | None, lock_path: str | None
) -> AbstractContextManager[Any] | None:
    # What lock(name, lock_file_prefix, external=True, lock_path) without
    # other options returns: the name's ExternalLock, or its semaphore
    # when process locking is disabled.  None to leave it to _Lock: when
    # the lock cannot be built (bad name, no lock path; _Lock raises on
    # entry, where oslo raises), when fasteners' lock-file chatter is
    # logged, or when a test patched external_lock or InterProcessLock
    # (oslo calls them on every lock(), and so must we then).
    if _config.option(CONF, 'disable_process_locking'):
        return _registry_get(name)  # type: ignore[no-any-return]
    if (
        external_lock is not _unpatched_external_lock
        or InterProcessLock is not _UnpatchedInterProcessLock
        or _fasteners_log.isEnabledFor(_BLATHER)
    ):
        return None
    if not lock_path:
        lock_path = _config.option(CONF, 'lock_path')
    key = (name, lock_file_prefix, lock_path)
    try:
        return _external_locks[key]
    except (KeyError, TypeError):  # TypeError: unhashable, a bad name
        pass
    ext: AbstractContextManager[Any]
    try:
        ext = _core.ExternalLock(
            _semaphores._registry, name,
            external_lock(name, lock_file_prefix, lock_path),
        )
    except Exception:
        return None
    if len(_external_locks) >= _EXTERNAL_LOCKS_MAX:
        _external_locks.clear()
    _external_locks[key] = ext
    return ext


class _TryLock:
    """Context manager acquiring with ``blocking``/``timeout`` that raises
    :class:`AcquireLockFailedException` on failure."""

    __slots__ = ('_lock', '_name', '_blocking', '_timeout')

    def __init__(
        self, lock: Any, name: str, blocking: bool, timeout: float | None
    ) -> None:
        self._lock = lock
        self._name = name
        self._blocking = blocking
        self._timeout = timeout

    def __enter__(self) -> Any:
        if not self._lock.acquire(self._blocking, self._timeout):
            raise AcquireLockFailedException(self._name)
        return self._lock

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


def _check_timeout(blocking: bool, timeout: float | None) -> None:
    # Fail at the call, not at __enter__, so bad input never reaches a wait.
    if timeout is None:
        return
    if not blocking:
        raise ValueError("can't specify a timeout for a non-blocking call")
    if not timeout >= 0:
        raise ValueError('timeout value must be a non-negative number')


@overload
def internal_lock(
    name: str,
    semaphores: Semaphores | None = None,
    blocking: Literal[False] = False,
    *,
    timeout: float | None = None,
) -> AbstractContextManager[Any]: ...


@overload
def internal_lock(
    name: str,
    semaphores: Semaphores | None = None,
    blocking: Literal[True] = True,
    *,
    timeout: float | None = None,
) -> AbstractContextManager[Any]: ...


def internal_lock(
    name: str,
    semaphores: Semaphores | None = None,
    blocking: bool = True,
    *,
    timeout: float | None = None,
) -> AbstractContextManager[Any]:
    """Return the in-process lock for *name* as a context manager.

    With ``blocking=False`` or a ``timeout``, entering it raises
    :class:`AcquireLockFailedException` when the lock cannot be had.
    """
    _check_timeout(blocking, timeout)
    if semaphores is None:
        semaphores = _semaphores
    lock = semaphores.get(name)
    if blocking and timeout is None:
        return lock  # type: ignore[no-any-return]
    return _TryLock(lock, name, blocking, timeout)


class _Lock:
    """The general ``lock()`` context manager: logging, fair, external,
    non-blocking and timed variants.  The plain case skips it."""

    __slots__ = (
        'name', 'lock_file_prefix', 'external', 'lock_path', 'do_log',
        'semaphores', 'delay', 'fair', 'blocking', 'timeout', '_int',
        '_ext',
    )

    def __init__(
        self,
        name: str,
        lock_file_prefix: str | None,
        external: bool,
        lock_path: str | None,
        do_log: bool,
        semaphores: Semaphores | None,
        delay: float,
        fair: bool,
        blocking: bool,
        timeout: float | None,
    ) -> None:
        self.name = name
        self.lock_file_prefix = lock_file_prefix
        self.external = external
        self.lock_path = lock_path
        self.do_log = do_log
        self.semaphores = semaphores
        self.delay = delay
        self.fair = fair
        self.blocking = blocking
        self.timeout = timeout
        self._int: Any = None
        self._ext: Any = None

    def __enter__(self) -> Any:
        name = self.name
        int_lock: Any
        if self.fair:
            if self.semaphores is not None:
                raise NotImplementedError(
                    'Specifying semaphores is not '
                    'supported when using fair locks.'
                )
            if self.blocking is not True:
                raise NotImplementedError(
                    'Disabling blocking is not supported when using fair locks.'
                )
            int_lock = internal_fair_lock(name)
        else:
            semaphores = self.semaphores
            if semaphores is None:
                semaphores = _semaphores
            int_lock = semaphores.get(name)
        if self.do_log:
            LOG.debug('Acquiring lock "%s"', name)
        timeout = self.timeout
        if timeout is not None:
            deadline = _now() + timeout
        if not int_lock.acquire(self.blocking, timeout):
            raise AcquireLockFailedException(name)
        try:
            if self.do_log:
                LOG.debug('Acquired lock "%(lock)s"', {'lock': name})
            if self.external and not _config.option(
                CONF, 'disable_process_locking'
            ):
                if timeout is not None:
                    # One timeout covers the whole acquisition.
                    timeout = max(0.0, deadline - _now())
                self._ext = self._acquire_external(timeout)
        except BaseException:
            self._finish()
            int_lock.release()
            raise
        self._int = int_lock
        return int_lock if self._ext is None else self._ext

    def _acquire_external(self, timeout: float | None = None) -> Any:
        name = self.name
        ext_lock = external_lock(name, self.lock_file_prefix, self.lock_path)
        if not ext_lock.acquire(
            delay=self.delay, blocking=self.blocking, timeout=timeout
        ):
            raise AcquireLockFailedException(name)
        if self.do_log:
            LOG.debug('Acquired external semaphore "%(lock)s"', {'lock': name})
        return ext_lock

    def _finish(self) -> None:
        if self.do_log:
            LOG.debug('Releasing lock "%(lock)s"', {'lock': self.name})

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._ext is not None:
                self._ext.release()
        finally:
            self._finish()
            self._int.release()


def lock(
    name: str,
    lock_file_prefix: str | None = None,
    external: bool = False,
    lock_path: str | None = None,
    do_log: bool = True,
    semaphores: Semaphores | None = None,
    delay: float = 0.01,
    fair: bool = False,
    blocking: bool = True,
    *,
    timeout: float | None = None,
) -> AbstractContextManager[Any]:
    """Context based lock

    This function yields a semaphore from the fastlock core (it cooperates
    with eventlet when the process is monkey-patched) unless external is
    True, in which case, it'll yield an InterProcessLock instance.

    :param lock_file_prefix: The lock_file_prefix argument is used to provide
      lock files on disk with a meaningful prefix.

    :param external: The external keyword argument denotes whether this lock
      should work across multiple processes. This means that if two different
      workers both run a method decorated with @synchronized('mylock',
      external=True), only one of them will execute at a time.

    :param lock_path: The path in which to store external lock files.  For
      external locking to work properly, this must be the same for all
      references to the lock.

    :param do_log: Whether to log acquire/release messages.  This is primarily
      intended to reduce log message duplication when `lock` is used from the
      `synchronized` decorator.

    :param semaphores: Container that provides semaphores to use when locking.
        This ensures that threads inside the same application can not collide,
        due to the fact that external process locks are unaware of a processes
        active threads.

    :param delay: Delay between acquisition attempts (in seconds).

    :param fair: Whether or not we want a "fair" lock where contending lockers
        will get the lock in the order in which they tried to acquire it.

    :param blocking: Whether to wait forever to try to acquire the lock.
        Incompatible with fair locks because those provided by the fasteners
        module doesn't implements a non-blocking behavior.

    :param timeout: (fastlock) Wait at most this many seconds, then raise
        :class:`AcquireLockFailedException`.  Keyword-only.

    .. versionchanged:: 0.2
       Added *do_log* optional parameter.

    .. versionchanged:: 0.3
       Added *delay* and *semaphores* optional parameters.
    """
    # With DEBUG off the log calls would do nothing: skip them entirely.
    do_log = do_log and LOG.isEnabledFor(_DEBUG)
    if not (
        fair
        or semaphores is not None
        or blocking is not True
        or timeout is not None
        or do_log
    ):
        # The plain cases skip _Lock: the registry's semaphore itself, or
        # the name's ExternalLock.
        if not external:
            return _registry_get(name)  # type: ignore[no-any-return]
        # The name's cached ExternalLock, found inline: with the lock
        # itself at a few microseconds, each call here would cost 3%.
        # The option values come from oslo.config's cache (see
        # _config.option); anything unusual takes _plain_external_lock.
        try:
            values = CONF._ConfigOpts__cache
            if not (
                values[_DISABLED_KEY]
                or external_lock is not _unpatched_external_lock
                or InterProcessLock is not _UnpatchedInterProcessLock
                or _fasteners_log.isEnabledFor(_BLATHER)
            ):
                return _external_locks[
                    name, lock_file_prefix, lock_path or values[_PATH_KEY]
                ]
        except (AttributeError, KeyError, TypeError):
            pass
        plain = _plain_external_lock(name, lock_file_prefix, lock_path)
        if plain is not None:
            return plain
    _check_timeout(blocking, timeout)
    return _Lock(
        name, lock_file_prefix, external, lock_path, do_log, semaphores,
        delay, fair, blocking, timeout,
    )


class LockPartialProtocol(Protocol):
    def __call__(
        self,
        name: str,
        *,
        external: bool = False,
        lock_path: str | None = None,
        do_log: bool = True,
        semaphores: Semaphores | None = None,
        delay: float = 0.01,
        fair: bool = False,
        blocking: bool = True,
        timeout: float | None = None,
    ) -> AbstractContextManager[Any]: ...


def lock_with_prefix(
    lock_file_prefix: str,
) -> LockPartialProtocol:
    """Partial object generator for the lock context manager.

    Redefine lock in each project like so::

        (in nova/utils.py)
        from oslo_concurrency import lockutils

        _prefix = 'nova'
        lock = lockutils.lock_with_prefix(_prefix)
        lock_cleanup = lockutils.remove_external_lock_file_with_prefix(_prefix)


        (in nova/foo.py)
        from nova import utils

        with utils.lock('mylock'):
           ...

    Eventually clean up with::

        lock_cleanup('mylock')

    :param lock_file_prefix: A string used to provide lock files on disk with a
        meaningful prefix. Will be separated from the lock name with a hyphen,
        which may optionally be included in the lock_file_prefix (e.g.
        ``'nova'`` and ``'nova-'`` are equivalent).
    """
    return functools.partial(lock, lock_file_prefix=lock_file_prefix)


def _callable_name(function: Any) -> str:
    # Same result as oslo_utils.reflection.get_callable_name.
    parts: tuple[str, ...]
    if inspect.ismethod(function):
        owner = function.__self__
        im_class = owner if isinstance(owner, type) else type(owner)
        try:
            parts = (im_class.__module__, function.__qualname__)
        except AttributeError:
            parts = (im_class.__module__, im_class.__name__, function.__name__)
    elif inspect.isfunction(function):
        try:
            parts = (function.__module__, function.__qualname__)
        except AttributeError:
            parts = (function.__module__, function.__name__)
    else:
        im_class = type(function)
        if im_class is type:
            im_class = function
        try:
            parts = (im_class.__module__, im_class.__qualname__)
        except AttributeError:
            parts = (im_class.__module__, im_class.__name__)
    return '.'.join(parts)


def synchronized(
    name: str,
    lock_file_prefix: str | None = None,
    external: bool = False,
    lock_path: str | None = None,
    semaphores: Semaphores | None = None,
    delay: float = 0.01,
    fair: bool = False,
    blocking: bool = True,
    *,
    timeout: float | None = None,
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Synchronization decorator.

    Decorating a method like so::

        @synchronized('mylock')
        def foo(self, *args): ...

    ensures that only one thread will execute the foo method at a time.

    Different methods can share the same lock::

        @synchronized('mylock')
        def foo(self, *args): ...


        @synchronized('mylock')
        def bar(self, *args): ...

    This way only one of either foo or bar can be executing at a time.

    :param timeout: (fastlock) Wait at most this many seconds for the lock,
        then raise :class:`AcquireLockFailedException` without calling the
        function.  Keyword-only.

    .. versionchanged:: 0.3
       Added *delay* and *semaphores* optional parameter.
    """
    _check_timeout(blocking, timeout)
    plain = not (
        external
        or fair
        or semaphores is not None
        or blocking is not True
        or timeout is not None
    )

    def wrap(f: Callable[P, T]) -> Callable[P, T]:
        f_name: str | None = None

        def logged(*args: P.args, **kwargs: P.kwargs) -> T:
            nonlocal f_name
            if f_name is None:
                f_name = _callable_name(f)
            t1 = _now()
            t2 = None
            gotten = True
            try:
                LOG.debug('Acquiring lock "%s" by "%s"', name, f_name)
                with lock(
                    name, lock_file_prefix, external, lock_path, do_log=False,
                    semaphores=semaphores, delay=delay, fair=fair,
                    blocking=blocking, timeout=timeout,
                ):
                    t2 = _now()
                    LOG.debug(
                        'Lock "%(name)s" acquired by "%(function)s" :: '
                        'waited %(wait_secs)0.3fs',
                        {'name': name, 'function': f_name, 'wait_secs': (t2 - t1)},
                    )
                    return f(*args, **kwargs)
            except AcquireLockFailedException:
                gotten = False
                raise
            finally:
                t3 = _now()
                if t2 is None:
                    held_secs = "N/A"
                else:
                    held_secs = "%0.3fs" % (t3 - t2)
                LOG.debug(
                    'Lock "%(name)s" "%(gotten)s" by "%(function)s" ::'
                    ' held %(held_secs)s',
                    {
                        'name': name,
                        'gotten': 'released' if gotten else 'unacquired',
                        'function': f_name,
                        'held_secs': held_secs,
                    },
                )

        @functools.wraps(f)
        def inner(*args: P.args, **kwargs: P.kwargs) -> T:
            if LOG.isEnabledFor(_DEBUG):
                return logged(*args, **kwargs)
            if plain:
                with _registry_get(name):
                    return f(*args, **kwargs)
            with lock(
                name, lock_file_prefix, external, lock_path, do_log=False,
                semaphores=semaphores, delay=delay, fair=fair,
                blocking=blocking, timeout=timeout,
            ):
                return f(*args, **kwargs)

        return inner

    return wrap


class SyncPartialProtocol(Protocol):
    def __call__(
        self,
        name: str,
        *,
        external: bool = False,
        lock_path: str | None = None,
        semaphores: Semaphores | None = None,
        delay: float = 0.01,
        fair: bool = False,
        blocking: bool = True,
        timeout: float | None = None,
    ) -> Callable[[Callable[P, T]], Callable[P, T]]: ...


def synchronized_with_prefix(
    lock_file_prefix: str,
) -> SyncPartialProtocol:
    """Partial object generator for the synchronization decorator.

    Redefine @synchronized in each project like so::

        (in nova/utils.py)
        from oslo_concurrency import lockutils

        _prefix = 'nova'
        synchronized = lockutils.synchronized_with_prefix(_prefix)
        lock_cleanup = lockutils.remove_external_lock_file_with_prefix(_prefix)


        (in nova/foo.py)
        from nova import utils

        @utils.synchronized('mylock')
        def bar(self, *args):
           ...

    Eventually clean up with::

        lock_cleanup('mylock')

    :param lock_file_prefix: A string used to provide lock files on disk with a
        meaningful prefix. Will be separated from the lock name with a hyphen,
        which may optionally be included in the lock_file_prefix (e.g.
        ``'nova'`` and ``'nova-'`` are equivalent).
    """
    return functools.partial(synchronized, lock_file_prefix=lock_file_prefix)


class RemovePartialProtocol(Protocol):
    def __call__(
        self,
        name: str,
        *,
        lock_path: str | None = None,
        semaphores: Semaphores | None = None,
    ) -> None: ...


def remove_external_lock_file_with_prefix(
    lock_file_prefix: str,
) -> RemovePartialProtocol:
    """Partial object generator for the remove lock file function.

    Redefine remove_external_lock_file_with_prefix in each project like so::

        (in nova/utils.py)
        from oslo_concurrency import lockutils

        _prefix = 'nova'
        synchronized = lockutils.synchronized_with_prefix(_prefix)
        lock = lockutils.lock_with_prefix(_prefix)
        lock_cleanup = lockutils.remove_external_lock_file_with_prefix(_prefix)

        (in nova/foo.py)
        from nova import utils

        @utils.synchronized('mylock')
        def bar(self, *args):
            ...

        def baz(self, *args):
            ...
            with utils.lock('mylock'):
                ...
            ...

        <eventually call lock_cleanup('mylock') to clean up>

    The lock_file_prefix argument is used to provide lock files on disk with a
    meaningful prefix.
    """
    return functools.partial(
        remove_external_lock_file, lock_file_prefix=lock_file_prefix
    )


def _lock_wrapper(argv: Sequence[str]) -> int:
    """Create a dir for locks and pass it to command from arguments

    This is exposed as a console script entry point named
    fastlock-wrapper (oslo.concurrency's is lockutils-wrapper)

    If you run this:
        fastlock-wrapper stestr run <etc>

    a temporary directory will be created for all your locks and passed to all
    your tests in an environment variable. The temporary dir will be deleted
    afterwards and the return value will be preserved.
    """
    lock_dir = tempfile.mkdtemp()
    os.environ["OSLO_LOCK_PATH"] = lock_dir
    try:
        # the user must call this explicitly with args: there's nothing
        # untrusted about that
        ret_val = subprocess.call(argv[1:])  # noqa: S603
    finally:
        shutil.rmtree(lock_dir, ignore_errors=True)
    return ret_val


def main() -> None:
    sys.exit(_lock_wrapper(sys.argv))


def _use_core(core: ModuleType) -> ModuleType:
    """Bind the facade to *core* (``_core_c`` or ``_core_py``) with fresh
    default containers; return the core bound before.  For tests and
    benchmarks that compare the two implementations in one process."""
    global _core, _semaphores, _fair_locks, _registry_get
    previous = _core
    _core = core
    _semaphores = Semaphores()
    _fair_locks = FairLocks()
    _registry_get = _semaphores._registry.get
    _external_locks.clear()
    return previous


_semaphores = Semaphores()
_fair_locks = FairLocks()
_registry_get = _semaphores._registry.get


if __name__ == '__main__':
    raise NotImplementedError(
        'Calling lockutils directly is no longer '
        'supported.  Please use the '
        'fastlock-wrapper console script instead.'
    )
