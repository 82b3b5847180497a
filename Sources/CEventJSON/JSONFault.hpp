// Where a JSON document breaks, for the errors simdjson reports without a useful position (an
// unclosed object at the end of the input, invalid UTF-8): a plain scan of the document's bytes,
// run only once a body has been refused.
#ifndef CEVENTJSON_JSON_FAULT_HPP
#define CEVENTJSON_JSON_FAULT_HPP

namespace cej {

struct JSONFault {
    const char *where = nullptr; ///< the offending byte (the end of the input for a truncation); null: not found
    const char *what = nullptr;  ///< e.g. "unexpected end (unclosed object or array)"
};

/// The first fault in the nesting of [begin, end): a closing bracket that closes nothing open
/// (or the other kind), content after the root value, or the end of the input with a string,
/// object or array still open. Strings are skipped (with their escapes). May throw bad_alloc.
JSONFault locate_structure_fault(const char *begin, const char *end);

/// The first byte of [begin, end) that does not start a valid UTF-8 sequence (RFC 3629).
JSONFault locate_utf8_fault(const char *begin, const char *end) noexcept;

/// The first control character (below 0x20) inside a string of [begin, end).
JSONFault locate_control_in_string(const char *begin, const char *end) noexcept;

} // namespace cej

#endif // CEVENTJSON_JSON_FAULT_HPP
