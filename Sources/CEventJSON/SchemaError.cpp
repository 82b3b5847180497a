#include "SchemaError.hpp"

namespace cej {

std::string quoted(std::string_view text) {
    constexpr size_t limit = 64;
    bool cut = false;
    if (text.size() > limit) {
        size_t end = limit;
        // Back up to the start of a UTF-8 sequence so the cut never splits a character.
        while (end > 0 && (static_cast<uint8_t>(text[end]) & 0xC0) == 0x80) { end--; }
        text = text.substr(0, end);
        cut = true;
    }
    std::string out;
    out.reserve(text.size() + 8);
    out += '"';
    for (char c : text) {
        auto byte = static_cast<uint8_t>(c);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (byte < 0x20 || byte == 0x7F) {
                const char hex[] = "0123456789abcdef";
                out += "\\u00";
                out += hex[byte >> 4];
                out += hex[byte & 0x0F];
            } else {
                out += c;
            }
        }
    }
    out += '"';
    if (cut) { out += "..."; }
    return out;
}

std::string describe(const SchemaError &error) {
    auto member = [&error](const char *rest) {
        return "members[" + std::to_string(error.member) + "]" + rest;
    };
    switch (error.problem) {
    case Problem::none: return "no error";
    case Problem::not_object: return "expected a JSON object";
    case Problem::too_deep: return "JSON nested too deeply";
    case Problem::type_missing: return "type is required";
    case Problem::type_not_string: return "type must be a string";
    case Problem::type_unknown: return "unknown type " + quoted(error.detail);
    case Problem::ltime_missing: return "ltime is required";
    case Problem::ltime_invalid: return "ltime must be an unsigned 64-bit integer";
    case Problem::name_missing: return "name is required";
    case Problem::name_not_string: return "name must be a string";
    case Problem::payload_not_string: return "payload must be a base64 string";
    case Problem::payload_not_base64: return "payload is not valid base64";
    case Problem::coalesce_not_bool: return "coalesce must be a boolean";
    case Problem::members_missing: return "members is required";
    case Problem::members_not_array: return "members must be an array";
    case Problem::members_empty: return "members must not be empty";
    case Problem::member_not_object: return member(" must be an object");
    case Problem::member_name_missing: return member(".name is required");
    case Problem::member_name_not_string: return member(".name must be a string");
    case Problem::member_addr_missing: return member(".addr is required");
    case Problem::member_addr_not_string: return member(".addr must be a string");
    case Problem::member_addr_invalid: return member(".addr is not an IP address: ") + quoted(error.detail);
    case Problem::member_port_missing: return member(".port is required");
    case Problem::member_port_invalid: return member(".port must be an integer in 0...65535");
    case Problem::unknown_field: return "unknown field " + quoted(error.detail) + " in a " + std::string(error.type) + " event";
    case Problem::member_unknown_field: return "unknown field " + quoted(error.detail) + " in " + member("");
    }
    return "invalid event";
}

} // namespace cej
