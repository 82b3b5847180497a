/*
 * fsyncfloor: the cost of one durable append on a disk, for `make bench`.
 *
 *   fsyncfloor DIR [COUNT] [BYTES]
 *
 * Appends BYTES (default 100) to a new file in DIR and fdatasyncs it, COUNT times (default
 * 2000), timing each write + fdatasync pair. Prints one JSON line with percentiles in
 * microseconds. The file is removed afterwards.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: fsyncfloor DIR [COUNT] [BYTES]\n");
        return 2;
    }
    int count = argc > 2 ? atoi(argv[2]) : 2000;
    int bytes = argc > 3 ? atoi(argv[3]) : 100;
    if (count <= 0 || bytes <= 0 || bytes > 65536) { fprintf(stderr, "fsyncfloor: bad arguments\n"); return 2; }
    char path[4096];
    snprintf(path, sizeof path, "%s/fsyncfloor-%d", argv[1], (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) { perror(path); return 1; }
    char *line = malloc((size_t)bytes);
    memset(line, 'x', (size_t)bytes);
    line[bytes - 1] = '\n';
    uint64_t *t = malloc((size_t)count * sizeof(uint64_t));
    for (int i = 0; i < count; i++) {
        uint64_t s = now_ns();
        if (write(fd, line, (size_t)bytes) != bytes) { perror("write"); return 1; }
        if (fdatasync(fd) != 0) { perror("fdatasync"); return 1; }
        t[i] = now_ns() - s;
    }
    close(fd);
    unlink(path);
    qsort(t, (size_t)count, sizeof(uint64_t), compare);
#define P(p) ((double)t[(size_t)((p) / 100.0 * count) < (size_t)count ? (size_t)((p) / 100.0 * count) : (size_t)count - 1] / 1000.0)
    printf("{\"count\":%d,\"bytes\":%d,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
           count, bytes, P(50), P(90), P(99), (double)t[count - 1] / 1000.0);
    return 0;
}
