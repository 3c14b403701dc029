/* bench/stub/load.c: the load driver of bench/fanout.sh, in C so that the driver's own cost
 * (and its share of this machine's two cores) stays out of what it measures. Keep-alive
 * HTTP/1.1 over blocking sockets, one connection per caller.
 *   load latency PORT PATH BODY|- COUNT             -> {"p50":ms,"p99":ms,"n":COUNT}
 *       one caller, sequential, after 50 warm-up requests; p = sorted[floor(n * p)]
 *   load throughput PORT PATH BODY|- CALLERS SECONDS -> {"perSecond":n,"errors":n}
 *   load stream PORT PATH BODY COUNT [BYTES_PER_SEC] -> one line per call: "sent first end lines"
 *       COUNT streamed calls (Accept: application/x-ndjson) one after another on one
 *       connection: the monotonic ns at which the request was sent, its first body byte came
 *       and its last chunk came, and its lines; with BYTES_PER_SEC, a slow reader (a 64 KiB
 *       receive buffer, read no faster than that)
 * BODY "-" sends GET; otherwise POST with that JSON body. Answers other than 200 are errors. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static char request[8192];
static int request_len;
static double seconds;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int connect_once(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) { perror("connect"); exit(1); }
    return fd;
}

/* Sends the request and reads one whole answer (Content-Length or chunked); returns the
 * status, or -1 when the connection failed. */
static int exchange(int fd, char *buf, size_t cap) {
    if (send(fd, request, request_len, MSG_NOSIGNAL) != request_len) return -1;
    size_t have = 0;
    char *end = NULL;
    while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
        ssize_t r = recv(fd, buf + have, cap - have, 0);
        if (r <= 0) return -1;
        have += r;
    }
    size_t head = end + 4 - buf;
    int status = atoi(buf + 9);
    long length = -1;
    int chunked = 0;
    for (char *line = buf; line < end; line = strstr(line, "\r\n") + 2) {
        if (!strncasecmp(line, "content-length:", 15)) length = atol(line + 15);
        if (!strncasecmp(line, "transfer-encoding:", 18) && strcasestr(line, "chunked") < end) chunked = 1;
    }
    if (chunked) {
        while (!memmem(buf + head, have - head, "\r\n0\r\n\r\n", 7) && !(have - head >= 5 && !memcmp(buf + head, "0\r\n\r\n", 5))) {
            if (have == cap) have = head; /* only the end matters */
            ssize_t r = recv(fd, buf + have, cap - have, 0);
            if (r <= 0) return -1;
            have += r;
        }
        return status;
    }
    for (long left = length - (long)(have - head); left > 0; ) {
        ssize_t r = recv(fd, buf, cap < (size_t)left ? cap : (size_t)left, 0);
        if (r <= 0) return -1;
        left -= r;
    }
    return status;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One streamed call: prints its times and lines; returns 0, or -1 when it failed. */
static int streamed(int fd, double rate) {
    static char buf[16384];
    long long sent = now_ns(), first = 0;
    if (send(fd, request, request_len, MSG_NOSIGNAL) != request_len) return -1;
    char tail[8] = {0}; /* the last bytes seen, for the end and for lines */
    int in_head = 1, lines = 0;
    size_t head_seen = 0;
    long long total = 0;
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0) return -1;
        total += r;
        for (ssize_t i = 0; i < r; i++) {
            char c = buf[i];
            if (in_head) {
                head_seen = (c == "\r\n\r\n"[head_seen]) ? head_seen + 1 : (c == '\r');
                if (head_seen == 4) in_head = 0;
            } else {
                if (!first) first = now_ns();
                if (c == '\n' && tail[6] != '\r') lines++; /* a line's end, not a chunk's CRLF */
            }
            memmove(tail, tail + 1, 6);
            tail[6] = c;
        }
        if (!in_head && !memcmp(tail, "\r\n0\r\n\r\n", 7)) break;
        if (rate > 0) { /* no faster than `rate` bytes a second */
            long long due = sent + (long long)(total / rate * 1e9), wait = due - now_ns();
            if (wait > 0) { struct timespec ts = { wait / 1000000000LL, wait % 1000000000LL }; nanosleep(&ts, 0); }
        }
    }
    printf("%lld %lld %lld %d\n", sent, first, now_ns(), lines);
    return 0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct tally { long done, errors; };

static void *caller(void *arg) {
    struct tally *t = arg;
    char *buf = malloc(1 << 20);
    int fd = connect_once();
    double end = now_ms() + seconds * 1e3;
    while (now_ms() < end) {
        int status = exchange(fd, buf, 1 << 20);
        if (status == 200) t->done++;
        else t->errors++;
        if (status < 0) { close(fd); fd = connect_once(); }
    }
    close(fd);
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: load latency|throughput PORT PATH BODY|- COUNT|CALLERS [SECONDS]\n"); return 64; }
    port = atoi(argv[2]);
    const char *path = argv[3], *body = argv[4];
    if (!strcmp(argv[1], "stream"))
        request_len = snprintf(request, sizeof request,
            "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/x-ndjson\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
            path, strlen(body), body);
    else if (!strcmp(body, "-"))
        request_len = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    else
        request_len = snprintf(request, sizeof request,
            "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", path, strlen(body), body);
    if (!strcmp(argv[1], "latency")) {
        int n = atoi(argv[5]);
        double *times = malloc(sizeof(double) * n);
        char *buf = malloc(1 << 20);
        int fd = connect_once();
        for (int k = 0; k < 50; k++) exchange(fd, buf, 1 << 20);
        for (int k = 0; k < n; k++) {
            double t = now_ms();
            if (exchange(fd, buf, 1 << 20) != 200) { fprintf(stderr, "request failed\n"); return 1; }
            times[k] = now_ms() - t;
        }
        qsort(times, n, sizeof(double), cmp);
        printf("{\"p50\":%.6f,\"p99\":%.6f,\"n\":%d}\n", times[n / 2], times[(int)(n * 0.99)], n);
        return 0;
    }
    if (!strcmp(argv[1], "stream")) {
        int n = atoi(argv[5]);
        double rate = argc > 6 ? atof(argv[6]) : 0;
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, small = 65536;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (rate > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) { perror("connect"); return 1; }
        for (int k = 0; k < n; k++)
            if (streamed(fd, rate)) { fprintf(stderr, "streamed call failed\n"); return 1; }
        return 0;
    }
    int callers = atoi(argv[5]);
    seconds = argc > 6 ? atof(argv[6]) : 5;
    pthread_t threads[256];
    struct tally tallies[256] = {{0, 0}};
    if (callers < 1 || callers > 256) { fprintf(stderr, "1 to 256 callers\n"); return 64; }
    for (int k = 0; k < callers; k++) pthread_create(&threads[k], NULL, caller, &tallies[k]);
    long done = 0, errors = 0;
    for (int k = 0; k < callers; k++) {
        pthread_join(threads[k], NULL);
        done += tallies[k].done;
        errors += tallies[k].errors;
    }
    printf("{\"perSecond\":%.1f,\"errors\":%ld}\n", done / seconds, errors);
    return 0;
}
