/*
 * perfilesync: what durability costs when every snapshot is its own file (Go serf's design,
 * and snapshotd's before its one write-ahead log), against one shared log, for `make bench`.
 *
 *   perfilesync DIR [FILES] [BATCH] [BATCHES] [THREADS] [BYTES]
 *
 * FILES files (default 1000) in DIR. A batch is BATCH events (default 64), each for the next
 * file round-robin, BYTES (default 92) each: the per-file design appends each to its file and
 * fdatasyncs every file the batch touched (spread over THREADS threads, default 1); the
 * one-log design appends the batch's BATCH x BYTES to one file in one write and fdatasyncs it
 * once. BATCHES batches (default 200) of each, interleaved. Prints one JSON line: events/s
 * and batch latency percentiles (microseconds) of both. The files are removed afterwards.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"


static void die(const char *what) {
    perror(what);
    exit(1);
}

struct job {
    const int *fds;
    int count;
    const char *record;
    size_t bytes;
};

/* Appends one record to each file of the job and fdatasyncs it. */
static void *sync_files(void *arg) {
    struct job *job = arg;
    for (int i = 0; i < job->count; i++) {
        if (write(job->fds[i], job->record, job->bytes) != (ssize_t)job->bytes) die("write");
        if (fdatasync(job->fds[i]) != 0) die("fdatasync");
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: perfilesync DIR [FILES] [BATCH] [BATCHES] [THREADS] [BYTES]\n");
        return 64;
    }
    const char *dir = argv[1];
    int files = argc > 2 ? atoi(argv[2]) : 1000;
    int batch = argc > 3 ? atoi(argv[3]) : 64;
    int batches = argc > 4 ? atoi(argv[4]) : 200;
    int threads = argc > 5 ? atoi(argv[5]) : 1;
    size_t bytes = argc > 6 ? (size_t)atoi(argv[6]) : 92;
    if (files < 1 || batch < 1 || batch > files || batches < 1 || threads < 1 || threads > batch || bytes < 1) {
        fprintf(stderr, "perfilesync: need 1 <= BATCH <= FILES, BATCHES >= 1, 1 <= THREADS <= BATCH, BYTES >= 1\n");
        return 64;
    }
    char path[4096];
    int *fds = calloc((size_t)files, sizeof *fds);
    char *record = malloc(bytes), *unit = malloc(bytes * (size_t)batch);
    uint64_t *spread = calloc((size_t)batches, sizeof *spread), *one = calloc((size_t)batches, sizeof *one);
    if (!fds || !record || !unit || !spread || !one) die("malloc");
    memset(record, 'r', bytes);
    memset(unit, 'r', bytes * (size_t)batch);
    for (int i = 0; i < files; i++) {
        snprintf(path, sizeof path, "%s/perfile-%05d", dir, i);
        if ((fds[i] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644)) < 0) die(path);
    }
    snprintf(path, sizeof path, "%s/perfile-log", dir);
    int log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (log < 0) die(path);
    int dirfd = open(dir, O_RDONLY);
    if (dirfd < 0 || fsync(dirfd) != 0) die(dir);
    close(dirfd);

    int *touched = calloc((size_t)batch, sizeof *touched);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    struct job *jobs = calloc((size_t)threads, sizeof *jobs);
    if (!touched || !tids || !jobs) die("calloc");
    int next = 0;
    uint64_t spread_total = 0, one_total = 0;
    for (int b = 0; b < batches; b++) {
        for (int i = 0; i < batch; i++) touched[i] = fds[(next + i) % files];
        next = (next + batch) % files;
        uint64_t t0 = now_ns();
        int per = batch / threads, extra = batch % threads, at = 0;
        for (int t = 0; t < threads; t++) {
            jobs[t] = (struct job){touched + at, per + (t < extra), record, bytes};
            at += jobs[t].count;
            if (threads > 1) {
                if (pthread_create(&tids[t], NULL, sync_files, &jobs[t]) != 0) die("pthread_create");
            } else {
                sync_files(&jobs[t]);
            }
        }
        if (threads > 1)
            for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
        uint64_t t1 = now_ns();
        if (write(log, unit, bytes * (size_t)batch) != (ssize_t)(bytes * (size_t)batch)) die("write");
        if (fdatasync(log) != 0) die("fdatasync");
        uint64_t t2 = now_ns();
        spread[b] = t1 - t0;
        one[b] = t2 - t1;
        spread_total += spread[b];
        one_total += one[b];
    }
    qsort(spread, (size_t)batches, sizeof *spread, compare_u64);
    qsort(one, (size_t)batches, sizeof *one, compare_u64);
    double events = (double)batch * batches;
    printf("{\"files\":%d,\"batch\":%d,\"batches\":%d,\"threads\":%d,\"bytes\":%zu,"
           "\"per_file_events_per_second\":%.1f,\"one_log_events_per_second\":%.1f,"
           "\"per_file_batch_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
           "\"one_log_batch_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f}}\n",
           files, batch, batches, threads, bytes, events / (spread_total / 1e9), events / (one_total / 1e9),
           percentile_us(spread, batches, 50), percentile_us(spread, batches, 99), spread[batches - 1] / 1000.0,
           percentile_us(one, batches, 50), percentile_us(one, batches, 99), one[batches - 1] / 1000.0);
    for (int i = 0; i < files; i++) {
        close(fds[i]);
        snprintf(path, sizeof path, "%s/perfile-%05d", dir, i);
        unlink(path);
    }
    close(log);
    snprintf(path, sizeof path, "%s/perfile-log", dir);
    unlink(path);
    return 0;
}
