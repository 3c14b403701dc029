#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include "CSidecarSystem.h"

/// Writes `value` in decimal at `out` (room for 20 digits and a NUL); async-signal-safe.
static void write_decimal(char *out, long value) {
    char digits[24];
    int n = 0;
    do { digits[n++] = (char)('0' + value % 10); value /= 10; } while (value > 0 && n < 20);
    for (int k = 0; k < n; k++) out[k] = digits[n - 1 - k];
    out[n] = 0;
}

static void child_fail(const char *what, const char *file) {
    // Only write(2) here: the child of a threaded parent may not allocate or take locks
    // (strerror may do both), so the errno goes out as its number.
    char number[24];
    write_decimal(number, (long)errno);
    const char *prefix = "cluster-sidecar: cannot start worker: ";
    (void)!write(2, prefix, strlen(prefix));
    (void)!write(2, what, strlen(what));
    (void)!write(2, " ", 1);
    (void)!write(2, file, strlen(file));
    (void)!write(2, ": errno ", 8);
    (void)!write(2, number, strlen(number));
    const char *hint = errno == ENOENT ? " (no such file in PATH)\n" : errno == EACCES ? " (permission denied)\n" : "\n";
    (void)!write(2, hint, strlen(hint));
    _exit(127);
}

pid_t csidecar_spawn_worker(const char *file, char *const argv[], char *const envp[], int listen_fd, char *listen_pid_value) {
    pid_t parent = getpid();
    // Nice values are per thread on Linux and a child takes the forking thread's: the process's
    // own (its main thread's, which PRIO_PROCESS with the pid reads) is what a worker must get,
    // not the one a runtime gave the thread that happens to fork.
    errno = 0;
    int nice_value = getpriority(PRIO_PROCESS, (id_t)parent);
    int have_nice = !(nice_value == -1 && errno != 0);
    pid_t pid = fork();
    if (pid != 0) return pid;  // the parent (or -1 with errno)

    // The child: async-signal-safe calls only, until exec.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        sigaction(s, &dfl, 0);
    }
    // A process group of its own: a terminal's Ctrl-C reaches the sidecar alone, which stops
    // the workers in its own order; the group lets it signal what a worker started too.
    setpgid(0, 0);
    if (have_nice) setpriority(PRIO_PROCESS, 0, nice_value);
    // Killed with the sidecar, even by SIGKILL; if the sidecar died already, stop here.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    if (listen_fd >= 0) {
        if (listen_fd == 3) {
            int flags = fcntl(3, F_GETFD);
            if (flags < 0 || fcntl(3, F_SETFD, flags & ~FD_CLOEXEC) < 0) child_fail("fd 3", "");
        } else if (dup2(listen_fd, 3) != 3) {
            child_fail("dup2 fd 3", "");
        }
        if (listen_pid_value) write_decimal(listen_pid_value, (long)getpid());
    }
    // No terminal input: a worker in a process group of its own reading it would be stopped.
    int null = open("/dev/null", O_RDONLY);
    if (null > 0) { dup2(null, 0); close(null); }
    // Nothing of the sidecar's but stdio and the socket: libraries' descriptors may lack CLOEXEC.
    syscall(SYS_close_range, listen_fd >= 0 ? 4u : 3u, ~0u, 0u);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, 0);
    execvpe(file, argv, envp);
    child_fail("exec", file);
    return -1;
}

int csidecar_child_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

void csidecar_drain_signalfd(int fd) {
    struct signalfd_siginfo info[8];
    while (read(fd, info, sizeof info) > 0) {}
}

/// Fills `sa` for `path` (`@` first: the abstract namespace); returns the address length, or 0.
static socklen_t unix_address(struct sockaddr_un *sa, const char *path) {
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sa->sun_path) { errno = ENAMETOOLONG; return 0; }
    memcpy(sa->sun_path, path, n);
    if (path[0] == '@') {
        sa->sun_path[0] = 0;
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    }
    return (socklen_t)sizeof *sa;
}

int csidecar_notify_socket(const char *path) {
    struct sockaddr_un sa;
    socklen_t length = unix_address(&sa, path);
    if (length == 0) return -1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (path[0] != '@') unlink(path);
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0 || bind(fd, (struct sockaddr *)&sa, length) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

long csidecar_recv_notify(int fd, char *buffer, unsigned long length, int *sender) {
    struct iovec iov = { buffer, length };
    union { char bytes[CMSG_SPACE(sizeof(struct ucred))]; struct cmsghdr align; } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    ssize_t n;
    do { n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC); } while (n < 0 && errno == EINTR);
    *sender = 0;
    if (n < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            *sender = cred.pid;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            // Descriptors a worker passed (FDSTORE): not kept.
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int k = 0; k < count; k++) { int d; memcpy(&d, CMSG_DATA(c) + k * sizeof(int), sizeof d); close(d); }
        }
    }
    return n > (ssize_t)length ? (long)length : (long)n;
}

int csidecar_listen_queue(int fd, unsigned *queued, unsigned *backlog) {
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
    // For a listening socket the kernel reports the accept queue here.
    *queued = info.tcpi_unacked;
    *backlog = info.tcpi_sacked;
    return 0;
}

int csidecar_reuseport_steer(int fd, unsigned index) {
    struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, index) };
    struct sock_fprog program = { .len = 1, .filter = code };
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program);
}

int csidecar_notify_send(const char *path, const char *text) {
    struct sockaddr_un sa;
    socklen_t length = unix_address(&sa, path);
    if (length == 0) return -1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    ssize_t sent = sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa, length);
    int e = errno;
    close(fd);
    errno = e;
    return sent < 0 ? -1 : 0;
}
