include "semaphore.pxd"
include "registry.pxd"
include "held.pxd"
include "flock.pxd"
