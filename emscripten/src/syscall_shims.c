/*
 * syscall_shims.c: libc entry points whose syscalls Emscripten 3.1.6 stubs out
 * in C (system/lib/libc/emscripten_syscall_stubs.c: __syscall_setsockopt
 * returns ENOPROTOOPT, __syscall_shutdown / __syscall_pselect6 return ENOSYS).
 * A JS library cannot replace a symbol that libc.a defines, so these
 * definitions take the libc function names themselves (the linker then never
 * pulls musl's setsockopt.o / shutdown.o / pselect.o / ppoll.o) and forward to
 * imports implemented in libdirectsockets.js. Linked by passing this file to
 * emcc (emscripten/build_support.rs adds it).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

__attribute__((import_module("env"), import_name("__ds_setsockopt")))
int __ds_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen);
__attribute__((import_module("env"), import_name("__ds_shutdown")))
int __ds_shutdown(int fd, int how);
__attribute__((import_module("env"), import_name("__ds_pselect6")))
int __ds_pselect6(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts);

static int ret_errno(int r) {
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return r;
}

int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen) {
  return ret_errno(__ds_setsockopt(fd, level, optname, optval, optlen));
}

int shutdown(int fd, int how) {
  return ret_errno(__ds_shutdown(fd, how));
}

int pselect(int n, fd_set *restrict r, fd_set *restrict w, fd_set *restrict e,
            const struct timespec *restrict ts, const sigset_t *restrict mask) {
  (void)mask; /* one thread, no signal delivery: the mask cannot matter */
  return ret_errno(__ds_pselect6(n, r, w, e, ts));
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *to, const sigset_t *mask) {
  (void)mask;
  int ms = -1;
  if (to) {
    long long t = (long long)to->tv_sec * 1000 + (to->tv_nsec + 999999) / 1000000;
    ms = t > 0x7fffffff ? 0x7fffffff : (int)t;
  }
  return poll(fds, n, ms);
}
