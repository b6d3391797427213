# The lock-file syscalls: open, OFD/classic record locks, stat, unlink,
# close.  Declarations only; nothing here is imported at run time.
cdef extern from *:
    """
    #include <errno.h>
    #include <fcntl.h>
    #include <sys/stat.h>
    #include <sys/syscall.h>
    #include <unistd.h>
    /* Built where the headers lack OFD locks: an invalid command, so the
       first attempt fails with EINVAL and the classic locks take over. */
    #ifndef F_OFD_SETLK
    #define F_OFD_SETLK -1
    #define F_OFD_SETLKW -1
    #endif
    #ifndef O_CLOEXEC
    #define O_CLOEXEC 0
    #endif
    /* glibc's fstat() is fstatat(fd, "", AT_EMPTY_PATH), and the kernel
       copies and checks that empty path first (an eighth of the call).
       On x86-64 the plain fstat system call fills the same struct stat. */
    static int fastlock_fstat(int fd, struct stat *buf) {
    #if defined(__x86_64__) && defined(SYS_fstat)
        return (int)syscall(SYS_fstat, fd, buf);
    #else
        return fstat(fd, buf);
    #endif
    }
    """
    struct flock:
        short l_type
        short l_whence
        long l_start
        long l_len
        int l_pid

    struct stat:
        unsigned long st_dev
        unsigned long st_ino
        unsigned long st_nlink

    int F_OFD_SETLK, F_OFD_SETLKW, F_SETLK, F_SETLKW
    short F_WRLCK, F_UNLCK
    int SEEK_SET
    int O_RDWR, O_CREAT, O_CLOEXEC
    int EINTR, EAGAIN, EACCES, EINVAL, EMFILE, ENFILE, ESTALE
    int errno

    int open(const char *path, int flags, int mode) nogil
    int close(int fd) nogil
    int fcntl(int fd, int cmd, flock *lock) nogil
    int fstat "fastlock_fstat"(int fd, stat *buf) nogil
    int c_stat "stat"(const char *path, stat *buf) nogil
    int unlink(const char *path) nogil
