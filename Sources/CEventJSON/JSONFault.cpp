#include "JSONFault.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cej {
namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_structural(char c) noexcept {
    return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' || c == '"';
}

} // namespace

JSONFault locate_structure_fault(const char *begin, const char *end) {
    std::vector<char> open; // an error path: a vector is fine, and depth is unbounded here
    bool in_string = false, escaped = false, root_done = false;
    for (const char *p = begin; p < end; p++) {
        const char c = *p;
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
                root_done = open.empty();
            }
            continue;
        }
        if (is_space(c)) { continue; }
        if (root_done) { return {p, "unexpected content after the JSON value"}; }
        switch (c) {
        case '"': in_string = true; break;
        case '{':
        case '[': open.push_back(c); break;
        case '}':
        case ']':
            if (open.empty() || open.back() != (c == '}' ? '{' : '[')) {
                return {p, c == '}' ? "unexpected '}'" : "unexpected ']'"};
            }
            open.pop_back();
            root_done = open.empty();
            break;
        default:
            if (open.empty()) { // a scalar root value: it ends at the next blank or structural byte
                while (p + 1 < end && !is_space(p[1]) && !is_structural(p[1])) { p++; }
                root_done = true;
            }
            break;
        }
    }
    if (in_string) { return {end, "unexpected end (unclosed string)"}; }
    if (!open.empty()) { return {end, "unexpected end (unclosed object or array)"}; }
    return {};
}

JSONFault locate_utf8_fault(const char *begin, const char *end) noexcept {
    const auto *s = reinterpret_cast<const uint8_t *>(begin);
    const size_t n = size_t(end - begin);
    size_t i = 0;
    while (i < n) {
        const uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t length = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            length = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            length = 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            length = 4;
        } else {
            return {begin + i, "invalid UTF-8"};
        }
        bool valid = i + length <= n;
        for (size_t k = 1; valid && k < length; k++) { valid = (s[i + k] & 0xC0) == 0x80; }
        // Overlong forms, UTF-16 surrogates and code points beyond U+10FFFF.
        if (valid && ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
                      (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))) {
            valid = false;
        }
        if (!valid) { return {begin + i, "invalid UTF-8"}; }
        i += length;
    }
    return {};
}

JSONFault locate_control_in_string(const char *begin, const char *end) noexcept {
    bool in_string = false, escaped = false;
    for (const char *p = begin; p < end; p++) {
        const char c = *p;
        if (!in_string) {
            in_string = c == '"';
            continue;
        }
        if (static_cast<uint8_t>(c) < 0x20) { return {p, "unescaped control character in a string"}; }
        if (escaped) {
            escaped = false;
        } else if (c == '\\') {
            escaped = true;
        } else if (c == '"') {
            in_string = false;
        }
    }
    return {};
}

} // namespace cej
