/* The system calls of an uncontended external lock, timed from C: what
   fastlock-c's `with lock(name, external=True)` cannot go below, next to
   what the `lockf` floor row makes.  Not part of `make bench` (it needs a
   C compiler); run it by hand:

       cc -O2 -o /tmp/syscall_floor bench/syscall_floor.c
       /tmp/syscall_floor "$(mktemp -d)"

   Each case runs in rounds of 20,000 calls, the cases interleaved, 40
   rounds; printed: the best and the median round, ns per case. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CALLS 20000
#define ROUNDS 40

static int fd, dfd;
static char path[4096];
static const char *base = "bench-ext";
static struct stat st;
static struct statx stx;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void lk(int cmd, short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);  /* whole file; l_pid 0 for OFD locks */
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fcntl(fd, cmd, &fl);
}

static void c_getppid(void) { syscall(SYS_getppid); }
static void c_setlk(void) { lk(F_SETLK, F_WRLCK); lk(F_SETLK, F_UNLCK); }
static void c_setlkw(void) { lk(F_SETLKW, F_WRLCK); lk(F_SETLKW, F_UNLCK); }
static void c_ofd(void) { lk(F_OFD_SETLK, F_WRLCK); lk(F_OFD_SETLK, F_UNLCK); }
static void c_flock(void) { flock(fd, LOCK_EX); flock(fd, LOCK_UN); }
static void c_stat(void) { stat(path, &st); }
static void c_fstat(void) { syscall(SYS_fstat, fd, &st); }
static void c_statx(void)
{
    syscall(SYS_statx, AT_FDCWD, path, AT_STATX_DONT_SYNC, STATX_INO, &stx);
}
static void c_fstatat(void) { fstatat(dfd, base, &st, 0); }
static void c_fastlock(void)
{
    lk(F_OFD_SETLK, F_WRLCK);
    stat(path, &st);
    lk(F_OFD_SETLK, F_UNLCK);
}

static struct {
    const char *name;
    void (*f)(void);
    double t[ROUNDS];
} cases[] = {
    {"getppid (a system call's own cost)", c_getppid},
    {"F_SETLK lock+unlock (lockf)", c_setlk},
    {"F_SETLKW lock+unlock (Python's lockf)", c_setlkw},
    {"F_OFD_SETLK lock+unlock (fastlock)", c_ofd},
    {"flock LOCK_EX+LOCK_UN (not usable)", c_flock},
    {"stat(path)", c_stat},
    {"fstat(fd)", c_fstat},
    {"statx(path, STATX_INO, DONT_SYNC)", c_statx},
    {"fstatat(dirfd, name) (not enough)", c_fstatat},
    {"OFD lock + stat(path) + OFD unlock", c_fastlock},
};

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int n = sizeof cases / sizeof cases[0];
    snprintf(path, sizeof path, "%s/%s", dir, base);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || dfd < 0) {
        perror(dir);
        return 1;
    }
    for (int r = 0; r < ROUNDS; r++)
        for (int c = 0; c < n; c++) {
            double t0 = now();
            for (int i = 0; i < CALLS; i++)
                cases[c].f();
            cases[c].t[r] = (now() - t0) / CALLS * 1e9;
        }
    printf("lock file %s\n%-40s %8s %8s\n", path, "ns per case", "best",
           "median");
    for (int c = 0; c < n; c++) {
        qsort(cases[c].t, ROUNDS, sizeof(double), cmp);
        printf("%-40s %8.1f %8.1f\n", cases[c].name, cases[c].t[0],
               cases[c].t[ROUNDS / 2]);
    }
    unlink(path);
    return 0;
}
