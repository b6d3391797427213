# Per-(green)thread list of held lock names (any hashable, as oslo
# takes), keyed by greenlet: without eventlet every OS thread runs in its
# own main greenlet, so one key covers both.  A list that empties stays in
# place, so the next lock of that thread costs no allocation; empty lists
# are swept when the table has doubled since the last sweep, so finished
# threads cost nothing for long.
_held = {}
cdef Py_ssize_t _held_sweep_at = 256
# The owner last pushed for and its entry of _held, so that a thread
# taking lock after lock finds its list without a lookup; forgotten
# whenever entries leave _held.
cdef object _last_owner = None
cdef list _last_names = None


cdef int _held_forget_last() except -1:
    global _last_owner, _last_names
    _last_owner = None
    _last_names = None
    return 0


cdef list _held_push(object owner, object name):
    # The owner's list, which stays its entry of _held while it holds a
    # name (only empty lists are swept).
    global _held_sweep_at, _last_owner, _last_names
    cdef list names
    if owner is _last_owner:
        _last_names.append(name)
        return _last_names
    # Greenlet keys compare by identity: the unchecked lookup is safe.
    cdef PyObject *found = _dict_get(_held, owner)
    if found is not NULL:
        names = <list>found
        names.append(name)
    else:
        if len(_held) >= _held_sweep_at:
            _held_forget_last()
            for key in [k for k, v in _held.items() if not v]:
                del _held[key]
            _held_sweep_at = max(256, 2 * len(_held))
        # Room for one name, kept by pop() (an appended [] gets four,
        # which pop() then shrinks: a realloc per lock).
        names = [name]
        _held[owner] = names
    _last_owner = owner
    _last_names = names
    return names


cdef int _held_remove(object owner, object name) except -1:
    cdef PyObject *found = _dict_get(_held, owner)
    if found is NULL:
        raise KeyError(owner)
    return _held_drop(<list>found, name)


cdef int _held_drop(list names, object name) except -1:
    cdef Py_ssize_t i
    # The newest acquisition is the usual one to go; the pushed object is
    # the semaphore's own name, so identity suffices.
    for i in range(len(names) - 1, -1, -1):
        if names[i] is name:
            # pop, not del: del of the last item frees the list's room,
            # which the next lock would realloc.  pop() of the last item
            # is inlined, pop(i) a call.
            if i == len(names) - 1:
                names.pop()
            else:
                names.pop(i)
            return 0
    return 0


def held_locks():
    """Return the names of the locks held by the calling (green) thread.

    The list is a copy, oldest acquisition first.
    """
    cdef list names = _held.get(PyGreenlet_GetCurrent())
    return [] if names is None else list(names)
