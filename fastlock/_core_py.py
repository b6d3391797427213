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
import functools
import math
import sys
import time
import types
import weakref
from typing import Any, Literal, cast

import greenlet

__all__ = [
    "HAND_OFF_AFTER", "ExternalLock", "FileLock", "Registry", "Semaphore",
    "TryExternalLock", "TryLock", "held_locks", "set_lock_file_cache_size",
]


def _original(module_name: str) -> Any:
    # eventlet's monkey_patch() replaces functions of ``_thread`` and ``os``
    # in place, before or after our import: keep a copy of the functions
    # themselves as they are now (eventlet's originals if it already ran).
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None:
        module = patcher.original(module_name)
    else:
        module = __import__(module_name)
    return types.SimpleNamespace(**vars(module))


_thread = _original("_thread")
_os = _original("os")
_allocate_lock = _thread.allocate_lock
_get_ident = _thread.get_ident
_getcurrent = greenlet.getcurrent
_monotonic = time.monotonic

_guard = _allocate_lock()

# How long the oldest waiter of a fair=False semaphore waits before a
# release hands the permit to it (and the least time between two such
# hand-overs) while _SHORT_QUEUE or more wait; with fewer, up to
# _SHORT_QUEUE times as long, but never longer than _LONGEST_LIMIT (see
# Semaphore._starving).  N waiters are so all served within about 5 ms
# while fewer than fifty wait (a lone one within 0.5 ms), and N times
# 0.1 ms beyond, plus the thread switches: some 15-40 ms for 128 threads
# on one lock, where threading.Lock lets one wait 14 ms on an idle 2-core
# machine and 100-200 ms on a loaded one (bench/scaling.py).  Shorter
# limits cost throughput, as each hand-over costs a thread switch (0.05 ms
# for long queues took a fifth to a third of it, and under load left
# 0.7x threading.Lock's at 8 threads).
HAND_OFF_AFTER = 0.0001
_SHORT_QUEUE = 50
# No limit comes near the GIL's 5 ms switch interval: a woken waiter asks
# for the GIL at once, and one left asking for 5 ms forces the running
# thread off it wherever it is, maybe before it queued for its next turn,
# which made a lone waiter with a 5 ms limit wait 10 ms where
# threading.Lock's waits 1 ms.
_LONGEST_LIMIT = 0.0005

# Semaphores that somebody holds: strong references, see Semaphore._own.
_busy: set[Any] = set()

# greenlet -> names of the named semaphores it holds, in acquisition
# order.  An entry exists only while the list is non-empty.  A name is any
# hashable, as oslo takes.
_held: dict[Any, list[Any]] = {}

# The name of a semaphore made outside a Registry: it has no held-list
# entry.  Not None, which is a lock name like any other.
_UNNAMED: Any = object()


# Lock-order checking: the policy is fastlock._lockorder's, which installs
# a hook here when checking is on.  Off, it is None, and the acquire path
# pays one test.
_lock_order: Any = None


def _set_lock_order(hook: Any) -> Any:
    """Install *hook* (None: checking off); return the previous one.

    Named semaphores call ``hook.acquiring(name, blocking)`` before they
    try to acquire, and ``hook.waiting(name, owners, timeout)`` before
    they block, then ``hook.woken()`` once the wait is over.
    """
    global _lock_order
    previous = _lock_order
    _lock_order = hook
    return previous


def held_locks() -> list[Any]:
    """Return the names of the locks held by the calling (green) thread.

    The list is a copy, oldest acquisition first.
    """
    with _guard:
        return list(_held.get(_getcurrent(), ()))


# Longest single park: a longer timeout parks again until its deadline.
# lock.acquire() takes at most threading.TIMEOUT_MAX, and eventlet's epoll
# and poll hubs raise OverflowError for a timer beyond 2**31 ms.  A module
# global (tests shorten it), read only by waits with a timeout.
_LONGEST_PARK = 86400.0

# The waiters in park() now.  This core's releases have switch points
# between signalling a waiter and waking it, and a fork from a signal
# handler there leaves the child a waiter signalled by a thread that is
# gone: its wake-up is owed (see _after_fork_in_child).  The compiled core
# runs from the one to the other without a switch point.
_parked: set[_Waiter] = set()


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

    The pipe lives as long as the hub's OS thread (see _ThreadWaker), not
    as long as the object: eventlet never frees the hub of a finished
    thread, whose greenlet stays suspended with whatever it referenced.
    """

    def __init__(self, hub: Any) -> None:
        self._rfd = self._wfd = -1
        self.hub = hub
        self._pending: collections.deque[_Waiter] = collections.deque()
        # Woken through the hub's timers, not yet resumed.
        self._scheduled: set[_Waiter] = set()
        self._rfd, self._wfd = _os.pipe()
        _os.set_blocking(self._rfd, False)
        _os.set_blocking(self._wfd, False)
        hub.add(hub.READ, self._rfd, self._drain, self._fail, _noop)

    @staticmethod
    def for_hub(hub: Any) -> _HubWaker:
        mine: _ThreadWaker | None = getattr(_thread_wakers, "mine", None)
        if mine is None:
            mine = _thread_wakers.mine = _ThreadWaker()
        waker = mine.waker
        if waker is None or waker.hub is not hub:
            if waker is not None:
                waker.close()  # the thread's previous hub: never polled again
            waker = mine.waker = _HubWaker(hub)
        return waker

    def close(self) -> None:
        # The hub's thread has ended (or replaced the hub): it never polls
        # again, and the kernel drops a closed pipe from its epoll set.
        # _arm checks under the guard, so no post writes to a descriptor
        # number being reused.  The waiters posted but not yet resumed
        # never will be: pass their turns on.
        with _guard:
            fds = self._rfd, self._wfd
            self._rfd = self._wfd = -1
        for fd in fds:
            if fd >= 0:
                _os.close(fd)
        waiters = list(self._pending) + list(self._scheduled)
        self._pending.clear()
        self._scheduled.clear()
        for waiter in waiters:
            with _guard:
                if not waiter.parked:
                    continue
                waiter.parked = False
                wake = waiter.sem._pass_on(waiter)
            waiter.sem._wake(wake)

    def post(self, waiter: _Waiter) -> bool:
        """Queue *waiter* for the hub; False if the hub's thread has ended:
        then the waiter never runs."""
        # The last resort of _Waiter.wake: the finally makes sure that a
        # queued waiter is drained even if a signal handler raises here.
        try:
            self._pending.append(waiter)
        finally:
            live = self._arm()
        return live

    def _arm(self) -> bool:
        with _guard:
            if self._wfd < 0:
                return False  # a finished thread's: its waiters never run
            try:
                _os.write(self._wfd, b"\0")
            except BlockingIOError:
                pass  # a full pipe already guarantees a pending drain
            return True

    def _drain(self, fileno: int) -> None:
        try:
            while self._rfd >= 0 and _os.read(self._rfd, 4096):
                pass
        except BlockingIOError:
            pass
        try:
            while self._pending:
                self._pending.popleft().resume()
        except BaseException:
            # A resumed green thread (or a signal handler) raised into the
            # hub: the waiters still queued must not wait for the next post.
            if self._pending:
                self._arm()
            raise

    def _fail(self, exc: BaseException) -> None:  # pragma: no cover
        raise exc


class _ThreadWaker:
    """The waker of one OS thread's current hub: a thread-local, freed when
    the thread ends, which closes the waker's pipe."""

    __slots__ = ("waker",)

    def __init__(self) -> None:
        self.waker: _HubWaker | None = None

    def __del__(self, _exiting: Any = sys.is_finalizing) -> None:
        # At interpreter exit (module globals gone) the OS closes it.
        if self.waker is not None and not _exiting():
            self.waker.close()


_thread_wakers = _thread._local()


class _Waiter:
    """One blocked acquire: parked on a native lock or on a hub."""

    __slots__ = (
        "lock", "sem", "glet", "hub", "waker", "thread", "parked", "granted",
        "woken", "since", "signalled",
    )

    def __init__(
        self, hub: Any, sem: Semaphore, waker: Any, since: float
    ) -> None:
        # waker: the hub's _HubWaker, made by the hub's own thread before
        # the waiter is queued (eventlet hubs must not be touched from
        # other threads); None for a native waiter.
        self.hub = hub
        self.sem = sem
        self.waker = waker
        self.since = since  # when this acquire began to wait
        self.granted = False  # the permit was handed to us
        self.woken = False  # fair=False: a permit was freed, go and try
        self.signalled = False  # a wake() not yet consumed by park()
        self.glet = _getcurrent()
        self.parked = False
        # For the hub's wake-ups and for lock_table(): the holder's thread
        # once a permit is handed to this waiter.
        self.thread = _get_ident()
        if hub is None:
            self.lock = _allocate_lock()
            self.lock.acquire()
        else:
            self.lock = None

    def park(self, timeout: float | None) -> bool:
        """Block until woken, the timeout expires or an exception; return
        whether a wake() was consumed (the caller clears ``signalled``)."""
        if timeout is not None and timeout > _LONGEST_PARK:
            timeout = _LONGEST_PARK  # parked again until the deadline
        _parked.add(self)
        try:
            return self._park(timeout)
        finally:
            _parked.discard(self)

    def _park(self, timeout: float | None) -> bool:
        if self.lock is not None:
            return bool(
                self.lock.acquire(True, -1 if timeout is None else timeout))
        self.parked = True  # again, after a timer that was only a step
        timer = None
        try:
            if timeout is not None:
                # A signal handler may raise once the timer is set: the
                # finally below then makes it a stale call.
                timer = self.hub.schedule_call_global(timeout, self.resume)
            while self.parked:
                self.hub.switch()
        finally:
            self.parked = False
            if timer is not None:
                timer.cancel()
        # A resume() left pending by a timer only makes a spurious wake.
        return True

    def resume(self) -> None:
        # Runs in the hub greenlet.  A stale call (the waiter already
        # left, e.g. timed out) must not switch into unrelated code.
        if self.waker is not None:
            self.waker._scheduled.discard(self)
        if self.parked:
            self.parked = False
            self.glet.switch()

    def wake(self) -> bool:
        # The waiter was handed a permit or a chance at one: it must be
        # resumed even when this raises.  False if it never can be: a
        # green waiter whose OS thread has ended.
        if self.lock is not None:
            self.lock.release()
        elif self.waker._wfd < 0:
            return False  # the hub's thread has ended
        elif _get_ident() == self.thread:
            # Known to the waker until resumed: if the thread ends first,
            # the waker passes the turn on.
            self.waker._scheduled.add(self)
            try:
                self.hub.schedule_call_global(0, self.resume)
            except BaseException:
                # Raised by a signal handler, before or after the timer
                # was set: resume through the waker too (a second resume
                # is a stale call), then let the exception go on.
                self.waker.post(self)
                raise
        else:
            return bool(self.waker.post(self))
        return True


