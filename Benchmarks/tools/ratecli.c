/*
 * ratecli: an open-loop, constant-rate HTTP/1.1 load generator for `make bench` (wrk2 is not
 * in Debian). Written for this harness.
 *
 *   ratecli HOST PORT RATE SECONDS CONNECTIONS WARMUP_SECONDS BODY_FILE CONTENT_TYPE [PATH]
 *
 * PATH is the request target, /v1/events unless given (the fairness section posts to
 * /v1/snapshots/quiet/events). CONTENT_TYPE `redis` sends no HTTP: each request is a Redis
 * `SET` of the body to the key PATH (default "key"), in RESP, and a `+` reply counts as 2xx
 * (the latency section's durable peer: Redis with appendfsync always).
 * Request i is due at start + i / RATE. Connection c (one thread, keep-alive, no pipelining)
 * sends requests c, c + CONNECTIONS, c + 2 * CONNECTIONS, ... each at its due time
 * (clock_nanosleep, absolute, timer slack 1 us) or at once when late. Latency is measured
 * from the DUE time to the end of the response (coordinated omission corrected, as wrk2
 * does); service time from the actual send. Requests due in the warm-up are sent but not
 * recorded. Prints one JSON line: counts, achieved rate and percentiles in microseconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpclient.h"

static double rate;
static double seconds, warmup;
static int connections;
static char *request;
static size_t request_len;
static int redis; /* RESP instead of HTTP */

/* Reads one RESP reply line (a SET answers "+OK" or "-ERR ..."); 200 for '+', 500 otherwise, -1
 * on a read error. */
static int read_redis_reply(int fd, char *buf, size_t cap) {
    size_t have = 0;
    if (read_until(fd, buf, cap, &have, "\r\n") == NULL) return -1;
    return buf[0] == '+' ? 200 : 500;
}
static uint64_t start_ns, end_ns, record_from_ns;

typedef struct {
    int index;
    uint64_t *latency, *service;
    size_t count, capacity;
    uint64_t ok, non2xx, status503, errors, sent;
} worker_t;

