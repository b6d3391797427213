# Atomicity: everything below runs under the GIL and does not switch
# threads except where it calls back into Python; each such call is marked
# "switch point".  State is always consistent before a switch point.

cdef extern from "<time.h>" nogil:
    """
    /* Hold times for lock_table(): the coarse clock reads the kernel's
       last tick through the vDSO, a few ns, so every acquire can afford
       it; held_seconds is exact to a tick (1-10 ms). */
    static double fastlock_coarse_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
    }
    """
    double _coarse_now "fastlock_coarse_now"() noexcept

# What the last _disown() measured, read by _release() before any switch
# point: the hold and (when it had waited) the wait of that permit.
cdef double _last_hold = 0
cdef double _last_wait = 0
# Called as _observer(semaphore, waited, held) after every release of a
# named semaphore when set (fastlock.metrics); None costs one compare.
cdef object _observer = None
# Called as _wait_hook(semaphore) when a caller is about to wait on a
# named semaphore (the slow-wait watchdog); None when off.
cdef object _wait_hook = None


# Longest single park: a longer timeout parks again until its deadline.
# lock.acquire() takes at most threading.TIMEOUT_MAX, and eventlet's epoll
# and poll hubs raise OverflowError for a timer beyond 2**31 ms.  A module
# global (tests shorten it), read only by waits with a timeout.
_LONGEST_PARK = 86400.0

# The name of a semaphore made outside a Registry: it has no held-list
# entry.  Not None, which is a lock name like any other (oslo takes any
# hashable).
cdef object _UNNAMED = object()

# See _core_py.HAND_OFF_AFTER.
HAND_OFF_AFTER = 0.0001
cdef double _HAND_OFF_AFTER = HAND_OFF_AFTER
cdef Py_ssize_t _SHORT_QUEUE = 50  # see _core_py._SHORT_QUEUE
cdef double _LONGEST_LIMIT = 0.0005  # see _core_py._LONGEST_LIMIT


cdef inline double _now() noexcept:
    # time.monotonic() without a Python call: the same clock.
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef object _check_timeout(bint blocking, object timeout):
    cdef double t
    if timeout is None:
        return None
    if not blocking:
        raise ValueError("can't specify a timeout for a non-blocking call")
    t = timeout
    if not t >= 0:  # also rejects NaN
        raise ValueError("timeout value must be a non-negative number")
    return None if t == INFINITY else t


cdef object _current_hub():
    # See _core_py._current_hub for the rule.
    hubs = _sys_modules.get("eventlet.hubs")
    if hubs is None:
        return None
    hub = getattr(hubs._threadlocal, "hub", None)
    if hub is None or PyGreenlet_GetCurrent() is hub.greenlet:
        return None
    return hub


def _noop():
    pass


cdef object _root(object glet):
    # The main greenlet of the OS thread that runs *glet*.
    while glet.parent is not None:
        glet = glet.parent
    return glet


