@testable import SnapshotCore
import Testing

/// `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`, byte by byte, as given and once percent-decoded.
@Suite struct SnapshotNameTests {
    static func error(_ text: String) -> SnapshotNameError? {
        do {
            _ = try SnapshotName(text)
            return nil
        } catch {
            return error
        }
    }

    static func decodedError(_ text: String) -> SnapshotNameError? {
        do {
            _ = try SnapshotName(percentEncoded: text)
            return nil
        } catch {
            return error
        }
    }

    /// A text without '%' is checked in place, one with '%' decoded first: the same text, one
    /// byte of it escaped, gives the same name or the same error either way.
    @Test(arguments: ["default", "a", "agent-0042", "x.y_z-1", "", ".a", "-a", "a/b", "a b", "a\u{7F}", "é",
                      String(repeating: "x", count: 128), String(repeating: "x", count: 129), "ok!", "a\"b"])
    func checkedInPlaceAsWhenDecoded(text: String) {
        let bytes = Array(text.utf8)
        for index in bytes.indices {
            var escaped = ""
            for (offset, byte) in bytes.enumerated() {
                if offset == index {
                    escaped += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
                } else {
                    escaped += String(decoding: [byte], as: UTF8.self)
                }
            }
            if bytes.allSatisfy({ $0 < 0x80 }) {
                #expect(Self.decodedError(escaped) == Self.decodedError(text), "\(escaped)")
                #expect((try? SnapshotName(percentEncoded: escaped)) == (try? SnapshotName(percentEncoded: text)))
            }
        }
        #expect(Self.decodedError(text) == Self.error(text))
    }

    @Test(arguments: ["default", "a", "Z", "0", "agent-1", "agent_1.bak", "a..b", "a-", "a.", "A-_.", "9lives",
                      String(repeating: "x", count: 128), "a" + String(repeating: "._-", count: 42) + "z"])
    func validNames(text: String) throws {
        #expect(try SnapshotName(text).rawValue == text)
        #expect(try SnapshotName(percentEncoded: text).rawValue == text)
    }

    @Test(arguments: [
        ("", SnapshotNameError.empty),
        (".", .badFirstByte(UInt8(ascii: "."))),
        ("..", .badFirstByte(UInt8(ascii: "."))),
        (".hidden", .badFirstByte(UInt8(ascii: "."))),
        ("-a", .badFirstByte(UInt8(ascii: "-"))),
        ("_a", .badFirstByte(UInt8(ascii: "_"))),
        ("/a", .badFirstByte(UInt8(ascii: "/"))),
        ("a/b", .badByte(UInt8(ascii: "/"), offset: 1)),
        ("a/../b", .badByte(UInt8(ascii: "/"), offset: 1)),
        ("a\\b", .badByte(UInt8(ascii: "\\"), offset: 1)),
        ("a\u{0}", .badByte(0, offset: 1)),
        ("\u{0}", .badFirstByte(0)),
        ("a b", .badByte(0x20, offset: 1)),
        ("a\tb", .badByte(0x09, offset: 1)),
        ("a\nb", .badByte(0x0A, offset: 1)),
        ("a*", .badByte(UInt8(ascii: "*"), offset: 1)),
        ("a%2Fb", .badByte(UInt8(ascii: "%"), offset: 1)),
        ("a+b", .badByte(UInt8(ascii: "+"), offset: 1)),
        ("a:b", .badByte(UInt8(ascii: ":"), offset: 1)),
        ("caf\u{E9}", .badByte(0xC3, offset: 3)),
        ("\u{E9}t\u{E9}", .badFirstByte(0xC3)),
        ("a\u{FF0F}b", .badByte(0xEF, offset: 1)),  // a fullwidth solidus
        (String(repeating: "x", count: 129), .tooLong(bytes: 129)),
        (String(repeating: "x", count: 4096), .tooLong(bytes: 4096)),
    ])
    func invalidNames(text: String, expected: SnapshotNameError) {
        #expect(Self.error(text) == expected)
    }

