/*
 * httpclient.h: the blocking HTTP/1.1 client pieces the bench load generators share (ratecli,
 * overloadcli): monotonic clock, connect, write everything, read one Content-Length response.
 * Each tool sets `host` and `port` before connecting. Written for this harness.
 */
#ifndef SNAPSHOTD_BENCH_HTTPCLIENT_H
#define SNAPSHOTD_BENCH_HTTPCLIENT_H
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host;
static int port;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int connect_to_server(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) { close(fd); return -1; }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { close(fd); return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; n -= (size_t)w;
    }
    return 0;
}

/* Reads into buf (NUL-terminated, *have bytes so far) until it holds `terminator`; returns where
 * the terminator starts, or NULL on a read error, end of stream or a full buffer. */
static char *read_until(int fd, char *buf, size_t cap, size_t *have, const char *terminator) {
    for (;;) {
        ssize_t r = read(fd, buf + *have, cap - 1 - *have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return NULL;
        *have += (size_t)r;
        buf[*have] = 0;
        char *found = strstr(buf, terminator);
        if (found != NULL) return found;
        if (*have >= cap - 1) return NULL;
    }
}

/* Reads one response (Content-Length framing); returns the status code, or -1. Sets *close_after
 * when the server says "Connection: close" (nginx does after keepalive_requests). */
static int read_response(int fd, char *buf, size_t cap, int *close_after) {
    size_t have = 0;
    char *end = read_until(fd, buf, cap, &have, "\r\n\r\n");
    if (end == NULL) return -1;
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) return -1;
    long length = 0;
    for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "content-length:", 15) == 0) length = strtol(line + 17, NULL, 10);
        if (strncasecmp(line + 2, "transfer-encoding:", 18) == 0) return -1; /* not expected */
        if (strncasecmp(line + 2, "connection:", 11) == 0 && strncasecmp(line + 2 + 11 + strspn(line + 13, " "), "close", 5) == 0)
            *close_after = 1;
    }
    size_t body = have - (size_t)(end + 4 - buf);
    while ((long)body < length) {
        ssize_t r = read(fd, buf, cap - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        body += (size_t)r;
    }
    return status;
}

#endif