cdef class _HubWaker:
    """Wakes green waiters of one hub from other OS threads.

    Its pipe lives as long as the hub's OS thread (see _ThreadWaker), not
    as long as the object: eventlet never frees the hub of a finished
    thread, whose greenlet stays suspended with whatever it referenced.
    """

    def __cinit__(self, hub):
        self._rfd = self._wfd = -1
        self.hub = hub
        self._pending = deque()
        self._scheduled = set()
        self._rfd, self._wfd = _os.pipe()
        _os.set_blocking(self._rfd, False)
        _os.set_blocking(self._wfd, False)
        hub.add(hub.READ, self._rfd, self._drain, self._fail, _noop)

    def __dealloc__(self):
        self._close_pipe()

    cdef int close(self) except -1:
        # The hub's thread has ended (or replaced the hub): the waiters
        # posted but not yet resumed never will be; pass their turns on.
        cdef _Waiter waiter
        self._close_pipe()
        waiters = list(self._pending) + list(self._scheduled)
        self._pending.clear()
        self._scheduled.clear()
        for waiter in waiters:
            if waiter.parked:
                waiter.parked = False
                waiter.sem._wake(waiter.sem._pass_on(waiter))
        return 0

    cdef void _close_pipe(self) noexcept:
        # The hub of a finished thread never polls again, and the kernel
        # drops a closed pipe from its epoll set.  Under the GIL, so no
        # post can write to a descriptor number that is being reused.
        if self._rfd >= 0:
            close(self._rfd)
            self._rfd = -1
        if self._wfd >= 0:
            close(self._wfd)
            self._wfd = -1

    cdef bint post(self, _Waiter waiter) except -1:
        # Runs no Python code, so it cannot be cut short by an exception
        # from a signal handler: the last resort of _Waiter.wake.  False
        # if the hub's thread has ended: then the waiter never runs.
        if self._wfd < 0:
            return False
        self._pending.append(waiter)
        self._arm()
        return True

    cdef void _arm(self) noexcept:
        cdef char byte = 0
        # A full pipe (EAGAIN) already guarantees a pending drain; a closed
        # one belongs to a finished thread, whose waiters never run again.
        if self._wfd >= 0:
            write(self._wfd, &byte, 1)

    def _drain(self, fileno):
        cdef char buf[4096]
        while self._rfd >= 0 and read(self._rfd, buf, sizeof(buf)) > 0:
            pass
        try:
            while self._pending:
                (<_Waiter>self._pending.popleft()).resume()  # switch point
        except BaseException:
            # A resumed green thread (or a signal handler) raised into the
            # hub: the waiters still queued must not wait for the next post.
            if self._pending:
                self._arm()
            raise

    def _fail(self, exc):  # pragma: no cover
        raise exc


cdef class _ThreadWaker:
    """The waker of one OS thread's current hub: a thread-local, freed when
    the thread ends, which closes the waker's pipe."""

    cdef _HubWaker waker

    def __dealloc__(self):
        if self.waker is not None:
            self.waker.close()


cdef object _thread_wakers = _original("_thread")._local()


cdef _HubWaker _waker_for(object hub):
    cdef _ThreadWaker mine = getattr(_thread_wakers, "mine", None)
    if mine is None:
        mine = _ThreadWaker()
        _thread_wakers.mine = mine
    if mine.waker is None or mine.waker.hub is not hub:
        if mine.waker is not None:
            mine.waker.close()  # the thread's previous hub: never polled again
        mine.waker = _HubWaker(hub)
    return mine.waker


cdef class _Waiter:
    """One blocked acquire: parked on a native lock or on a hub."""

    def __cinit__(self, hub, Semaphore sem not None, double since):
        self.hub = hub
        self.sem = sem
        self.since = since
        self.glet = PyGreenlet_GetCurrent()
        # For the hub's wake-ups and for lock_table(): the holder's thread
        # once a permit is handed to this waiter.
        self.thread = PyThread_get_thread_ident()
        if hub is None:
            self.lock = _allocate_lock()
            self.lock.acquire()
        else:
            # Made here, in the hub's own thread and before the waiter is
            # queued: eventlet hubs must not be touched from other threads.
            self.waker = _waker_for(hub)  # switch point (first time only)

    cdef int park(self, object timeout) except -1:
        # Return whether a wake() was consumed (1) or the timeout expired
        # (0); the caller clears ``signalled``.
        cdef object timer = None
        if timeout is not None and timeout > _LONGEST_PARK:
            timeout = _LONGEST_PARK  # parked again until the deadline
        if self.lock is not None:
            # switch point: releases the GIL while blocked
            if self.lock.acquire(True, -1 if timeout is None else timeout):
                return 1
            return 0
        self.parked = True  # again, after a timer that was only a step
        try:
            if timeout is not None:
                # switch point: a signal handler may raise once the timer
                # is set; the finally below then makes it a stale call.
                timer = self.hub.schedule_call_global(timeout, self.resume)
            while self.parked:
                self.hub.switch()  # switch point
        finally:
            self.parked = False
            if timer is not None:
                timer.cancel()
        # A resume() left pending by a timer only makes a spurious wake.
        return 1

    def resume(self):
        # Runs in the hub greenlet.  A stale call (the waiter already
        # left, e.g. timed out) must not switch into unrelated code.
        if self.waker is not None:
            self.waker._scheduled.discard(self)
        if self.parked:
            self.parked = False
            self.glet.switch()  # switch point

    cdef bint wake(self) except -1:
        # The waiter was handed a permit or a chance at one: it must be
        # resumed even when this raises.  False if it never can be: a
        # green waiter whose OS thread has ended.
        if self.lock is not None:
            self.lock.release()
        elif self.waker._wfd < 0:
            return False  # the hub's thread has ended
        elif PyThread_get_thread_ident() == self.thread:
            # Known to the waker until resumed: if the thread ends first,
            # the waker passes the turn on.
            self.waker._scheduled.add(self)
            try:
                self.hub.schedule_call_global(0, self.resume)  # switch point
            except BaseException:
                # Raised by a signal handler, before or after the timer
                # was set: resume through the waker too (a second resume
                # is a stale call), then let the exception go on.
                self.waker.post(self)
                raise
        else:
            return self.waker.post(self)
        return True