class Semaphore:
    """A counting semaphore for OS threads and eventlet green threads.

    ``acquire()`` blocks OS threads on a native lock and parks green
    threads on their eventlet hub; a waiter of either kind may be woken by
    a releaser of either kind, in any OS thread.  Waiters queue in arrival
    order.  With ``fair=True`` (the default) a release hands the permit
    straight to the oldest waiter: nobody barges in, strictly first come,
    first served, at the price of a thread switch per acquisition under
    contention.  With ``fair=False`` (what a :class:`Registry` makes by
    default) a release frees the permit and wakes the oldest waiter
    unless a woken one has yet to run, so the running thread may take the
    permit again at once (no lock convoy under the GIL); but once the
    oldest waiter has waited :data:`HAND_OFF_AFTER` seconds (up to fifty
    times that while fewer than fifty wait, but never more than 0.5 ms)
    and no permit was handed over for as long, the release hands the
    permit to it.  A wait is so bounded by about the queue's length times
    its limit: 0.5 ms for a lone waiter, 5 ms for a queue under fifty, the
    queue's length times :data:`HAND_OFF_AFTER` beyond.

    A semaphore made by a :class:`Registry` has a ``name``; acquiring it
    adds the name to the caller's :func:`held_locks` list.
    """

    def __init__(
        self, value: int = 1, fair: bool = True, name: Any = None
    ) -> None:
        if type(value) is not int:
            raise TypeError("value must be an int, not %s" % type(value).__name__)
        if value < 1:
            raise ValueError("value must be at least 1")
        self._value = value
        self._initial = value
        self._fair = bool(fair)
        self._name: Any = _UNNAMED if name is None else name
        # Made on the first wait and dropped when it empties: an empty
        # deque is 760 bytes, most locks never have a waiter.
        self._waiters: collections.deque[_Waiter] | None = None
        self._owners: list[Any] = []
        self._woken = 0  # woken waiters (fair=False) that have yet to run
        self._handed_at = 0.0  # last hand-over of a fair=False permit
        # Holder bookkeeping of named semaphores, for lock_table(): when
        # and by which OS thread the permit was taken, and the counters
        # (wait_total, wait_max, hold_max, this hold's wait) from the
        # first release or wait on.
        self._since = 0.0
        self._thread = 0
        self._acquired = 0
        self._stats: list[float] | None = None
        self._last = (0.0, 0.0)  # (waited, held) of the last release

    @property
    def name(self) -> Any:
        """The registry name of this semaphore, or None."""
        return None if self._name is _UNNAMED else self._name

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
        return 0 if self._waiters is None else len(self._waiters)

    def locked(self) -> bool:
        """Return True if ``acquire()`` would block."""
        return self._value == 0

    def __repr__(self) -> str:
        return "<%s name=%r value=%d/%d waiting=%d fair=%s>" % (
            type(self).__name__, self.name, self._value, self._initial,
            self.waiting, self._fair,
        )

    def _own(self, owner: Any) -> None:
        # Called under _guard by whoever transfers a permit to ``owner``.
        self._owners.append(owner)
        # Keep a held semaphore alive, and so in the registry's weak
        # table, even when its holder dropped every reference to it.
        _busy.add(self)
        if self._name is not _UNNAMED:
            names = _held.get(owner)
            if names is None:
                _held[owner] = [self._name]
            else:
                names.append(self._name)
            # Named semaphores hold one permit: one holder, one time.
            self._since = _monotonic()
            self._thread = _get_ident()
            self._acquired += 1

    def _disown(self) -> Any:
        # Called under _guard.  Semaphores, unlike mutexes, may be
        # released by another thread: then the oldest holder loses it.
        owners = self._owners
        if not owners:
            raise ValueError("Semaphore released too many times")
        owner = _getcurrent()
        if owner not in owners:
            owner = owners[0]
        self._drop_owner(owner)
        return owner

    def _drop_owner(self, owner: Any) -> None:
        # Called under _guard.
        owners = self._owners
        owners.remove(owner)
        if not owners:
            _busy.discard(self)
        if self._name is not _UNNAMED:
            names = _held[owner]
            del names[len(names) - 1 - names[::-1].index(self._name)]
            if not names:
                del _held[owner]
            held = _monotonic() - self._since
            stats = self._stats
            if stats is None:
                stats = self._stats = [0.0, 0.0, held, 0.0]
            elif held > stats[2]:
                stats[2] = held
            if _observer is not None:
                self._last = (stats[3], held)
            stats[3] = 0.0

    def _waited(self, waiter: _Waiter) -> None:
        # Called under _guard: acquired after waiting; count the wait (of
        # a named semaphore: nothing reads an unnamed one's counters).
        if self._name is _UNNAMED:
            return
        waited = _monotonic() - waiter.since
        if self._stats is None:
            self._stats = [0.0, 0.0, 0.0, 0.0]
        stats = self._stats
        stats[0] += waited
        stats[1] = max(stats[1], waited)
        stats[3] = waited

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Acquire one permit; return True on success.

        :param blocking: when False, return False at once instead of
            waiting.
        :param timeout: wait at most this many seconds (blocking only).
        """
        timeout = _check_timeout(blocking, timeout)
        if _lock_order is not None and self._name is not _UNNAMED:
            _lock_order.acquiring(self._name, blocking)
        hook = None if self._name is _UNNAMED else _wait_hook
        with _guard:
            if self._value > 0:
                self._value -= 1
                self._own(_getcurrent())
                return True
            if not blocking or timeout == 0:
                return False
        if hook is not None:
            hook(self)  # re-checked below
        hub = _current_hub()
        # Made outside the guard: the first one of a hub calls into it.
        waker = None if hub is None else _HubWaker.for_hub(hub)
        with _guard:
            if self._value > 0:  # freed meanwhile
                self._value -= 1
                self._own(_getcurrent())
                return True
            now = _monotonic()
            waiter = _Waiter(hub, self, waker, now)
            if self._waiters is None:
                self._waiters = collections.deque()
            self._waiters.append(waiter)
        deadline = None if timeout is None else now + timeout
        while True:
            try:
                consumed = self._park(waiter, timeout)
            except BaseException:
                self._abandon(waiter)
                raise
            with _guard:
                if consumed:
                    waiter.signalled = False
                if waiter.granted:
                    self._waited(waiter)
                    return True
                wake = None
                got = False
                if waiter.woken:
                    waiter.woken = False
                    self._woken -= 1
                    if self._value > 0:
                        self._value -= 1
                        self._leave(waiter)
                        self._own(_getcurrent())
                        self._waited(waiter)
                        # A counting semaphore may have more free permits
                        # than awake waiters.
                        wake = self._wake_next()
                        got = True
                if not got and deadline is not None:
                    timeout = deadline - _monotonic()
                    if timeout <= 0:
                        self._leave(waiter)
                        return False
                # else: someone barged in first, or a spurious wake-up;
                # we kept our place in the queue.
            if got:
                self._wake(wake)
                return True

    def _park(self, waiter: _Waiter, timeout: float | None) -> bool:
        # With lock-order checking on, a wait on a named semaphore is
        # shown to the checker, which may refuse it (a deadlock).
        hook = _lock_order
        if hook is None or self._name is _UNNAMED:
            return waiter.park(timeout)
        hook.waiting(self._name, self._owners, timeout)
        try:
            return waiter.park(timeout)
        finally:
            hook.woken()

    def _abandon(self, waiter: _Waiter) -> None:
        # The waiter left with an exception: give back what it was given
        # so that no wake-up is lost.
        wake = None
        try:
            with _guard:
                wake = self._pass_on(waiter)
        finally:
            # In a finally: a signal handler raising once the hand-off is
            # made must not keep the new owner asleep.
            self._wake(wake)

    def _pass_on(self, waiter: _Waiter) -> _Waiter | None:
        # Called under _guard.  What a waiter that will never use it was
        # given goes on: a granted permit is handed off, a wake-up to the
        # next waiter; the waiter to wake is returned.  A waiter that was
        # only woken (or not even that) is still queued.
        if waiter.granted:
            self._drop_owner(waiter.glet)
            return self._hand_off()
        if self._waiters is not None and waiter in self._waiters:
            self._leave(waiter)
        if waiter.woken:
            waiter.woken = False
            self._woken -= 1
            return self._wake_next()
        return None

    def _wake(self, waiter: _Waiter | None) -> None:
        # A green waiter whose OS thread has ended (it left its green
        # threads waiting) never runs: pass its turn on.
        while waiter is not None and not waiter.wake():
            with _guard:
                waiter = self._pass_on(waiter)

    def _leave(self, waiter: _Waiter) -> None:
        # Called under _guard.
        assert self._waiters is not None
        self._waiters.remove(waiter)
        if not self._waiters:
            self._waiters = None

    @staticmethod
    def _signal(waiter: _Waiter) -> _Waiter | None:
        # Called under _guard: the waiter to wake(), unless a wake-up is
        # already on its way to it (then it sees the news when it runs).
        if waiter.signalled:
            return None
        waiter.signalled = True
        return waiter

    def _wake_next(self) -> _Waiter | None:
        # Called under _guard: wake the oldest waiter not yet woken if
        # there are more free permits than woken waiters on their way to
        # take them.  Waking only then is what stops a convoy: the others
        # sleep on while the running thread barges.  Woken waiters stay
        # queued, so a hand-over can still reach them.
        if self._woken >= self._value or self._waiters is None:
            return None
        for waiter in self._waiters:
            if not waiter.woken:
                waiter.woken = True
                self._woken += 1
                return self._signal(waiter)
        return None

    def _hand_off(self) -> _Waiter | None:
        # Called under _guard after a permit was disowned: give it to the
        # oldest waiter (fair, or it starves), or free it.
        waiters = self._waiters
        if waiters and (self._fair or self._starving(waiters)):
            waiter = waiters.popleft()
            if not waiters:
                self._waiters = None
            if waiter.woken:
                waiter.woken = False
                self._woken -= 1
            waiter.granted = True
            self._own(waiter.glet)
            self._thread = waiter.thread
            return self._signal(waiter)
        self._value += 1
        return self._wake_next()

    def _starving(self, waiters: collections.deque[_Waiter]) -> bool:
        # At most one hand-over per limit: each costs a thread switch, and
        # with many waiters all of them have waited long.  The limit grows
        # as the queue shortens, up to _LONGEST_LIMIT: a short queue is
        # served in time anyway, and fewer switches leave more throughput.
        limit = min(_LONGEST_LIMIT,
                    HAND_OFF_AFTER * max(1, _SHORT_QUEUE // len(waiters)))
        now = _monotonic()
        if (now - waiters[0].since < limit
                or now - self._handed_at < limit):
            return False
        self._handed_at = now
        return True

    def _forget_threads_but(self, root: Any) -> list[_Waiter]:
        # After fork only the forking OS thread (and the green threads of
        # its hub) exist: permits and waits of the others are void.
        kept = [o for o in self._owners if _root(o) is root]
        freed = len(self._owners) - len(kept)
        self._owners[:] = kept
        if not kept:
            _busy.discard(self)
        if self._waiters is not None:
            self._waiters = collections.deque(
                w for w in self._waiters if _root(w.glet) is root
            ) or None
            self._woken = sum(w.woken for w in self._waiters or ())
        woken = [self._hand_off() for _ in range(freed)]
        # A vanished waiter may have been the one woken to take a free
        # permit: wake those left in its place.
        for _ in range(len(self._waiters or ())):
            woken.append(self._wake_next())
        return [w for w in woken if w is not None]

    def release(self) -> None:
        """Release one permit, waking the oldest waiter if any.

        :raises ValueError: if no permit is held.
        """
        waiter = None
        try:
            with _guard:
                self._disown()
                last = self._last
                waiter = self._hand_off()
        finally:
            # In a finally: a signal handler raising once the hand-off is
            # made must not keep the new owner asleep.
            self._wake(waiter)
        if _observer is not None and self._name is not _UNNAMED:
            _observer(self, *last)

    def __enter__(self) -> Semaphore:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        self.release()
        return False


class Registry:
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

    def __init__(
        self, fair: bool = False, semaphore_type: type[Semaphore] | None = None
    ) -> None:
        if semaphore_type is None:
            semaphore_type = Semaphore
        if not (
            isinstance(semaphore_type, type)
            and issubclass(semaphore_type, Semaphore)
        ):
            raise TypeError("semaphore_type must be a subclass of Semaphore")
        self._fair = bool(fair)
        self._type = semaphore_type
        self._entries: weakref.WeakValueDictionary[Any, Semaphore] = (
            weakref.WeakValueDictionary()
        )
        _registries.add(weakref.ref(self, _registries.discard))

    def get(self, name: Any) -> Semaphore:
        """Return the semaphore for *name*, creating it if needed.

        :raises TypeError: if *name* is not hashable.
        """
        if type(name) is not str and isinstance(name, str):
            name = str.__str__(name)
        with _guard:
            sem = self._entries.get(name)
            if sem is None:
                sem = self._type(1, self._fair)
                sem._name = name
                self._entries[name] = sem
            return sem

    def __len__(self) -> int:
        """Return how many names have a live semaphore."""
        return len(self._entries)


# How long a snapshot for lock_table() waits for _guard.  It may run in a
# signal handler (oslo.reports' SIGUSR2 report) that interrupted this very
# thread inside the guard, which is not reentrant: give up, never hang.
_SNAPSHOT_WAIT = 1.0


def _snapshot_guard() -> Any:
    if not _guard.acquire(timeout=_SNAPSHOT_WAIT):
        raise RuntimeError(
            "fastlock's pure-Python core is busy: no lock table (called "
            "from a signal handler inside it?)"
        )
    return _guard


def _active_locks() -> list[tuple[Registry, Semaphore]]:
    """Return ``(registry, semaphore)`` for every named semaphore, in any
    registry, that is held or waited on now."""
    found = []
    guard = _snapshot_guard()
    try:
        for registry in _live_registries():
            for sem in list(registry._entries.values()):
                if sem._owners or sem._waiters:
                    found.append((registry, sem))
    finally:
        guard.release()
    return found


def _lock_info(
    sem: Semaphore,
) -> tuple[
    list[tuple[Any, int, float]],
    list[tuple[Any, Any, int, float]],
    tuple[int, float, float, float],
]:
    """Return ``(holders, waiters, counters)`` of *sem*.

    *holders* is a list of ``(greenlet, thread_ident, held_seconds)``,
    *waiters* a list of ``(token, greenlet, thread_ident,
    waited_seconds)`` oldest first (the token identifies one wait), and
    *counters* is ``(acquisitions, total_wait, longest_wait,
    longest_hold)`` in seconds, kept while the semaphore lives.
    """
    guard = _snapshot_guard()
    try:
        now = _monotonic()
        held = now - sem._since
        holders = [(owner, sem._thread, held) for owner in sem._owners]
        waiters = [
            (w, w.glet, w.thread, now - w.since) for w in sem._waiters or ()
        ]
        stats = sem._stats or [0.0, 0.0, 0.0, 0.0]
        return holders, waiters, (sem._acquired, stats[0], stats[1], stats[2])
    finally:
        guard.release()


_wait_hook: Any = None
_observer: Any = None


def _set_wait_hook(hook: Any) -> Any:
    """Call ``hook(semaphore)`` whenever a caller is about to wait on a
    named semaphore (None: never); return the previous hook."""
    global _wait_hook
    previous, _wait_hook = _wait_hook, hook
    return previous


def _set_observer(observer: Any) -> Any:
    """Call ``observer(semaphore, waited, held)`` after each release of a
    named semaphore (None: never); return the previous observer."""
    global _observer
    previous, _observer = _observer, observer
    return previous


def _root(glet: Any) -> Any:
    # The main greenlet of the OS thread that runs *glet*.
    while glet.parent is not None:
        glet = glet.parent
    return glet


# Weak references to every Registry, each removing itself when its registry
# dies.  A set, not a WeakSet: list() of it is one C call, where iterating
# a WeakSet runs Python code, so that a Registry made by another thread
# meanwhile raised "Set changed size during iteration" in lock_table().
_registries: set[weakref.ref[Registry]] = set()


def _live_registries() -> list[Registry]:
    # Every Registry alive now.
    found = []
    for ref in list(_registries):
        registry = ref()
        if registry is not None:
            found.append(registry)
    return found


def _renew_waker_after_fork() -> None:
    # The child inherits the hub's waker pipe, shared with the parent: a
    # byte posted in one process could be drained by the other, and its
    # waiter never woken.  Give the child's waker a pipe of its own.  The
    # old one stays open and registered: the hub's epoll set is shared with
    # the parent too, so unregistering it would deafen the parent's hub;
    # its events now only make the waker read its new pipe.
    hubs = sys.modules.get("eventlet.hubs")
    hub: Any = None if hubs is None else getattr(hubs._threadlocal, "hub", None)
    mine: _ThreadWaker | None = getattr(_thread_wakers, "mine", None)
    waker = None if mine is None else mine.waker
    if waker is None or waker.hub is not hub:
        return
    waker._rfd, waker._wfd = _os.pipe()
    _os.set_blocking(waker._rfd, False)
    _os.set_blocking(waker._wfd, False)
    hub.add(hub.READ, waker._rfd, waker._drain, waker._fail, _noop)
    if waker._pending:
        _os.write(waker._wfd, b"\0")  # posted before the fork: drain them


def _after_fork_in_child() -> None:
    """Release what the vanished OS threads held, in every registry.

    A lock held by another thread at fork time would otherwise stay held
    in the child forever.  Locks of the forking thread (and of the green
    threads of its hub, which live on in the child) stay as they were.
    """
    global _guard, _fair_guard, _parked
    # The guards _before_fork took are given back, not replaced: this
    # thread may be blocked acquiring one below a signal handler that
    # forked, and retries that very lock once the handler returns.  One
    # still held was held by a vanished thread (or by this one, forking
    # from a signal handler inside guarded code): replaced.
    for guards in _fork_guards:
        for guard in guards:
            guard.release()
    _fork_guards.clear()
    if _guard.locked():
        _guard = _allocate_lock()
    if _fair_guard.locked():
        _fair_guard = _allocate_lock()
    root = _root(_getcurrent())
    _parked = {w for w in _parked if _root(w.glet) is root}
    # Signalled, perhaps by a vanished thread that never woke them.  A
    # wake-up given twice is only a spurious one (a native waiter's lock
    # still held means none is on its way).
    owed = [w for w in _parked if w.signalled
            and (w.lock is None or w.lock.locked())]
    woken = []
    with _guard:
        for ref in list(_fair_tables):  # first: they read the owners
            table = ref()
            if table is not None:
                table._forget_threads_but(root)
        for owner in [o for o in _held if _root(o) is not root]:
            del _held[owner]
        for registry in _live_registries():
            for sem in list(registry._entries.values()):
                woken.extend(sem._forget_threads_but(root))
    error: BaseException | None = None
    for waiter in owed + woken:
        try:
            waiter.wake()
        except BaseException as exc:  # the waiter is resumed all the same
            error = error or exc
    _renew_waker_after_fork()  # last: the locks are freed even if it raises
    if error is not None:
        raise error


def _before_fork() -> None:
    # Wait for the other threads to leave their guarded sections: forked
    # in the middle of one, the child would get its half-made changes (a
    # permit disowned and never handed on, left to nobody).  Bounded: a
    # fork from a signal handler inside this core's own guarded code (the
    # forking thread holds the guard) cannot wait for itself.
    # A stack: a signal handler may fork again inside these hooks.
    _fork_guards.append([g for g in (_guard, _fair_guard)
                         if g.acquire(True, _FORK_WAIT)])


def _after_fork_in_parent() -> None:
    for guard in reversed(_fork_guards.pop()):
        guard.release()


_FORK_WAIT = 1.0
_fork_guards: list[list[Any]] = []
_os.register_at_fork(before=_before_fork,
                     after_in_parent=_after_fork_in_parent,
                     after_in_child=_after_fork_in_child)


# -- external locks ---------------------------------------------------------
# One lock file per name, locked with Linux OFD record locks (whole file,
# exclusive), classic fcntl record locks where the kernel has no OFD.  Both
# conflict with the lockf() locks of oslo and fasteners; flock() would not,
# so it is never used.
#
# OFD locks belong to an open file description, not to a thread: threads
# sharing one cached descriptor would not exclude each other, so every lock
# file also has an in-process semaphore, taken first.  With it at most one
# thread per process ever touches a descriptor's lock, which also keeps
# classic (per-process) record locks correct.  Descriptors are cached per
# path (bounded), so an uncontended acquire is fcntl + stat + fcntl.
# They are kept per file, not per spelling: a cache miss opens the path
# and looks the file's device and inode up, so that every name of one file
# (a symlinked directory, "//", "..") shares one descriptor and one
# semaphore; a second descriptor's OFD lock would conflict with ours.  A
# relative path is made absolute with the working directory of the call,
# as open() would resolve it.
# Once locked, a stat of the path asks whether it still names the locked
# file, as oslo's open of the path at every acquire makes sure: a lock file
# unlinked or renamed over, a directory moved aside and made again, a
# symlinked lock path switched elsewhere all leave us a descriptor of a
# file that other processes no longer lock.  Then the lock is dropped and
# the file now at the path opened and locked instead.  (Our descriptor
# keeps the inode alive, so a new file never shares its number.)

import atexit as _atexit  # noqa: E402
import errno as _errno  # noqa: E402
import fcntl as _fcntl  # noqa: E402
import struct as _struct  # noqa: E402

_FLOCK = "hhqqi4x"  # struct flock on 64-bit Linux; l_pid must be 0 for OFD
_WRLCK = _struct.pack(_FLOCK, _fcntl.F_WRLCK, _os.SEEK_SET, 0, 0, 0)
_UNLCK = _struct.pack(_FLOCK, _fcntl.F_UNLCK, _os.SEEK_SET, 0, 0, 0)
_setlk = getattr(_fcntl, "F_OFD_SETLK", _fcntl.F_SETLK)
_setlkw = getattr(_fcntl, "F_OFD_SETLKW", _fcntl.F_SETLKW)
_lock_files: dict[bytes, _LockFile] = {}  # path -> entry, any spelling
_by_file: dict[tuple[int, int], _LockFile] = {}  # (st_dev, st_ino) -> entry
# Spellings remembered per file beyond the first (an alias costs a dict
# entry, not a descriptor; more spellings than this are looked up again).
_MAX_ALIASES = 8
# How many times in a row one acquire may find the path re-pointed after
# locking before it gives up with an error (each time means some other
# party replaced the file meanwhile; a bound turns a livelock into an
# error).
_MAX_REOPENS = 100
_helper_waits: set[_HelperWait] = set()  # still in the kernel
_start_thread = _thread.start_new_thread  # tests patch it
# _HelperWait.state; _FORKED: in a fork child, the helper thread is gone.
_PENDING, _DONE, _ABANDONED, _FORKED = 0, 1, 2, 3
# FileLock._lock_fd outcomes
_NOT_LOCKED, _LOCKED, _RETRY = 0, 1, 2
# The clock of the second-chance eviction: every open file's entry once,
# the hand at the front (entries dropped meanwhile are skipped, and swept
# when they pile up).
_clock: collections.deque[_LockFile] = collections.deque()
# Where a newly opened file joins the clock: in front of the hand (on
# probation: the next to go unless used again by then), but one in
# _ADMIT_EVERY at the back (a full turn of residence).  Names cycled
# beyond the cache so keep most of the cache's files for good instead of
# reopening every one in turn, as a plain clock (or LRU, or FIFO) does;
# and the bimodal admission still lets a new working set in (the
# "bimodal insertion" of Qureshi et al., ISCA 2007, with their 1/32).
_ADMIT_EVERY = 32
_admitted = 0


def _default_cache_size() -> int:
    # Half the descriptor limit, at most 16,384: enough that names cycled
    # by the thousand keep their descriptors (a cache smaller than the
    # cycle misses on every use, whatever it evicts), while the other half
    # stays the application's.  Our own opens give every idle descriptor
    # back on EMFILE.
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except Exception:  # pragma: no cover - not on Linux
        return 64
    if soft < 0:
        return 16384
    return max(4, min(16384, soft // 2))


_max_lock_files = _default_cache_size()


def _fcntl_lock(fd: int, arg: bytes, wait: bool) -> int:
    # Returns 0 or an errno value.  fcntl.fcntl retries on EINTR itself
    # and raises what a signal handler raises.
    global _setlk, _setlkw
    if fd < 0:  # closed by a fork child's clean-up; fcntl.fcntl raises
        return _errno.EBADF
    try:
        _fcntl.fcntl(fd, _setlkw if wait else _setlk, arg)
        return 0
    except OSError as exc:
        if exc.errno == _errno.EINVAL and _setlk != _fcntl.F_SETLK:
            # No OFD locks in this kernel: classic record locks, for good.
            # The in-process semaphore keeps them one holder per process.
            _setlk, _setlkw = _fcntl.F_SETLK, _fcntl.F_SETLKW
            return _fcntl_lock(fd, arg, wait)
        return exc.errno or _errno.EIO


def _raise_errno(error: int, path: bytes) -> None:
    raise OSError(error, _os.strerror(error), _os.fsdecode(path))


class _LockFile:
    """A cached lock file descriptor and its in-process semaphore."""

    __slots__ = ("path", "fd", "key", "paths", "sem", "owner", "count", "used")

    def __init__(self, path: bytes, given: bytes) -> None:
        # *path* is absolute; *given* is opened, as the caller spelled it
        # (a relative path may work where the absolute one is too long).
        self.path = path
        try:
            self.fd: int = _os.open(
                given, _os.O_RDWR | _os.O_CREAT | _os.O_CLOEXEC, 0o666
            )
        except OSError as exc:
            _raise_errno(cast(int, exc.errno), given)  # a str filename, as _core_c
        try:
            st = _os.fstat(self.fd)
        except OSError as exc:
            self.discard()
            _raise_errno(cast(int, exc.errno), given)
        # The open file, and the spellings that reached it.
        self.key = (st.st_dev, st.st_ino)
        self.paths = [path]
        # In-process exclusion: one holder (or kernel waiter) per file.
        self.sem = Semaphore()
        # Reentrancy: the (green) thread holding the file, how many times.
        self.owner: Any = None
        self.count = 0
        self.used = False  # second chance for the cache eviction

    def same_file(self, path: bytes) -> bool:
        # Does *path* name our file now?  Asked after each lock and before
        # unlinking.  One stat: our file's identity is known since open.
        try:
            st = _os.stat(path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.key

    def discard(self) -> None:
        # Closing drops our OFD lock, if any; in a fork child it only
        # drops the child's reference to the parent's lock.
        if self.fd >= 0:
            _os.close(self.fd)
            self.fd = -1

    def is_idle(self) -> bool:
        # Nobody holds it, waits for it, or waits in the kernel through it.
        sem = self.sem
        return sem._value == sem._initial and not sem._waiters


def _drop(entry: _LockFile) -> None:
    # Called under _guard.
    entry.discard()
    for path in entry.paths:
        if _lock_files.get(path) is entry:
            del _lock_files[path]
    if _by_file.get(entry.key) is entry:
        del _by_file[entry.key]


def _evict(keep: int) -> None:
    # Called under _guard.  Close idle descriptors until at most *keep*
    # remain: first those not used since the last eviction (second
    # chance), then any idle one.
    for second_round in (False, True):
        for entry in list(_by_file.values()):
            if len(_by_file) <= keep:
                return
            if not entry.is_idle():
                continue
            if entry.used and not second_round:
                entry.used = False
                continue
            _drop(entry)
    _sweep_clock()


def _evict_one() -> None:
    # Called under _guard.  One step of the clock: the first entry at
    # the hand not used since it last passed and idle is closed; a used or busy
    # one gets its bit cleared and goes to the back.  Two laps at most
    # (the first may only clear bits); if everything is busy, nothing is
    # closed.
    for _ in range(2 * len(_clock)):
        if not _clock:
            return
        entry = _clock.popleft()
        if _by_file.get(entry.key) is not entry:
            continue  # dropped meanwhile
        if entry.used or not entry.is_idle():
            entry.used = False
            _clock.append(entry)
            continue
        _drop(entry)
        return


def _sweep_clock() -> None:
    # Called under _guard.
    global _clock
    _clock = collections.deque(_by_file.values())


def _lock_file(path: bytes, given: bytes) -> _LockFile:
    with _guard:
        entry = _lock_files.get(path)
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
            if exc.errno not in (_errno.EMFILE, _errno.ENFILE) or not _by_file:
                raise
            _evict(0)  # out of descriptors: give back all we can, retry
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


def _admit(entry: _LockFile) -> None:
    # Called under _guard: a new entry joins the clock (see _ADMIT_EVERY).
    global _admitted
    _admitted += 1
    if _admitted % _ADMIT_EVERY == 0:
        _clock.append(entry)
    else:
        _clock.appendleft(entry)


def _absolute(path: bytes) -> bytes:
    # What open() would resolve a relative path against right now.
    return cast(bytes, _os.path.join(_os.getcwdb(), path))


def set_lock_file_cache_size(size: int) -> int:
    """Keep at most *size* idle lock file descriptors open; return the
    previous limit.  Descriptors in use are never closed."""
    global _max_lock_files, _admitted
    if type(size) is not int:
        raise TypeError("size must be an int, not %s" % type(size).__name__)
    if size < 0:
        raise ValueError("size must not be negative")
    with _guard:
        previous = _max_lock_files
        _max_lock_files = size
        _admitted = 0
        _evict(size)
    return previous


class _HelperWait:
    """A kernel wait for a file lock, made by a helper OS thread so that a
    green thread, or a caller with a timeout, waits on a semaphore.

    A caller that gives up leaves the wait running (the kernel call cannot
    be cancelled) and leaves the file's in-process semaphore to it: the
    helper unlocks and releases both when the kernel answers, so that no
    other thread of this process touches the descriptor meanwhile.  Which
    side decides is settled under ``_guard`` through ``state``.
    """

    def __init__(self, entry: _LockFile) -> None:
        self.entry = entry
        self.done = Semaphore()
        self.done.acquire()
        self.waiter = _getcurrent()  # the (green) thread waiting for it
        self.state = _PENDING
        self.error = 0

    def run(self) -> None:
        fd = self.entry.fd
        error = _fcntl_lock(fd, _WRLCK, True)
        with _guard:
            _helper_waits.discard(self)
            if self.state == _FORKED:
                # Started in a fork child after its clean-up, which closed
                # the descriptor and told the waiter to try again.
                return
            abandoned = self.state == _ABANDONED
            if not abandoned:
                self.state = _DONE
                self.error = error
        if abandoned:
            if error == 0:
                _fcntl_lock(fd, _UNLCK, False)
            self.entry.sem.release()
        else:
            self.done.release()  # wakes the waiter

    def give_up(self) -> bool:
        """True if the helper now cleans up; False if it delivered."""
        with _guard:
            if self.state == _PENDING:
                self.state = _ABANDONED
                return True
            return False


class FileLock:
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

    def __init__(self, path: Any) -> None:
        bpath = _os.fsencode(path)
        if b"\0" in bpath:
            raise ValueError("embedded null byte in lock path %r" % (path,))
        if not bpath:
            raise ValueError("lock path must not be empty")
        self._path = path
        self._bpath = bpath
        self._relative = not bpath.startswith(b"/")
        self._where = bpath  # the absolute path of the last acquire
        self._entry: _LockFile | None = None

    @property
    def path(self) -> Any:
        """The lock file's path, as given."""
        return self._path

    @property
    def acquired(self) -> bool:
        """Whether this object holds the lock."""
        return self._entry is not None

    def fileno(self) -> int:
        """The locked descriptor while held, else -1."""
        if self._entry is None:
            return -1
        return self._entry.fd

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Acquire the lock; return True on success.

        :param blocking: when False, return False at once if another
            thread or process holds the lock.
        :param timeout: wait at most this many seconds (blocking only).
        :raises RuntimeError: if this object already holds the lock.
        :raises OSError: if the lock file cannot be opened or locked.
        """
        me = _getcurrent()
        if self._entry is not None:
            if self._entry.fd >= 0:
                raise RuntimeError(
                    "lock on %r is already held by this object" % (self._path,)
                )
            # A fork child: the parent holds the lock, not us (nor the
            # thread that held it through this object, if it is gone).
            self._entry = None
        timeout = _check_timeout(blocking, timeout)
        deadline = None if timeout is None else _monotonic() + timeout
        reopened = 0
        while True:
            # The path a delete at release unlinks: this spelling's, not
            # the first one's (hard links are names of one file too).
            if self._relative:
                self._where = _absolute(self._bpath)
            else:
                self._where = self._bpath
            entry = _lock_file(self._where, self._bpath)
            if entry.owner is me:
                entry.count += 1
                self._entry = entry
                return True
            if not entry.sem.acquire(blocking, timeout):
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
                    _fcntl_lock(entry.fd, _UNLCK, False)
                    with _guard:
                        _drop(entry)
                    reopened += 1
                    if reopened > _MAX_REOPENS:
                        entry.sem.release()
                        raise OSError(
                            _errno.ESTALE,
                            "lock file replaced %d times in a row while "
                            "locking it" % reopened,
                            _os.fsdecode(self._where),
                        )
                # else _RETRY: a fork child lost its kernel wait
            # else: dropped while we waited for the semaphore
            entry.sem.release()
            if deadline is not None:
                timeout = max(0.0, deadline - _monotonic())

    def _lock_fd(
        self, entry: _LockFile, blocking: bool, timeout: float | None
    ) -> int:
        # Lock the descriptor; called holding entry.sem, which stays held
        # on _LOCKED and _RETRY and is given back (or left to the helper)
        # on _NOT_LOCKED or an exception.
        error = _fcntl_lock(entry.fd, _WRLCK, False)
        if error == 0:
            return _LOCKED
        if entry.fd < 0:
            return _RETRY  # a signal handler forked: we are the child
        if error not in (_errno.EAGAIN, _errno.EACCES):
            entry.sem.release()
            _raise_errno(error, entry.path)
        if not blocking or timeout == 0:
            entry.sem.release()
            return _NOT_LOCKED
        if timeout is None and _current_hub() is None:
            try:
                error = _fcntl_lock(entry.fd, _WRLCK, True)
                if error and entry.fd < 0:
                    return _RETRY  # a signal handler forked: we are the child
                if error:
                    _raise_errno(error, entry.path)
            except BaseException:
                entry.sem.release()
                raise
            return _LOCKED
        helper = _HelperWait(entry)
        with _guard:
            _helper_waits.add(helper)
        try:
            _start_thread(helper.run, ())
        except BaseException:
            # No thread (thread or memory limits): leave nothing behind.
            with _guard:
                _helper_waits.discard(helper)
            entry.sem.release()
            raise
        try:
            helper.done.acquire(True, timeout)
        except BaseException:
            # Killed or interrupted while waiting.
            if not helper.give_up():
                if helper.error == 0 and helper.state == _DONE:
                    _fcntl_lock(entry.fd, _UNLCK, False)
                entry.sem.release()
            raise
        if helper.give_up():
            return _NOT_LOCKED  # timed out: the helper cleans up
        if helper.state == _FORKED or entry.fd < 0:
            # The process forked (a signal handler of this thread) before
            # or while the helper started: we are the child, whose
            # clean-up closed the descriptor.
            return _RETRY
        if helper.error:
            entry.sem.release()
            _raise_errno(helper.error, entry.path)
        return _LOCKED

    def release(self, delete: bool = False) -> None:
        """Release the lock.

        With *delete*, the outermost release of the holder unlinks the
        lock file while still holding it; other lockers (of fastlock)
        notice that the path changed and lock the new file.  Processes
        running oslo.concurrency or fasteners do not check: never delete
        lock files that they use too.

        :raises RuntimeError: if this object does not hold the lock.
        """
        entry = self._entry
        if entry is None:
            raise RuntimeError("Unable to release an unacquired lock")
        self._entry = None
        entry.count -= 1
        if entry.count > 0:
            return
        entry.owner = None
        try:
            if entry.fd >= 0:  # not dropped in a fork child
                if delete:
                    if entry.same_file(self._where):
                        try:
                            _os.unlink(self._where)
                        except OSError:
                            pass  # as the compiled core: release anyway
                    with _guard:
                        _drop(entry)  # closing releases the lock
                    return
                with _guard:
                    # More files open than the cache keeps (held at once,
                    # or the cache shrunk since): close this one, which
                    # also releases the lock, so idle descriptors stay
                    # within the bound.
                    if (len(_by_file) > _max_lock_files
                            and not entry.sem._waiters):
                        _drop(entry)
                        return
                _fcntl_lock(entry.fd, _UNLCK, False)
        finally:
            entry.sem.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        self.release()
        return False

    def __repr__(self) -> str:
        return "<%s %r acquired=%s>" % (
            type(self).__name__, self._path, self._entry is not None,
        )


class ExternalLock:
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

    __slots__ = ("_registry", "_name", "_owner", "_file", "_held")

    def __init__(self, registry: Registry, name: str, owner: Any) -> None:
        if not isinstance(registry, Registry):
            raise TypeError(
                "registry must be a Registry, not %s" % type(registry).__name__
            )
        if not isinstance(name, str):
            raise TypeError("name must be a str, not %s" % type(name).__name__)
        self._registry = registry
        self._name = name
        self._owner = owner
        self._file: FileLock = owner._lock
        self._held: Semaphore | None = None

    def __enter__(self) -> Any:
        self._enter(True, None)
        return self._owner

    def __exit__(self, *exc_info: object) -> Literal[False]:
        self._exit()
        return False

    def _enter(
        self, blocking: bool, timeout: float | None, log: bool = False,
    ) -> bool:
        # The semaphore, then the lock file, within one *timeout*; False
        # (nothing held) when either cannot be had.  With *log*, the DEBUG
        # lines of oslo's lock() after each (see TryExternalLock).
        sem = self._registry.get(self._name)
        if timeout is not None:
            deadline = _monotonic() + timeout
        if not sem.acquire(blocking, timeout):
            return False
        try:
            if log:
                _bound.globals["_log_acquired"](self._name)
            if timeout is not None:
                timeout = max(0.0, deadline - _monotonic())
            try:
                got = self._file.acquire(blocking, timeout)
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
                _bound.globals["_log_acquired_external"](self._name)
            except BaseException:
                self._exit(log)
                raise
        return True

    def _exit(self, log: bool = False) -> None:
        sem = self._held
        if sem is None:
            raise RuntimeError("Unable to release an unacquired lock")
        self._held = None
        try:
            self._file.release()
        finally:
            self._give_back(sem, log)

    def _give_back(self, sem: Semaphore, log: bool) -> None:
        # The semaphore, after oslo's last DEBUG line with *log*.
        if log:
            try:
                _bound.globals["_log_releasing"](self._name)
            finally:
                sem.release()
        else:
            sem.release()


def _use_ofd_locks(flag: bool) -> bool:
    # For tests: switch between OFD and classic record locks (the
    # fallback for kernels without OFD); return the previous choice.
    global _setlk, _setlkw
    previous = _setlk == getattr(_fcntl, "F_OFD_SETLK", None)
    if flag:
        _setlk, _setlkw = _fcntl.F_OFD_SETLK, _fcntl.F_OFD_SETLKW
    else:
        _setlk, _setlkw = _fcntl.F_SETLK, _fcntl.F_SETLKW
    return previous


def _forget_lock_files() -> None:
    # In a fork child the cached descriptors share their open file
    # descriptions (and so their locks) with the parent: close them
    # without unlocking, and open afresh when needed.  Kernel waits of
    # helper threads died with the threads: their waiters try again.
    for entry in _by_file.values():
        entry.discard()
    _lock_files.clear()
    _by_file.clear()
    _clock.clear()
    forked = [h for h in _helper_waits if h.state == _PENDING]
    _helper_waits.clear()
    root = _root(_getcurrent())
    for helper in forked:
        helper.state = _FORKED
        if _root(helper.waiter) is root:  # else its thread is gone too
            helper.done.release()  # wakes the waiter


def _close_lock_files() -> None:
    # At exit: close what nobody uses.
    with _guard:
        _evict(0)


_os.register_at_fork(after_in_child=_forget_lock_files)
_atexit.register(_close_lock_files)


def _held_lock_files() -> list[tuple[bytes, Any]]:
    """Return ``(path, greenlet)`` for every lock file held in this
    process."""
    guard = _snapshot_guard()
    try:
        # Every spelling of the path that reached a held file.
        return [
            (path, e.owner) for path, e in _lock_files.items() if e.owner is not None
        ]
    finally:
        guard.release()
# -- fair locks (lockutils.FairLocks, lock(name, fair=True)) -----------------
# A reader/writer state per held name over the FIFO semaphores of a fair
# Registry.  The compiled core does the same in C (fair.pyx), where each
# method runs without a thread switch but at its marked switch points;
# here _fair_guard gives that atomicity.

_fair_guard = _allocate_lock()
# Weak references to every _FairTable, for the fork child (see _registries).
_fair_tables: set[weakref.ref[_FairTable]] = set()


class _FairState:
    # Who holds one fair lock: exists only while it is written or read.
    __slots__ = ("writer", "entries", "readers")

    def __init__(self, writer: Any, entries: int) -> None:
        self.writer = writer
        self.entries = entries
        self.readers: dict[Any, int] | None = None


class _FairTable:
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

    def __init__(self, handle_type: type[Any], owner: Any) -> None:
        if not isinstance(handle_type, type):
            raise TypeError("handle_type must be a class")
        self.registry = Registry(fair=True)
        # semaphore -> who holds it, while it is held; the key keeps the
        # semaphore (and so its registry entry) alive for a reading group
        self.held: dict[Any, _FairState] = {}
        # semaphore -> writers waiting for it, while any wait
        self.pending: dict[Any, list[Any]] = {}
        self._handle_type = handle_type
        self._owner = owner
        _fair_tables.add(weakref.ref(self, _fair_tables.discard))

    def _handle(self, sem: Semaphore) -> Any:
        # As the compiled core makes it (there a call to the class and its
        # __init__ would cost a third of the lock).
        handle = object.__new__(self._handle_type)
        handle._locks = self._owner
        handle._sem = sem
        return handle

    def writer(
        self, name: Any, lock_file_prefix: Any = None, lock_path: Any = None,
        do_log: Any = True, delay: Any = 0.01, log: bool = False,
    ) -> _FairWriter:
        """What plain ``lock(name, fair=True, ...)`` returns (the other
        arguments are kept for decorating); with *log*, it logs the DEBUG
        lines of oslo's ``lock()``."""
        return _FairWriter(
            self, self.registry.get(name), name, lock_file_prefix, lock_path,
            do_log, delay, log,
        )

    def write_guard(self, sem: Semaphore, handle: Any) -> _FairWriter:
        """What *handle*'s ``write_lock()`` returns: ``with`` it holds the
        write lock of *sem* and gives *handle*; it also decorates a
        function, each call of which then holds the lock."""
        writer = _FairWriter(self, sem, sem.name, None, None, None, None)
        writer._handle = handle
        writer._reuse = True
        return writer

    def write_acquire(
        self, sem: Semaphore, blocking: bool = True, timeout: Any = None
    ) -> bool:
        """Acquire the write lock of *sem*; return False if *blocking* is
        False or *timeout* expires first.

        :raises RuntimeError: if the caller reads the lock.
        """
        me = _getcurrent()
        state = self.held.get(sem)
        if state is not None:
            if state.writer is me:
                state.entries += 1
                return True
            if state.readers and me in state.readers:
                raise RuntimeError(
                    "Reader %s to writer privilege escalation not allowed" % me
                )
        if blocking and _lock_order is not None:
            # The try below records no lock order (a try cannot
            # deadlock); this acquisition can.
            sys.modules["fastlock._lockorder"].before_acquire(
                sys.modules[__name__], sem.name)
        if not sem.acquire(False):
            if not blocking:
                return False
            pending = self.pending
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
        self.held[sem] = _FairState(me, 1)
        return True

    def write_release(self, sem: Semaphore) -> None:
        """Release the write lock of *sem* once (it is reentrant).

        :raises RuntimeError: if the caller does not hold it.
        """
        self._write_release(sem, _getcurrent())

    def _write_release(self, sem: Semaphore, me: Any) -> None:
        # *me*: the writer whose lock this is.
        with _fair_guard:
            state = self.held.get(sem)
            if state is None or state.writer is not me:
                raise RuntimeError(f"Thread {me} does not own a write lock")
            state.entries -= 1
            if state.entries:
                return
            state.writer = None
            if state.readers:
                return  # still a reader: the lock goes on as a read lock
            del self.held[sem]
        sem.release()

    def read_guard(self, sem: Semaphore, handle: Any) -> _FairReader:
        """What *handle*'s ``read_lock()`` returns: ``with`` it holds a
        read lock of *sem* and gives *handle*; it also decorates a
        function, each call of which then holds a read lock."""
        return _FairReader(self, sem, handle)

    def read_acquire(self, sem: Semaphore) -> None:
        """Acquire a read lock of *sem*: join the running reading group
        (or the caller's own write lock), else wait for the semaphore."""
        me = _getcurrent()
        held = self.held
        with _fair_guard:
            state = held.get(sem)
            if state is not None:
                readers = state.readers
                if readers and me in readers:
                    readers[me] += 1
                    return
                if state.writer is me or (
                    state.writer is None and not sem.waiting
                ):
                    if readers is None:
                        readers = state.readers = {}
                    readers[me] = 1
                    return
        sem.acquire()
        state = _FairState(None, 0)
        state.readers = {me: 1}
        with _fair_guard:
            held[sem] = state

    def read_release(
        self, sem: Semaphore, me: Any, raise_on_not_owned: bool = True
    ) -> None:
        """Release one read lock of *sem* held by *me*.

        :raises RuntimeError: if *me* reads no lock and
            *raise_on_not_owned* is true.
        """
        held = self.held
        with _fair_guard:
            state = held.get(sem)
            readers = None if state is None else state.readers
            count = None if not readers else readers.get(me)
            if count is None:
                if raise_on_not_owned:
                    raise RuntimeError(f"Thread {me} does not own a read lock")
                return
            if count > 1:
                readers[me] = count - 1  # type: ignore[index]
                return
            del readers[me]  # type: ignore[union-attr]
            if readers or state.writer is not None:  # type: ignore[union-attr]
                return
            del held[sem]
        sem.release()  # perhaps not by the reader that took it: allowed

    def is_writer(self, sem: Semaphore, check_pending: bool = True) -> bool:
        """Whether the caller writes *sem* (or, with *check_pending*,
        waits to)."""
        me = _getcurrent()
        state = self.held.get(sem)
        if state is not None and state.writer is me:
            return True
        return check_pending and me in self.pending.get(sem, ())

    def is_reader(self, sem: Semaphore) -> bool:
        """Whether the caller reads *sem*."""
        state = self.held.get(sem)
        return state is not None and bool(state.readers) and (
            _getcurrent() in state.readers)  # type: ignore[operator]

    def owner(self, sem: Semaphore) -> str | None:
        """``'w'`` while *sem* is written, ``'r'`` while only read, else
        None."""
        state = self.held.get(sem)
        if state is None:
            return None
        return "w" if state.writer is not None else "r"

    def _forget_threads_but(self, root: Any) -> None:
        # In a fork child, under _guard, before the semaphores forget the
        # vanished threads: those leave the readers, writers and pending
        # writers.  A reading group that goes on must hold its semaphore
        # (its first reader may have vanished, in the group or after
        # leaving it), one that ended must not (its first reader may be
        # alive, but left before the others): the semaphore's owner
        # becomes a member, or a vanished one.
        for sem, state in list(self.held.items()):
            gone = None
            if state.writer is not None and _root(state.writer) is not root:
                gone, state.writer, state.entries = state.writer, None, 0
            readers = state.readers
            for reader in [r for r in readers or () if _root(r) is not root]:
                gone = reader
                del readers[reader]  # type: ignore[union-attr]
            if not sem._owners:
                continue
            live = state.writer
            if live is None and readers:
                live = next(iter(readers))
            if live is None:
                del self.held[sem]
            owner = sem._owners[0]
            if (live is None) is (_root(owner) is root):
                sem._owners[0] = gone if live is None else live
                if sem._name is not _UNNAMED:
                    names = _held.get(owner)
                    if names is not None and sem._name in names:
                        names.remove(sem._name)
                        if not names:
                            del _held[owner]
                    if live is not None:
                        _held.setdefault(live, []).append(sem._name)
                        sem._thread = _get_ident()  # the forking thread's
        for sem, waiting in list(self.pending.items()):
            waiting[:] = [w for w in waiting if _root(w) is root]
            if not waiting:
                del self.pending[sem]


