cdef dict _held

cdef list _held_push(object owner, object name)
cdef int _held_remove(object owner, object name) except -1
cdef int _held_drop(list names, object name) except -1
cdef int _held_forget_last() except -1