cdef class _LockStats:
    pass


cdef class Semaphore:
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

    def __init__(self, value=1, fair=True, name=None):
        if type(value) is not int:
            raise TypeError(
                "value must be an int, not %s" % type(value).__name__)
        if value < 1:
            raise ValueError("value must be at least 1")
        self._value = value
        self._initial = value
        self._fair = fair
        self._name = _UNNAMED if name is None else name
        # Made on the first wait and dropped when it empties: an empty
        # deque is 760 bytes, most locks never have a waiter.
        self._waiters = None
        # Room for exactly one owner, as most have: CPython keeps the
        # room of a list emptied from one item, and frees a larger one
        # (then each acquire and release would realloc).
        self._owners = [None]
        self._owners.pop()
        self._woken = 0
        self._handed_at = 0

    @property
    def name(self):
        """The registry name of this semaphore, or None."""
        return None if self._name is _UNNAMED else self._name

    @property
    def fair(self):
        """Whether a release hands the permit to the oldest waiter."""
        return self._fair

    @property
    def value(self):
        """How many more acquisitions would succeed without waiting."""
        return self._value

    @property
    def waiting(self):
        """How many callers are blocked in ``acquire()``."""
        return 0 if self._waiters is None else len(self._waiters)

    def locked(self):
        """Return True if ``acquire()`` would block."""
        return self._value == 0

    def __repr__(self):
        return "<%s name=%r value=%d/%d waiting=%d fair=%s>" % (
            type(self).__name__, self.name, self._value, self._initial,
            self.waiting, self._fair,
        )

    cdef inline bint _is_idle(self) noexcept:
        return self._value == self._initial and not self._owners

    cdef int _own(self, object owner) except -1:
        cdef list names
        self._owners.append(owner)
        if self._name is not _UNNAMED:
            names = _held_push(owner, self._name)
            if self._initial == 1:  # one holder: see _drop_owner
                self._names = names
            # Named semaphores hold one permit: one holder, one time.
            self._since = _coarse_now()
            self._thread = PyThread_get_thread_ident()
            self._acquired += 1
        return 0

    cdef object _disown(self):
        # Semaphores, unlike mutexes, may be released by another thread:
        # then the oldest holder loses its permit.
        cdef list owners = self._owners
        cdef Py_ssize_t i
        if not owners:
            raise ValueError("Semaphore released too many times")
        if len(owners) == 1:
            return self._drop_owner(0)  # whoever releases (the usual case)
        owner = PyGreenlet_GetCurrent()
        for i in range(len(owners)):
            if owners[i] is owner:
                break
        else:
            i = 0
        return self._drop_owner(i)

    cdef object _drop_owner(self, Py_ssize_t i):
        global _last_hold, _last_wait
        cdef _LockStats stats
        cdef list owners = self._owners
        cdef list names
        if i == len(owners) - 1:
            owner = owners.pop()  # inlined, pop(i) is a call
        else:
            owner = owners.pop(i)
        if self._name is not _UNNAMED:
            names = self._names
            if names is not None:
                # One permit: the list is the one holder's (see _held_push).
                self._names = None
                _held_drop(names, self._name)
            else:
                _held_remove(owner, self._name)
            _last_hold = _coarse_now() - self._since
            _last_wait = 0
            stats = self._stats
            if stats is not None:
                _last_wait = stats.waited
                stats.waited = 0
                if _last_hold > stats.hold_max:
                    stats.hold_max = _last_hold
            elif _last_hold > 0:
                # Held across a clock tick: worth counting from now on.
                self._stats = _LockStats()
                self._stats.hold_max = _last_hold
        return owner

    cdef inline _Waiter _signal(self, _Waiter waiter):
        # The waiter to wake(), unless a wake-up is already on its way to
        # it (then it sees the news when it runs).
        if waiter.signalled:
            return None
        waiter.signalled = True
        return waiter

    cdef int _leave(self, _Waiter waiter) except -1:
        self._waiters.remove(waiter)
        if not self._waiters:
            self._waiters = None
        return 0

    cdef _Waiter _wake_next(self):
        # Wake the oldest waiter not yet woken if there are more free
        # permits than woken waiters on their way to take them.  Waking
        # only then is what stops a convoy: the others sleep on while the
        # running thread barges.  Woken waiters stay queued, so a
        # hand-over can still reach them.
        cdef _Waiter waiter
        if self._woken >= self._value or self._waiters is None:
            return None
        for w in self._waiters:
            waiter = <_Waiter>w
            if not waiter.woken:
                waiter.woken = True
                self._woken += 1
                return self._signal(waiter)
        return None

    cdef int _waited(self, _Waiter waiter) except -1:
        # Acquired after waiting (slow path): count the wait (of a named
        # semaphore: nothing reads an unnamed one's counters).
        cdef _LockStats stats = self._stats
        cdef double waited
        if self._name is _UNNAMED:
            return 0
        waited = _now() - waiter.since
        if stats is None:
            stats = self._stats = _LockStats()
        stats.waited = waited
        stats.wait_total += waited
        if waited > stats.wait_max:
            stats.wait_max = waited
        return 0

    cdef _Waiter _hand_off(self):
        # After a permit was disowned: give it to the oldest waiter (fair,
        # or it starves), or free it.
        cdef _Waiter waiter
        waiters = self._waiters
        if waiters is None:  # the uncontended case: nothing more to do
            self._value += 1
            return None
        if self._fair or self._starving(waiters):
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

    cdef bint _starving(self, object waiters) except -1:
        # See _core_py.Semaphore._starving.
        cdef Py_ssize_t queued = len(waiters)
        cdef double limit = _HAND_OFF_AFTER * (
            _SHORT_QUEUE // queued if queued < _SHORT_QUEUE else 1)
        if limit > _LONGEST_LIMIT:
            limit = _LONGEST_LIMIT
        cdef double now = _now()
        if (now - (<_Waiter>waiters[0]).since < limit
                or now - self._handed_at < limit):
            return False
        self._handed_at = now
        return True

    def acquire(self, blocking=True, timeout=None):
        """Acquire one permit; return True on success.

        :param blocking: when False, return False at once instead of
            waiting.
        :param timeout: wait at most this many seconds (blocking only).
        """
        return self._acquire(blocking, timeout)

    cdef bint _acquire(self, bint blocking, object timeout) except -1:
        cdef _Waiter waiter
        cdef double now
        cdef double deadline = 0
        cdef int consumed
        if timeout is not None:
            timeout = _check_timeout(blocking, timeout)
        if _lock_order is not None and self._name is not _UNNAMED:
            _lock_order.acquiring(self._name, blocking)  # switch point
        if self._value > 0:
            self._value -= 1
            self._own(PyGreenlet_GetCurrent())
            return True
        if not blocking or timeout == 0:
            return False
        if _wait_hook is not None and self._name is not _UNNAMED:
            _wait_hook(self)  # switch point; re-checked below
        now = _now()
        waiter = _Waiter(_current_hub(), self, now)  # switch point (see there)
        if self._value > 0:  # freed meanwhile
            self._value -= 1
            self._own(PyGreenlet_GetCurrent())
            return True
        if self._waiters is None:
            self._waiters = deque()
        self._waiters.append(waiter)
        if timeout is not None:
            deadline = now + <double>timeout
        while True:
            try:
                consumed = self._park(waiter, timeout)
            except BaseException:
                self._abandon(waiter)
                raise
            if consumed:
                waiter.signalled = False
            if waiter.granted:
                self._waited(waiter)
                return True
            if waiter.woken:
                waiter.woken = False
                self._woken -= 1
                if self._value > 0:
                    self._value -= 1
                    self._leave(waiter)
                    self._own(PyGreenlet_GetCurrent())
                    self._waited(waiter)
                    # A counting semaphore may have more free permits
                    # than awake waiters.
                    self._wake(self._wake_next())  # switch point
                    return True
            if timeout is not None:
                timeout = deadline - _now()
                if timeout <= 0:
                    self._leave(waiter)
                    return False
            # else: someone barged in first, or a spurious wake-up; we
            # kept our place in the queue.

    cdef int _park(self, _Waiter waiter, object timeout) except -1:
        # With lock-order checking on, a wait on a named semaphore is
        # shown to the checker, which may refuse it (a deadlock).
        hook = _lock_order
        if hook is None or self._name is _UNNAMED:
            return waiter.park(timeout)
        hook.waiting(self._name, self._owners, timeout)  # switch point
        try:
            return waiter.park(timeout)
        finally:
            hook.woken()  # switch point

    cdef int _abandon(self, _Waiter waiter) except -1:
        # The waiter left with an exception: give back what it was given
        # so that no wake-up is lost.
        self._wake(self._pass_on(waiter))
        return 0

    cdef _Waiter _pass_on(self, _Waiter waiter):
        # What a waiter that will never use it was given goes on: a
        # granted permit is handed off, a wake-up to the next waiter; the
        # waiter to wake is returned.  A waiter that was only woken (or
        # not even that) is still queued.
        cdef Py_ssize_t i
        if waiter.granted:
            for i in range(len(self._owners)):
                if self._owners[i] is waiter.glet:
                    self._drop_owner(i)
                    break
            return self._hand_off()
        if self._waiters is not None and waiter in self._waiters:
            self._leave(waiter)
        if waiter.woken:
            waiter.woken = False
            self._woken -= 1
            return self._wake_next()
        return None

    cdef int _wake(self, _Waiter waiter) except -1:
        # A green waiter whose OS thread has ended (it left its green
        # threads waiting) never runs: pass its turn on.
        while waiter is not None and not waiter.wake():
            waiter = self._pass_on(waiter)
        return 0

    cdef list _forget_threads_but(self, object root):
        # After fork only the forking OS thread (and the green threads of
        # its hub) exist: permits and waits of the others are void.
        cdef list kept = [o for o in self._owners if _root(o) is root]
        cdef Py_ssize_t freed = len(self._owners) - len(kept)
        self._owners[:] = kept
        if self._waiters is not None:
            self._waiters = deque(
                w for w in self._waiters if _root((<_Waiter>w).glet) is root)
            self._woken = sum((<_Waiter>w).woken for w in self._waiters)
            if not self._waiters:
                self._waiters = None
        woken = [self._hand_off() for _ in range(freed)]
        # A vanished waiter may have been the one woken to take a free
        # permit: wake those left in its place.
        for _ in range(0 if self._waiters is None else len(self._waiters)):
            woken.append(self._wake_next())
        return [w for w in woken if w is not None]

    def release(self):
        """Release one permit, waking the oldest waiter if any.

        :raises ValueError: if no permit is held.
        """
        self._release()

    cdef int _release(self) except -1:
        cdef double held, waited
        self._disown()
        held, waited = _last_hold, _last_wait
        self._wake(self._hand_off())
        if _observer is not None and self._name is not _UNNAMED:
            _observer(self, waited, held)  # switch point
        return 0

    # Not bound as cyfunctions: a with statement then calls these as it
    # calls threading.Lock's, without Cython's own method wrapper (about
    # 140 instructions a with).
    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __enter__(self):
        self._acquire(True, None)
        return self

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def __exit__(self, exc_type, exc_value, traceback):
        self._release()
        return False