class _FairWriter:
    """What ``lock(name, fair=True)`` returns: ``with`` it holds the
    name's fair write lock and gives the name's ``ReaderWriterLock``
    handle, logging the DEBUG lines of oslo's ``lock()`` when made to; it
    also decorates a function, as oslo's does."""

    __slots__ = (
        "_table", "_sem", "_name", "_prefix", "_lock_path", "_do_log",
        "_delay", "_handle", "_log", "_reuse", "_writer", "_depth",
    )

    def __init__(
        self, table: _FairTable, sem: Semaphore, name: Any, prefix: Any,
        lock_path: Any, do_log: Any, delay: Any, log: bool = False,
    ) -> None:
        self._table = table
        self._sem = sem
        self._name = name
        self._prefix = prefix
        self._lock_path = lock_path
        self._do_log = do_log
        self._delay = delay
        self._handle: Any = None
        self._log = bool(log)
        # A handle's write_lock(): decorates with itself, not a fresh lock().
        self._reuse = False
        self._writer: Any = None  # who entered: the exit releases its lock
        self._depth = 0

    def __enter__(self) -> Any:
        # The handle first, as lockutils' _Lock does: nothing can fail
        # once the lock is held but the logging, which lets it go.
        if self._handle is None:
            self._handle = self._table._handle(self._sem)
        if self._log:
            _bound.globals["_log_acquiring"](self._name)
        self._table.write_acquire(self._sem)
        # The lock is exclusive: whoever enters last is who holds it.
        self._writer = _getcurrent()
        self._depth += 1
        if self._log:
            try:
                _bound.globals["_log_acquired"](self._name)
            except BaseException:
                self._leave()
                raise
        return self._handle

    def __exit__(self, *exc_info: object) -> Literal[False]:
        self._leave()
        return False

    def _leave(self) -> None:
        # The writer is who entered, not who exits: a generator holding
        # the block may be resumed by another thread (as fasteners').
        if not self._depth:  # not entered: the caller's error
            writer = _getcurrent()
        else:
            writer = self._writer
            self._depth -= 1
            if not self._depth:
                self._writer = None
        if self._log:
            try:
                _bound.globals["_log_releasing"](self._name)
            finally:
                self._table._write_release(self._sem, writer)
        else:
            self._table._write_release(self._sem, writer)

    def __call__(self, func: Any) -> Any:
        """Decorate *func*: each call holds a fresh ``lock()`` with these
        arguments, as with oslo's (a ``ContextDecorator``); or, made by
        ``write_lock()``, this write lock."""
        if self._reuse:
            return _held_through(self, func)
        return _decorate_with_lock(self, func)


