import SnapshotCore
@testable import SnapshotService
import Testing

/// A token's patterns: an exact name, a prefix ending in `*`, or `*`.
@Suite struct SnapshotNamePatternTests {
    static func name(_ text: String) throws -> SnapshotName { try SnapshotName(text) }

    @Test func kinds() throws {
        #expect(try SnapshotNamePattern("*") == .all)
        #expect(try SnapshotNamePattern("default") == .exact(Self.name("default")))
        #expect(try SnapshotNamePattern("agent-*") == .prefix(Self.name("agent-")))
        #expect(try SnapshotNamePattern("a*") == .prefix(Self.name("a")))
        let longest = String(repeating: "x", count: 128)
        #expect(try SnapshotNamePattern(longest + "*") == .prefix(Self.name(longest)))
        for text in ["*", "default", "agent-*", "a.b_c-*"] {
            #expect(try SnapshotNamePattern(text).description == text)
        }
    }

    @Test(arguments: [
        ("a*b", SnapshotNamePatternError.Reason.starNotLast(offset: 1)),
        ("*a", .starNotLast(offset: 0)),
        ("**", .starNotLast(offset: 0)),
        ("a**", .starNotLast(offset: 1)),
        ("agent-*-x", .starNotLast(offset: 6)),
        ("", .badName(.empty)),
        (".*", .badName(.badFirstByte(UInt8(ascii: ".")))),
        ("..", .badName(.badFirstByte(UInt8(ascii: ".")))),
        ("-*", .badName(.badFirstByte(UInt8(ascii: "-")))),
        ("a/b", .badName(.badByte(UInt8(ascii: "/"), offset: 1))),
        ("a/*", .badName(.badByte(UInt8(ascii: "/"), offset: 1))),
        ("a%2F*", .badName(.badByte(UInt8(ascii: "%"), offset: 1))),  // patterns are not percent-decoded
        ("agent?", .badName(.badByte(UInt8(ascii: "?"), offset: 5))),
        ("caf\u{E9}*", .badName(.badByte(0xC3, offset: 3))),
        (String(repeating: "x", count: 129), .badName(.tooLong(bytes: 129))),
        (String(repeating: "x", count: 129) + "*", .badName(.tooLong(bytes: 129))),
    ])
    func invalidPatterns(text: String, reason: SnapshotNamePatternError.Reason) {
        #expect(throws: SnapshotNamePatternError(pattern: text, reason: reason)) { try SnapshotNamePattern(text) }
    }

    @Test func reasons() {
        #expect(SnapshotNamePatternError(pattern: "a*b", reason: .starNotLast(offset: 1)).description
            == #""a*b" is not a snapshot name, a prefix ending in "*" or "*": a "*" at byte 1 before the end"#)
        #expect(SnapshotNamePatternError(pattern: "a/b", reason: .badName(.badByte(UInt8(ascii: "/"), offset: 1))).description
            == #""a/b" is not a snapshot name, a prefix ending in "*" or "*": a snapshot name holds only letters, digits, ".", "_" and "-": "/" at byte 1"#)
    }

    @Test func matching() throws {
        let all = SnapshotNamePattern.all
        let exact = try SnapshotNamePattern("default")
        let prefix = try SnapshotNamePattern("agent-*")
        for text in ["default", "agent-1", "x", String(repeating: "z", count: 128)] {
            #expect(all.matches(try Self.name(text)))
        }
        #expect(exact.matches(try Self.name("default")))
        for text in ["Default", "DEFAULT", "defaults", "default.", "defaul", "x"] {
            #expect(!exact.matches(try Self.name(text)), "\(text)")
        }
        for text in ["agent-", "agent-1", "agent-a.b", "agent--"] {
            #expect(prefix.matches(try Self.name(text)), "\(text)")
        }
        for text in ["agent", "Agent-1", "agent_1", "xagent-1", "default"] {
            #expect(!prefix.matches(try Self.name(text)), "\(text)")
        }
    }
}
