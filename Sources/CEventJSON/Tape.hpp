// The growable byte buffer the decoder writes its tape (and scratch records) into.
#ifndef CEVENTJSON_TAPE_HPP
#define CEVENTJSON_TAPE_HPP

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

namespace cej {

/// Append-only bytes in native byte order. Capacity is kept across clear() so a reused decoder
/// stops allocating once warmed up. Throws std::bad_alloc when memory is exhausted.
class Tape {
public:
    Tape() noexcept = default;
    Tape(const Tape &) = delete;
    Tape &operator=(const Tape &) = delete;
    ~Tape() { std::free(bytes_); }

    void clear() noexcept { size_ = 0; }
    const uint8_t *data() const noexcept { return bytes_; }
    size_t size() const noexcept { return size_; }
    size_t capacity() const noexcept { return capacity_; }

    /// Frees the storage when it has grown beyond limit, so that one huge request does not pin
    /// its memory in a long-lived decoder.
    void release_if_larger_than(size_t limit) noexcept {
        if (capacity_ > limit) {
            std::free(bytes_);
            bytes_ = nullptr;
            size_ = capacity_ = 0;
        }
    }

    /// Makes room for n more bytes and returns where they go; the caller fills all of them.
    uint8_t *extend(size_t n) {
        if (capacity_ - size_ < n) { grow(n); }
        uint8_t *at = bytes_ + size_;
        size_ += n;
        return at;
    }

    void put_u8(uint8_t v) { *extend(1) = v; }
    void put_u16(uint16_t v) { std::memcpy(extend(sizeof v), &v, sizeof v); }
    void put_u32(uint32_t v) { std::memcpy(extend(sizeof v), &v, sizeof v); }
    void put_u64(uint64_t v) { std::memcpy(extend(sizeof v), &v, sizeof v); }
    void put_bytes(const void *p, size_t n) {
        if (n != 0) { std::memcpy(extend(n), p, n); }
    }
    /// A u32 length, then the bytes. Callers guarantee s.size() fits in 32 bits.
    void put_string(std::string_view s) {
        put_u32(static_cast<uint32_t>(s.size()));
        put_bytes(s.data(), s.size());
    }

private:
    void grow(size_t n) {
        size_t wanted = size_ + n;
        if (wanted < size_) { throw std::bad_alloc(); }
        size_t next = capacity_ < 256 ? 256 : capacity_;
        while (next < wanted) {
            if (next > SIZE_MAX / 2) { next = wanted; break; }
            next *= 2;
        }
        void *p = std::realloc(bytes_, next);
        if (p == nullptr) { throw std::bad_alloc(); }
        bytes_ = static_cast<uint8_t *>(p);
        capacity_ = next;
    }

    uint8_t *bytes_ = nullptr;
    size_t size_ = 0;
    size_t capacity_ = 0;
};

} // namespace cej

#endif // CEVENTJSON_TAPE_HPP
