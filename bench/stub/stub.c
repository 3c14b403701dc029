/* bench/stub/stub.c: stub nodes for bench/fanout.sh.
 * COUNT listeners on FIRST..FIRST+COUNT-1 (127.0.0.1); every request (a GET without body,
 * keep-alive) gets a small JSON answer exactly DELAY_MS after it arrived. One thread, epoll:
 * since every delay is the same, pending answers form a FIFO queue and no timer heap is needed.
 * "Arrived" is the kernel's receive time of the request (SO_TIMESTAMPNS), not the time this
 * thread got to read it: on a 2-core machine the stub often waits for a CPU while the server
 * under test sends, and that wait is the stub's, not the server's.
 * Usage: stub FIRST COUNT DELAY_MS [log]   (prints "ready"; with "log", then the monotonic
 * nanoseconds at which each answer was written, one per line: bench/fanout-stream.sh)
 * STUB_BODY_BYTES pads each answer's JSON with a string of about that many bytes. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 65536
#define QUEUE (1 << 20)

static int node_of[MAXFD];            /* listener fd -> node number + 1; connection fd -> node + 1 */
static int is_listener[MAXFD];
static char inbuf[MAXFD][512];
static int inlen[MAXFD];
static struct { long long due; int fd; } queue[QUEUE];
static long head, tail;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The kernel stamps with CLOCK_REALTIME: the offset to CLOCK_MONOTONIC, read at each use. */
static long long realtime_to_monotonic(const struct timespec *rt) {
    struct timespec r, m;
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &m);
    long long offset = (r.tv_sec - m.tv_sec) * 1000000000LL + (r.tv_nsec - m.tv_nsec);
    return rt->tv_sec * 1000000000LL + rt->tv_nsec - offset;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) { fprintf(stderr, "usage: stub FIRST COUNT DELAY_MS [log]\n"); return 64; }
    int first = atoi(argv[1]), count = atoi(argv[2]), log_writes = argc == 5;
    long pad = getenv("STUB_BODY_BYTES") ? atol(getenv("STUB_BODY_BYTES")) : 0;
    char *body = malloc(pad + 128), *out = malloc(pad + 384);
    char *filler = malloc(pad + 1);
    memset(filler, 'a', pad);
    filler[pad] = 0;
    long long delay = atoll(argv[3]) * 1000000LL;
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake at the deadline, not up to 50 us after it */
    int ep = epoll_create1(0);
    for (int k = 0; k < count; k++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(first + k) };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 4096)) { perror("bind"); return 1; }
        is_listener[fd] = 1;
        node_of[fd] = k + 1;
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    printf("ready\n");
    fflush(stdout);
    struct epoll_event events[256];
    for (;;) {
        struct timespec timeout, *tp = 0;
        if (head != tail) {
            long long wait = queue[head % QUEUE].due - now_ns();
            if (wait < 0) wait = 0;
            timeout.tv_sec = wait / 1000000000LL;
            timeout.tv_nsec = wait % 1000000000LL;
            tp = &timeout;
        }
        int n = epoll_pwait2(ep, events, 256, tp, 0); /* nanosecond timeout: answers at 5 ms, not 6 */
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (is_listener[fd]) {
                int c;
                while ((c = accept4(fd, 0, 0, SOCK_NONBLOCK)) >= 0) {
                    int one = 1;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    setsockopt(c, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
                    node_of[c] = node_of[fd];
                    inlen[c] = 0;
                    struct epoll_event ev = { .events = EPOLLIN, .data.fd = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            struct iovec iov = { inbuf[fd] + inlen[fd], sizeof inbuf[fd] - inlen[fd] };
            char control[256];
            struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
            ssize_t r = recvmsg(fd, &msg, 0);
            if (r <= 0) { close(fd); inlen[fd] = 0; continue; }
            long long arrived = now_ns();
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS)
                    arrived = realtime_to_monotonic((struct timespec *)CMSG_DATA(c));
            inlen[fd] += r;
            char *end;
            while ((end = memmem(inbuf[fd], inlen[fd], "\r\n\r\n", 4))) {
                int used = end + 4 - inbuf[fd];
                memmove(inbuf[fd], inbuf[fd] + used, inlen[fd] - used);
                inlen[fd] -= used;
                queue[tail % QUEUE].due = arrived + delay;
                queue[tail % QUEUE].fd = fd;
                tail++;
            }
            if (inlen[fd] == sizeof inbuf[fd]) inlen[fd] = 0;
        }
        long long t = now_ns();
        while (head != tail && queue[head % QUEUE].due <= t) {
            int fd = queue[head % QUEUE].fd;
            head++;
            int blen = pad ? sprintf(body, "{\"node\":%d,\"ok\":true,\"pad\":\"%s\"}", node_of[fd] - 1, filler)
                           : sprintf(body, "{\"node\":%d,\"ok\":true}", node_of[fd] - 1);
            int olen = sprintf(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", blen, body);
            /* A large answer may not fit the socket at once: the rest is written blocking (a bench stub). */
            for (int off = 0; off < olen; ) {
                ssize_t w = write(fd, out + off, olen - off);
                if (w > 0) { off += w; continue; }
                if (w < 0 && errno == EAGAIN) { struct timespec ts = {0, 100000}; nanosleep(&ts, 0); continue; }
                close(fd);
                break;
            }
            if (log_writes) { printf("%lld\n", now_ns()); fflush(stdout); }
        }
    }
}
