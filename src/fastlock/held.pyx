# Per-(green)thread list of held lock names (any hashable, as oslo
# takes), keyed by greenlet: without eventlet every OS thread runs in its
# own main greenlet, so one key covers both.  A list that empties stays in
# place, so the next lock of that thread costs no allocation; empty lists
# are swept when the table has doubled since the last sweep, so finished
# threads cost nothing for long.
_held = {}
cdef Py_ssize_t _held_sweep_at = 256


cdef int _held_push(object owner, object name) except -1:
    global _held_sweep_at
    # Greenlet keys compare by identity: the unchecked lookup is safe.
    cdef PyObject *found = _dict_get(_held, owner)
    if found is not NULL:
        (<list>found).append(name)
        return 0
    if len(_held) >= _held_sweep_at:
        for key in [k for k, v in _held.items() if not v]:
            del _held[key]
        _held_sweep_at = max(256, 2 * len(_held))
    _held[owner] = [name]
    return 0


cdef int _held_remove(object owner, object name) except -1:
    cdef PyObject *found = _dict_get(_held, owner)
    cdef list names
    if found is NULL:
        raise KeyError(owner)
    names = <list>found
    cdef Py_ssize_t i
    # The newest acquisition is the usual one to go; the pushed object is
    # the semaphore's own name, so identity suffices.
    for i in range(len(names) - 1, -1, -1):
        if names[i] is name:
            # pop, not del: del of the last item frees the list's room,
            # which the next lock would realloc.
            names.pop(i)
            return 0
    return 0


def held_locks():
    """Return the names of the locks held by the calling (green) thread.

    The list is a copy, oldest acquisition first.
    """
    cdef list names = _held.get(PyGreenlet_GetCurrent())
    return [] if names is None else list(names)
