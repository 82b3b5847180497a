#include "IPText.hpp"

#include <arpa/inet.h>
#include <cstring>

namespace cej {

bool parse_ip_text(std::string_view text, uint8_t (&out)[16], uint8_t &length) noexcept {
    // The longest IPv6 text inet_pton accepts is 45 bytes; anything longer is not an address.
    char buffer[64];
    if (text.empty() || text.size() >= sizeof buffer ||
        std::memchr(text.data(), 0, text.size()) != nullptr) {
        return false;
    }
    std::memcpy(buffer, text.data(), text.size());
    buffer[text.size()] = '\0';
    if (inet_pton(AF_INET, buffer, out) == 1) {
        length = 4;
        return true;
    }
    if (inet_pton(AF_INET6, buffer, out) == 1) {
        length = 16;
        return true;
    }
    return false;
}

} // namespace cej