class _FairReader:
    """What a fair handle's ``read_lock()`` returns: ``with`` it holds a
    read lock of the handle's name and gives the handle; it also
    decorates a function, each call of which then holds a read lock."""

    __slots__ = ("_table", "_sem", "_handle", "_reader", "_depth")

    def __init__(self, table: _FairTable, sem: Semaphore, handle: Any) -> None:
        self._table = table
        self._sem = sem
        self._handle = handle
        self._reader: Any = None
        self._depth = 0

    def __enter__(self) -> Any:
        me = _getcurrent()
        if self._depth and self._reader is not me:
            raise RuntimeError(_SHARED_READER)
        self._table.read_acquire(self._sem)
        self._reader = me
        self._depth += 1
        return self._handle

    def __exit__(self, *exc_info: object) -> Literal[False]:
        # The reader is who entered, not who exits: a generator holding
        # the block may be resumed by another thread (as fasteners').
        reader = self._reader
        self._depth -= 1
        if not self._depth:
            self._reader = None
        self._table.read_release(self._sem, reader, False)
        return False

    def __call__(self, func: Any) -> Any:
        """Decorate *func*: each call holds a read lock of its own."""
        table, sem, handle = self._table, self._sem, self._handle

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with table.read_guard(sem, handle):
                return func(*args, **kwargs)

        return inner


