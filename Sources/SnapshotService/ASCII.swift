/// ASCII byte comparisons for header values, without allocating.
enum ASCII {
    /// Case-insensitive equality with a lower-case literal.
    static func equalsLowercased(_ bytes: UnsafeBufferPointer<UInt8>, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let expected = lower.utf8Start
        for i in 0..<bytes.count {
            let byte = bytes[i]
            let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            if folded != expected[i] { return false }
        }
        return true
    }
}
