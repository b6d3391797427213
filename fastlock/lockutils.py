"""Drop-in replacement for ``oslo_concurrency.lockutils``.

Same names, signatures, defaults, exceptions, configuration options and
DEBUG log lines as oslo.concurrency 7.6.1; the mechanism (registry,
semaphore, held-locks list) lives in the compiled core.  Beyond oslo:
``held_locks()``, ``lock_table()``, ``dump_locks()``, the slow-wait
warning (``[fastlock] warn_wait_seconds``), a keyword-only ``timeout``
on ``lock``, ``synchronized`` and ``internal_lock``, and opt-in
lock-order checking (``set_lock_order_checking()``).
"""

from __future__ import annotations

import collections
import errno
import fcntl
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
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any, Literal, ParamSpec, Protocol, TypeVar, overload

from fastlock import _config, _lockorder, _rwlock, _table
from fastlock._core import core as _core
from fastlock._lockorder import LockOrderError as LockOrderError
from fastlock._lockorder import LockOrderWarning as LockOrderWarning
from fastlock._lockorder import default_lock_class as default_lock_class
from fastlock._lockorder import (
    set_lock_order_checking as set_lock_order_checking,
)
from fastlock._rwlock import FairLocks, ReaderWriterLock
from fastlock._table import LockHolder as LockHolder
from fastlock._table import LockRecord as LockRecord
from fastlock._table import dump_locks as dump_locks
from fastlock._table import lock_table as lock_table

P = ParamSpec('P')
T = TypeVar('T')

LOG = logging.getLogger(__name__)
_DEBUG = logging.DEBUG
_now = time.monotonic

CONF = _config.CONF
_opts = _config._opts
_register_opts = _config.register_opts
set_defaults = _config.set_defaults
get_lock_path = _config.get_lock_path


def held_locks() -> list[Any]:
    """Return the names of the locks held by the calling thread.

    Under eventlet the list belongs to the calling green thread.  Names
    (the objects given to ``lock()``) come in acquisition order, oldest
    first; the list is a copy.
    """
    names: list[Any] = _core.held_locks()
    return names


def _after_fork_in_child() -> None:
    # A thread that vanished in fork() may have been inside a cached
    # ExternalLock.
    _external_locks.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def internal_fair_lock(name: str) -> ReaderWriterLock:
    return _fair_locks.get(name)


_unpatched_internal_fair_lock = internal_fair_lock


def _decorate(func: Callable[P, T], make: Callable[[], Any]) -> Callable[P, T]:
    # What oslo's lock() context manager does as a ContextDecorator: each
    # call of *func* runs inside a fresh ``with make():``.
    @functools.wraps(func)
    def inner(*args: P.args, **kwargs: P.kwargs) -> T:
        with make():
            return func(*args, **kwargs)

    return inner


def _lock_decorator(
    func: Callable[P, T], args: tuple[Any, ...], timeout: float | None = None
) -> Callable[P, T]:
    # Decorate *func* with a fresh lock(*args, timeout=timeout) per call.
    return _decorate(func, lambda: lock(*args, timeout=timeout))


# The DEBUG lines of oslo's lock(), also logged by the core's TryLock.
def _log_acquiring(name: Any) -> None:
    LOG.debug('Acquiring lock "%s"', name)


def _log_acquired(name: Any) -> None:
    LOG.debug('Acquired lock "%(lock)s"', {'lock': name})


def _log_acquired_external(name: Any) -> None:
    LOG.debug('Acquired external semaphore "%(lock)s"', {'lock': name})


def _log_releasing(name: Any) -> None:
    LOG.debug('Releasing lock "%(lock)s"', {'lock': name})


@functools.cache
def _semaphore_class(core: ModuleType) -> type[Any]:
    # The core's semaphore, also a threading.Semaphore: oslo's lock(name)
    # gives a threading.Semaphore, and callers check it with isinstance().
    # Its methods are the core's (first in the MRO); threading.Semaphore's
    # __init__ never runs, so it adds no state.
    class Semaphore(core.Semaphore, threading.Semaphore):  # type: ignore[name-defined,misc]
        """The semaphore of a lock name, as ``lock(name)`` gives it: a
        ``threading.Semaphore`` (for ``isinstance``) that works with
        eventlet green threads too.

        Like the context manager of oslo's ``lock()`` it also decorates a
        function, each call of which then holds the lock::

            @lockutils.lock('mylock')
            def foo(self, *args): ...
        """

        def __call__(self, func: Callable[P, T]) -> Callable[P, T]:
            def make() -> Any:
                if LOG.isEnabledFor(_DEBUG):
                    return _core.TryLock(self, self.name, True, None, None, True)
                return self

            return _decorate(func, make)

    Semaphore.__module__ = __name__
    Semaphore.__qualname__ = 'Semaphore'
    return Semaphore