static void sleep_until(uint64_t t) {
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

static void *run_worker(void *arg) {
    worker_t *w = arg;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    char buf[65536];
    int fd = connect_to_server();
    double interval = 1e9 / rate;
    for (uint64_t i = (uint64_t)w->index;; i += (uint64_t)connections) {
        uint64_t due = start_ns + (uint64_t)((double)i * interval);
        if (due >= end_ns) break;
        if (now_ns() < due) sleep_until(due);
        if (fd < 0 && (fd = connect_to_server()) < 0) { w->errors++; continue; }
        uint64_t sent = now_ns();
        w->sent++;
        int status = -1, close_after = 0;
        if (write_all(fd, request, request_len) == 0)
            status = redis ? read_redis_reply(fd, buf, sizeof buf) : read_response(fd, buf, sizeof buf, &close_after);
        uint64_t done = now_ns();
        if (status < 0) { w->errors++; close(fd); fd = -1; continue; }
        if (close_after) { close(fd); fd = -1; }
        if (status >= 200 && status < 300) w->ok++; else w->non2xx++;
        if (status == 503) w->status503++;
        if (due < record_from_ns) continue;
        if (w->count == w->capacity) {
            w->capacity = w->capacity ? w->capacity * 2 : 4096;
            w->latency = realloc(w->latency, w->capacity * sizeof(uint64_t));
            w->service = realloc(w->service, w->capacity * sizeof(uint64_t));
            if (!w->latency || !w->service) { perror("realloc"); exit(1); }
        }
        w->latency[w->count] = done - due;
        w->service[w->count] = done - sent;
        w->count++;
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p) {
    if (n == 0) return 0;
    size_t i = (size_t)(p / 100.0 * (double)n);
    if (i >= n) i = n - 1;
    return (double)v[i] / 1000.0;
}

int main(int argc, char **argv) {
    if (argc != 9 && argc != 10) {
        fprintf(stderr, "usage: ratecli HOST PORT RATE SECONDS CONNECTIONS WARMUP_SECONDS BODY_FILE CONTENT_TYPE [PATH]\n");
        return 2;
    }
    host = argv[1]; port = atoi(argv[2]); rate = atof(argv[3]); seconds = atof(argv[4]);
    connections = atoi(argv[5]); warmup = atof(argv[6]);
    if (port <= 0 || rate <= 0 || seconds <= 0 || connections <= 0 || warmup < 0 || warmup >= seconds) {
        fprintf(stderr, "ratecli: bad arguments\n");
        return 2;
    }
    FILE *f = fopen(argv[7], "rb");
    if (!f) { perror(argv[7]); return 1; }
    static char body[1 << 20];
    size_t body_len = fread(body, 1, sizeof body, f);
    fclose(f);
    redis = strcmp(argv[8], "redis") == 0;
    const char *path = argc == 10 ? argv[9] : redis ? "key" : "/v1/events";
    if ((!redis && path[0] != '/') || strlen(path) > 1024) { fprintf(stderr, "ratecli: bad path\n"); return 2; }
    request = malloc(body_len + 2048);
    if (redis)
        request_len = (size_t)sprintf(request, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(path), path, body_len);
    else
        request_len = (size_t)sprintf(request,
            "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
            path, host, port, argv[8], body_len);
    memcpy(request + request_len, body, body_len);
    request_len += body_len;
    if (redis) { memcpy(request + request_len, "\r\n", 2); request_len += 2; }

    worker_t *workers = calloc((size_t)connections, sizeof(worker_t));
    pthread_t *threads = calloc((size_t)connections, sizeof(pthread_t));
    start_ns = now_ns() + 100000000ull; /* 100 ms for the threads to connect */
    record_from_ns = start_ns + (uint64_t)(warmup * 1e9);
    end_ns = start_ns + (uint64_t)(seconds * 1e9);
    for (int c = 0; c < connections; c++) {
        workers[c].index = c;
        if (pthread_create(&threads[c], NULL, run_worker, &workers[c]) != 0) { perror("pthread_create"); return 1; }
    }
    size_t total = 0;
    uint64_t ok = 0, non2xx = 0, status503 = 0, errors = 0, sent = 0;
    for (int c = 0; c < connections; c++) {
        pthread_join(threads[c], NULL);
        total += workers[c].count;
        ok += workers[c].ok; non2xx += workers[c].non2xx; status503 += workers[c].status503; errors += workers[c].errors; sent += workers[c].sent;
    }
    uint64_t finished = now_ns();
    uint64_t *lat = malloc((total + 1) * sizeof(uint64_t)), *svc = malloc((total + 1) * sizeof(uint64_t));
    size_t k = 0;
    for (int c = 0; c < connections; c++) {
        memcpy(lat + k, workers[c].latency, workers[c].count * sizeof(uint64_t));
        memcpy(svc + k, workers[c].service, workers[c].count * sizeof(uint64_t));
        k += workers[c].count;
    }
    qsort(lat, total, sizeof(uint64_t), compare);
    qsort(svc, total, sizeof(uint64_t), compare);
    double elapsed = (double)(finished - start_ns) / 1e9;
    printf("{\"target_rate\":%.0f,\"seconds\":%.3f,\"connections\":%d,\"sent\":%llu,\"ok\":%llu,\"non2xx\":%llu,\"status_503\":%llu,"
           "\"errors\":%llu,\"achieved_rate\":%.0f,\"recorded\":%zu,"
           "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},"
           "\"service_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}}\n",
           rate, elapsed, connections, (unsigned long long)sent, (unsigned long long)ok,
           (unsigned long long)non2xx, (unsigned long long)status503, (unsigned long long)errors, (double)sent / elapsed, total,
           pct(lat, total, 50), pct(lat, total, 90), pct(lat, total, 99), pct(lat, total, 99.9),
           total ? (double)lat[total - 1] / 1000.0 : 0,
           pct(svc, total, 50), pct(svc, total, 90), pct(svc, total, 99), pct(svc, total, 99.9),
           total ? (double)svc[total - 1] / 1000.0 : 0);
    return errors > 0 ? 1 : 0;
}
