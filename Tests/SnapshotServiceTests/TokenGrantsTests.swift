import SnapshotCore
import Foundation
@testable import SnapshotService
import Testing

/// The token file's grants: parsing (errors with their line) and matching a request's
/// credentials against them.
@Suite struct TokenGrantsTests {
    static func parse(_ text: String) throws -> TokenGrants { try TokenGrants(parsing: text) }

    static func failure(_ bytes: [UInt8]) -> TokenGrantsError? {
        do {
            _ = try TokenGrants(parsing: bytes)
            return nil
        } catch {
            return error
        }
    }

    static func failure(_ text: String) -> TokenGrantsError? { failure(Array(text.utf8)) }

    static func name(_ text: String) throws -> SnapshotName { try SnapshotName(text) }

    /// Today's file, one token with blanks around it, reads as before: the token is what
    /// Foundation's trimming of the whole file gave, and it may use every name.
    @Test(arguments: ["tok", "tok\n", "  tok  \r\n", "\n\n\ttok\n\n", "tok\u{A0}\u{2003}\n", "\u{3000}tok\u{85}", "\r\ns3cr3t+/=-._~\r\n",
                      "\u{2028}tok\u{2029}", "h\u{E9}llo", "\u{FEFF}tok"])
    func legacyFile(text: String) throws {
        let grants = try Self.parse(text)
        let legacy = text.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(grants.grants.count == 1)
        #expect(grants.grants.first?.token == Array(legacy.utf8))
        #expect(grants.grants.first?.patterns == [.all])
        #expect(grants.authorize("Bearer \(legacy)", snapshot: .default) == .granted)
        #expect(grants.authorize("Bearer \(legacy)", snapshot: try Self.name("any-name")) == .granted)
    }

    @Test func linesCommentsAndPatterns() throws {
        let grants = try Self.parse("""
            # operators
            admin

              # the CI
            ci default\tstaging
            agent agent-* \t default-copy
            wild *\r
            """)
        #expect(grants.grants.map(\.line) == [2, 5, 6, 7])
        #expect(grants.grants.map { String(decoding: $0.token, as: UTF8.self) } == ["admin", "ci", "agent", "wild"])
        #expect(grants.grants[0].patterns == [.all])
        #expect(grants.grants[1].patterns == [.exact(try Self.name("default")), .exact(try Self.name("staging"))])
        #expect(grants.grants[2].patterns == [.prefix(try Self.name("agent-")), .exact(try Self.name("default-copy"))])
        #expect(grants.grants[3].patterns == [.all])
    }

    @Test func aHashInsideATokenIsPartOfIt() throws {
        let grants = try Self.parse("to#ken\n")
        #expect(grants.authorize("Bearer to#ken", snapshot: .default) == .granted)
    }

    @Test(arguments: [
        ("", TokenGrantsError(line: nil, reason: .noToken)),
        ("# only a comment\n\n   \n", TokenGrantsError(line: nil, reason: .noToken)),
        ("#tok\n", TokenGrantsError(line: nil, reason: .noToken)),
        ("tok agent*x", TokenGrantsError(line: 1, reason: .badPattern(.init(pattern: "agent*x", reason: .starNotLast(offset: 5))))),
        ("# c\n\ngood\nbad ../x\n", TokenGrantsError(line: 4, reason: .badPattern(.init(pattern: "../x", reason: .badName(.badFirstByte(UInt8(ascii: "."))))))),
        ("a\r\nb\r\nc x/y\r\n", TokenGrantsError(line: 3, reason: .badPattern(.init(pattern: "x/y", reason: .badName(.badByte(UInt8(ascii: "/"), offset: 1)))))),
        ("tok default **", TokenGrantsError(line: 1, reason: .badPattern(.init(pattern: "**", reason: .starNotLast(offset: 0))))),
        ("tok default # a comment", TokenGrantsError(line: 1, reason: .badPattern(.init(pattern: "#", reason: .badName(.badFirstByte(UInt8(ascii: "#"))))))),
        ("one\ntwo\none default\n", TokenGrantsError(line: 3, reason: .duplicate(ofLine: 1))),
        ("to\u{1}ken", TokenGrantsError(line: 1, reason: .unsendableToken(1))),
        ("ok\nto\u{7F}ken", TokenGrantsError(line: 2, reason: .unsendableToken(0x7F))),
        ("to\u{FFFD}ken", TokenGrantsError(line: 1, reason: .unsendableToken(0xFFFD))),
    ])
    func badFiles(text: String, expected: TokenGrantsError) {
        #expect(Self.failure(text) == expected)
    }

