# Introspection for lockutils.lock_table() and the slow-wait watchdog:
# snapshots of who holds and who waits, taken without switching threads.


def _active_locks():
    """Return ``(registry, semaphore)`` for every named semaphore, in any
    registry, that is held or waited on now."""
    cdef Registry registry
    cdef Semaphore sem
    found = []
    for registry in _live_registries():
        for sem in registry._entries.values():
            if sem._owners or sem._waiters:
                found.append((registry, sem))
    return found


def _lock_info(Semaphore sem not None):
    """Return ``(holders, waiters, counters)`` of *sem*.

    *holders* is a list of ``(greenlet, thread_ident, held_seconds)``,
    *waiters* a list of ``(token, greenlet, thread_ident,
    waited_seconds)`` oldest first (the token identifies one wait), and
    *counters* is ``(acquisitions, total_wait, longest_wait,
    longest_hold)`` in seconds, kept while the semaphore lives.
    """
    cdef _Waiter waiter
    cdef _LockStats stats = sem._stats
    held = _coarse_now() - sem._since
    now = _now()
    holders = [(owner, sem._thread, held) for owner in sem._owners]
    waiters = []
    for waiter in sem._waiters or ():
        waiters.append((waiter, waiter.glet, waiter.thread,
                        now - waiter.since))
    if stats is None:
        counters = (sem._acquired, 0.0, 0.0, 0.0)
    else:
        counters = (sem._acquired, stats.wait_total, stats.wait_max,
                    stats.hold_max)
    return holders, waiters, counters


def _set_wait_hook(hook):
    """Call ``hook(semaphore)`` whenever a caller is about to wait on a
    named semaphore (None: never); return the previous hook."""
    global _wait_hook
    previous, _wait_hook = _wait_hook, hook
    return previous


def _set_observer(observer):
    """Call ``observer(semaphore, waited, held)`` after each release of a
    named semaphore (None: never); return the previous observer."""
    global _observer
    previous, _observer = _observer, observer
    return previous


def _held_lock_files():
    """Return ``(path, greenlet)`` for every lock file held in this
    process."""
    cdef _LockFile entry
    # Every spelling of the path that reached a held file.
    return [(path, entry.owner) for path, entry in _lock_files.items()
            if entry.owner is not None]
