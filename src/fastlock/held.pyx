# Per-(green)thread list of held lock names, keyed by greenlet: without
# eventlet every OS thread runs in its own main greenlet, so one key
# covers both.  An entry exists only while its list is non-empty, so dead
# threads leave nothing behind.
_held = {}


cdef int _held_push(object owner, str name) except -1:
    cdef list names = _held.get(owner)
    if names is None:
        _held[owner] = [name]
    else:
        names.append(name)
    return 0


cdef int _held_remove(object owner, str name) except -1:
    cdef list names = _held[owner]
    cdef Py_ssize_t i
    # The newest acquisition is the usual one to go; the pushed object is
    # the semaphore's own name, so identity suffices.
    for i in range(len(names) - 1, -1, -1):
        if names[i] is name:
            del names[i]
            break
    if not names:
        del _held[owner]
    return 0


def held_locks():
    """Return the names of the locks held by the calling (green) thread.

    The list is a copy, oldest acquisition first.
    """
    cdef list names = _held.get(PyGreenlet_GetCurrent())
    return [] if names is None else list(names)
