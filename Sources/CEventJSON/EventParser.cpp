#include "EventParser.hpp"

#include <cstring>

#include "Base64.hpp"
#include "CEventJSON.h"
#include "IPText.hpp"
#include "JSONFault.hpp"

namespace cej {
namespace {

/// Unknown values nested deeper than this (counting from the event object) are refused, which
/// bounds the validator's recursion.
constexpr unsigned max_depth = 64;

/// A decoder keeps buffers up to this size between requests; trim() frees larger ones.
constexpr size_t retained_capacity = size_t(1) << 20;

enum class Key : uint8_t { other, type, ltime, name, payload, coalesce, members, addr, port };

Key key_of(std::string_view key) noexcept {
    switch (key.size()) {
    case 4:
        if (key == "type") { return Key::type; }
        if (key == "name") { return Key::name; }
        if (key == "addr") { return Key::addr; }
        if (key == "port") { return Key::port; }
        break;
    case 5:
        if (key == "ltime") { return Key::ltime; }
        break;
    case 7:
        if (key == "members") { return Key::members; }
        if (key == "payload") { return Key::payload; }
        break;
    case 8:
        if (key == "coalesce") { return Key::coalesce; }
        break;
    default:
        break;
    }
    return Key::other;
}

/// The type name of each kind. A kind below CEJ_KIND_COUNT without a name fails to compile
/// (kind_table below), and the service's tests check these against SnapshotEventKind.
constexpr const char *name_of(int kind) noexcept {
    switch (kind) {
    case CEJ_KIND_MEMBER_JOIN: return "member-join";
    case CEJ_KIND_MEMBER_LEAVE: return "member-leave";
    case CEJ_KIND_MEMBER_FAILED: return "member-failed";
    case CEJ_KIND_MEMBER_UPDATE: return "member-update";
    case CEJ_KIND_MEMBER_REAP: return "member-reap";
    case CEJ_KIND_USER: return "user";
    case CEJ_KIND_QUERY: return "query";
    case CEJ_KIND_CLOCK: return "clock";
    default: return nullptr;
    }
}

struct KindTable {
    std::string_view names[CEJ_KIND_COUNT];
};

constexpr KindTable make_kind_table() noexcept {
    KindTable table{};
    for (int kind = 0; kind < CEJ_KIND_COUNT; kind++) { table.names[kind] = std::string_view(name_of(kind)); }
    return table;
}

constexpr KindTable kind_table = make_kind_table();

} // namespace

int kind_of(std::string_view type) noexcept {
    for (int kind = 0; kind < CEJ_KIND_COUNT; kind++) {
        if (type == kind_table.names[kind]) { return kind; }
    }
    return -1;
}

const char *kind_name(int kind) noexcept { return kind >= 0 && kind < CEJ_KIND_COUNT ? name_of(kind) : nullptr; }

namespace {

bool is_json_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_blank(const char *begin, const char *end) noexcept {
    for (const char *p = begin; p < end; p++) {
        if (!is_json_space(*p)) { return false; }
    }
    return true;
}

/// Whether a raw token (which simdjson ends at the next structural character, spaces included)
/// is a number by the JSON grammar. simdjson's get_uint64 reports INCORRECT_TYPE both for valid
/// numbers that are not unsigned integers and for some malformed ones ("-"); this tells them apart.
bool is_json_number(std::string_view token) noexcept {
    while (!token.empty() && is_json_space(token.back())) { token.remove_suffix(1); }
    size_t i = 0;
    const size_t n = token.size();
    auto digits = [&]() {
        size_t start = i;
        while (i < n && token[i] >= '0' && token[i] <= '9') { i++; }
        return i > start;
    };
    if (i < n && token[i] == '-') { i++; }
    if (i < n && token[i] == '0') {
        i++;
    } else if (!digits()) {
        return false;
    }
    if (i < n && token[i] == '.') {
        i++;
        if (!digits()) { return false; }
    }
    if (i < n && (token[i] == 'e' || token[i] == 'E')) {
        i++;
        if (i < n && (token[i] == '+' || token[i] == '-')) { i++; }
        if (!digits()) { return false; }
    }
    return i == n;
}

/// The value of a valid JSON number token when it is a whole number in 0...2^64-1, however it is
/// spelled: 408, 408.0, 4.08e2, 40800e-2, -0. That is JSON Schema's "integer" (a number with a
/// zero fractional part), which the API's schema promises. The value is computed exactly from the
/// decimal digits, never through a double, so the whole u64 range keeps its precision.
bool integral_uint64(std::string_view token, uint64_t &out) noexcept {
    while (!token.empty() && is_json_space(token.back())) { token.remove_suffix(1); }
    const size_t n = token.size();
    size_t i = 0;
    const bool negative = i < n && token[i] == '-';
    if (negative) { i++; }
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    const size_t int_start = i;
    while (i < n && is_digit(token[i])) { i++; }
    const size_t int_length = i - int_start;
    size_t frac_start = i, frac_length = 0;
    if (i < n && token[i] == '.') {
        frac_start = ++i;
        while (i < n && is_digit(token[i])) { i++; }
        frac_length = i - frac_start;
    }
    int64_t exponent = 0;
    if (i < n && (token[i] == 'e' || token[i] == 'E')) {
        i++;
        bool negative_exponent = false;
        if (i < n && (token[i] == '+' || token[i] == '-')) { negative_exponent = token[i++] == '-'; }
        while (i < n && is_digit(token[i])) {
            if (exponent < 1000000000) { exponent = exponent * 10 + (token[i] - '0'); } // saturates
            i++;
        }
        if (negative_exponent) { exponent = -exponent; }
    }
    if (i != n) { return false; }
    // The integer and fraction digits as one sequence d[0..total), worth d * 10^(exponent - frac_length).
    const size_t total = int_length + frac_length;
    auto digit = [&](size_t k) {
        return k < int_length ? token[int_start + k] : token[frac_start + (k - int_length)];
    };
    size_t first = 0;
    while (first < total && digit(first) == '0') { first++; }
    if (first == total) { // zero, whatever the sign and exponent
        out = 0;
        return true;
    }
    size_t last = total - 1;
    while (digit(last) == '0') { last--; }
    // Without its trailing zeros the digit sequence ends in a non-zero digit, so the value is
    // whole exactly when the remaining power of ten is not negative.
    const int64_t scale = exponent - int64_t(frac_length) + int64_t(total - 1 - last);
    if (scale < 0 || negative) { return false; }
    if (int64_t(last - first + 1) + scale > 20) { return false; } // beyond 2^64 whatever the digits
    uint64_t value = 0;
    for (size_t k = first; k <= last; k++) {
        if (__builtin_mul_overflow(value, 10u, &value) ||
            __builtin_add_overflow(value, uint64_t(digit(k) - '0'), &value)) {
            return false;
        }
    }
    for (int64_t k = 0; k < scale; k++) {
        if (__builtin_mul_overflow(value, 10u, &value)) { return false; }
    }
    out = value;
    return true;
}

const char *describe_json_error(simdjson::error_code code) noexcept {
    switch (code) {
    case simdjson::UTF8_ERROR: return "invalid UTF-8";
    case simdjson::UNCLOSED_STRING: return "unclosed string";
    case simdjson::UNESCAPED_CHARS: return "unescaped control character in a string";
    case simdjson::STRING_ERROR: return "invalid string or escape";
    case simdjson::NUMBER_ERROR: return "invalid number";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR: return "invalid literal";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT: return "unbalanced or truncated object or array";
    case simdjson::TAPE_ERROR: return "unexpected token";
    case simdjson::DEPTH_ERROR: return "nested too deeply";
    case simdjson::EMPTY: return "no value";
    default: return simdjson::error_message(code);
    }
}

} // namespace

/// Each field of an event as found, until "type" (which may come last) says which ones matter.
struct EventParser::EventFields {
    Found type = Found::absent;
    std::string_view type_text;
    Found ltime = Found::absent;
    uint64_t ltime_value = 0;
    Found name = Found::absent;
    std::string_view name_text;
    Found payload = Found::absent;
    std::string_view payload_text;
    Found coalesce = Found::absent;
    bool coalesce_value = false;
    Found members = Found::absent;
    uint32_t member_count = 0;
    SchemaError member_error; ///< the first bad member, if any
    /// The first key that is no event's field (an unknown value is still validated as JSON).
    std::string_view unknown_key;
    bool has_unknown_key = false;
};

// MARK: - Bodies

bool EventParser::decode(const uint8_t *body, size_t length, int format) {
    tape_.clear();
    members_.clear();
    events_ = 0;
    current_event_ = -1;
    error_event_ = -1;
    error_.clear();
    document_ = nullptr;
    document_begin_ = nullptr;
    document_end_ = nullptr;

    // One copy into a reused buffer gives simdjson the padding it reads past the end; the padding
    // is spaces so that no byte after a document can be mistaken for part of it.
    input_.clear();
    uint8_t *copy = input_.extend(length + simdjson::SIMDJSON_PADDING);
    if (length != 0) { std::memcpy(copy, body, length); }
    std::memset(copy + length, ' ', simdjson::SIMDJSON_PADDING);

    bool ok = format == CEJ_FORMAT_NDJSON ? decode_ndjson(length) : decode_single(length);
    document_ = nullptr;
    if (ok && events_ == 0) {
        fail_request("no events");
        return false;
    }
    return ok;
}

bool EventParser::decode_single(size_t length) {
    const char *begin = reinterpret_cast<const char *>(input_.data());
    size_t first = 0;
    while (first < length && is_json_space(begin[first])) { first++; }
    if (first == length) { return true; }

    od::document doc;
    document_begin_ = begin;
    document_end_ = begin + length;
    if (auto error = parser_.iterate(begin, length, input_.size()).get(doc)) { return fail_stage1(error); }
    document_ = &doc;

    if (begin[first] != '[') {
        current_event_ = 0;
        if (!decode_root_object(doc)) { return false; }
        events_ = 1;
        current_event_ = -1;
        return check_document_end(doc);
    }

    od::array array;
    if (auto error = doc.get_array().get(array)) { return fail_json(error); }
    int64_t index = 0;
    for (auto element : array) {
        current_event_ = index;
        od::value value;
        if (auto error = std::move(element).get(value)) { return fail_json(error); }
        od::json_type type;
        if (auto error = value.type().get(type)) { return fail_json(error); }
        if (type != od::json_type::object) {
            // Still valid JSON? Then the complaint is the type; otherwise it is the syntax.
            return validate(value, type, 1) && refuse(Problem::not_object);
        }
        od::object object;
        if (auto error = value.get_object().get(object)) { return fail_json(error); }
        if (!parse_event(object)) { return false; }
        index++;
    }
    events_ = size_t(index);
    current_event_ = -1;
    return check_document_end(doc);
}

bool EventParser::decode_ndjson(size_t length) {
    const char *begin = reinterpret_cast<const char *>(input_.data());
    const char *end = begin + length;
    const char *allocated_end = begin + input_.size();
    int64_t index = 0;
    for (const char *line = begin; line < end;) {
        auto newline = static_cast<const char *>(std::memchr(line, '\n', size_t(end - line)));
        const char *line_end = newline != nullptr ? newline : end;
        if (!is_blank(line, line_end)) {
            current_event_ = index;
            od::document doc;
            // A line inside the body is followed by the rest of the body and the padding, which
            // is all the padding simdjson needs; it never reads those bytes as part of the line.
            document_begin_ = line;
            document_end_ = line_end;
            auto result = parser_.iterate(line, size_t(line_end - line), size_t(allocated_end - line));
            if (auto error = std::move(result).get(doc)) { return fail_stage1(error); }
            document_ = &doc;
            if (!decode_root_object(doc) || !check_document_end(doc)) { return false; }
            document_ = nullptr;
            index++;
        }
        line = line_end + 1;
    }
    events_ = size_t(index);
    return true;
}

bool EventParser::decode_root_object(od::document &doc) {
    od::json_type type;
    if (auto error = doc.type().get(type)) { return fail_json(error); }
    if (type != od::json_type::object) { return validate_root(doc, type) && refuse(Problem::not_object); }
    od::object object;
    if (auto error = doc.get_object().get(object)) { return fail_json(error); }
    return parse_event(object);
}

/// Validates a document that is not an object, so that invalid JSON is reported as such.
bool EventParser::validate_root(od::document &doc, od::json_type type) {
    if (type == od::json_type::array) {
        od::value value;
        if (auto error = doc.get_value().get(value)) { return fail_json(error); }
        return validate(value, type, 1);
    }
    if (type == od::json_type::string) {
        std::string_view text;
        if (auto error = doc.get_string().get(text)) { return fail_json(error); }
        return true;
    }
    std::string_view token;
    if (auto error = doc.raw_json_token().get(token)) { return fail_json(error); }
    while (!token.empty() && is_json_space(token.back())) { token.remove_suffix(1); }
    bool valid = false;
    switch (type) {
    case od::json_type::number: valid = is_json_number(token); break;
    case od::json_type::boolean: valid = token == "true" || token == "false"; break;
    case od::json_type::null: valid = token == "null"; break;
    default: break;
    }
    return valid || fail_json_at(type == od::json_type::number ? simdjson::NUMBER_ERROR : simdjson::T_ATOM_ERROR, token.data());
}

bool EventParser::check_document_end(od::document &doc) {
    auto location = doc.current_location();
    if (location.error()) { return true; } // OUT_OF_BOUNDS: nothing follows the value
    error_event_ = current_event_;
    error_ = "invalid JSON at byte " +
             std::to_string(location.value_unsafe() - reinterpret_cast<const char *>(input_.data())) +
             ": unexpected content after the JSON value";
    return false;
}

// MARK: - Events

bool EventParser::parse_event(od::object &object) {
    EventFields fields;
    members_.clear();
    for (auto result : object) {
        std::string_view key;
        od::field *field = read_field(result, key);
        if (field == nullptr) { return false; }
        od::value &value = field->value();
        Got got = Got::value;
        switch (key_of(key)) {
        case Key::type:
            got = read_string(value, fields.type_text, 1);
            fields.type = found(got);
            break;
        case Key::ltime:
            got = read_uint64(value, fields.ltime_value, 1);
            fields.ltime = found(got);
            break;
        case Key::name:
            got = read_string(value, fields.name_text, 1);
            fields.name = found(got);
            break;
        case Key::payload:
            got = read_string(value, fields.payload_text, 1);
            fields.payload = found(got);
            break;
        case Key::coalesce:
            got = read_bool(value, fields.coalesce_value, 1);
            fields.coalesce = found(got);
            break;
        case Key::members:
            if (!parse_members(value, fields)) { return false; }
            break;
        case Key::addr:
        case Key::port:
        case Key::other:
            if (!validate(value, 1)) { return false; }
            if (!fields.has_unknown_key) {
                fields.unknown_key = key;
                fields.has_unknown_key = true;
            }
            break;
        }
        if (got == Got::failed) { return false; }
    }
    return finish_event(fields);
}

bool EventParser::finish_event(const EventFields &fields) {
    if (fields.type == Found::absent) { return refuse(Problem::type_missing); }
    if (fields.type != Found::value) { return refuse(Problem::type_not_string); }
    const int kind = kind_of(fields.type_text);
    if (kind < 0) { return refuse({Problem::type_unknown, 0, fields.type_text}); }
    const bool is_member_event = kind <= CEJ_KIND_MEMBER_REAP;

    // A field the type does not have is refused, not ignored: a misspelled optional field
    // ("ltme", "coalsce") would otherwise be dropped without a word. Fields of other types first
    // by their fixed order, after any key that is no event's field at all.
    auto unknown = [&](std::string_view key) { return refuse({Problem::unknown_field, 0, key, fields.type_text}); };
    if (fields.has_unknown_key) { return unknown(fields.unknown_key); }
    const bool has_name = kind == CEJ_KIND_USER || kind == CEJ_KIND_QUERY;
    if (!has_name && fields.name != Found::absent) { return unknown("name"); }
    if (kind != CEJ_KIND_USER && fields.payload != Found::absent) { return unknown("payload"); }
    if (kind != CEJ_KIND_USER && fields.coalesce != Found::absent) { return unknown("coalesce"); }
    if (!is_member_event && fields.members != Found::absent) { return unknown("members"); }

    // ltime: optional for member events (null counts as absent there), required otherwise.
    uint8_t flags = 0;
    if (fields.ltime == Found::value) {
        flags |= CEJ_FLAG_HAS_LTIME;
    } else if (fields.ltime == Found::wrong_type || (fields.ltime == Found::null && !is_member_event)) {
        return refuse(Problem::ltime_invalid);
    } else if (!is_member_event) {
        return refuse(Problem::ltime_missing);
    }

    if (kind == CEJ_KIND_USER || kind == CEJ_KIND_QUERY) {
        if (fields.name == Found::absent) { return refuse(Problem::name_missing); }
        if (fields.name != Found::value) { return refuse(Problem::name_not_string); }
    }

    size_t payload_length = 0;
    if (kind == CEJ_KIND_USER) {
        if (fields.payload == Found::wrong_type) { return refuse(Problem::payload_not_string); }
        if (fields.payload == Found::value && !base64_decoded_length(fields.payload_text, payload_length)) {
            return refuse(Problem::payload_not_base64);
        }
        if (fields.coalesce == Found::wrong_type) { return refuse(Problem::coalesce_not_bool); }
        if (fields.coalesce == Found::value && fields.coalesce_value) { flags |= CEJ_FLAG_COALESCE; }
    }

    if (is_member_event) {
        if (fields.members == Found::absent) { return refuse(Problem::members_missing); }
        if (fields.members != Found::value) { return refuse(Problem::members_not_array); }
        if (fields.member_error) { return refuse(fields.member_error); }
        if (fields.member_count == 0) { return refuse(Problem::members_empty); }
    }

    tape_.put_u8(uint8_t(kind));
    tape_.put_u8(flags);
    tape_.put_u64(fields.ltime == Found::value ? fields.ltime_value : 0);
    switch (kind) {
    case CEJ_KIND_USER:
        tape_.put_string(fields.name_text);
        tape_.put_u32(uint32_t(payload_length));
        if (payload_length != 0) { base64_decode(fields.payload_text, tape_.extend(payload_length)); }
        break;
    case CEJ_KIND_QUERY:
        tape_.put_string(fields.name_text);
        break;
    case CEJ_KIND_CLOCK:
        break;
    default:
        tape_.put_u32(fields.member_count);
        tape_.put_bytes(members_.data(), members_.size());
        break;
    }
    return true;
}

bool EventParser::parse_members(od::value &value, EventFields &fields) {
    od::json_type type;
    if (auto error = value.type().get(type)) { return fail_json(error); }
    if (type != od::json_type::array) {
        Got got = other_type(value, type, 1);
        fields.members = found(got);
        return got != Got::failed;
    }
    od::array array;
    if (auto error = value.get_array().get(array)) { return fail_json(error); }
    // A repeated "members" key replaces the earlier one, like every other field.
    members_.clear();
    fields.member_error = SchemaError{};
    uint32_t index = 0;
    for (auto element : array) {
        od::value member;
        if (auto error = std::move(element).get(member)) { return fail_json(error); }
        if (!parse_member(member, index, fields.member_error)) { return false; }
        index++;
    }
    fields.members = Found::value;
    fields.member_count = index;
    return true;
}

bool EventParser::parse_member(od::value &value, uint32_t index, SchemaError &first_error) {
    od::json_type type;
    if (auto error = value.type().get(type)) { return fail_json(error); }
    if (type != od::json_type::object) {
        if (!validate(value, type, 2)) { return false; }
        if (!first_error) { first_error = {Problem::member_not_object, index, {}}; }
        return true;
    }
    od::object object;
    if (auto error = value.get_object().get(object)) { return fail_json(error); }

    std::string_view name, addr, unknown_key;
    uint64_t port = 0;
    Found name_found = Found::absent, addr_found = Found::absent, port_found = Found::absent;
    bool has_unknown_key = false;
    for (auto result : object) {
        std::string_view key;
        od::field *field = read_field(result, key);
        if (field == nullptr) { return false; }
        od::value &field_value = field->value();
        Got got = Got::value;
        switch (key_of(key)) {
        case Key::name:
            got = read_string(field_value, name, 3);
            name_found = found(got);
            break;
        case Key::addr:
            got = read_string(field_value, addr, 3);
            addr_found = found(got);
            break;
        case Key::port:
            got = read_uint64(field_value, port, 3);
            port_found = found(got);
            break;
        default:
            if (!validate(field_value, 3)) { return false; }
            if (!has_unknown_key) {
                unknown_key = key;
                has_unknown_key = true;
            }
            break;
        }
        if (got == Got::failed) { return false; }
    }
    // Only the first bad member is reported, but later ones are still read as JSON.
    if (first_error) { return true; }
    if (has_unknown_key) {
        first_error = {Problem::member_unknown_field, index, unknown_key};
        return true;
    }

    Problem problem = Problem::none;
    uint8_t address[16];
    uint8_t address_length = 0;
    if (name_found == Found::absent) {
        problem = Problem::member_name_missing;
    } else if (name_found != Found::value) {
        problem = Problem::member_name_not_string;
    } else if (addr_found == Found::absent) {
        problem = Problem::member_addr_missing;
    } else if (addr_found != Found::value) {
        problem = Problem::member_addr_not_string;
    } else if (!parse_ip_text(addr, address, address_length)) {
        first_error = {Problem::member_addr_invalid, index, addr};
        return true;
    } else if (port_found == Found::absent) {
        problem = Problem::member_port_missing;
    } else if (port_found != Found::value || port > 65535) {
        problem = Problem::member_port_invalid;
    }
    if (problem != Problem::none) {
        first_error = {problem, index, {}};
        return true;
    }
    members_.put_string(name);
    members_.put_u8(address_length);
    members_.put_bytes(address, address_length);
    members_.put_u16(uint16_t(port));
    return true;
}

// MARK: - Values

/// The next field of an object and its key, or null after recording an error. A key without
/// escapes (every key of the schema) is used in place, saving simdjson a copy (about 8% of the
/// parse); one with escapes is unescaped, which also checks them. Stage 1 has already refused
/// unclosed strings, raw control characters and bad UTF-8, so the scan ends at the closing quote.
od::field *EventParser::read_field(simdjson::simdjson_result<od::field> &result, std::string_view &key) {
    if (auto error = result.error()) {
        fail_json(error);
        return nullptr;
    }
    od::field &field = result.value_unsafe();
    const char *raw = field.key().raw();
    const char *end = raw;
    while (*end != '"' && *end != '\\') { end++; }
    if (*end == '"') {
        key = std::string_view(raw, size_t(end - raw));
        return &field;
    }
    if (auto error = field.unescaped_key().get(key)) {
        fail_json(error);
        return nullptr;
    }
    return &field;
}

EventParser::Got EventParser::read_string(od::value &value, std::string_view &out, unsigned depth) {
    od::json_type type;
    if (auto error = value.type().get(type)) {
        fail_json(error);
        return Got::failed;
    }
    if (type != od::json_type::string) { return other_type(value, type, depth); }
    const char *where = value.raw_json_token().data();
    if (auto error = value.get_string().get(out)) {
        fail_json_at(error, where);
        return Got::failed;
    }
    return Got::value;
}

EventParser::Got EventParser::read_uint64(od::value &value, uint64_t &out, unsigned depth) {
    od::json_type type;
    if (auto error = value.type().get(type)) {
        fail_json(error);
        return Got::failed;
    }
    if (type != od::json_type::number) { return other_type(value, type, depth); }
    std::string_view token = value.raw_json_token();
    auto error = value.get_uint64().get(out);
    if (error == simdjson::SUCCESS) { return Got::value; }
    if ((error == simdjson::INCORRECT_TYPE || error == simdjson::NUMBER_OUT_OF_RANGE) && is_json_number(token)) {
        // A whole number spelled with a fraction or an exponent (408.0, 1e3) is still an integer.
        if (integral_uint64(token, out)) { return Got::value; }
        return Got::wrong_type; // negative, fractional or too large
    }
    fail_json_at(simdjson::NUMBER_ERROR, token.data());
    return Got::failed;
}

EventParser::Got EventParser::read_bool(od::value &value, bool &out, unsigned depth) {
    od::json_type type;
    if (auto error = value.type().get(type)) {
        fail_json(error);
        return Got::failed;
    }
    if (type != od::json_type::boolean) { return other_type(value, type, depth); }
    const char *where = value.raw_json_token().data();
    if (value.get_bool().get(out) != simdjson::SUCCESS) {
        fail_json_at(simdjson::T_ATOM_ERROR, where);
        return Got::failed;
    }
    return Got::value;
}

/// A field of the wrong JSON type: null, or any other value, which is still validated.
EventParser::Got EventParser::other_type(od::value &value, od::json_type type, unsigned depth) {
    if (type == od::json_type::null) {
        const char *where = value.raw_json_token().data();
        bool is_null = false;
        if (value.is_null().get(is_null) != simdjson::SUCCESS || !is_null) {
            fail_json_at(simdjson::N_ATOM_ERROR, where);
            return Got::failed;
        }
        return Got::null;
    }
    return validate(value, type, depth) ? Got::wrong_type : Got::failed;
}

bool EventParser::validate(od::value &value, unsigned depth) {
    od::json_type type;
    if (auto error = value.type().get(type)) { return fail_json(error); }
    return validate(value, type, depth);
}

/// Reads a value the schema does not use, all the way down: on-demand parsing only checks what
/// it is asked for, and the whole body must be valid JSON.
bool EventParser::validate(od::value &value, od::json_type type, unsigned depth) {
    const char *where = value.raw_json_token().data();
    switch (type) {
    case od::json_type::object: {
        if (depth >= max_depth) { return refuse(Problem::too_deep); }
        od::object object;
        if (auto error = value.get_object().get(object)) { return fail_json(error); }
        for (auto result : object) {
            std::string_view key;
            od::field *field = read_field(result, key);
            if (field == nullptr || !validate(field->value(), depth + 1)) { return false; }
        }
        return true;
    }
    case od::json_type::array: {
        if (depth >= max_depth) { return refuse(Problem::too_deep); }
        od::array array;
        if (auto error = value.get_array().get(array)) { return fail_json(error); }
        for (auto element : array) {
            od::value child;
            if (auto error = std::move(element).get(child)) { return fail_json(error); }
            if (!validate(child, depth + 1)) { return false; }
        }
        return true;
    }
    case od::json_type::string: {
        std::string_view text;
        if (auto error = value.get_string().get(text)) { return fail_json_at(error, where); }
        return true;
    }
    case od::json_type::number:
        return is_json_number(value.raw_json_token()) || fail_json_at(simdjson::NUMBER_ERROR, where);
    case od::json_type::boolean: {
        bool flag = false;
        if (value.get_bool().get(flag) != simdjson::SUCCESS) { return fail_json_at(simdjson::T_ATOM_ERROR, where); }
        return true;
    }
    case od::json_type::null: {
        bool is_null = false;
        if (value.is_null().get(is_null) != simdjson::SUCCESS || !is_null) {
            return fail_json_at(simdjson::N_ATOM_ERROR, where);
        }
        return true;
    }
    }
    return fail_json_at(simdjson::TAPE_ERROR, where);
}

EventParser::Found EventParser::found(Got got) noexcept {
    switch (got) {
    case Got::value: return Found::value;
    case Got::null: return Found::null;
    case Got::wrong_type:
    case Got::failed: break;
    }
    return Found::wrong_type;
}

// MARK: - Errors

bool EventParser::refuse(SchemaError error) {
    error_event_ = current_event_;
    error_ = describe(error);
    return false;
}

bool EventParser::fail_json(simdjson::error_code code) {
    const char *where = document_end_;
    if (document_ != nullptr) {
        auto location = document_->current_location();
        if (!location.error() && location.value_unsafe() < document_end_) { where = location.value_unsafe(); }
    }
    return fail_json_at(code, where);
}

bool EventParser::fail_json_at(simdjson::error_code code, const char *where) {
    if (code == simdjson::MEMALLOC) {
        fail_request("out of memory");
        return false;
    }
    if (fail_located(code, where)) { return false; }
    error_event_ = current_event_;
    error_ = "invalid JSON";
    if (where != nullptr) {
        error_ += " at byte ";
        error_ += std::to_string(where - reinterpret_cast<const char *>(input_.data()));
    }
    error_ += ": ";
    error_ += describe_json_error(code);
    return false;
}

/// Errors from simdjson's first pass over a whole document, which carry no position.
bool EventParser::fail_stage1(simdjson::error_code code) {
    switch (code) {
    case simdjson::MEMALLOC: fail_request("out of memory"); return false;
    case simdjson::CAPACITY: fail_request("request body too large"); return false;
    default: break;
    }
    if (fail_located(code, nullptr)) { return false; }
    error_event_ = current_event_;
    error_ = std::string("invalid JSON: ") + describe_json_error(code);
    return false;
}

/// The errors simdjson reports with no position (stage 1), or with one that is not the fault (an
/// unclosed object is reported where it opens), or as a mere "unexpected token": the fault is
/// found by scanning the document, so that the message says where and what it is: `invalid JSON
/// at byte 25: unexpected end (unclosed object or array)`. An unexpected token is replaced only
/// by a fault the scan finds at or before it (a truncation, a stray closer). Records the error and
/// returns true when it found one.
bool EventParser::fail_located(simdjson::error_code code, const char *reported) {
    if (document_begin_ == nullptr) { return false; }
    JSONFault fault;
    switch (code) {
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
    case simdjson::UNCLOSED_STRING: fault = locate_structure_fault(document_begin_, document_end_); break;
    case simdjson::TAPE_ERROR:
        if (reported == nullptr) { return false; }
        fault = locate_structure_fault(document_begin_, document_end_);
        if (fault.where != nullptr && fault.where > reported && reported < document_end_) { return false; }
        break;
    case simdjson::UTF8_ERROR: fault = locate_utf8_fault(document_begin_, document_end_); break;
    case simdjson::UNESCAPED_CHARS: fault = locate_control_in_string(document_begin_, document_end_); break;
    default: return false;
    }
    if (fault.where == nullptr) { return false; }
    error_event_ = current_event_;
    error_ = "invalid JSON at byte " +
             std::to_string(fault.where - reinterpret_cast<const char *>(input_.data())) + ": " + fault.what;
    return true;
}

void EventParser::fail_request(const char *message) {
    error_event_ = -1;
    error_ = message;
}

void EventParser::trim() noexcept {
    input_.release_if_larger_than(retained_capacity);
    tape_.release_if_larger_than(retained_capacity);
    members_.release_if_larger_than(retained_capacity);
    if (parser_.capacity() > retained_capacity) { parser_ = od::parser{}; }
}

} // namespace cej
