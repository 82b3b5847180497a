/*
 * overloadcli: the closed-loop overload client of `make bench` (clients faster than the disk).
 * Written for this harness.
 *
 *   overloadcli HOST PORT SECONDS CONNECTIONS NAMES_PER_CONNECTION EXPECT_FILE
 *
 * Each connection (one thread, keep-alive, one request at a time) posts member-joins as fast
 * as the server answers, for SECONDS. Connection c owns the names ov-c-0 .. ov-c-(N-1) and
 * cycles through them, so the cluster the server tracks stays a fixed size (memory must not
 * grow with time) while each join still carries its own address: request s of connection c
 * joins ov-c-(s mod N) at 10.x.y.z where x.y.z is s. As a connection waits for each answer,
 * the joins of one name reach the server in order, and the snapshot must end with, for every
 * name, the address of its last acknowledged (2xx) join, or of a later join whose answer was
 * lost (a connection error); never a refused (503) one, never an older one.
 * EXPECT_FILE gets one line a name: "NAME ACKED_ADDRESS UNKNOWN_ADDRESS" ("-" for none), which
 * `bench.py overload` checks against the snapshot. Prints one JSON line of counts.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/time.h>

#include "httpclient.h"

static double seconds;
static int connections, names_per_connection;
static uint64_t start_ns, end_ns;

typedef struct {
    int index;
    uint32_t *acked, *unknown; /* per name: sequence number of the last acked / later unknown join (0: none) */
    uint64_t *latency;
    size_t count, capacity;
    uint64_t made, ok, busy, other, errors;
} worker_t;

static void address_of(uint32_t seq, char *out, size_t cap) {
    snprintf(out, cap, "10.%u.%u.%u", (seq >> 16) & 255u, (seq >> 8) & 255u, seq & 255u);
}

static int connect_with_timeout(void) {
    int fd = connect_to_server();
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static void *run_worker(void *arg) {
    worker_t *w = arg;
    char buf[65536], body[256], request[512], address[32];
    int fd = -1;
    for (uint32_t seq = 1; seq < (1u << 24) && now_ns() < end_ns; seq++) {
        uint32_t name = seq % (uint32_t)names_per_connection;
        address_of(seq, address, sizeof address);
        int body_len = snprintf(body, sizeof body,
            "{\"type\":\"member-join\",\"members\":[{\"name\":\"ov-%d-%u\",\"addr\":\"%s\",\"port\":7946}]}",
            w->index, name, address);
        int request_len = snprintf(request, sizeof request,
            "POST /v1/events HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n%s", host, port, body_len, body);
        if (fd < 0 && (fd = connect_with_timeout()) < 0) { w->errors++; usleep(1000); continue; }
        w->made++;
        uint64_t sent = now_ns();
        int status = -1, close_after = 0;
        if (write_all(fd, request, (size_t)request_len) == 0) status = read_response(fd, buf, sizeof buf, &close_after);
        uint64_t done = now_ns();
        if (status < 0) {
            /* The join may or may not have been written: either outcome is allowed. */
            w->errors++;
            w->unknown[name] = seq;
            close(fd);
            fd = -1;
            continue;
        }
        if (close_after) { close(fd); fd = -1; }
        if (status >= 200 && status < 300) {
            w->ok++;
            w->acked[name] = seq;
            w->unknown[name] = 0;
        } else if (status == 503) {
            w->busy++;
        } else {
            w->other++;
        }
        if (w->count == w->capacity) {
            w->capacity = w->capacity ? w->capacity * 2 : 4096;
            w->latency = realloc(w->latency, w->capacity * sizeof(uint64_t));
            if (!w->latency) { perror("realloc"); exit(1); }
        }
        w->latency[w->count++] = done - sent;
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: overloadcli HOST PORT SECONDS CONNECTIONS NAMES_PER_CONNECTION EXPECT_FILE\n");
        return 2;
    }
    host = argv[1]; port = atoi(argv[2]); seconds = atof(argv[3]);
    connections = atoi(argv[4]); names_per_connection = atoi(argv[5]);
    if (port <= 0 || seconds <= 0 || connections <= 0 || names_per_connection <= 0) {
        fprintf(stderr, "overloadcli: bad arguments\n");
        return 2;
    }
    FILE *expect = fopen(argv[6], "w");
    if (!expect) { perror(argv[6]); return 1; }
    worker_t *workers = calloc((size_t)connections, sizeof(worker_t));
    pthread_t *threads = calloc((size_t)connections, sizeof(pthread_t));
    if (!workers || !threads) { perror("calloc"); return 1; }
    start_ns = now_ns();
    end_ns = start_ns + (uint64_t)(seconds * 1e9);
    for (int c = 0; c < connections; c++) {
        workers[c].index = c;
        workers[c].acked = calloc((size_t)names_per_connection, sizeof(uint32_t));
        workers[c].unknown = calloc((size_t)names_per_connection, sizeof(uint32_t));
        if (!workers[c].acked || !workers[c].unknown) { perror("calloc"); return 1; }
        if (pthread_create(&threads[c], NULL, run_worker, &workers[c]) != 0) { perror("pthread_create"); return 1; }
    }
    uint64_t made = 0, ok = 0, busy = 0, other = 0, errors = 0;
    size_t total = 0;
    for (int c = 0; c < connections; c++) {
        pthread_join(threads[c], NULL);
        worker_t *w = &workers[c];
        made += w->made; ok += w->ok; busy += w->busy; other += w->other; errors += w->errors;
        total += w->count;
        for (int n = 0; n < names_per_connection; n++) {
            if (!w->acked[n] && !w->unknown[n]) continue;
            char acked[32] = "-", unknown[32] = "-";
            if (w->acked[n]) address_of(w->acked[n], acked, sizeof acked);
            if (w->unknown[n]) address_of(w->unknown[n], unknown, sizeof unknown);
            fprintf(expect, "ov-%d-%d %s%s %s%s\n", c, n, acked, w->acked[n] ? ":7946" : "",
                    unknown, w->unknown[n] ? ":7946" : "");
        }
    }
    uint64_t finished = now_ns();
    if (fclose(expect) != 0) { perror(argv[6]); return 1; }
    uint64_t *lat = malloc((total + 1) * sizeof(uint64_t));
    if (!lat) { perror("malloc"); return 1; }
    size_t k = 0;
    for (int c = 0; c < connections; c++) {
        memcpy(lat + k, workers[c].latency, workers[c].count * sizeof(uint64_t));
        k += workers[c].count;
    }
    qsort(lat, total, sizeof(uint64_t), compare);
    printf("{\"requests\":%zu,\"duration_us\":%llu,\"requests_made\":%llu,\"ok\":%llu,\"status_503\":%llu,"
           "\"other_status\":%llu,\"errors\":%llu,\"names\":%d,\"latency_p99_us\":%llu,\"latency_max_us\":%llu}\n",
           total, (unsigned long long)((finished - start_ns) / 1000), (unsigned long long)made,
           (unsigned long long)ok, (unsigned long long)busy, (unsigned long long)other,
           (unsigned long long)errors, connections * names_per_connection,
           total ? (unsigned long long)(lat[(size_t)(0.99 * (double)total)] / 1000) : 0ull,
           total ? (unsigned long long)(lat[total - 1] / 1000) : 0ull);
    return 0;
}
