cdef class _HubWaker:
    cdef object hub
    cdef object _pending
    cdef set _scheduled
    cdef int _rfd
    cdef int _wfd

    cdef bint post(self, _Waiter waiter) except -1
    cdef void _arm(self) noexcept
    cdef int close(self) except -1
    cdef void _close_pipe(self) noexcept


cdef class Semaphore


cdef class _Waiter:
    cdef object lock
    cdef Semaphore sem
    cdef _HubWaker waker
    cdef object glet
    cdef object hub
    cdef unsigned long thread
    cdef bint parked
    cdef bint granted
    cdef bint woken
    cdef bint signalled
    cdef double since

    cdef int park(self, object timeout) except -1
    cdef bint wake(self) except -1


cdef class _LockStats:
    # Counters of a named semaphore that has waited or been held across a
    # clock tick; most names never need one.
    cdef double wait_total
    cdef double wait_max
    cdef double hold_max
    cdef double waited


cdef class Semaphore:
    cdef Py_ssize_t _value
    cdef Py_ssize_t _initial
    cdef bint _fair
    cdef object _name
    cdef object _waiters
    cdef list _owners
    cdef Py_ssize_t _woken
    cdef double _handed_at
    # Holder bookkeeping of named semaphores, for lock_table().
    cdef double _since
    cdef unsigned long _thread
    # The holder's held_locks() list while a one-permit semaphore is held:
    # the release drops the name without looking the holder up.
    cdef list _names
    cdef Py_ssize_t _acquired
    cdef _LockStats _stats

    cdef int _own(self, object owner) except -1
    cdef object _disown(self)
    cdef object _drop_owner(self, Py_ssize_t i)
    cdef _Waiter _pass_on(self, _Waiter waiter)
    cdef int _wake(self, _Waiter waiter) except -1
    cdef inline _Waiter _signal(self, _Waiter waiter)
    cdef int _leave(self, _Waiter waiter) except -1
    cdef _Waiter _wake_next(self)
    cdef _Waiter _hand_off(self)
    cdef bint _starving(self, object waiters) except -1
    cdef bint _acquire(self, bint blocking, object timeout) except -1
    cdef int _release(self) except -1
    cdef list _forget_threads_but(self, object root)
    cdef int _park(self, _Waiter waiter, object timeout) except -1
    cdef int _abandon(self, _Waiter waiter) except -1
    cdef int _waited(self, _Waiter waiter) except -1
    cdef inline bint _is_idle(self) noexcept
