"""Pure-Python twin of ``fastlock._core_c``: the executable specification.

The compiled core gets its atomicity from the GIL: a Cython method runs
without a thread switch until it calls back into Python.  This twin has no
such guarantee, so every state change happens under ``_guard``, a lock
from the *unpatched* ``_thread`` module (eventlet may have monkey-patched
the one everybody else sees).  Nothing that can switch threads or
greenlets (``hub.switch()``, waking a waiter, blocking) runs under it.

Mechanism only: named-semaphore registry, a semaphore that parks OS
threads on a native lock and eventlet green threads on their hub, and the
per-(green)thread list of held lock names.  Logging, configuration and
decorators live in ``fastlock.lockutils``.
"""

from __future__ import annotations

import collections
import math
import os
import sys
import time
import weakref
from typing import Any

import greenlet

__all__ = ["FileLock", "Registry", "Semaphore", "held_locks"]


def _original(module_name: str) -> Any:
    # Look the module up at import time: eventlet patches ``_thread`` and
    # ``os`` in place, so a later ``import _thread`` may be the green one.
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None:
        return patcher.original(module_name)
    return __import__(module_name)


_thread = _original("_thread")
_os = _original("os")
_allocate_lock = _thread.allocate_lock
_get_ident = _thread.get_ident
_getcurrent = greenlet.getcurrent
_monotonic = time.monotonic

_guard = _allocate_lock()

# Semaphores that somebody holds: strong references, see Semaphore._own.
_busy: set[Any] = set()

# greenlet -> names of the named semaphores it holds, in acquisition
# order.  An entry exists only while the list is non-empty.
_held: dict[Any, list[str]] = {}


def held_locks() -> list[str]:
    """Return the names of the locks held by the calling (green) thread.

    The list is a copy, oldest acquisition first.
    """
    with _guard:
        return list(_held.get(_getcurrent(), ()))


