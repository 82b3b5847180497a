// Strict base64 (RFC 4648 §4: standard alphabet, '=' padding) for user event payloads.
#ifndef CEVENTJSON_BASE64_HPP
#define CEVENTJSON_BASE64_HPP

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cej {

/// The decoded length of text, or false when text is not canonical base64: its length must be a
/// multiple of 4, only the last one or two characters may be '=', no whitespace, and the bits a
/// padded final group leaves unused must be zero (so every payload has exactly one encoding).
bool base64_decoded_length(std::string_view text, size_t &length) noexcept;

/// Decodes text, which base64_decoded_length accepted, into out (of the length it reported).
void base64_decode(std::string_view text, uint8_t *out) noexcept;

} // namespace cej

#endif // CEVENTJSON_BASE64_HPP