_SHARED_READER = ("this read_lock() is held by another thread: "
                  "call read_lock() in each")


def _held_through(guard: Any, func: Any) -> Any:
    # *func*, each call of which runs inside ``with guard``.
    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        with guard:
            return func(*args, **kwargs)

    return inner


def _decorate_with_lock(writer: Any, func: Any) -> Any:
    if _bound is None:
        raise TypeError("no lockutils is bound to this core")
    return _bound.globals["_lock_decorator"](func, (
        writer._name, writer._prefix, False, writer._lock_path,
        writer._do_log, None, writer._delay, True, True,
    ))


# -- the entry of lockutils.lock() and @synchronized calls -------------------
# The plain cases, decided on the same conditions as the Python code in
# fastlock.lockutils (the specification), which gets every other case.  The
# compiled core does the same in C (entry.pyx), where it saves the Python
# frames; here it is the readable twin.

_DEBUG_LEVEL = 10  # logging.DEBUG
_BLATHER_LEVEL = 5  # fasteners' lock-file chatter
_bound: Any = None  # what _bind_fast_path() read from lockutils


class _Facade:
    __slots__ = (
        "globals", "spec", "semaphores", "default", "log", "log_cache",
        "entry", "semaphores_type", "external_lock", "ipl", "fasteners_cache",
        "external_locks", "disabled_key", "path_key", "fair_locks",
        "internal_fair_lock",
    )

    def __init__(self, facade: dict[str, Any]) -> None:
        self.globals = facade
        self.spec = facade["_lock_spec"]
        self.semaphores = facade["_semaphores"]
        self.default = self.semaphores._registry
        self.log = facade["LOG"]
        # logging clears each logger's _cache dict in place whenever
        # levels change (Manager._clear_cache), so one reference stays
        # valid.
        self.log_cache = self.log._cache
        self.entry = facade["lock"]
        self.semaphores_type = facade["Semaphores"]
        self.external_lock = facade["_unpatched_external_lock"]
        self.ipl = facade["_UnpatchedInterProcessLock"]
        self.fasteners_cache = facade["_fasteners_log"]._cache
        self.external_locks = facade["_external_locks"]
        self.disabled_key = facade["_DISABLED_KEY"]
        self.path_key = facade["_PATH_KEY"]
        self.fair_locks = facade["_fair_locks"]
        self.internal_fair_lock = facade["internal_fair_lock"]


