/// Why a text is not a `SnapshotName`. Offsets count bytes of the name (after percent-decoding).
public enum SnapshotNameError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(bytes: Int)
    /// The first byte is not a letter or a digit (`.`, `..` and hidden names start with a dot).
    case badFirstByte(UInt8)
    /// A byte other than a letter, a digit, `.`, `_` or `-` (`/`, NUL, a space, non-ASCII...).
    case badByte(UInt8, offset: Int)
    /// A `%` not followed by two hex digits, at this offset of the decoded name.
    case malformedEscape(offset: Int)

    public var description: String {
        switch self {
        case .empty:
            "a snapshot name cannot be empty"
        case .tooLong(let bytes):
            "a snapshot name is at most \(SnapshotName.maxBytes) bytes, not \(bytes)"
        case .badFirstByte(let byte):
            "a snapshot name starts with a letter or a digit, not \(Self.describe(byte))"
        case .badByte(let byte, let offset):
            "a snapshot name holds only letters, digits, \".\", \"_\" and \"-\": \(Self.describe(byte)) at byte \(offset)"
        case .malformedEscape(let offset):
            "a snapshot name has a \"%\" without two hex digits after it, at byte \(offset)"
        }
    }

    /// `"/"` for printable ASCII, `byte 0x00` for anything else.
    static func describe(_ byte: UInt8) -> String {
        if byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") {
            return "\"" + String(UnicodeScalar(byte)) + "\""
        }
        let hex = String(byte, radix: 16, uppercase: true)
        return "byte 0x" + (hex.count < 2 ? "0" + hex : hex)
    }
}
