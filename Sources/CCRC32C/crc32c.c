#include "CCRC32C.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    /* The tail (n < 8) in at most three steps, not a loop over its bytes. */
    uint32_t w32;
    uint16_t w16;
    if (n & 4) { memcpy(&w32, p, 4); c32 = _mm_crc32_u32(c32, w32); p += 4; }
    if (n & 2) { memcpy(&w16, p, 2); c32 = _mm_crc32_u16(c32, w16); p += 2; }
    if (n & 1) c32 = _mm_crc32_u8(c32, *p);
    return c32;
}
#endif

/// The polynomial, bit by bit: only for CPUs without the instruction (none here).
static uint32_t crc32c_portable(uint32_t crc, const unsigned char *p, size_t n) {
    while (n-- > 0) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return crc;
}

int ccrc32c_hardware(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
    return 0;
#endif
}

uint32_t ccrc32c_extend(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    uint32_t c = ~crc;
#if defined(__x86_64__)
    static int hardware = -1;
    if (hardware < 0) hardware = ccrc32c_hardware();
    if (hardware) return ~crc32c_sse42(c, p, length);
#endif
    return ~crc32c_portable(c, p, length);
}