    /// Every byte value after a valid first byte, and as the first byte: exactly the class of
    /// the pattern passes.
    @Test func everyByte() {
        let allowed = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-".utf8))
        let alphanumeric = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8))
        for byte in UInt8.min...UInt8.max {
            #expect((SnapshotName.check([UInt8(ascii: "a"), byte]) == nil) == allowed.contains(byte), "byte \(byte)")
            #expect((SnapshotName.check([byte]) == nil) == alphanumeric.contains(byte), "byte \(byte)")
            #expect((SnapshotName.check([byte, UInt8(ascii: "a")]) == nil) == alphanumeric.contains(byte), "byte \(byte)")
        }
    }

    @Test(arguments: [
        ("%41bc", "Abc"), ("a%2db", "a-b"), ("a%2Eb", "a.b"), ("%64efault", "default"),
        (String(repeating: "%78", count: 128), String(repeating: "x", count: 128)),
    ])
    func percentEscapesAreDecoded(text: String, name: String) throws {
        #expect(try SnapshotName(percentEncoded: text).rawValue == name)
    }

    @Test(arguments: [
        ("%2F", SnapshotNameError.badFirstByte(UInt8(ascii: "/"))),
        ("a%2Fb", .badByte(UInt8(ascii: "/"), offset: 1)),
        ("a%2fb", .badByte(UInt8(ascii: "/"), offset: 1)),
        ("%00", .badFirstByte(0)),
        ("a%00", .badByte(0, offset: 1)),
        ("a%00b", .badByte(0, offset: 1)),
        ("%2e%2e", .badFirstByte(UInt8(ascii: "."))),
        ("%2E", .badFirstByte(UInt8(ascii: "."))),
        ("a%252Fb", .badByte(UInt8(ascii: "%"), offset: 1)),  // decoded once only: "a%2Fb"
        ("a%5Cb", .badByte(UInt8(ascii: "\\"), offset: 1)),
        ("a%20b", .badByte(0x20, offset: 1)),
        ("caf%C3%A9", .badByte(0xC3, offset: 3)),
        ("a+b", .badByte(UInt8(ascii: "+"), offset: 1)),
        ("%", .malformedEscape(offset: 0)),
        ("a%", .malformedEscape(offset: 1)),
        ("a%2", .malformedEscape(offset: 1)),
        ("ab%zz", .malformedEscape(offset: 2)),
        ("ab%2g", .malformedEscape(offset: 2)),
        ("", .empty),
        (String(repeating: "%78", count: 129), .tooLong(bytes: 129)),
    ])
    func percentDecodedThenChecked(text: String, expected: SnapshotNameError) {
        #expect(Self.decodedError(text) == expected)
    }

    /// A literal name is not decoded: `%41` is three bytes, and `%` is refused.
    @Test func literalNamesAreNotDecoded() {
        #expect(Self.error("%41") == .badFirstByte(UInt8(ascii: "%")))
    }

    @Test func defaultName() {
        #expect(SnapshotName.default.rawValue == "default")
        #expect(SnapshotName.default == (try? SnapshotName("default")))
    }

    @Test(arguments: [
        (SnapshotNameError.empty, "a snapshot name cannot be empty"),
        (.tooLong(bytes: 129), "a snapshot name is at most 128 bytes, not 129"),
        (.badFirstByte(UInt8(ascii: ".")), #"a snapshot name starts with a letter or a digit, not ".""#),
        (.badByte(UInt8(ascii: "/"), offset: 1), #"a snapshot name holds only letters, digits, ".", "_" and "-": "/" at byte 1"#),
        (.badByte(0, offset: 3), #"a snapshot name holds only letters, digits, ".", "_" and "-": byte 0x00 at byte 3"#),
        (.badByte(0xC3, offset: 3), #"a snapshot name holds only letters, digits, ".", "_" and "-": byte 0xC3 at byte 3"#),
        (.badByte(UInt8(ascii: "\""), offset: 1), #"a snapshot name holds only letters, digits, ".", "_" and "-": byte 0x22 at byte 1"#),
        (.badByte(0x20, offset: 1), #"a snapshot name holds only letters, digits, ".", "_" and "-": byte 0x20 at byte 1"#),
        (.malformedEscape(offset: 2), #"a snapshot name has a "%" without two hex digits after it, at byte 2"#),
    ])
    func reasons(error: SnapshotNameError, text: String) {
        #expect(error.description == text)
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
