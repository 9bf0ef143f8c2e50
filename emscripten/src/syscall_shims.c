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

/*
 * send/recv/poll: JSPI switches stacks on every call of a Suspending import,
 * even one that answers at once (libdirectsockets.js, DSB.park), and libc's
 * versions call the Suspending __syscall_* imports. These take libc's names
 * (sendto and recvfrom also serve send and recv) and call plain twins that
 * answer at once or park a Promise; only then __ds_await suspends.
 */
#define DS_PARKED (-0x40000000)
__attribute__((import_module("env"), import_name("__ds_try_sendto")))
int __ds_try_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t alen);
__attribute__((import_module("env"), import_name("__ds_try_sendmsg")))
int __ds_try_sendmsg(int fd, const struct msghdr *msg, int flags);
__attribute__((import_module("env"), import_name("__ds_try_recvfrom")))
int __ds_try_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen);
__attribute__((import_module("env"), import_name("__ds_try_recvmsg")))
int __ds_try_recvmsg(int fd, struct msghdr *msg, int flags);
__attribute__((import_module("env"), import_name("__ds_try_poll")))
int __ds_try_poll(struct pollfd *fds, nfds_t n, int timeout);
__attribute__((import_module("env"), import_name("__ds_await")))
int __ds_await(void);

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

static int settle(int r) {
  return r == DS_PARKED ? __ds_await() : r;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t alen) {
  return ret_errno(settle(__ds_try_sendto(fd, buf, len, flags, addr, alen)));
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  return ret_errno(settle(__ds_try_sendmsg(fd, msg, flags)));
}

ssize_t recvfrom(int fd, void *restrict buf, size_t len, int flags, struct sockaddr *restrict addr,
                 socklen_t *restrict alen) {
  return ret_errno(settle(__ds_try_recvfrom(fd, buf, len, flags, addr, alen)));
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
  return ret_errno(settle(__ds_try_recvmsg(fd, msg, flags)));
}

int poll(struct pollfd *fds, nfds_t n, int timeout) {
  return ret_errno(settle(__ds_try_poll(fds, n, timeout)));
}

/*
 * The host's signals. Emscripten's libc keeps sigaction() handlers and raise()
 * calls them, but nothing delivers a signal from outside. Under Node,
 * emscripten/run-node.mjs calls this on SIGTERM/SIGINT, so a program that
 * handles them (socket-iwa-server's graceful stop) stops as it does natively;
 * 0 when the program installed no handler, and the host then ends the process.
 */
__attribute__((used)) int siwa_raise_if_handled(int sig) {
  struct sigaction sa;
  if (sig <= 0 || sig >= _NSIG || sigaction(sig, NULL, &sa) != 0) return 0;
  if (!(sa.sa_flags & SA_SIGINFO) && (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)) return 0;
  raise(sig);
  return 1;
}
