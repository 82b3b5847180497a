import Foundation
import SnapshotCore
import SnapshotService
import Testing

/// The decoder against openapi.yaml's schema, where contract testing (schemathesis) found they
/// disagreed: JSON Schema integers (a number whose value is whole, however written) and `null`
/// for optional fields.
@Suite struct EventDecoderContractTests {
    private func clock(_ ltime: String) -> Result<[SnapshotEvent], EventDecodingError> {
        Result { () throws(EventDecodingError) in
            try EventDecoder().decode(Array(#"{"type":"clock","ltime":\#(ltime)}"#.utf8), format: .single)
        }
    }

    /// schemathesis sent `"ltime": 408.0` and `"port": 1367.0`, integers by JSON Schema.
    @Test(arguments: [
        ("408.0", 408), ("4.08e2", 408), ("40800e-2", 408), ("408.000", 408), ("1E+2", 100), ("1e3", 1000),
        ("0e0", 0), ("-0", 0), ("-0.0e5", 0), ("0.000", 0), ("0e-999999999999", 0), ("33039542866.0", 33039542866),
        ("18446744073709551615.0", UInt64.max), ("1.8446744073709551615e19", UInt64.max),
        ("18446744073709551615000e-3", UInt64.max), ("9007199254740993.0", 9007199254740993),
    ] as [(String, UInt64)])
    func wholeNumbersInAnySpellingAreIntegers(text: String, value: UInt64) {
        #expect(clock(text) == .success([.clock(ltime: value)]), "\(text)")
    }

    @Test(arguments: [
        "1.5", "1e-1", "408.0001", "-1", "-1e0", "-0.5", "18446744073709551616", "18446744073709551616.0",
        "1.8446744073709551616e19", "1e20", "1e999999999999", "1e-999999999999", "123456789012345678901e-1",
    ])
    func otherNumbersAreNot(text: String) {
        #expect(clock(text) == .failure(EventDecodingError(eventIndex: 0, reason: "ltime must be an unsigned 64-bit integer")),
                "\(text)")
    }

    @Test func portsToo() throws {
        func port(_ text: String) -> Result<[SnapshotEvent], EventDecodingError> {
            let body = #"{"type":"member-join","members":[{"name":"a","addr":"::1","port":\#(text)}]}"#
            return Result { () throws(EventDecodingError) in try EventDecoder().decode(Array(body.utf8), format: .single) }
        }
        let address = try #require(IPAddress("::1"))
        #expect(port("1367.0") == .success([.member(.join, members: [Member(name: "a", address: address, port: 1367)], ltime: nil)]))
        #expect(port("6.5535e4") == .success([.member(.join, members: [Member(name: "a", address: address, port: 65535)], ltime: nil)]))
        #expect(port("6.5536e4") == .failure(EventDecodingError(eventIndex: 0, reason: "members[0].port must be an integer in 0...65535")))
    }

    /// The member name limit the decoder enforces (16 KiB of UTF-8) is the one openapi.yaml states.
    @Test func memberNameLimitIsInTheSchema() throws {
        func join(_ name: String) -> Result<[SnapshotEvent], EventDecodingError> {
            let body = #"{"type":"member-join","members":[{"name":"\#(name)","addr":"::1","port":1}]}"#
            return Result { () throws(EventDecodingError) in try EventDecoder().decode(Array(body.utf8), format: .single) }
        }
        let limit = SnapshotEvent.maxNameBytes
        #expect(limit == 16384)
        #expect((try? join(String(repeating: "a", count: limit)).get())?.count == 1)
        #expect(join(String(repeating: "a", count: limit + 1))
            == .failure(EventDecodingError(eventIndex: 0, reason: "member name is longer than 16384 bytes")))
        #expect(join(String(repeating: "é", count: limit / 2 + 1))  // bytes count, not characters
            == .failure(EventDecodingError(eventIndex: 0, reason: "member name is longer than 16384 bytes")))

        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("openapi.yaml")
        let text = try String(contentsOf: spec, encoding: .utf8)
        let member = try #require(text.range(of: "\n    Member:\n"), "no Member schema")
        let block = String(text[member.upperBound...]).components(separatedBy: "\n    MemberEvent:").first ?? ""
        #expect(block.contains("maxLength: \(limit)"), "openapi.yaml's Member.name has no maxLength \(limit)")
        #expect(block.contains("additionalProperties: false"))
    }

    /// schemathesis sent `"coalesce": null`: null means absent for every optional field (the
    /// schema says so now), and stays refused for required ones.
    @Test func nullIsAbsentForOptionalFieldsOnly() throws {
        func decode(_ body: String) -> Result<[SnapshotEvent], EventDecodingError> {
            Result { () throws(EventDecodingError) in try EventDecoder().decode(Array(body.utf8), format: .single) }
        }
        #expect(decode(#"[{"type":"user","ltime":0,"name":"","payload":"","coalesce":null}]"#)
            == .success([.user(ltime: 0, name: "", payload: [], coalesce: false)]))
        #expect(decode(#"{"type":"user","ltime":1,"name":"n","payload":null}"#)
            == .success([.user(ltime: 1, name: "n", payload: [], coalesce: false)]))
        let address = try #require(IPAddress("10.0.0.1"))
        #expect(decode(#"{"type":"member-leave","ltime":null,"members":[{"name":"a","addr":"10.0.0.1","port":1}]}"#)
            == .success([.member(.leave, members: [Member(name: "a", address: address, port: 1)], ltime: nil)]))
        #expect(decode(#"{"type":"user","ltime":null,"name":"n"}"#)
            == .failure(EventDecodingError(eventIndex: 0, reason: "ltime must be an unsigned 64-bit integer")))
        #expect(decode(#"{"type":"query","ltime":1,"name":null}"#)
            == .failure(EventDecodingError(eventIndex: 0, reason: "name must be a string")))
    }
}
