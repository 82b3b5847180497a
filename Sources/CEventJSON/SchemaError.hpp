// What can be wrong with one event that is valid JSON, and how each problem reads.
#ifndef CEVENTJSON_SCHEMA_ERROR_HPP
#define CEVENTJSON_SCHEMA_ERROR_HPP

#include <cstdint>
#include <string>
#include <string_view>

namespace cej {

enum class Problem : uint8_t {
    none,
    not_object,
    too_deep,
    type_missing,
    type_not_string,
    type_unknown,
    ltime_missing,
    ltime_invalid,
    name_missing,
    name_not_string,
    payload_not_string,
    payload_not_base64,
    coalesce_not_bool,
    members_missing,
    members_not_array,
    members_empty,
    member_not_object,
    member_name_missing,
    member_name_not_string,
    member_addr_missing,
    member_addr_not_string,
    member_addr_invalid,
    member_port_missing,
    member_port_invalid,
    unknown_field,        ///< a key the event's type does not have (detail: the key; type: the type)
    member_unknown_field, ///< a key a member object does not have (detail: the key)
};

/// A problem found while reading one event. Recording it is allocation-free; the message is only
/// rendered when the request is refused. detail points into the parser's string buffer, which
/// outlives the event.
struct SchemaError {
    Problem problem = Problem::none;
    uint32_t member = 0;     ///< the index into members, for member_* problems
    std::string_view detail; ///< the offending text: type_unknown, member_addr_invalid, the key of *unknown_field
    std::string_view type;   ///< the event's type, for unknown_field

    explicit operator bool() const noexcept { return problem != Problem::none; }
};

/// The message for a problem, e.g. `members[1].addr is not an IP address: "1.2.3"`.
std::string describe(const SchemaError &error);

/// text as a JSON string literal, cut after 64 bytes (at a character boundary) with "...".
std::string quoted(std::string_view text);

} // namespace cej

#endif // CEVENTJSON_SCHEMA_ERROR_HPP
