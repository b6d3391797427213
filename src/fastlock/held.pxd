cdef dict _held

cdef int _held_push(object owner, object name) except -1
cdef int _held_remove(object owner, object name) except -1
