/* LD_PRELOAD fault injection for scripts/prove: makes the calls a writer's
 * atomic replace depends on fail, as a failing disk would.
 *   CPRO_FAULT=write   write(2) to a regular file fails with EIO
 *   CPRO_FAULT=fsync   fsync(2) of a regular file fails with EIO
 *   CPRO_FAULT=rename  rename(2) fails with EIO
 *   CPRO_FAULT=enospc  write(2) to a regular file fails with ENOSPC
 * Pipes, terminals and sockets are left alone, so cpro can still say why. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int armed(const char *what) {
    const char *f = getenv("CPRO_FAULT");
    return f != NULL && strcmp(f, what) == 0;
}

static int regular(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

ssize_t write(int fd, const void *buf, size_t count) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if ((armed("write") || armed("enospc")) && regular(fd)) {
        errno = armed("write") ? EIO : ENOSPC;
        return -1;
    }
    return real(fd, buf, count);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (armed("fsync") && regular(fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int rename(const char *from, const char *to) {
    static int (*real)(const char *, const char *);
    if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    if (armed("rename")) {
        errno = EIO;
        return -1;
    }
    return real(from, to);
}