def _check_timeout(blocking: bool, timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if not blocking:
        raise ValueError("can't specify a timeout for a non-blocking call")
    if isinstance(timeout, (str, bytes)):
        raise TypeError("must be real number, not %s" % type(timeout).__name__)
    timeout = float(timeout)
    if not timeout >= 0:  # also rejects NaN
        raise ValueError("timeout value must be a non-negative number")
    return None if math.isinf(timeout) else timeout


def _current_hub() -> Any:
    """Return the eventlet hub to park on, or None to block natively.

    A thread parks green when eventlet already runs a hub in it (other
    green threads of that hub may be the ones to release).  The hub
    greenlet itself cannot park, and a thread without a hub has no other
    green threads, so both block natively.
    """
    hubs = sys.modules.get("eventlet.hubs")
    if hubs is None:
        return None
    hub = getattr(hubs._threadlocal, "hub", None)
    if hub is None or _getcurrent() is hub.greenlet:
        return None
    return hub


def _noop() -> None:
    pass


class _HubWaker:
    """Wakes green waiters of one hub from other OS threads.

    eventlet hubs are not thread-safe, so a foreign thread queues the
    waiter and writes a byte to a pipe the hub watches; the hub's own
    thread then resumes the waiter.
    """

    def __init__(self, hub: Any) -> None:
        self._pending: collections.deque[_Waiter] = collections.deque()
        self._rfd, self._wfd = _os.pipe()
        _os.set_blocking(self._rfd, False)
        _os.set_blocking(self._wfd, False)
        hub.add(hub.READ, self._rfd, self._drain, self._fail, _noop)

    @staticmethod
    def for_hub(hub: Any) -> _HubWaker:
        waker: _HubWaker | None = getattr(hub, "_fastlock_waker_py", None)
        if waker is None:
            waker = hub._fastlock_waker_py = _HubWaker(hub)
        return waker

    def post(self, waiter: _Waiter) -> None:
        self._pending.append(waiter)
        try:
            _os.write(self._wfd, b"\0")
        except BlockingIOError:
            pass  # a full pipe already guarantees a pending drain

    def _drain(self, fileno: int) -> None:
        try:
            while _os.read(self._rfd, 4096):
                pass
        except BlockingIOError:
            pass
        while self._pending:
            self._pending.popleft().resume()

    def _fail(self, exc: BaseException) -> None:  # pragma: no cover
        raise exc


class _Waiter:
    """One blocked acquire: parked on a native lock or on a hub."""

    __slots__ = (
        "lock", "glet", "hub", "thread", "parked", "granted", "woken",
    )

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.granted = False  # fair: the permit was handed to us
        self.woken = False  # unfair: a permit was freed, go and try
        self.glet = _getcurrent()
        if hub is None:
            self.lock = _allocate_lock()
            self.lock.acquire()
        else:
            self.lock = None
            self.thread = _get_ident()
            self.parked = True

    def park(self, timeout: float | None) -> None:
        """Block until woken, the timeout expires or an exception."""
        if self.lock is not None:
            self.lock.acquire(True, -1 if timeout is None else timeout)
            return
        # Register the cross-thread waker from the hub's own thread: eventlet
        # hubs must not be touched from other threads.
        _HubWaker.for_hub(self.hub)
        timer = None
        if timeout is not None:
            timer = self.hub.schedule_call_global(timeout, self.resume)
        try:
            while self.parked:
                self.hub.switch()
        finally:
            self.parked = False
            if timer is not None:
                timer.cancel()

    def resume(self) -> None:
        # Runs in the hub greenlet.  A stale call (the waiter already
        # left, e.g. timed out) must not switch into unrelated code.
        if self.parked:
            self.parked = False
            self.glet.switch()

    def wake(self) -> None:
        if self.lock is not None:
            self.lock.release()
        elif _get_ident() == self.thread:
            self.hub.schedule_call_global(0, self.resume)
        else:
            _HubWaker.for_hub(self.hub).post(self)


class Semaphore:
    """A counting semaphore for OS threads and eventlet green threads.

    ``acquire()`` blocks OS threads on a native lock and parks green
    threads on their eventlet hub; a waiter of either kind may be woken by
    a releaser of either kind, in any OS thread.  Waiters are served in
    arrival order.  With ``fair=True`` (the default) a release hands the
    permit straight to the oldest waiter, so nobody barges in and no
    waiter starves; with ``fair=False`` a release frees the permit and
    wakes the oldest waiter, and a newcomer may take the permit first
    (more throughput under heavy contention, no bound on waiting).

    A semaphore made by a :class:`Registry` has a ``name``; acquiring it
    adds the name to the caller's :func:`held_locks` list.
    """

    def __init__(
        self, value: int = 1, fair: bool = True, name: str | None = None
    ) -> None:
        if type(value) is not int:
            raise TypeError("value must be an int, not %s" % type(value).__name__)
        if value < 1:
            raise ValueError("value must be at least 1")
        self._value = value
        self._initial = value
        self._fair = bool(fair)
        self._name = name
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._owners: list[Any] = []

    @property
    def name(self) -> str | None:
        """The registry name of this semaphore, or None."""
        return self._name

    @property
    def fair(self) -> bool:
        """Whether a release hands the permit to the oldest waiter."""
        return self._fair

    @property
    def value(self) -> int:
        """How many more acquisitions would succeed without waiting."""
        return self._value

    @property
    def waiting(self) -> int:
        """How many callers are blocked in ``acquire()``."""
        return len(self._waiters)

    def locked(self) -> bool:
        """Return True if ``acquire()`` would block."""
        return self._value == 0

    def __repr__(self) -> str:
        return "<%s name=%r value=%d/%d waiting=%d fair=%s>" % (
            type(self).__name__, self._name, self._value, self._initial,
            len(self._waiters), self._fair,
        )

    def _own(self, owner: Any) -> None:
        # Called under _guard by whoever transfers a permit to ``owner``.
        self._owners.append(owner)
        # Keep a held semaphore alive, and so in the registry's weak
        # table, even when its holder dropped every reference to it.
        _busy.add(self)
        if self._name is not None:
            names = _held.get(owner)
            if names is None:
                _held[owner] = [self._name]
            else:
                names.append(self._name)

    def _disown(self) -> Any:
        # Called under _guard.  Semaphores, unlike mutexes, may be
        # released by another thread: then the oldest holder loses it.
        owners = self._owners
        if not owners:
            raise ValueError("Semaphore released too many times")
        owner = _getcurrent()
        try:
            owners.remove(owner)
        except ValueError:
            owner = owners.pop(0)
        if not owners:
            _busy.discard(self)
        if self._name is not None:
            names = _held[owner]
            del names[len(names) - 1 - names[::-1].index(self._name)]
            if not names:
                del _held[owner]
        return owner

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Acquire one permit; return True on success.

        :param blocking: when False, return False at once instead of
            waiting.
        :param timeout: wait at most this many seconds (blocking only).
        """
        timeout = _check_timeout(blocking, timeout)
        with _guard:
            if self._value > 0:
                self._value -= 1
                self._own(_getcurrent())
                return True
            if not blocking or timeout == 0:
                return False
            waiter = _Waiter(_current_hub())
            self._waiters.append(waiter)
        deadline = None if timeout is None else _monotonic() + timeout
        while True:
            try:
                waiter.park(timeout)
            except BaseException:
                self._abandon(waiter)
                raise
            with _guard:
                if waiter.granted:
                    return True
                if waiter.woken and self._value > 0:
                    self._value -= 1
                    self._own(_getcurrent())
                    return True
                if deadline is not None:
                    timeout = deadline - _monotonic()
                    if timeout <= 0:
                        if not waiter.woken:
                            self._waiters.remove(waiter)
                        return False
                if waiter.woken:
                    # Another caller took the freed permit first.
                    waiter = _Waiter(waiter.hub)
                    self._waiters.appendleft(waiter)

    def _abandon(self, waiter: _Waiter) -> None:
        # The waiter left with an exception: give back what it was given
        # so that no wake-up is lost.
        wake = None
        with _guard:
            if waiter.granted:
                self._disown()
                wake = self._hand_off()
            elif waiter.woken:
                if self._value > 0 and self._waiters:
                    wake = self._waiters.popleft()
                    wake.woken = True
            else:
                self._waiters.remove(waiter)
        if wake is not None:
            wake.wake()

    def _hand_off(self) -> _Waiter | None:
        # Called under _guard after a permit was disowned.
        waiters = self._waiters
        if self._fair and waiters:
            waiter = waiters.popleft()
            waiter.granted = True
            self._own(waiter.glet)
            return waiter
        self._value += 1
        if waiters:
            waiter = waiters.popleft()
            waiter.woken = True
            return waiter
        return None

    def _forget_threads_but(self, root: Any) -> list[_Waiter]:
        # After fork only the forking OS thread (and the green threads of
        # its hub) exist: permits and waits of the others are void.
        kept = [o for o in self._owners if _root(o) is root]
        freed = len(self._owners) - len(kept)
        self._owners[:] = kept
        if not kept:
            _busy.discard(self)
        self._waiters = collections.deque(
            w for w in self._waiters if _root(w.glet) is root
        )
        woken = [self._hand_off() for _ in range(freed)]
        return [w for w in woken if w is not None]

    def release(self) -> None:
        """Release one permit, waking the oldest waiter if any.

        :raises ValueError: if no permit is held.
        """
        with _guard:
            self._disown()
            waiter = self._hand_off()
        if waiter is not None:
            waiter.wake()

    def __enter__(self) -> Semaphore:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> bool:
        self.release()
        return False


class Registry:
    """A registry of named semaphores.

    ``get(name)`` returns the semaphore for *name*, creating it if needed.
    An entry lives while anyone holds, waits on or references its
    semaphore and is dropped afterwards, so any number of distinct names
    can pass through in constant memory.
    """

    def __init__(self, fair: bool = True) -> None:
        self._fair = bool(fair)
        self._entries: weakref.WeakValueDictionary[str, Semaphore] = (
            weakref.WeakValueDictionary()
        )
        _registries.add(self)

    def get(self, name: str) -> Semaphore:
        """Return the semaphore for *name*, creating it if needed.

        :raises TypeError: if *name* is not a str.
        :raises ValueError: if *name* is empty.
        """
        if type(name) is not str:
            if not isinstance(name, str):
                raise TypeError(
                    "lock name must be a str, not %s" % type(name).__name__
                )
            name = str.__str__(name)
        if not name:
            raise ValueError("lock name must not be empty")
        with _guard:
            sem = self._entries.get(name)
            if sem is None:
                sem = self._entries[name] = Semaphore(1, self._fair, name)
            return sem

    def __len__(self) -> int:
        """Return how many names have a live semaphore."""
        return len(self._entries)


def _root(glet: Any) -> Any:
    # The main greenlet of the OS thread that runs *glet*.
    while glet.parent is not None:
        glet = glet.parent
    return glet


_registries: weakref.WeakSet[Registry] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """Release what the vanished OS threads held, in every registry.

    A lock held by another thread at fork time would otherwise stay held
    in the child forever.  Locks of the forking thread (and of the green
    threads of its hub, which live on in the child) stay as they were.
    """
    global _guard
    _guard = _allocate_lock()  # may have been held by a vanished thread
    root = _root(_getcurrent())
    woken = []
    with _guard:
        for owner in [o for o in _held if _root(o) is not root]:
            del _held[owner]
        for registry in list(_registries):
            for sem in list(registry._entries.values()):
                woken.extend(sem._forget_threads_but(root))
    for waiter in woken:
        waiter.wake()


_os.register_at_fork(after_in_child=_after_fork_in_child)


# -- external locks ---------------------------------------------------------
# One lock file per name, locked with Linux OFD record locks (whole file,
# exclusive), classic fcntl record locks where the kernel has no OFD.  Both
# conflict with the lockf() locks of oslo and fasteners; flock() would not.
#
# OFD locks belong to an open file description, not to a thread: threads
# sharing one cached descriptor would not exclude each other, so every lock
# file also has an in-process semaphore taken first.  Descriptors are cached
# per path (bounded), so an uncontended acquire is fcntl + stat + fcntl; the
# stat compares the path with the locked file, so a lock file unlinked
# while we waited is never trusted.

import errno as _errno  # noqa: E402
import fcntl as _fcntl  # noqa: E402
import struct as _struct  # noqa: E402

_FLOCK = "hhqqi4x"  # struct flock on 64-bit Linux
_WRLCK = _struct.pack(_FLOCK, _fcntl.F_WRLCK, _os.SEEK_SET, 0, 0, 0)
_UNLCK = _struct.pack(_FLOCK, _fcntl.F_UNLCK, _os.SEEK_SET, 0, 0, 0)
_setlk = getattr(_fcntl, "F_OFD_SETLK", _fcntl.F_SETLK)
_setlkw = getattr(_fcntl, "F_OFD_SETLKW", _fcntl.F_SETLKW)
_lock_files: dict[bytes, _LockFile] = {}
_MAX_LOCK_FILES = 1024
_start_thread = _thread.start_new_thread


def _fcntl_lock(fd: int, arg: bytes, wait: bool) -> int:
    # Returns 0 or an errno value.
    global _setlk, _setlkw
    try:
        _fcntl.fcntl(fd, _setlkw if wait else _setlk, arg)
        return 0
    except OSError as exc:
        if exc.errno == _errno.EINVAL and _setlk != _fcntl.F_SETLK:
            # No OFD locks in this kernel: classic record locks, for good.
            _setlk, _setlkw = _fcntl.F_SETLK, _fcntl.F_SETLKW
            return _fcntl_lock(fd, arg, wait)
        return exc.errno or _errno.EIO


def _check_errno(error: int, path: bytes) -> None:
    if error:
        raise OSError(error, _os.strerror(error), _os.fsdecode(path))


class _LockFile:
    """A cached lock file descriptor and its in-process semaphore."""

    __slots__ = ("path", "fd", "dev", "ino", "sem")

    def __init__(self, path: bytes) -> None:
        self.path = path
        self.fd = _os.open(path, _os.O_RDWR | _os.O_CREAT | _os.O_CLOEXEC, 0o666)
        st = _os.fstat(self.fd)
        self.dev, self.ino = st.st_dev, st.st_ino
        self.sem = Semaphore()

    def same_file(self) -> bool:
        try:
            st = _os.stat(self.path)
        except OSError:
            return False
        return st.st_dev == self.dev and st.st_ino == self.ino

    def discard(self) -> None:
        if self.fd >= 0:
            _os.close(self.fd)
            self.fd = -1


def _lock_file(path: bytes) -> _LockFile:
    with _guard:
        entry = _lock_files.get(path)
        if entry is not None and entry.fd >= 0:
            return entry
        if len(_lock_files) >= _MAX_LOCK_FILES:
            for key, old in list(_lock_files.items()):
                sem = old.sem
                if sem._value == sem._initial and not sem._waiters:
                    old.discard()
                    del _lock_files[key]
        entry = _lock_files[path] = _LockFile(path)
        return entry


class _HelperWait:
    """Waits for a file lock in a helper OS thread, so that a green thread
    (or a caller with a timeout) can wait on a semaphore instead.

    Exactly one side decides the outcome, under ``_guard``: either the
    helper delivers (the caller owns the file lock), or the caller
    abandons first (the helper then unlocks and releases the lock file's
    in-process semaphore itself).
    """

    def __init__(self, entry: _LockFile) -> None:
        self.entry = entry
        self.done = Semaphore()
        self.done.acquire()
        self.error = 0
        self.delivered = False
        self.abandoned = False
        _start_thread(self._run, ())

    def _run(self) -> None:
        error = _fcntl_lock(self.entry.fd, _WRLCK, True)
        with _guard:
            self.error = error
            self.delivered = not self.abandoned
        if self.delivered:
            self.done.release()
            return
        if error == 0:
            _fcntl_lock(self.entry.fd, _UNLCK, False)
        self.entry.sem.release()

    def _abandon(self) -> bool:
        with _guard:
            self.abandoned = not self.delivered
            return self.abandoned

    def wait(self, timeout: float | None) -> bool:
        """Wait for the helper; False if the timeout expired first."""
        try:
            gotten = self.done.acquire(True, timeout)
        except BaseException:
            if not self._abandon() and self.error == 0:
                _fcntl_lock(self.entry.fd, _UNLCK, False)
            raise
        return gotten or not self._abandon()


class FileLock:
    """An exclusive lock on a lock file, for threads, green threads and
    processes alike.

    Waits block in the kernel: an OS thread without a timeout waits in
    ``fcntl(F_OFD_SETLKW)`` with the GIL released; a green thread, or a
    caller with a timeout, lets a helper OS thread make that call and
    waits for it.  A process that dies holding the lock releases it.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._bpath = _os.fsencode(path)
        self._entry: _LockFile | None = None

    @property
    def path(self) -> str:
        """The lock file's path."""
        return self._path

    @property
    def acquired(self) -> bool:
        """Whether this object holds the lock."""
        return self._entry is not None

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Acquire the lock; return True on success.

        :param blocking: when False, return False at once if another
            thread or process holds the lock.
        :param timeout: wait at most this many seconds (blocking only).
        """
        if self._entry is not None:
            raise RuntimeError(
                "lock on %s is already held by this object" % self._path
            )
        timeout = _check_timeout(blocking, timeout)
        deadline = None if timeout is None else _monotonic() + timeout
        while True:
            entry = _lock_file(self._bpath)
            if not entry.sem.acquire(blocking, timeout):
                return False
            helper = None
            try:
                error = _fcntl_lock(entry.fd, _WRLCK, False)
                if error in (_errno.EAGAIN, _errno.EACCES) and blocking:
                    if deadline is not None:
                        timeout = max(0.0, deadline - _monotonic())
                    if timeout is None and _current_hub() is None:
                        error = _fcntl_lock(entry.fd, _WRLCK, True)
                    else:
                        helper = _HelperWait(entry)
                        if not helper.wait(timeout):
                            return False  # the helper releases entry.sem
                        error = helper.error
                if error in (_errno.EAGAIN, _errno.EACCES):
                    entry.sem.release()
                    return False
                _check_errno(error, self._bpath)
            except BaseException:
                if helper is None or not helper.abandoned:
                    entry.sem.release()
                raise
            if entry.same_file():
                self._entry = entry
                return True
            # Unlinked or replaced while we waited: lock the new file.
            _fcntl_lock(entry.fd, _UNLCK, False)
            with _guard:
                entry.discard()
            entry.sem.release()
            if deadline is not None:
                timeout = max(0.0, deadline - _monotonic())

    def release(self, delete: bool = False) -> None:
        """Release the lock; with *delete*, unlink the lock file first
        (safe: other fastlock lockers notice and lock the new file).

        :raises RuntimeError: if this object does not hold the lock.
        """
        entry = self._entry
        if entry is None:
            raise RuntimeError("Unable to release an unacquired lock")
        self._entry = None
        try:
            if entry.fd >= 0:
                if delete:
                    _os.unlink(entry.path)
                _fcntl_lock(entry.fd, _UNLCK, False)
                if delete:
                    with _guard:
                        entry.discard()
        finally:
            entry.sem.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> bool:
        self.release()
        return False


def _forget_lock_files() -> None:
    # In a fork child the cached descriptors share their open file
    # descriptions (and so their locks) with the parent: close them
    # without unlocking, and open afresh when needed.
    for entry in _lock_files.values():
        entry.discard()
    _lock_files.clear()


_os.register_at_fork(after_in_child=_forget_lock_files)
