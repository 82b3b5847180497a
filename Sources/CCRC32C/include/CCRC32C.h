#ifndef CCRC32C_H
#define CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (0 to start): the standard
/// check value of "123456789" is 0xE3069283. Uses the CPU's CRC32 instruction (SSE 4.2).
uint32_t ccrc32c_extend(uint32_t crc, const void *data, size_t length);

/// 1 when the hardware instruction is in use, 0 on the portable path.
int ccrc32c_hardware(void);

#endif
