/*
 * alloccount.so: counts heap allocations, for `make bench` (LD_PRELOAD, glibc only).
 *
 * Interposes malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign and valloc,
 * counts each call (and the bytes asked for) with relaxed atomics, and forwards to glibc's
 * own __libc_* functions. Readings:
 *   - in process: `unsigned long long alloccount_get(void)` (found with dlsym), as the engine
 *     bench's --alloc-count mode does;
 *   - from outside: SIGUSR2 appends "ALLOCS BYTES\n" to the file named by $ALLOCCOUNT_FILE
 *     (the handler only uses write(2), async-signal-safe), as the HTTP path measurement does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static unsigned long long allocs, bytes;
static char out_path[4096];

static inline void count(size_t n) {
    __atomic_fetch_add(&allocs, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&bytes, n, __ATOMIC_RELAXED);
}

void *malloc(size_t n) { count(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count(n); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { count(n); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(n); return __libc_memalign(a, n); }
void *valloc(size_t n) { count(n); return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), n); }
int posix_memalign(void **out, size_t a, size_t n) {
    if (a % sizeof(void *) != 0 || (a & (a - 1)) != 0) return EINVAL;
    count(n);
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

unsigned long long alloccount_get(void) { return __atomic_load_n(&allocs, __ATOMIC_RELAXED); }

static char *put_number(char *p, unsigned long long v) {
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static void on_usr2(int sig) {
    (void)sig;
    int saved = errno;
    char line[64], *p = line;
    p = put_number(p, __atomic_load_n(&allocs, __ATOMIC_RELAXED));
    *p++ = ' ';
    p = put_number(p, __atomic_load_n(&bytes, __ATOMIC_RELAXED));
    *p++ = '\n';
    int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        ssize_t ignored = write(fd, line, (size_t)(p - line));
        (void)ignored;
        close(fd);
    }
    errno = saved;
}

__attribute__((constructor)) static void alloccount_init(void) {
    const char *path = getenv("ALLOCCOUNT_FILE");
    if (!path || !*path || strlen(path) >= sizeof out_path) return;
    strcpy(out_path, path);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
}
