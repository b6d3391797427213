"""Drop-in replacement for ``oslo_concurrency.lockutils``.

Same names, signatures, defaults, exceptions, configuration options and
DEBUG log lines as oslo.concurrency 7.6.1; the mechanism (registry,
semaphore, held-locks list) lives in the compiled core.  Beyond oslo:
``held_locks()``, and a keyword-only ``timeout`` on ``lock``,
``synchronized`` and ``internal_lock``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any, Literal, ParamSpec, Protocol, TypeVar, overload

from fastlock import _config
from fastlock._core import core as _core

P = ParamSpec('P')
T = TypeVar('T')

LOG = logging.getLogger(__name__)
_DEBUG = logging.DEBUG
_now = time.monotonic

CONF = _config.CONF
_opts = _config._opts
set_defaults = _config.set_defaults
get_lock_path = _config.get_lock_path


def held_locks() -> list[str]:
    """Return the names of the locks held by the calling thread.

    Under eventlet the list belongs to the calling green thread.  Names
    come in acquisition order, oldest first; the list is a copy.
    """
    return _core.held_locks()


class FairLocks:
    """A garbage collected container of fair locks.

    With a fair lock, contending lockers will get the lock in the order in
    which they tried to acquire it.

    This collection drops a lock as soon as it is no longer in use (by any
    threads), so it never grows with the number of names seen.
    """

    def __init__(self) -> None:
        self._registry = _core.Registry(fair=True)

    def get(self, name: str) -> Any:
        """Gets (or creates) a lock with a given name.

        :param name: The lock name to get/create (used to associate
                     previously created names with the same lock).

        Returns an newly constructed lock (or an existing one if it was
        already created for the given name).
        """
        return self._registry.get(name)

    def __len__(self) -> int:
        """Returns how many locks exist at the current time."""
        return len(self._registry)


def internal_fair_lock(name: str) -> Any:
    """Return the fair (first come, first served) lock for *name*."""
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
    import os

    # the lock name cannot contain directory separators
    name = name.replace(os.sep, '_')
    if lock_file_prefix:
        sep = '' if lock_file_prefix.endswith('-') else '-'
        name = f'{lock_file_prefix}{sep}{name}'
    return os.path.join(_config.require_lock_path(lock_path), name)


def external_lock(
    name: str,
    lock_file_prefix: str | None = None,
    lock_path: str | None = None,
) -> Any:
    """Return the inter-process lock for *name* (not implemented yet)."""
    _get_lock_path(name, lock_file_prefix, lock_path)
    raise NotImplementedError(
        'fastlock does not implement external (inter-process) locks yet; '
        'use external=False or set [oslo_concurrency] '
        'disable_process_locking = True'
    )


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
        if not int_lock.acquire(self.blocking, self.timeout):
            raise AcquireLockFailedException(name)
        try:
            if self.do_log:
                LOG.debug('Acquired lock "%(lock)s"', {'lock': name})
            if self.external and not CONF.oslo_concurrency.disable_process_locking:
                self._ext = self._acquire_external()
        except BaseException:
            self._finish()
            int_lock.release()
            raise
        self._int = int_lock
        return int_lock if self._ext is None else self._ext

    def _acquire_external(self) -> Any:
        name = self.name
        ext_lock = external_lock(name, self.lock_file_prefix, self.lock_path)
        if not ext_lock.acquire(delay=self.delay, blocking=self.blocking):
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
    if (
        external
        or fair
        or semaphores is not None
        or blocking is not True
        or timeout is not None
        or (do_log and LOG.isEnabledFor(_DEBUG))
    ):
        _check_timeout(blocking, timeout)
        return _Lock(
            name, lock_file_prefix, external, lock_path, do_log, semaphores,
            delay, fair, blocking, timeout,
        )
    return _registry_get(name)  # type: ignore[no-any-return]


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
    return previous


_semaphores = Semaphores()
_fair_locks = FairLocks()
_registry_get = _semaphores._registry.get
