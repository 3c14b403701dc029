#ifndef C_SIDECAR_SYSTEM_H
#define C_SIDECAR_SYSTEM_H

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC (needs _GNU_SOURCE, hence out of line).
int csidecar_accept(int listener);

/// Start-up touched far more read-only pages of the executable and its shared libraries
/// (libcurl, OpenSSL) than serving needs (the kernel maps 64 KiB around each fault). Marks
/// them random-access and hands them back to the page cache; the few the event loops use
/// fault back in one page at a time. Pages other processes map too are left alone.
/// Returns the number of mappings trimmed, or -1.
int csidecar_trim_startup_pages(void);
/// Fixes malloc's mmap threshold at `bytes` (blocks from it up are mapped apart and unmapped when freed).
void csidecar_fix_mmap_threshold(int bytes);

/// The errno of the calling thread (Swift cannot read the macro directly).
static inline int csidecar_errno(void) { return errno; }

/// Monotonic time in nanoseconds (vDSO, no syscall on Linux).
static inline unsigned long long csidecar_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/// 64 random bits from a per-thread wyrand generator seeded by getrandom(2): cheap enough
/// for a correlation id per request, on any thread, with no lock and no shared cache line.
/// Not for secrets.
static inline unsigned long long csidecar_random64(void) {
    static __thread unsigned long long state = 0;
    if (state == 0) {
        if (getrandom(&state, sizeof state, 0) != sizeof state) state = csidecar_monotonic_ns();
        state |= 1;
    }
    state += 0xa0761d6478bd642fULL;
    __uint128_t m = (__uint128_t)state * (state ^ 0xe7037ed1a0b428dbULL);
    return (unsigned long long)(m >> 64) ^ (unsigned long long)m;
}

/// Wall-clock seconds and nanoseconds since the epoch.
static inline void csidecar_realtime(long long *sec, long *nsec) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *sec = (long long)ts.tv_sec;
    *nsec = ts.tv_nsec;
}

/// Blocks SIGTERM, SIGINT, SIGHUP, SIGUSR2 and SIGCHLD in the calling thread (threads created
/// after inherit it) and ignores SIGPIPE process-wide. SIGCHLD is read through
/// `csidecar_child_signals`; the others through `csidecar_wait_signal`.
static inline void csidecar_block_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, 0);
    signal(SIGPIPE, SIG_IGN);
}

/// Waits for SIGTERM, SIGINT, SIGHUP or SIGUSR2 (blocked beforehand) and returns its number.
static inline int csidecar_wait_signal(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {}
    return sig;
}

/// Waits at most `timeout_ms` for SIGTERM, SIGINT or SIGHUP (blocked beforehand);
/// returns the signal number, or 0 when the time ran out.
static inline int csidecar_wait_signal_timeout(long timeout_ms) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
    for (;;) {
        int sig = sigtimedwait(&set, 0, &ts);
        if (sig > 0) return sig;
        if (errno == EAGAIN) return 0;
    }
}

/// epoll_event's data is a union Swift imports awkwardly; these read and write it as a u64.
static inline struct epoll_event csidecar_epoll_event(unsigned int events, unsigned long long data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return ev;
}
static inline unsigned long long csidecar_epoll_data(const struct epoll_event *ev) { return ev->data.u64; }

/// Forks and execs `file` (searched in PATH) with `argv` and `envp` as a supervised worker: default
/// signal dispositions and an empty mask, a process group of its own, SIGKILL when the sidecar
/// dies (PR_SET_PDEATHSIG), stdin from /dev/null, no descriptor of the sidecar's but 1-2 and, when `listen_fd` >= 0,
/// that socket as fd 3, with the child's own pid written at `listen_pid_value` (the digits of
/// an envp entry `LISTEN_PID=` with room for 20) between fork and exec. Returns the pid, or -1
/// with errno. A failed exec exits the child with 127 after one line on stderr.
/// Call it from a thread that lives as long as the workers: PDEATHSIG follows the thread.
pid_t csidecar_spawn_worker(const char *file, char *const argv[], char *const envp[], int listen_fd, char *listen_pid_value);

/// A non-blocking signalfd for SIGCHLD (blocked beforehand by `csidecar_block_signals`).
int csidecar_child_signals(void);
/// Reads every pending record of a signalfd.
void csidecar_drain_signalfd(int fd);

/// Binds a non-blocking datagram socket at `path` (`@` first: the abstract namespace; else an
/// old file there is replaced) that receives its senders' credentials (SO_PASSCRED). Returns
/// it, or -1 with errno.
int csidecar_notify_socket(const char *path);
/// Receives one datagram into `buffer` (cut at `length`); `sender` gets the sending process's
/// pid (0 when unknown). Returns the bytes kept, or -1 with errno (EAGAIN: none waiting).
long csidecar_recv_notify(int fd, char *buffer, unsigned long length, int *sender);

/// sd_notify(3)'s client side: sends `text` to the datagram socket at `path` (`@` for the
/// abstract namespace). Returns 0, or -1 with errno.
int csidecar_notify_send(const char *path, const char *text);

/// The accept queue of a listening TCP socket: connections waiting and the backlog's size.
int csidecar_listen_queue(int fd, unsigned *queued, unsigned *backlog);
/// Steers every new connection of the SO_REUSEPORT group `fd` belongs to onto the group's socket
/// number `index` (in the order they joined; an index past the last falls back to the kernel's
/// hash): a one-instruction classic BPF program (SO_ATTACH_REUSEPORT_CBPF). 0, or -1 with errno.
int csidecar_reuseport_steer(int fd, unsigned index);


#endif