class Semaphores:
    """A garbage collected container of semaphores.

    This collection drops a semaphore as soon as it is no longer in use
    (by any threads), so it never grows with the number of names seen.

    .. versionadded:: 0.3
    """

    def __init__(self) -> None:
        self._registry = _core.Registry(semaphore_type=_Semaphore)

    def get(self, name: str) -> Any:
        """Gets (or creates) a semaphore with a given name.

        Any hashable works as a name, as with oslo.

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
    _table.note_lock_file_prefix(lock_file_prefix)
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
    As in fasteners, ``lockfile`` may be set to an open file: the lock is
    then a ``lockf`` lock on that file (polled with *delay* and
    *sleep_func*, as fasteners does) until it is released or
    ``lockfile`` is set to None.
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
        self._lockfile: Any = None  # a file the caller set, as in fasteners
        self._on_lockfile = False  # holding self._lockfile's lock

    @property
    def acquired(self) -> bool:
        """Whether this object holds the lock."""
        return self._on_lockfile or bool(self._lock.acquired)

    @property
    def lockfile(self) -> Any:
        """The file set by the caller; else None unless held, then the
        locked file (``fileno()``)."""
        if self._lockfile is not None:
            return self._lockfile
        return self._lock if self._lock.acquired else None

    @lockfile.setter
    def lockfile(self, value: Any) -> None:
        self._lockfile = value

    def _acquire_lockfile(
        self, blocking: bool, delay: float, max_delay: float,
        timeout: float | None,
    ) -> bool:
        # fasteners' way, on the file the caller set: lockf, polled.
        started = _now()
        max_delay = max(max_delay, delay)
        pause = delay
        while True:
            try:
                fcntl.lockf(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EACCES, errno.EAGAIN):
                    raise threading.ThreadError(
                        'Unable to acquire lock on `%(path)s` due to'
                        ' %(exception)s'
                        % {'path': os.fsdecode(self.path), 'exception': e}
                    ) from e
                if not blocking or (
                    timeout is not None and _now() - started >= timeout
                ):
                    return False
                self.sleep_func(pause)
                pause = min(pause + delay, max_delay)
            else:
                self._on_lockfile = True
                return True

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
        if self._lockfile is not None and not self._lockfile.closed:
            if self._on_lockfile:
                return True
            return self._acquire_lockfile(blocking, delay, max_delay, timeout)
        lock = self._lock
        # Held, and not just before a fork (the child's parent holds it).
        if lock.acquired and lock.fileno() >= 0:
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
        if self._on_lockfile:
            # fasteners unlocks and closes the file, and forgets it.
            self.unlock()
            self._on_lockfile = False
            self._lockfile.close()
            self._lockfile = None
            return
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
        if self._lockfile is not None:
            fcntl.lockf(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        if not self.acquire(blocking=False):
            raise BlockingIOError(
                errno.EAGAIN, 'lock is held elsewhere', os.fsdecode(self.path)
            )

    def unlock(self) -> None:
        """Release the lock (fasteners' low-level name for release)."""
        if self._lockfile is not None:
            fcntl.lockf(self._lockfile, fcntl.LOCK_UN)
            return
        self.release()


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

    fastlock removes the file (with ``os.remove``, as oslo does) while
    holding its lock, and every fastlock locker checks after locking that
    the file it locked is still the one at the path, so removal is safe
    while other fastlock processes use the lock; it waits for the current
    holder, if any.  Processes running oslo.concurrency do not check: in a
    fleet that mixes both, do not remove lock files that are in use.
    """
    with internal_lock(name, semaphores=semaphores):
        lock_file_path = _get_lock_path(name, lock_file_prefix, lock_path)
        try:
            _remove_holding(lock_file_path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                LOG.warning(
                    'Failed to remove file %(file)s', {'file': lock_file_path}
                )


def _remove_holding(path: Any) -> None:
    # Unlink a str or bytes path holding the file's lock, and only if the
    # path still names the file locked (the core checks, then unlinks):
    # a plain os.remove could remove a newer file another process holds.
    # Anything else (a test's mock) goes to os.remove, which oslo calls
    # unchecked.
    if not isinstance(path, (str, bytes)):
        os.remove(path)
        return
    if not os.path.exists(path):
        # Nothing to remove.  Never os.remove() here: a file made since
        # the check may be locked by another process.
        return
    ext_lock = InterProcessLock(path)
    ext_lock.acquire()
    ext_lock._lock.release(True)


# (name, lock_file_prefix, lock_path) -> the core ExternalLock that
# lock(name, external=True) returns; (name, lock_file_prefix, None, the
# configured path) for a lock_path not given.  Building one (path, checks, objects)
# costs more than the lock itself, and one object serves every
# acquisition.  Bounded, one entry going at a time when full: the newest
# one, but the oldest at every _EXTERNAL_ADMIT_EVERY-th insertion (a hit
# stays a plain dict lookup, so there is no recency to go by).  Names
# cycled beyond the bound so keep most entries for good, where dropping
# the oldest (FIFO, as LRU) rebuilt every one in turn; the periodic
# oldest lets a new working set in (the core's descriptor cache admits
# new files the same way).  Twice the core's descriptor cache, at least
# 4,096 and at most 32,768 entries (some 800 bytes each): an entry holds
# no descriptor while idle, and a rebuild costs three times a descriptor
# reopened (measured: 1,000 names cycled with 500 descriptors cached took
# 35 us per lock with both caches missing, 19 us with this one hitting,
# 7 us with both hitting), so names beyond the descriptor cache must not
# miss here too.
_external_locks: collections.OrderedDict[
    tuple[Any, ...], AbstractContextManager[Any]] = (
    collections.OrderedDict())
_EXTERNAL_LOCKS_MAX = min(32768, max(4096, 2 * _core._default_cache_size()))
_EXTERNAL_ADMIT_EVERY = 32
_external_admitted = 0
_DISABLED_KEY = (_config.GROUP, 'disable_process_locking')
_PATH_KEY = (_config.GROUP, 'lock_path')


def _new_external_lock(
    key: tuple[Any, ...], name: str, lock_file_prefix: str | None,
    path: str, lock_path: str | None,
) -> AbstractContextManager[Any] | None:
    # Build, cache under *key* and return the name's ExternalLock for the
    # lock directory *path* (lock() was given *lock_path*); None to leave
    # it to _Lock when it cannot be built (bad name or prefix, no lock
    # path: _Lock raises on entry, where oslo raises).
    try:
        ext = _external_lock_class(_core)(
            _semaphores._registry, name,
            external_lock(name, lock_file_prefix, path),
        )
        # As a decorator it calls lock() again on each call, so that the
        # configuration is read each time, as by oslo.
        ext._remake = functools.partial(
            lock, name, lock_file_prefix, True, lock_path
        )
        _evict_external_lock()
        _external_locks[key] = ext
    except Exception:
        return None
    return ext  # type: ignore[no-any-return]


def _evict_external_lock() -> None:
    # Make room for one more entry (see _external_locks).
    global _external_admitted
    if len(_external_locks) < _EXTERNAL_LOCKS_MAX:
        return
    _external_admitted += 1
    try:
        _external_locks.popitem(
            last=_external_admitted % _EXTERNAL_ADMIT_EVERY != 0)
    except KeyError:  # emptied by another thread meanwhile
        pass


@functools.cache
def _external_lock_class(core: ModuleType) -> type[Any]:
    # The core's ExternalLock, which also decorates a function.
    class ExternalLock(core.ExternalLock):  # type: ignore[name-defined,misc]
        __slots__ = ('_remake',)

        def __call__(self, func: Callable[P, T]) -> Callable[P, T]:
            """Decorate *func*: each call holds ``lock(name, ...,
            external=True)``, as with oslo's (a ``ContextDecorator``)."""
            return _decorate(func, self._remake)

    ExternalLock.__module__ = __name__
    ExternalLock.__qualname__ = 'ExternalLock'
    return ExternalLock


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
    return _core.TryLock(lock, name, blocking, timeout)  # type: ignore[no-any-return]


class _Lock:
    """The general ``lock()`` context manager: logging, fair, external,
    non-blocking and timed variants.  The plain case skips it."""

    __slots__ = (
        'name', 'lock_file_prefix', 'external', 'lock_path', 'do_log',
        'semaphores', 'delay', 'fair', 'blocking', 'timeout', '_int',
        '_ext', '_do_log',
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
        # do_log as given, and whether to log (DEBUG is enabled) now.
        self._do_log = do_log
        self.do_log = do_log and LOG.isEnabledFor(_DEBUG)
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
            _log_acquiring(name)
        timeout = self.timeout
        if timeout is not None:
            deadline = _now() + timeout
        if not int_lock.acquire(self.blocking, timeout):
            raise AcquireLockFailedException(name)
        try:
            if self.do_log:
                _log_acquired(name)
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

    def __call__(self, func: Callable[P, T]) -> Callable[P, T]:
        """Decorate *func*: each call holds a fresh ``lock()`` with these
        arguments, as with oslo's (a ``ContextDecorator``)."""
        args = (
            self.name, self.lock_file_prefix, self.external, self.lock_path,
            self._do_log, self.semaphores, self.delay, self.fair,
            self.blocking,
        )
        return _lock_decorator(func, args, self.timeout)

    def _acquire_external(self, timeout: float | None = None) -> Any:
        name = self.name
        ext_lock = external_lock(name, self.lock_file_prefix, self.lock_path)
        if not ext_lock.acquire(
            delay=self.delay, blocking=self.blocking, timeout=timeout
        ):
            raise AcquireLockFailedException(name)
        if self.do_log:
            _log_acquired_external(name)
        return ext_lock

    def _finish(self) -> None:
        if self.do_log:
            _log_releasing(self.name)

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._ext is not None:
                self._ext.release()
        finally:
            self._finish()
            self._int.release()


def _plain_semaphore(name: str, semaphores: Semaphores | None) -> Any:
    # The name's semaphore from the container (the default one when None,
    # patched or not), if it is a Semaphores itself whose get() is
    # Semaphores.get (not a subclass, nor a patched instance, whose get()
    # may give another); else None.
    if semaphores is None:
        semaphores = _semaphores
    if type(semaphores) is Semaphores and 'get' not in vars(semaphores):
        return semaphores.get(name)
    return None


def _plain_external(
    name: str, lock_file_prefix: str | None, lock_path: str | None
) -> AbstractContextManager[Any] | None:
    # What plain lock(name, external=True) gives: while process locking is
    # disabled, the name's semaphore.  Otherwise the name's cached
    # ExternalLock, unless oslo would do something observable on every
    # call here: a test patched external_lock or InterProcessLock (oslo
    # calls them), or fasteners' lock-file chatter is logged; None then
    # (and for a name, prefix or path not a str), for _Lock.  The option
    # values come from oslo.config's own cache when it has them (see
    # _config.option): an attribute lookup would cost a tenth of the lock.
    try:
        values = CONF._ConfigOpts__cache
        disabled = values[_DISABLED_KEY]
        path = lock_path or values[_PATH_KEY]
    except (AttributeError, KeyError, TypeError):
        disabled = _config.option(CONF, 'disable_process_locking')
        path = lock_path or _config.option(CONF, 'lock_path')
    if disabled:
        return _plain_semaphore(name, None)  # type: ignore[no-any-return]
    if (
        external_lock is not _unpatched_external_lock
        or InterProcessLock is not _UnpatchedInterProcessLock
        or _fasteners_log.isEnabledFor(_BLATHER)
    ):
        return None
    # Only str itself is cached: a subclass may compare equal to (and
    # hash as) a name, prefix or path of another file.
    if not (
        type(name) is str and type(path) is str
        and (lock_file_prefix is None or type(lock_file_prefix) is str)
    ):
        return None
    # The configured path's entries apart from those given the same path:
    # as decorators, these keep their path and those follow the option.
    key = ((name, lock_file_prefix, lock_path) if lock_path
           else (name, lock_file_prefix, None, path))
    try:
        return _external_locks[key]
    except KeyError:
        return _new_external_lock(key, name, lock_file_prefix, path,
                                  lock_path)


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

    This function yields a `threading.Semaphore` instance (fastlock's
    cooperates with eventlet when the process is monkey-patched) unless
    external is True, in which case, it'll yield an InterProcessLock
    instance.  Like oslo's, what it returns also decorates a function::

        @lockutils.lock('mylock')
        def foo(self, *args): ...

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
    # The plain cases skip _Lock: the registry's semaphore itself, the
    # name's ExternalLock, or the core's fair writer, which does what
    # _Lock does with internal_fair_lock(name) (unless a test patched that
    # or _fair_locks).  (The core's _fast_lock, installed as lock(),
    # decides these same cases, and leaves logged ones to this code, the
    # reference.)
    logged = bool(do_log) and LOG.isEnabledFor(_DEBUG)
    if fair:
        if (
            blocking is True and timeout is None
            and not external
            and semaphores is None
            and internal_fair_lock is _unpatched_internal_fair_lock
            and type(_fair_locks) is FairLocks
        ):
            return _fair_locks.writer(  # type: ignore[no-any-return]
                name, lock_file_prefix, lock_path, do_log, delay, logged)
    elif logged or blocking is not True or timeout is not None:
        # Logged, non-blocking or timed: the core's TryLock (or, external,
        # its TryExternalLock), which (unlike _Lock) a signal handler
        # cannot cut between acquiring and entering the with block when
        # compiled.
        if blocking is False or blocking is True:
            _check_timeout(blocking, timeout)
            args = (name, lock_file_prefix, external, lock_path, do_log,
                    semaphores, delay, fair, blocking)
            sem = None
            if not external:
                sem = _plain_semaphore(name, semaphores)
            elif (
                semaphores is None
                and type(delay) in (float, int) and delay >= 0
            ):
                # (A delay InterProcessLock refuses goes to _Lock.)
                sem = _plain_external(name, lock_file_prefix, lock_path)
                if isinstance(sem, _core.ExternalLock):
                    return _core.TryExternalLock(  # type: ignore[no-any-return]
                        sem, blocking, timeout, args, logged)
            if sem is not None:
                return _core.TryLock(  # type: ignore[no-any-return]
                    sem, name, blocking, timeout, args, logged)
    elif not external:
        sem = _plain_semaphore(name, semaphores)
        if sem is not None:
            return sem  # type: ignore[no-any-return]
    elif semaphores is None:
        ext = _plain_external(name, lock_file_prefix, lock_path)
        if ext is not None:
            return ext
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

        def slow(*args: P.args, **kwargs: P.kwargs) -> T:
            if LOG.isEnabledFor(_DEBUG):
                return logged(*args, **kwargs)
            with lock(
                name, lock_file_prefix, external, lock_path, do_log=False,
                semaphores=semaphores, delay=delay, fair=fair,
                blocking=blocking, timeout=timeout,
            ):
                return f(*args, **kwargs)

        @functools.wraps(f)
        def inner(*args: P.args, **kwargs: P.kwargs) -> T:
            if plain:
                # What slow() does, in the core while DEBUG is off and
                # lock() is not patched (there lock() gives the semaphore).
                return _fast_call(name, f, args, kwargs, slow)  # type: ignore[no-any-return]
            return slow(*args, **kwargs)

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


_WRAPPER_HELP = """\
usage: fastlock-wrapper COMMAND [ARGS...]

Run COMMAND with OSLO_LOCK_PATH set to a new temporary directory, remove
the directory afterwards and exit with COMMAND's exit status (what
oslo.concurrency's lockutils-wrapper does), e.g.:

  fastlock-wrapper stestr run"""


def main() -> None:
    """The ``fastlock-wrapper`` console script (see :func:`_lock_wrapper`)."""
    argv = sys.argv
    if len(argv) < 2 or argv[1] in ('-h', '--help'):
        print(_WRAPPER_HELP, file=sys.stdout if len(argv) > 1 else sys.stderr)
        sys.exit(0 if len(argv) > 1 else 2)
    try:
        code = _lock_wrapper(argv)
    except OSError as exc:
        # The command could not be started; exit as a shell would.
        print('fastlock-wrapper: %s: %s' % (argv[1], exc.strerror or exc),
              file=sys.stderr)
        code = 127 if isinstance(exc, FileNotFoundError) else 126
    sys.exit(code)


def _use_core(core: ModuleType) -> ModuleType:
    """Bind the facade to *core* (``_core_c`` or ``_core_py``) with fresh
    default containers; return the core bound before.  For tests and
    benchmarks that compare the two implementations in one process."""
    global _core, _semaphores, _fair_locks, _Semaphore
    previous = _core
    _core = _rwlock._core = core
    _Semaphore = _semaphore_class(core)
    _semaphores = Semaphores()
    _fair_locks = FairLocks()
    _external_locks.clear()
    _lockorder._install(core)
    _table.bind(core, _semaphores, _fair_locks, synchronized, _callable_name)
    _install_fast_path(core)
    return previous


def _install_fast_path(core: ModuleType) -> None:
    # lock() and plain @synchronized calls enter through the core, which
    # serves the plain cases and calls the Python lock() above (kept as
    # _lock_spec) for the rest.
    global lock, _fast_call
    entry = core._fast_lock
    functools.update_wrapper(entry, _lock_spec)
    lock = entry
    _fast_call = core._fast_call
    core._bind_fast_path(globals())


_Semaphore: type[Any] = _semaphore_class(_core)
_semaphores = Semaphores()
_fair_locks = FairLocks()
_table._watchdog.warn_seconds = _config.warn_wait_seconds
_table.bind(_core, _semaphores, _fair_locks, synchronized, _callable_name)
_table.register_guru_section()
_lock_spec = lock
_fast_call: Callable[..., Any] = _core._fast_call
_install_fast_path(_core)


if __name__ == '__main__':
    raise NotImplementedError(
        'Calling lockutils directly is no longer '
        'supported.  Please use the '
        'fastlock-wrapper console script instead.'
    )
