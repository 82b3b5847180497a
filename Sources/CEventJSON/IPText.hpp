// Textual IP addresses, read exactly as SnapshotCore's IPAddress(String) reads them (inet_pton).
#ifndef CEVENTJSON_IP_TEXT_HPP
#define CEVENTJSON_IP_TEXT_HPP

#include <cstdint>
#include <string_view>

namespace cej {

/// Parses dotted IPv4 (4 bytes) or textual IPv6 (16 bytes) into out, setting length. Returns
/// false for anything else, including text with an embedded NUL.
bool parse_ip_text(std::string_view text, uint8_t (&out)[16], uint8_t &length) noexcept;

} // namespace cej

#endif // CEVENTJSON_IP_TEXT_HPP
