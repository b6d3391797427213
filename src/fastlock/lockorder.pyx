# Lock-order checking: the policy is fastlock._lockorder's, which installs
# a hook here when checking is on.  Off, it is None, and the acquire path
# pays one pointer test.
cdef object _lock_order = None


def _set_lock_order(hook):
    """Install *hook* (None: checking off); return the previous one.

    Named semaphores call ``hook.acquiring(name, blocking)`` before they
    try to acquire, and ``hook.waiting(name, owners, timeout)`` before
    they block, then ``hook.woken()`` once the wait is over.
    """
    global _lock_order
    previous = _lock_order
    _lock_order = hook
    return previous