def _bind_fast_path(facade: dict[str, Any]) -> None:
    """Serve the plain cases of the facade whose globals are *facade*
    (``fastlock.lockutils``); see :func:`_fast_lock`."""
    global _bound
    _bound = _Facade(facade)


def _quiet(b: _Facade) -> bool:
    # lockutils.LOG is the logger bound (not patched) and logging's own
    # cache says DEBUG is off for it; not cached yet or on is for the
    # Python code to decide.
    return (
        b.globals.get("LOG") is b.log
        and b.log_cache.get(_DEBUG_LEVEL) is False
    )


def _fast_lock(
    name: Any,
    lock_file_prefix: Any = None,
    external: Any = False,
    lock_path: Any = None,
    do_log: Any = True,
    semaphores: Any = None,
    delay: Any = 0.01,
    fair: Any = False,
    blocking: Any = True,
    *,
    timeout: Any = None,
) -> Any:
    """``lockutils.lock()``: what it returns in the plain cases, else what
    the Python ``lock()`` returns.  The facade installs it as ``lock``."""
    b = _bound
    if b is None or (do_log and not _quiet(b)):
        pass
    elif blocking is not True or timeout is not None:
        # Non-blocking or timed: a TryLock on the name's semaphore, or a
        # TryExternalLock on its cached ExternalLock.  (A timeout or delay
        # the Python code may refuse goes there for its error.)
        if (blocking is False or blocking is True) and not fair and (
            timeout is None
            or (blocking is True and type(timeout) in (float, int)
                and timeout >= 0)
        ):
            args = (name, lock_file_prefix, external, lock_path, do_log,
                    semaphores, delay, fair, blocking)
            sem = None
            if not external:
                sem = _plain_semaphore(b, name, semaphores)
            elif (
                semaphores is None and type(delay) in (float, int)
                and delay >= 0
            ):
                sem = _cached_external(b, name, lock_file_prefix, lock_path)
                if isinstance(sem, ExternalLock):
                    return TryExternalLock(sem, blocking, timeout, args)
            if sem is not None:
                return TryLock(sem, name, blocking, timeout, args)
    else:
        if fair:
            if not external and semaphores is None:
                table = _cached_fair(b)
                if table is not None:
                    return table.writer(
                        name, lock_file_prefix, lock_path, do_log, delay)
        elif not external:
            sem = _plain_semaphore(b, name, semaphores)
            if sem is not None:
                return sem
        elif semaphores is None:
            ext = _cached_external(b, name, lock_file_prefix, lock_path)
            if ext is not None:
                return ext
    return b.spec(
        name, lock_file_prefix, external, lock_path, do_log, semaphores,
        delay, fair, blocking, timeout=timeout,
    )