    @Test func notUTF8() {
        #expect(Self.failure(Array("good\n".utf8) + [0x74, 0xFF, 0x6B]) == TokenGrantsError(line: 2, reason: .notUTF8))
        #expect(Self.failure([0xC3]) == TokenGrantsError(line: 1, reason: .notUTF8))
    }

    @Test func messages() {
        #expect(Self.failure("good\nbad agent*x\n")?.description
            == #"line 2: "agent*x" is not a snapshot name, a prefix ending in "*" or "*": a "*" at byte 5 before the end"#)
        #expect(Self.failure("# nothing\n")?.description == "no token: every line is blank or a # comment")
        #expect(Self.failure("a\nb\na\n")?.description == "line 3: the same token as line 1")
        #expect(Self.failure("a\u{1}")?.description == "line 1: the token holds U+1, which no Authorization header can carry")
        #expect(Self.failure([0xFF])?.description == "line 1: not UTF-8 text")
    }

    @Test func authorization() throws {
        let grants = try Self.parse("admin\nci default\nagent agent-*\nmixed a b c-*\n")
        let named = { (text: String) throws -> SnapshotName in try Self.name(text) }
        func check(_ token: String, _ name: String?, _ expected: TokenGrants.Authorization) throws {
            let snapshot = try name.map(named)
            #expect(grants.authorize("Bearer \(token)", snapshot: snapshot) == expected, "\(token) on \(name ?? "nil")")
        }
        for name in ["default", "agent-1", "a", "anything"] { try check("admin", name, .granted) }
        try check("ci", "default", .granted)
        for name in ["agent-1", "defaults", "Default"] { try check("ci", name, .notGranted(line: 2)) }
        for name in ["agent-1", "agent-", "agent-x.y"] { try check("agent", name, .granted) }
        for name in ["default", "agent", "agent_1"] { try check("agent", name, .notGranted(line: 3)) }
        for name in ["a", "b", "c-", "c-1"] { try check("mixed", name, .granted) }
        for name in ["c", "ab", "default"] { try check("mixed", name, .notGranted(line: 4)) }
        // A route that acts on no snapshot (/metrics): any known token.
        for token in ["admin", "ci", "agent", "mixed"] { try check(token, nil, .granted) }
        for token in ["nobody", "admi", "adminx", "Admin", "ci ", ""] {
            try check(token, "default", .unknownToken)
            try check(token, nil, .unknownToken)
        }
        #expect(grants.authorize(nil, snapshot: .default) == .unknownToken)
        #expect(grants.authorize("Basic admin", snapshot: .default) == .unknownToken)
    }

    /// Tokens that are prefixes of one another, and many tokens: the credential selects exactly
    /// its own grant, whichever position it has.
    @Test func theMatchingGrantIsSelected() throws {
        var tokens = ["abc", "abcd", "ab", "abcde"]
        for i in 0..<60 { tokens.append("tok-\(i)-\(UInt64.random(in: 0...UInt64.max))") }
        let grants = try Self.parse(tokens.enumerated().map { "\($1) name-\($0)" }.joined(separator: "\n"))
        for (index, token) in tokens.enumerated() {
            #expect(grants.grantIndex("Bearer \(token)") == index)
            #expect(grants.authorize("Bearer \(token)", snapshot: try Self.name("name-\(index)")) == .granted)
            let other = (index + 1) % tokens.count
            #expect(grants.authorize("Bearer \(token)", snapshot: try Self.name("name-\(other)")) == .notGranted(line: index + 1))
        }
        #expect(grants.grantIndex("Bearer a") == nil)
        #expect(grants.grantIndex("Bearer abcdef") == nil)
    }

    @Test func constantTimeDifference() {
        func difference(_ a: String, _ b: String) -> UInt8 {
            Array(a.utf8).withUnsafeBufferPointer { a in
                Array(b.utf8).withUnsafeBufferPointer { b in TokenGrants.constantTimeDifference(a, b) }
            }
        }
        #expect(difference("secret", "secret") == 0)
        for other in ["Secret", "secreT", "secre", "secrets", "", "s", "xxxxxx"] {
            #expect(difference(other, "secret") != 0, "\(other)")
            #expect(difference("secret", other) != 0, "\(other)")
        }
        // Bytes that differ by every single bit.
        for bit in 0..<8 {
            #expect(difference("a", String(UnicodeScalar(UInt8(ascii: "a") ^ (1 << bit)))) != 0)
        }
    }

    /// A grant prints its line and patterns, never its token.
    @Test func descriptionsHideTheToken() throws {
        let grants = try Self.parse("hunter2-very-secret agent-* default\n")
        let grant = try #require(grants.grants.first)
        #expect(grant.description == "line 1: agent-* default")
        for text in [String(describing: grant), String(reflecting: grant), "\(grants.grants)"] {
            #expect(!text.contains("hunter2"), "\(text)")
        }
    }
}
