// Reads a request body of events with simdjson's on-demand API, validates every event against
// the HTTP API's schema, and writes the tape described in include/CEventJSON.h.
#ifndef CEVENTJSON_EVENT_PARSER_HPP
#define CEVENTJSON_EVENT_PARSER_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "SchemaError.hpp"
#include "Tape.hpp"

namespace cej {

namespace od = simdjson::ondemand;

/// The CEJ_KIND_* for an event type, or -1.
int kind_of(std::string_view type) noexcept;

/// The type name of a CEJ_KIND_* (NUL-terminated), or nullptr.
const char *kind_name(int kind) noexcept;

class EventParser {
public:
    /// Decodes a whole body: true when every event is valid (see tape() and event_count()),
    /// false at the first bad one (see error_event() and error_message()).
    bool decode(const uint8_t *body, size_t length, int format);

    const Tape &tape() const noexcept { return tape_; }
    size_t event_count() const noexcept { return events_; }
    int64_t error_event() const noexcept { return error_event_; }
    const std::string &error_message() const noexcept { return error_; }

    /// Frees buffers a large request left behind, keeping what ordinary requests reuse.
    void trim() noexcept;

    /// Records a failure that is not about one event (e.g. memory exhausted).
    void fail_request(const char *message);

private:
    /// How one field of an event was found.
    enum class Found : uint8_t { absent, null, value, wrong_type };
    /// What a read helper did: Found, or `failed` when it recorded an error.
    enum class Got : uint8_t { value, null, wrong_type, failed };
    struct EventFields;

    bool decode_single(size_t length);
    bool decode_ndjson(size_t length);
    bool decode_root_object(od::document &doc);
    bool validate_root(od::document &doc, od::json_type type);
    bool check_document_end(od::document &doc);
    bool parse_event(od::object &object);
    bool finish_event(const EventFields &fields);
    bool parse_members(od::value &value, EventFields &fields);
    bool parse_member(od::value &value, uint32_t index, SchemaError &first_error);

    od::field *read_field(simdjson::simdjson_result<od::field> &result, std::string_view &key);
    Got read_string(od::value &value, std::string_view &out, unsigned depth);
    Got read_uint64(od::value &value, uint64_t &out, unsigned depth);
    Got read_bool(od::value &value, bool &out, unsigned depth);
    Got other_type(od::value &value, od::json_type type, unsigned depth);
    bool validate(od::value &value, unsigned depth);
    bool validate(od::value &value, od::json_type type, unsigned depth);

    bool refuse(SchemaError error);
    bool refuse(Problem problem) { return refuse(SchemaError{problem, 0, {}}); }
    bool fail_json(simdjson::error_code code);
    bool fail_json_at(simdjson::error_code code, const char *where);
    bool fail_stage1(simdjson::error_code code);
    bool fail_located(simdjson::error_code code, const char *reported);
    static Found found(Got got) noexcept;

    od::parser parser_;
    Tape input_;   ///< the body plus SIMDJSON_PADDING bytes, reused across requests
    Tape tape_;    ///< the output
    Tape members_; ///< the current event's member records, until its type is known
    size_t events_ = 0;
    int64_t current_event_ = -1;
    int64_t error_event_ = -1;
    std::string error_;
    od::document *document_ = nullptr; ///< the document being read, for error positions
    const char *document_begin_ = nullptr; ///< its bytes (the body, or one NDJSON line)
    const char *document_end_ = nullptr;
};

} // namespace cej

#endif // CEVENTJSON_EVENT_PARSER_HPP