def _plain_semaphore(b: _Facade, name: Any, semaphores: Any) -> Any:
    # The name's semaphore from lockutils' default container (not
    # patched) or from a Semaphores of this core (not a subclass nor an
    # instance with get() patched, which may give another), as the Python
    # code gives it; else None.
    if semaphores is None:
        if b.globals.get("_semaphores") is b.semaphores:
            return b.default.get(name)
        return None
    if type(semaphores) is b.semaphores_type and "get" not in vars(semaphores):
        reg = semaphores._registry
        if type(reg) is Registry:
            return reg.get(name)
    return None


class TryLock:
    """What ``lock(name, blocking=False)``, ``lock(name, timeout=T)``,
    ``internal_lock(name, ...)`` with either, and ``lock(name)`` with DEBUG
    logging on return: ``with`` it acquires the name's semaphore with
    *blocking* and *timeout* and gives the semaphore, or raises
    :class:`AcquireLockFailedException` when the lock cannot be had.  With
    *log*, it logs the DEBUG lines of oslo's ``lock()``.  It also decorates
    a function, as oslo's does.

    (The compiled core's is compiled, so that no signal handler can cut
    it between acquire and return; this one is Python bytecode.)
    """

    __slots__ = ("_lock", "_name", "_blocking", "_timeout", "_args", "_log")

    def __init__(
        self, lock: Any, name: Any, blocking: bool, timeout: Any,
        args: tuple[Any, ...] | None = None, log: bool = False,
    ) -> None:
        self._lock = lock
        self._name = name
        self._blocking = bool(blocking)
        self._timeout = timeout
        # lock()'s arguments, for a decorator that takes a fresh lock()
        # per call; None from internal_lock(), whose decorator reuses
        # this one.
        self._args = args
        self._log = bool(log)

    def __enter__(self) -> Any:
        g = _bound.globals
        if self._log:
            g["_log_acquiring"](self._name)
        if not self._lock.acquire(self._blocking, self._timeout):
            raise g["AcquireLockFailedException"](self._name)
        if self._log:
            try:
                g["_log_acquired"](self._name)
            except BaseException:
                self._leave()
                raise
        return self._lock

    def __exit__(self, *exc_info: object) -> None:
        self._leave()

    def _leave(self) -> None:
        if self._log:
            try:
                _bound.globals["_log_releasing"](self._name)
            finally:
                self._lock.release()
        else:
            self._lock.release()

    def __call__(self, func: Any) -> Any:
        """Decorate *func*: each call holds the lock, as with oslo's."""
        g = _bound.globals
        if self._args is None:
            return g["_decorate"](func, lambda: self)
        return g["_lock_decorator"](func, self._args, self._timeout)

    def __repr__(self) -> str:
        return "<%s %r blocking=%s timeout=%r log=%s>" % (
            type(self).__name__, self._name, self._blocking, self._timeout,
            self._log)


