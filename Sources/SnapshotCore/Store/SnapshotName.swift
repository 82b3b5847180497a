/// The name of a snapshot: 1 to 128 bytes of ASCII letters, digits, `.`, `_` and `-`, the first a
/// letter or a digit (`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`). So a name is never a path segment
/// such as `.` or `..`, never holds a `/` or a NUL, and is the same bytes however it is spelled
/// in a URL: it can become a file name as it is. Checked byte by byte, no regex engine.
public struct SnapshotName: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The longest name, in bytes.
    public static let maxBytes = 128

    /// The snapshot the routes without a name act on.
    public static let `default` = SnapshotName(checked: "default")

    /// The name, ASCII only.
    public let rawValue: String

    public var description: String { rawValue }

    /// A name given as it is (a token file's pattern, a configuration value).
    public init(_ text: some StringProtocol) throws(SnapshotNameError) {
        if let error = Self.check(text.utf8) { throw error }
        rawValue = String(text)
    }

    /// A name as it appears in a URL path segment: percent-escapes are decoded first (`%41` is
    /// `A`), and the decoded bytes are checked, so `%2F` and `%00` are refused as `/` and NUL
    /// are. `+` is not a space in a path. A `%` not followed by two hex digits is refused.
    public init(percentEncoded text: some StringProtocol) throws(SnapshotNameError) {
        if !text.utf8.contains(UInt8(ascii: "%")) {
            // Nothing to decode: checked where it is, with no byte array (on every named
            // request; a name of up to 15 bytes is then a small String, not an allocation).
            if let error = Self.check(text.utf8) { throw error }
            rawValue = String(text)
            return
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var input = text.utf8.makeIterator()
        while let byte = input.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = input.next().flatMap(Self.hexValue), let low = input.next().flatMap(Self.hexValue) else {
                throw .malformedEscape(offset: bytes.count)
            }
            bytes.append(high << 4 | low)
        }
        if let error = Self.check(bytes) { throw error }
        // Every byte is ASCII once checked.
        rawValue = String(decoding: bytes, as: UTF8.self)
    }

    private init(checked: String) {
        rawValue = checked
    }

    public static func < (a: SnapshotName, b: SnapshotName) -> Bool { a.rawValue < b.rawValue }

    /// Why `bytes` is not a name, or nil when it is one.
    static func check(_ bytes: some Collection<UInt8>) -> SnapshotNameError? {
        guard let first = bytes.first else { return .empty }
        guard bytes.count <= maxBytes else { return .tooLong(bytes: bytes.count) }
        guard isAlphanumeric(first) else { return .badFirstByte(first) }
        for (offset, byte) in bytes.enumerated().dropFirst() where !isAllowed(byte) {
            return .badByte(byte, offset: offset)
        }
        return nil
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: false
        }
    }

    static func isAllowed(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
