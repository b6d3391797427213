"""Locks across hosts, on tooz with ZooKeeper, etcd or Redis.

A drop-in for Cinder's ``cinder.coordination`` (``Coordinator``,
``COORDINATOR``, ``synchronized`` with lock names formatted from the call's
arguments, the same log lines), with what tooz alone lacks:

* every backend call, and :meth:`Coordinator.stop`, has a deadline
  (``[coordination] backend_timeout``): a dead server gives a
  :class:`CoordinationError` in bounded time, never a hang;
* a lock that cannot be had raises
  :class:`fastlock.lockutils.AcquireLockFailedException` whatever the
  driver (no ``tenacity.RetryError``, no ``kazoo`` exceptions);
* heartbeats are always on, run by fastlock's own thread with bounded
  calls, and a holder learns that its lock was lost (:meth:`Lock.is_lost`,
  an ``on_lost`` callback and an ERROR log);
* waiters of one name in one process queue first on a fastlock in-process
  lock (FIFO among threads and green threads), so only one of them talks
  to the backend; on the polling drivers (Redis, etcd) a process that
  just released a contended lock waits a moment before taking it again,
  so the other hosts get their turn;
* held locks show in :func:`fastlock.lockutils.held_locks` with their
  prefix.

Requires the ``fastlock[coordination]`` extra (tooz, etcd3gw, redis,
kazoo).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import inspect
import logging
import sys
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from fastlock import lockutils

with warnings.catch_warnings():
    # futurist, imported by tooz, imports eventlet whenever it is installed,
    # and eventlet warns on import even when nobody uses it.
    warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
    import tooz
    from tooz import coordination as tooz_coordination

__all__ = [
    'COORDINATOR',
    'CoordinationError',
    'Coordinator',
    'Lock',
    'LockBackendError',
    'register_opts',
    'synchronized',
]

LOG = logging.getLogger(__name__)
F = TypeVar('F', bound=Callable[..., Any])
_now = time.monotonic

GROUP = 'coordination'
_DEFAULTS: dict[str, Any] = {
    'backend_url': None,
    'heartbeat_interval': None,
    'lock_ttl': 30,
    'backend_timeout': 10.0,
}

try:
    from oslo_config import cfg
except ImportError:  # pragma: no cover - oslo.config ships with the tests
    cfg = None  # type: ignore[assignment]

if cfg is not None:
    _opts = [
        cfg.StrOpt(
            'backend_url', secret=True, default=None,
            help='The backend URL to use for distributed coordination '
                 '(tooz URL: zookeeper://, etcd3+http://, redis://).',
        ),
        cfg.FloatOpt(
            'heartbeat_interval', default=None, min=0.01,
            help='Seconds between lock refreshes; defaults to a third of '
                 'lock_ttl.',
        ),
        cfg.IntOpt(
            'lock_ttl', default=30, min=1,
            help='Seconds a lock outlives its holder when the holder stops '
                 'refreshing it (crash, lost network): the lease/key TTL on '
                 'etcd and Redis, the session timeout on ZooKeeper.',
        ),
        cfg.FloatOpt(
            'backend_timeout', default=10.0, min=0.01,
            help='Deadline in seconds for each call to the backend and for '
                 'stopping the coordinator.',
        ),
    ]
    CONF: Any = cfg.CONF
else:  # pragma: no cover
    _opts = []

    class _StandIn:
        """``CONF.coordination.<opt>`` and ``set_override`` without
        oslo.config."""

        def __init__(self) -> None:
            self.coordination = type('Group', (), dict(_DEFAULTS))()

        def set_override(self, name: str, value: Any, group: str = GROUP) -> None:
            setattr(self.coordination, name, value)

        def clear_override(self, name: str, group: str = GROUP) -> None:
            setattr(self.coordination, name, _DEFAULTS[name])

    CONF = _StandIn()


def register_opts(conf: Any) -> None:
    """Register the ``[coordination]`` options on *conf*.

    An option another library (Cinder, Manila) registered first under the
    same name is kept, and read in its place.
    """
    for opt in _opts:
        try:
            conf.register_opt(opt, group=GROUP)
        except cfg.DuplicateOptError:
            pass


def list_opts() -> list[tuple[str, list[Any]]]:
    """Return the ``[coordination]`` options, for oslo-config-generator."""
    import copy

    return [(GROUP, copy.deepcopy(_opts))]


register_opts(CONF)


def _option(name: str) -> Any:
    try:
        return getattr(CONF.coordination, name)
    except Exception:  # an unparsed CONF, or an option registered elsewhere
        return _DEFAULTS[name]


def _given(value: Any, name: str) -> Any:
    return _option(name) if value is None else value


class CoordinationError(Exception):
    """The coordination backend failed, or did not answer in time."""


class LockBackendError(CoordinationError, lockutils.AcquireLockFailedException):
    """A lock could not be had because the backend failed or timed out.

    Both a :class:`CoordinationError` and an
    :class:`~fastlock.lockutils.AcquireLockFailedException`.
    """

    def __init__(self, lock_name: str, reason: str) -> None:
        lockutils.AcquireLockFailedException.__init__(self, lock_name)
        self.message = f'{self.message}: {reason}'
        self.reason = reason


class _Call:
    __slots__ = ('fn', 'done', 'value', 'error', 'abandoned', 'on_late')

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        # Held until the call returns: a plain lock is the cheapest
        # one-shot signal to wait on with a timeout.
        self.done = threading.Lock()
        self.done.acquire()
        self.value: Any = None
        self.error: BaseException | None = None
        self.abandoned = False
        self.on_late: Callable[[Any], None] | None = None


class _Caller:
    """Runs backend calls in worker threads, so that a caller can give up
    on one that does not return in time (tooz and its clients retry for
    minutes, or forever with kazoo, when the server is gone).

    A worker stuck in an abandoned call is left to finish on its own; new
    calls take another worker.
    """

    _KEEP_IDLE = 4

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._idle: list[_Worker] = []
        self.closed = False

    def call(
        self,
        fn: Callable[[], Any],
        timeout: float | None,
        on_late: Callable[[Any], None] | None = None,
        alive: Callable[[], bool] | None = None,
    ) -> Any:
        """Return ``fn()``; raise :class:`CoordinationError` if it has not
        returned after *timeout* seconds, or, with *alive*, once
        ``alive()`` is false.  A call given up on runs ``on_late(value)``
        when it returns after all."""
        task = _Call(fn)
        with self._guard:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker(self)
        worker.submit(task)
        end = None if timeout is None else _now() + timeout
        try:
            while True:
                if alive is not None:
                    wait = 0.1
                else:
                    wait = -1 if end is None else max(0.0, end - _now())
                if task.done.acquire(True, wait):
                    break
                if (end is not None and _now() >= end) or (
                    alive is not None and not alive()
                ):
                    raise CoordinationError(
                        'no answer from the coordination backend'
                        + ('' if timeout is None else
                           ' within %0.1fs' % timeout)
                    )
        except BaseException:
            # Timed out, or interrupted (KeyboardInterrupt, a killed green
            # thread): whatever the call still gets is undone by on_late.
            with self._guard:
                if not task.done.acquire(False):
                    task.abandoned = True
                    task.on_late = on_late
                    raise
        if task.error is not None:
            raise task.error
        return task.value

    def _finished(self, worker: _Worker, task: _Call) -> bool:
        # Returns True if the worker should wait for more work.
        with self._guard:
            task.done.release()
            late = task.abandoned
            keep = not self.closed and len(self._idle) < self._KEEP_IDLE
            if keep and not late:
                self._idle.append(worker)
        if late:
            if task.on_late is not None and task.error is None:
                try:
                    task.on_late(task.value)
                except Exception:
                    LOG.debug('Cleanup after an abandoned call failed',
                              exc_info=True)
            return False
        return keep

    def close(self) -> None:
        with self._guard:
            self.closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.submit(None)


class _Worker:
    def __init__(self, caller: _Caller) -> None:
        self._caller = caller
        self._go = threading.Lock()  # released when a task is waiting
        self._go.acquire()
        self._task: _Call | None = None
        thread = threading.Thread(
            target=self._run, name='fastlock-coordination', daemon=True
        )
        thread.start()

    def submit(self, task: _Call | None) -> None:
        self._task = task
        self._go.release()

    def _run(self) -> None:
        while True:
            self._go.acquire()
            task, self._task = self._task, None
            if task is None:
                return
            try:
                task.value = task.fn()
            except BaseException as exc:  # handed to the caller
                task.error = exc
            if not self._caller._finished(self, task):
                return


def _green() -> bool:
    patcher = sys.modules.get('eventlet.patcher')
    return patcher is not None and bool(patcher.is_monkey_patched('thread'))


# How each driver waits.  ZooKeeper queues waiters on the server (a watch
# on the predecessor node: FIFO, ~1 ms hand-off), so a waiter simply
# blocks in kazoo.  The others are polled with acquire(blocking=False)
# from an exponential back-off capped at ``poll`` seconds, not tooz's
# 1-second retry loop; ``pause`` is how long a process waits before
# taking again a lock it just released while others were polling for it,
# a little more than their polling period so that one of them gets it.
_WAITS: dict[str, tuple[float, float]] = {
    'redis': (0.005, 0.01),
    'rediss': (0.005, 0.01),
    'etcd3+http': (0.02, 0.06),
    'etcd3+https': (0.02, 0.06),
}
_DEFAULT_WAIT = (0.05, 0.1)
_CONTENDED_FOR = 1.0
_ZOOKEEPER = ('zookeeper', 'kazoo')


class _Entry:
    """The state one coordinator keeps for one lock name."""

    __slots__ = (
        'name', 'key', 'local', 'shown', 'shown_held', 'tooz', 'holder',
        'last_ok', 'released_at', 'contended_until', 'lost', 'generation',
        '__weakref__',
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = name.encode('utf-8')
        # Coalescing: a process's waiters queue here, FIFO, and only the
        # one at the head talks to the backend.
        core: Any = lockutils._core  # type: ignore[attr-defined]  # as bound now
        self.local = core.Semaphore(1, True)
        # Named so that held_locks() lists it; taken only once the
        # backend lock is held.
        self.shown = core.Semaphore(1, True, name)
        self.shown_held = False
        self.tooz: Any = None
        self.holder: Lock | None = None
        self.last_ok = 0.0
        self.released_at = -1e9
        self.contended_until = -1e9
        self.lost = False
        self.generation = 0  # one more per acquisition


class Lock:
    """A lock shared by every process that uses the same backend and name.

    Made by :meth:`Coordinator.get_lock`.  ``acquire()`` and ``release()``
    behave like tooz's lock (``acquire`` returns False when a
    non-blocking or timed attempt fails), with the same meaning on every
    driver; ``with lock:`` raises
    :class:`~fastlock.lockutils.AcquireLockFailedException` instead.

    :param on_lost: called as ``on_lost(lock, reason)`` from the heartbeat
        thread when the backend no longer holds this lock for us (lease
        expired, session lost, server restarted empty).
    """

    def __init__(
        self,
        coordinator: Coordinator,
        entry: _Entry,
        on_lost: Callable[[Lock, str], None] | None = None,
    ) -> None:
        self._coordinator = coordinator
        self._entry = entry
        self.name = entry.name
        self.on_lost = on_lost
        self._held = False
        self._lost: str | None = None

    def __repr__(self) -> str:
        return '<%s %r held=%s lost=%s>' % (
            type(self).__name__, self.name, self._held, self._lost is not None
        )

    @property
    def acquired(self) -> bool:
        """Whether this object holds the lock (and has not lost it)."""
        return self._held and self._lost is None

    def is_lost(self) -> bool:
        """Return True if the lock was taken from us while we held it.

        Stays True until the next successful ``acquire()``.
        """
        return self._lost is not None

    def acquire(
        self, blocking: bool | float = True, timeout: float | None = None
    ) -> bool:
        """Acquire the lock; return True on success.

        :param blocking: when False, try once and return False if the lock
            is taken.  A number is taken as a timeout, as tooz does.
        :param timeout: wait at most this many seconds (blocking only).
        :raises LockBackendError: if the backend fails or does not answer
            within ``backend_timeout``.
        :raises ValueError: for a timeout with ``blocking=False``, a
            negative timeout, or a lock this object already holds.
        """
        if not isinstance(blocking, bool):
            if timeout is not None:
                raise ValueError('give the timeout either as blocking or '
                                 'as timeout, not both')
            blocking, timeout = True, float(blocking)
        if timeout is not None:
            if not blocking:
                raise ValueError(
                    "can't specify a timeout for a non-blocking call")
            if not timeout >= 0:
                raise ValueError('timeout value must be a non-negative number')
        if self._held:
            raise ValueError('lock %r is already held by this object'
                             % self.name)
        coordinator = self._coordinator
        coordinator._driver_or_fail(self.name)
        deadline = None if timeout is None else _now() + timeout
        entry = self._entry
        if not entry.local.acquire(blocking, timeout):
            return False
        try:
            if not coordinator._acquire(entry, blocking, deadline):
                entry.local.release()
                return False
        except BaseException:
            entry.local.release()
            raise
        entry.shown.acquire()
        entry.shown_held = True
        entry.holder = self
        self._held = True
        self._lost = None
        coordinator._holding(entry)
        return True

    def release(self) -> bool:
        """Release the lock.

        Returns False if the lock had been lost before (the holder was told
        then).  The local state is released in every case, so the next
        caller can try again.

        :raises ValueError: if this object does not hold the lock.
        :raises CoordinationError: if the backend fails or does not answer
            within ``backend_timeout`` (the lock then expires on its own
            after ``lock_ttl``).
        """
        if not self._held:
            raise ValueError('lock %r is not held' % self.name)
        self._held = False
        return self._coordinator._release(self._entry, self)

    def __enter__(self) -> Lock:
        if not self.acquire():
            raise lockutils.AcquireLockFailedException(self.name)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _mark_lost(self, reason: str) -> None:
        self._lost = reason
        LOG.error('Lock "%s" was lost while held: %s', self.name, reason)
        callback = self.on_lost or self._coordinator.on_lost
        if callback is not None:
            try:
                callback(self, reason)
            except Exception:
                LOG.exception('on_lost callback for lock "%s" failed',
                              self.name)


class Coordinator:
    """Tooz coordination wrapper.

    Coordination member id is created from concatenated
    `prefix` and `agent_id` parameters.

    :param str agent_id: Agent identifier
    :param str prefix: Used to provide member identifier with a
        meaningful prefix; it also prefixes every lock name.
    :param backend_url: tooz URL, overriding ``[coordination] backend_url``.
    :param lock_ttl: overrides ``[coordination] lock_ttl``.
    :param heartbeat_interval: overrides ``[coordination]
        heartbeat_interval``.
    :param backend_timeout: overrides ``[coordination] backend_timeout``.
    :param on_lost: default ``on_lost(lock, reason)`` callback for the
        locks of this coordinator (see :class:`Lock`).
    :param fair: on the polling drivers (Redis, etcd), wait a moment
        before taking again a lock that other processes were polling for,
        so that they get their turn.  False gives tooz's behaviour: more
        throughput under contention, and the releasing process takes the
        lock again almost every time.
    """

    def __init__(
        self,
        agent_id: str | None = None,
        prefix: str = '',
        *,
        backend_url: str | None = None,
        lock_ttl: int | None = None,
        heartbeat_interval: float | None = None,
        backend_timeout: float | None = None,
        on_lost: Callable[[Lock, str], None] | None = None,
        fair: bool = True,
    ) -> None:
        self.coordinator: Any = None
        self.fair = fair
        self.agent_id = agent_id or str(uuid.uuid4())
        self.started = False
        self.prefix = prefix
        self.backend_url = backend_url
        self.on_lost = on_lost
        self._lock_ttl = lock_ttl
        self._heartbeat_interval = heartbeat_interval
        self._backend_timeout = backend_timeout
        self._guard = threading.Lock()
        self._entries: weakref.WeakValueDictionary[str, _Entry] = (
            weakref.WeakValueDictionary()
        )
        self._held: dict[str, _Entry] = {}
        self._caller: _Caller | None = None
        self._stopping: threading.Event | None = None
        self._beater: threading.Thread | None = None
        self._scheme = ''
        self.lock_ttl = 0
        self.timeout = 0.0
        self.interval = 0.0

    # -- life cycle ---------------------------------------------------------

    def start(self) -> None:
        """Connect to the backend and start the heartbeat thread.

        :raises CoordinationError: without a backend URL, or if the backend
            does not answer within ``backend_timeout``.
        """
        if self.started:
            return
        url = self.backend_url or _option('backend_url')
        if not url:
            raise CoordinationError(
                'no coordination backend: set [coordination] backend_url '
                'or pass backend_url='
            )
        ttl = _given(self._lock_ttl, 'lock_ttl')
        timeout = _given(self._backend_timeout, 'backend_timeout')
        interval = _given(self._heartbeat_interval, 'heartbeat_interval')
        if type(ttl) is not int or ttl < 1:
            raise ValueError('lock_ttl must be a whole number of seconds, at '
                             'least 1, not %r' % (ttl,))
        if interval is None:
            interval = ttl / 3.0
        if not 0 < timeout < float('inf') or not 0 < interval < ttl:
            raise ValueError(
                'backend_timeout must be positive and heartbeat_interval '
                'between 0 and lock_ttl (%r), not %r and %r'
                % (ttl, timeout, interval))
        self.lock_ttl, self.timeout, self.interval = ttl, float(timeout), interval
        self._scheme = url.split(':', 1)[0].lower()
        member_id = (self.prefix + self.agent_id).encode('ascii')
        try:
            driver = tooz_coordination.get_coordinator(
                url, member_id, **self._driver_options(url)
            )
        except Exception as exc:
            raise CoordinationError(f'bad coordination backend: {exc}') from exc
        caller = _Caller()

        def stop_late(_value: Any) -> None:
            driver.stop()

        try:
            # No tooz heart: its stop() waits forever for a beat that retries
            # forever once the server is gone.  Ours is below.
            caller.call(lambda: driver.start(start_heart=False), self.timeout,
                        on_late=stop_late)
        except Exception as exc:
            caller.close()
            raise CoordinationError(
                f'cannot start the coordination backend: {exc}') from exc
        self.coordinator = driver
        self._caller = caller
        self._stopping = threading.Event()
        self._beater = threading.Thread(
            target=self._beat_forever, args=(self._stopping,),
            name='fastlock-coordination-heartbeat', daemon=True,
        )
        self._beater.start()
        self.started = True

    def stop(self) -> None:
        """Disconnect from coordination backend and stop heartbeat.

        Locks still held are released on the way.  Returns within about
        ``backend_timeout`` even when the backend is gone (the abandoned
        connection is then left to its daemon thread).
        """
        if not self.started:
            return
        self.started = False
        driver, caller = self.coordinator, self._caller
        assert caller is not None and self._stopping is not None
        self._stopping.set()
        with self._guard:
            held = list(self._held.values())
            self._held.clear()
        for entry in held:
            if entry.holder is not None:
                entry.holder._lost = 'coordinator stopped'
            self._drop_shown(entry)
            entry.holder = None
        tlocks = [e.tooz for e in held if e.tooz is not None]
        for entry in held:
            entry.tooz = None

        def shut() -> None:
            for tlock in tlocks:
                with contextlib.suppress(Exception):
                    tlock.release()
            driver.stop()
            if self._scheme in _ZOOKEEPER:
                driver._coord.close()  # tooz only stops kazoo: free its sockets

        try:
            caller.call(shut, self.timeout)
        except Exception as exc:
            LOG.warning('Coordination backend did not stop cleanly: %s', exc)
        for entry in held:
            entry.local.release()
        caller.close()
        if self._beater is not None:
            self._beater.join(self.timeout)
        self.coordinator = None
        self._caller = None

    def __enter__(self) -> Coordinator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- locks ----------------------------------------------------------------

    def get_lock(self, name: str) -> Lock:
        """Return a lock shared across all nodes using this backend.

        :param str name: The lock name that is used to identify it
            across all nodes (prefixed with the coordinator's prefix).
        :raises CoordinationError: if the coordinator is not started.
        """
        if not isinstance(name, str):
            raise TypeError('lock name must be a str, not %s'
                            % type(name).__name__)
        full = self.prefix + name
        if not full:
            raise ValueError('lock name must not be empty')
        self._driver_or_fail(full)
        with self._guard:
            entry = self._entries.get(full)
            if entry is None:
                entry = self._entries[full] = _Entry(full)
        return Lock(self, entry)

    @contextlib.contextmanager
    def lock(
        self, name: str, blocking: bool = True, timeout: float | None = None
    ) -> Iterator[Lock]:
        """Hold the cluster lock *name* for the body of a ``with`` block.

        :param blocking: when False, fail at once if the lock is taken.
        :param timeout: wait at most this many seconds.
        :raises fastlock.lockutils.AcquireLockFailedException: if the lock
            cannot be had (:class:`LockBackendError`, a subclass, when the
            backend failed).
        """
        lock = self.get_lock(name)
        if not lock.acquire(blocking, timeout):
            raise lockutils.AcquireLockFailedException(lock.name)
        try:
            yield lock
        finally:
            try:
                lock.release()
            except CoordinationError as exc:
                LOG.error('Failed to release lock "%s": %s', lock.name, exc)

    # -- internals ------------------------------------------------------------

    def _driver_or_fail(self, name: str) -> Any:
        driver = self.coordinator
        if driver is None or not self.started:
            raise CoordinationError(
                'Coordinator uninitialized: call start() before using lock '
                '"%s"' % name
            )
        return driver

    def _driver_options(self, url: str) -> dict[str, Any]:
        given = set()
        if '?' in url:
            query = url.split('?', 1)[1]
            given = {kv.split('=', 1)[0] for kv in query.split('&') if kv}
        options: dict[str, Any] = {}
        if self._scheme in _ZOOKEEPER:
            options['timeout'] = self.lock_ttl  # the kazoo session timeout
            if _green():
                options['handler'] = 'eventlet'
        elif self._scheme.startswith(('redis', 'etcd3')):
            options['lock_timeout'] = self.lock_ttl
            # The client's own socket timeout, so that its calls end too.
            options['timeout'] = max(1, int(self.timeout))
            if self._scheme.startswith('redis'):
                options['socket_timeout'] = self.timeout
        return {k: v for k, v in options.items() if k not in given}

    def _tooz_lock(self, entry: _Entry) -> Any:
        if entry.tooz is None:
            entry.tooz = self._driver_or_fail(entry.name).get_lock(entry.key)
        return entry.tooz

    def _call(self, entry: _Entry, fn: Callable[[], Any],
              on_late: Callable[[Any], None] | None = None,
              alive: Callable[[], bool] | None = None,
              timeout: float | None = -1.0) -> Any:
        caller = self._caller
        if caller is None or not self.started:
            raise LockBackendError(entry.name, 'coordinator stopped')
        try:
            return caller.call(fn, self.timeout if timeout == -1.0 else timeout,
                               on_late=on_late, alive=alive)
        except CoordinationError as exc:
            entry.tooz = None  # its state is unknown: never reuse it
            raise LockBackendError(entry.name, str(exc)) from None
        except Exception as exc:  # tooz's, or a client's that tooz let by
            entry.tooz = None
            raise LockBackendError(entry.name, f'{type(exc).__name__}: {exc}'
                                   ) from exc

    def _acquire(self, entry: _Entry, blocking: bool,
                 deadline: float | None) -> bool:
        # Called with entry.local held: this thread alone talks to the
        # backend for this name.
        if self._scheme in _ZOOKEEPER:
            return self._acquire_zookeeper(entry, blocking, deadline)
        poll, pause = _WAITS.get(self._scheme, _DEFAULT_WAIT)
        if self.fair and entry.contended_until > _now():
            wait = entry.released_at + pause - _now()
            if deadline is not None:
                wait = min(wait, deadline - _now())
            if wait > 0:
                time.sleep(wait)
        etcd = self._scheme.startswith('etcd3')
        delay = 0.001
        tries = 0
        while True:
            tlock = self._tooz_lock(entry)

            def attempt(tlock: Any = tlock) -> bool:
                if tlock.acquire(blocking=False):
                    return True
                if etcd:
                    # tooz grants a lease per attempt and never revokes it.
                    with contextlib.suppress(Exception):
                        tlock._lease.revoke()
                return False

            if self._call(entry, attempt, on_late=_release_late(tlock)):
                if tries:
                    # Others were polling for it: until they stop, give
                    # them a turn after each release (a single waiter
                    # can miss one pause when its poll runs late).
                    entry.contended_until = _now() + _CONTENDED_FOR
                return True
            tries += 1
            now = _now()
            if not blocking or (deadline is not None and now >= deadline):
                return False
            nap = delay if deadline is None else min(delay, deadline - now)
            time.sleep(nap)
            delay = min(delay * 2, poll)

    def _acquire_zookeeper(self, entry: _Entry, blocking: bool,
                           deadline: float | None) -> bool:
        from kazoo import exceptions as kazoo_exceptions

        tlock = self._tooz_lock(entry)
        client = self.coordinator._coord
        timeout = None if deadline is None else max(0.0, deadline - _now())

        def attempt() -> bool:
            try:
                if not blocking:
                    return bool(tlock.acquire(blocking=False))
                return bool(tlock.acquire(
                    blocking=True if timeout is None else max(timeout, 1e-3)))
            except (kazoo_exceptions.LockTimeout,
                    kazoo_exceptions.CancelledError):
                return False
            except kazoo_exceptions.KazooException as exc:
                raise CoordinationError(f'{type(exc).__name__}: {exc}'
                                        ) from exc

        if not blocking:
            return bool(self._call(entry, attempt, on_late=_release_late(tlock)))
        # A blocked waiter sits in the server's queue for as long as it
        # takes; it is given up only when the connection has been down for
        # backend_timeout, or well after its own timeout.
        down_since: list[float] = []
        hard_end = None if deadline is None else deadline + self.timeout

        def alive() -> bool:
            if not self.started:
                return False
            if client.connected:
                down_since.clear()
            elif not down_since:
                down_since.append(_now())
            elif _now() - down_since[0] > self.timeout:
                return False
            return hard_end is None or _now() < hard_end

        def late(value: Any) -> None:
            _release_late(tlock)(value)

        try:
            return bool(self._call(entry, attempt, on_late=late, alive=alive,
                                   timeout=None))
        except LockBackendError:
            with contextlib.suppress(Exception):
                tlock._lock.cancel()  # leave the server's queue
            raise

    def _holding(self, entry: _Entry) -> None:
        entry.last_ok = _now()
        entry.lost = False
        entry.generation += 1
        with self._guard:
            self._held[entry.name] = entry

    def _drop_shown(self, entry: _Entry) -> None:
        with self._guard:
            shown, entry.shown_held = entry.shown_held, False
        if shown:
            entry.shown.release()

    def _release(self, entry: _Entry, lock: Lock) -> bool:
        with self._guard:
            if self._held.get(entry.name) is not entry:
                # stop() already released everything.
                return False
            del self._held[entry.name]
        self._drop_shown(entry)
        entry.holder = None
        lost = entry.lost
        try:
            tlock = entry.tooz
            if tlock is None:
                return False
            released = bool(self._call(entry, tlock.release))
            if not released and not lost:
                lock._mark_lost('the backend no longer had it at release')
            return released and not lost
        except LockBackendError as exc:
            raise CoordinationError(
                'lock "%s" released locally, but the backend failed: %s '
                '(it expires after %ss)' % (entry.name, exc.reason,
                                            self.lock_ttl)) from None
        finally:
            entry.released_at = _now()
            entry.local.release()

    def _beat_forever(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.interval):
            with self._guard:
                held = list(self._held.values())
            for entry in held:
                if stopping.is_set():
                    return
                self._beat(entry)

    def _beat(self, entry: _Entry) -> None:
        tlock = entry.tooz
        holder = entry.holder
        generation = entry.generation
        if tlock is None or holder is None or entry.lost:
            return
        try:
            owner = self._call(entry, lambda: self._refresh(tlock))
        except LockBackendError as exc:
            entry.tooz = tlock  # still ours to release, if it comes back
            if _now() - entry.last_ok < self.lock_ttl:
                LOG.warning('Could not refresh lock "%s": %s', entry.name,
                            exc.reason)
                return
            reason = 'not refreshed for %ss (%s)' % (self.lock_ttl, exc.reason)
        else:
            if owner:
                entry.last_ok = _now()
                return
            reason = ('the backend no longer has it (lease expired, session '
                      'lost or server restarted without its data)')
        if entry.holder is not holder or entry.generation != generation:
            return  # released (and maybe taken again) meanwhile
        entry.lost = True
        self._drop_shown(entry)
        holder._mark_lost(reason)

    def _refresh(self, tlock: Any) -> bool:
        """Extend the lock's lease; return whether we still own it, or
        raise CoordinationError when that cannot be known."""
        if self._scheme in _ZOOKEEPER:
            # kazoo keeps the session alive; the lock node lives as long
            # as the session does.
            return _zookeeper_owner(self.coordinator._coord, tlock._lock)
        if self._scheme.startswith('etcd3'):
            if tlock._lease.refresh() <= 0:
                return False
            values = self.coordinator.client.get(tlock._key)
            return bool(values) and values[0] == base64.b64decode(tlock._uuid)
        beat = getattr(tlock, 'heartbeat', None)  # file:// locks have none
        try:
            if beat is not None:
                beat()
        except (tooz_coordination.ToozConnectionError,
                tooz_coordination.OperationTimedOut) as exc:
            raise CoordinationError(str(exc)) from exc
        except tooz.ToozError:
            return False  # redis: "Cannot reacquire a no longer owned lock"
        try:
            return bool(tlock.is_still_owner())
        except tooz.NotImplemented:
            return True


def _zookeeper_owner(client: Any, klock: Any) -> bool:
    # tooz's is_still_owner() says False on a mere connection loss; only a
    # missing or foreign lock node (gone with an expired session) means
    # lost.
    from kazoo import exceptions as kazoo_exceptions

    if not klock.is_acquired:
        return False
    try:
        data, _stat = client.get(klock.path + '/' + klock.node)
    except kazoo_exceptions.NoNodeError:
        return False
    except kazoo_exceptions.SessionExpiredError:
        return False
    except (kazoo_exceptions.KazooException,
            client.handler.timeout_exception) as exc:
        raise CoordinationError(f'{type(exc).__name__}: {exc}') from exc
    return bool(data == klock.data)


def _release_late(tlock: Any) -> Callable[[Any], None]:
    def release(acquired: Any) -> None:
        if acquired:
            tlock.release()
    return release


COORDINATOR = Coordinator()
"""The module's default coordinator, used by :func:`synchronized`."""


def _acquire_logged(lock: Lock, blocking: bool | float, timeout: float | None,
                    f_name: str) -> float:
    t1 = _now()
    LOG.debug('Acquiring lock "%s" by "%s"', lock.name, f_name)
    if not lock.acquire(blocking, timeout):
        raise lockutils.AcquireLockFailedException(lock.name)
    t2 = _now()
    LOG.debug('Lock "%s" acquired by "%s" :: waited %0.3fs',
              lock.name, f_name, t2 - t1)
    return t2


def _release_logged(lock: Lock, acquired_time: float, f_name: str) -> None:
    try:
        lock.release()
        LOG.debug('Lock "%s" released by "%s" :: held %0.3fs',
                  lock.name, f_name, _now() - acquired_time)
    except Exception as e:
        LOG.error('Failed to release lock "%s": %s', lock.name, e)


def synchronized(
    *lock_names: str,
    blocking: bool | float = True,
    coordinator: Coordinator | None = None,
    timeout: float | None = None,
) -> Callable[[F], F]:
    """Synchronization decorator.

    :param str lock_names: Arbitrary number of Lock names.
    :param blocking: If True, blocks until the lock is acquired.
            If False, raises exception when not acquired. Otherwise,
            the value is used as a timeout value and if lock is not acquired
            after this number of seconds exception is raised. This is a keyword
            only argument.
    :param coordinator: Coordinator class to use when creating lock.
        Defaults to the global coordinator.  This is a keyword only argument.
    :param timeout: wait at most this many seconds for each lock.
    :raises fastlock.lockutils.AcquireLockFailedException: if lock is not
        acquired

    Decorating a method like so::

        @synchronized('mylock')
        def foo(self, *args):
           ...

    ensures that only one process will execute the foo method at a time.

    Lock name can be formatted using Python format string syntax::

        @synchronized('{f_name}-{vol.id}-{snap[name]}')
        def foo(self, vol, snap):
           ...

    Multiple locks can be requested simultaneously and the decorator will
    reorder the names by rendered lock names to prevent potential deadlocks.

    Available field names are: decorated function parameters and
    `f_name` as a decorated function name.
    """
    if not lock_names:
        raise TypeError('synchronized() needs at least one lock name')

    def wrap(f: F) -> F:
        signature = inspect.signature(f)
        f_name = f.__name__

        @functools.wraps(f)
        def inner(*a: Any, **k: Any) -> Any:
            coord = COORDINATOR if coordinator is None else coordinator
            bound = signature.bind(*a, **k)
            bound.apply_defaults()
            call_args = dict(bound.arguments)
            call_args['f_name'] = f_name
            # Sorted and deduplicated, so that every caller takes them in
            # the same order.
            names = sorted({name.format(**call_args) for name in lock_names})
            locks = [coord.get_lock(name) for name in names]
            acquired_times: list[float] = []
            t1 = _now()
            try:
                if len(locks) > 1:  # Don't pollute logs for single locks
                    LOG.debug('Acquiring %s locks by %s', len(locks), f_name)
                for lock in locks:
                    acquired_times.append(
                        _acquire_logged(lock, blocking, timeout, f_name))
                if len(locks) > 1:
                    LOG.debug('Acquired %s locks by %s in %0.3fs',
                              len(locks), f_name, _now() - t1)
                return f(*a, **k)
            finally:
                for lock, acquired_time in zip(locks, acquired_times,
                                               strict=False):
                    _release_logged(lock, acquired_time, f_name)

        return inner  # type: ignore[return-value]

    return wrap
