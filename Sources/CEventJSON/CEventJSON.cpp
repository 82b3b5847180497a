// The C face of EventParser: the only functions Swift calls.
#include "CEventJSON.h"

#include <new>

#include "EventParser.hpp"

struct cej_decoder {
    cej::EventParser parser;
};

extern "C" cej_decoder *cej_decoder_create(void) { return new (std::nothrow) cej_decoder(); }

extern "C" void cej_decoder_destroy(cej_decoder *decoder) { delete decoder; }

extern "C" void cej_decoder_trim(cej_decoder *decoder) { decoder->parser.trim(); }

extern "C" const char *cej_kind_name(int kind) { return cej::kind_name(kind); }

extern "C" int cej_kind_of(const char *name, size_t length) {
    return cej::kind_of(std::string_view(name, length));
}

extern "C" bool cej_decode(cej_decoder *decoder, const void *body, size_t length, int format,
                           cej_result *result) {
    cej::EventParser &parser = decoder->parser;
    bool ok = false;
    // No C++ exception may cross into Swift; the only ones possible are allocation failures.
    try {
        ok = parser.decode(static_cast<const uint8_t *>(body), length, format);
    } catch (...) {
        parser.fail_request("out of memory");
        ok = false;
    }
    *result = cej_result{};
    result->error_event = -1;
    if (ok) {
        result->tape = parser.tape().data();
        result->tape_length = parser.tape().size();
        result->event_count = parser.event_count();
    } else {
        result->error_event = parser.error_event();
        result->error_message = parser.error_message().c_str();
        result->error_length = parser.error_message().size();
    }
    return ok;
}