class TryExternalLock:
    """What ``lock(name, external=True)`` with ``blocking=False``, a
    ``timeout`` or DEBUG logging on returns for a name whose
    :class:`ExternalLock` is cached: ``with`` it takes the name's
    semaphore and then its lock file, both within the one *timeout*, and
    gives the lock file object (an ``InterProcessLock``), or raises
    :class:`AcquireLockFailedException` when either cannot be had.  With
    *log*, it logs the DEBUG lines of oslo's ``lock()``.  It also
    decorates a function, as oslo's does.
    """

    __slots__ = ("_ext", "_blocking", "_timeout", "_args", "_log")

    def __init__(
        self, ext: ExternalLock, blocking: bool, timeout: Any,
        args: tuple[Any, ...], log: bool = False,
    ) -> None:
        if not isinstance(ext, ExternalLock):
            raise TypeError(
                "ext must be an ExternalLock, not %s" % type(ext).__name__)
        self._ext = ext
        self._blocking = bool(blocking)
        self._timeout = timeout
        # lock()'s arguments, for a decorator: a fresh lock() per call.
        self._args = args
        self._log = bool(log)

    def __enter__(self) -> Any:
        if self._log:
            _bound.globals["_log_acquiring"](self._ext._name)
        if not self._ext._enter(self._blocking, self._timeout, self._log):
            raise _bound.globals["AcquireLockFailedException"](
                self._ext._name)
        return self._ext._owner

    def __exit__(self, *exc_info: object) -> None:
        self._ext._exit(self._log)

    def __call__(self, func: Any) -> Any:
        """Decorate *func*: each call holds the lock, as with oslo's."""
        return _bound.globals["_lock_decorator"](
            func, self._args, self._timeout)

    def __repr__(self) -> str:
        return "<%s %r blocking=%s timeout=%r log=%s>" % (
            type(self).__name__, self._ext._name, self._blocking,
            self._timeout, self._log)


def _cached_fair(b: _Facade) -> Any:
    # The fair table of lockutils._fair_locks, unless the Python code
    # would call something patched (internal_fair_lock, _fair_locks).
    g = b.globals
    fair_locks = b.fair_locks
    table = fair_locks._table
    if (
        g.get("_fair_locks") is not fair_locks
        or g.get("internal_fair_lock") is not b.internal_fair_lock
    ):
        return None
    return table


def _cached_external(
    b: _Facade, name: Any, lock_file_prefix: Any, lock_path: Any
) -> Any:
    # The name's cached ExternalLock, or its semaphore while process
    # locking is disabled; None for the Python code (nothing cached, the
    # options not in oslo.config's cache, a patched external_lock or
    # InterProcessLock, fasteners' chatter logged, a name, prefix or path
    # not a str).
    values = getattr(b.globals["CONF"], "_ConfigOpts__cache", None)
    if type(values) is not dict or b.disabled_key not in values:
        return None
    if values[b.disabled_key]:
        return _plain_semaphore(b, name, None)
    key: tuple[Any, ...]
    if lock_path:
        key = (name, lock_file_prefix, lock_path)
    else:
        if b.path_key not in values:
            return None
        key = (name, lock_file_prefix, None, values[b.path_key])
    g = b.globals
    if (
        g.get("external_lock") is not b.external_lock
        or g.get("InterProcessLock") is not b.ipl
        or b.fasteners_cache.get(_BLATHER_LEVEL) is not False
    ):
        return None
    # Only str itself (see lockutils._plain_external).
    if not (
        type(name) is str and type(key[-1]) is str
        and (lock_file_prefix is None or type(lock_file_prefix) is str)
    ):
        return None
    return b.external_locks.get(key)


def _fast_call(
    name: Any, func: Any, args: Any, kwargs: Any, slow: Any
) -> Any:
    """Call ``func(*args, **kwargs)`` holding ``lock(name)``, as a plain
    ``@synchronized(name)`` does, when DEBUG logging is off and neither
    ``lockutils.lock`` nor ``lockutils._semaphores`` is patched; else
    return ``slow(*args, **kwargs)`` (the Python code)."""
    b = _bound
    sem = None
    if b is not None and _quiet(b) and b.globals.get("lock") is b.entry:
        sem = _plain_semaphore(b, name, None)
    if sem is not None:
        with sem:
            return func(*args, **kwargs)
    return slow(*args, **kwargs)
