# greenlet's C API (greenlet/greenlet.h ships inside the greenlet package).
cdef extern from "greenlet/greenlet.h":
    ctypedef class greenlet.greenlet [object PyGreenlet]:
        pass

    void PyGreenlet_Import()
    greenlet PyGreenlet_GetCurrent()
