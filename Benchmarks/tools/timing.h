/*
 * timing.h: the clock and the sorting the disk timers share (fsyncfloor, perfilesync).
 */
#ifndef BENCH_TIMING_H
#define BENCH_TIMING_H
#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* qsort comparator for uint64_t */
static inline int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile of COUNT sorted nanosecond figures, in microseconds. */
static inline double percentile_us(const uint64_t *sorted, int count, double p) {
    size_t i = (size_t)(p / 100.0 * count);
    if (i >= (size_t)count) i = (size_t)count - 1;
    return (double)sorted[i] / 1000.0;
}
#endif
