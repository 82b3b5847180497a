/*
 * fsyncfloor: the cost of one durable append on a disk, for `make bench`.
 *
 *   fsyncfloor DIR [COUNT] [BYTES] [MODE] [SIZE]
 *
 * Appends BYTES (default 100) to a new file in DIR and fdatasyncs it, COUNT times (default
 * 2000), timing each write + fdatasync pair, and the fdatasync alone. Prints one JSON line
 * with percentiles in microseconds. The file is removed afterwards. MODE is where the
 * appends go:
 *
 *   append    (default) write(2) to a file opened O_APPEND: it grows with every append
 *   grow      pwrite(2) at the end of a new, empty file: it grows with every append
 *   prealloc  pwrite(2) into a file first given SIZE bytes (default 64 MiB, the log's segment
 *             size) with posix_fallocate, then fsynced with its directory: what the
 *             write-ahead log's SegmentPreparer makes (its size never changes; on ext4 the
 *             blocks are "unwritten" until written)
 *   zeroed    pwrite(2) into a file first filled with SIZE zero bytes (written, fsynced):
 *             an overwrite of blocks already written, the size and the extents unchanged
 *
 * Preparing the file is not timed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"


static int sync_dir(const char *dir) {
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    if (d < 0) { perror(dir); return -1; }
    int rc = fsync(d);
    if (rc != 0) perror("fsync dir");
    close(d);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 6) {
        fprintf(stderr, "usage: fsyncfloor DIR [COUNT] [BYTES] [append|grow|prealloc|zeroed] [SIZE]\n");
        return 2;
    }
    int count = argc > 2 ? atoi(argv[2]) : 2000;
    int bytes = argc > 3 ? atoi(argv[3]) : 100;
    const char *mode = argc > 4 ? argv[4] : "append";
    long long size = argc > 5 ? atoll(argv[5]) : 64ll << 20;
    int append = strcmp(mode, "append") == 0, grow = strcmp(mode, "grow") == 0;
    int prealloc = strcmp(mode, "prealloc") == 0, zeroed = strcmp(mode, "zeroed") == 0;
    if (count <= 0 || bytes <= 0 || bytes > 65536 || !(append || grow || prealloc || zeroed)) {
        fprintf(stderr, "fsyncfloor: bad arguments\n");
        return 2;
    }
    if ((prealloc || zeroed) && size < (long long)count * bytes) {
        fprintf(stderr, "fsyncfloor: SIZE must hold COUNT x BYTES\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/fsyncfloor-%d", argv[1], (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | (append ? O_APPEND : 0), 0644);
    if (fd < 0) { perror(path); return 1; }
    if (prealloc) {
        int rc = posix_fallocate(fd, 0, (off_t)size);
        if (rc != 0) { fprintf(stderr, "posix_fallocate: %s\n", strerror(rc)); return 1; }
    } else if (zeroed) {
        static char zeros[1 << 20];
        for (long long done = 0; done < size;) {
            size_t n = size - done < (long long)sizeof zeros ? (size_t)(size - done) : sizeof zeros;
            ssize_t w = pwrite(fd, zeros, n, (off_t)done);
            if (w <= 0) { perror("pwrite zeros"); return 1; }
            done += w;
        }
    }
    if (prealloc || zeroed) {
        if (fsync(fd) != 0) { perror("fsync"); return 1; }
        if (sync_dir(argv[1]) != 0) return 1;
    }
    char *line = malloc((size_t)bytes);
    memset(line, 'x', (size_t)bytes);
    line[bytes - 1] = '\n';
    uint64_t *t = malloc((size_t)count * sizeof(uint64_t));
    uint64_t *s = malloc((size_t)count * sizeof(uint64_t));
    for (int i = 0; i < count; i++) {
        uint64_t a = now_ns();
        ssize_t w = append ? write(fd, line, (size_t)bytes) : pwrite(fd, line, (size_t)bytes, (off_t)i * bytes);
        if (w != bytes) { perror("write"); return 1; }
        uint64_t b = now_ns();
        if (fdatasync(fd) != 0) { perror("fdatasync"); return 1; }
        uint64_t c = now_ns();
        t[i] = c - a;
        s[i] = c - b;
    }
    close(fd);
    unlink(path);
    qsort(t, (size_t)count, sizeof(uint64_t), compare_u64);
    qsort(s, (size_t)count, sizeof(uint64_t), compare_u64);
    printf("{\"count\":%d,\"bytes\":%d,\"mode\":\"%s\",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
           "\"sync_p50_us\":%.1f,\"sync_p90_us\":%.1f,\"sync_p99_us\":%.1f,\"sync_max_us\":%.1f}\n",
           count, bytes, mode, percentile_us(t, count, 50), percentile_us(t, count, 90), percentile_us(t, count, 99), (double)t[count - 1] / 1000.0,
           percentile_us(s, count, 50), percentile_us(s, count, 90), percentile_us(s, count, 99), (double)s[count - 1] / 1000.0);
    return 0;
}
