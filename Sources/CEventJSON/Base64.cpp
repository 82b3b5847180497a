#include "Base64.hpp"

#include <array>

namespace cej {
namespace {

constexpr uint8_t invalid = 0xFF;

constexpr std::array<uint8_t, 256> make_table() {
    std::array<uint8_t, 256> table{};
    for (auto &entry : table) { entry = invalid; }
    const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (uint8_t i = 0; i < 64; i++) { table[static_cast<uint8_t>(alphabet[i])] = i; }
    return table;
}

constexpr std::array<uint8_t, 256> sextets = make_table();

inline uint8_t sextet(char c) noexcept { return sextets[static_cast<uint8_t>(c)]; }

} // namespace

bool base64_decoded_length(std::string_view text, size_t &length) noexcept {
    size_t n = text.size();
    if (n % 4 != 0) { return false; }
    if (n == 0) {
        length = 0;
        return true;
    }
    size_t padding = text[n - 1] != '=' ? 0 : text[n - 2] != '=' ? 1 : 2;
    size_t data = n - padding;
    for (size_t i = 0; i < data; i++) {
        if (sextet(text[i]) == invalid) { return false; }
    }
    // The last data character carries bits that padding leaves unused: they must be zero.
    uint8_t last = sextet(text[data - 1]);
    if (padding == 1 && (last & 0x03) != 0) { return false; }
    if (padding == 2 && (last & 0x0F) != 0) { return false; }
    length = n / 4 * 3 - padding;
    return true;
}

void base64_decode(std::string_view text, uint8_t *out) noexcept {
    size_t n = text.size();
    if (n == 0) { return; }
    size_t padding = text[n - 1] != '=' ? 0 : text[n - 2] != '=' ? 1 : 2;
    size_t full = padding == 0 ? n : n - 4;
    size_t i = 0;
    for (; i < full; i += 4) {
        uint32_t v = uint32_t(sextet(text[i])) << 18 | uint32_t(sextet(text[i + 1])) << 12 |
                     uint32_t(sextet(text[i + 2])) << 6 | uint32_t(sextet(text[i + 3]));
        *out++ = uint8_t(v >> 16);
        *out++ = uint8_t(v >> 8);
        *out++ = uint8_t(v);
    }
    if (padding == 0) { return; }
    uint32_t v = uint32_t(sextet(text[i])) << 18 | uint32_t(sextet(text[i + 1])) << 12;
    *out++ = uint8_t(v >> 16);
    if (padding == 1) {
        v |= uint32_t(sextet(text[i + 2])) << 6;
        *out = uint8_t(v >> 8);
    }
}

} // namespace cej
