import Foundation
import SnapshotCore
import SnapshotService
import TestSupport
import Testing

@Suite("EventDecoder")
struct EventDecoderTests {
    // MARK: - Helpers

    private func decode(_ body: String, _ format: EventDecoder.Format = .single) throws -> [SnapshotEvent] {
        try EventDecoder().decode(Array(body.utf8), format: format)
    }

    /// The error decoding body fails with, or nil when it decodes.
    private func failure(_ body: String, _ format: EventDecoder.Format = .single) -> EventDecodingError? {
        failure(Array(body.utf8), format)
    }

    private func failure(_ body: [UInt8], _ format: EventDecoder.Format = .single) -> EventDecodingError? {
        do {
            _ = try EventDecoder().decode(body, format: format)
            return nil
        } catch {
            return error
        }
    }

    private func member(_ name: String, _ address: String, _ port: UInt16) throws -> Member {
        Member(name: name, address: try #require(IPAddress(address)), port: port)
    }

    // MARK: - Every event type

    @Test(arguments: MemberEventKind.allCases)
    func memberEvent(kind: MemberEventKind) throws {
        let body = #"{"type":"\#(kind.name)","members":[{"name":"foo","addr":"127.0.0.1","port":5000}],"ltime":7}"#
        #expect(try decode(body) == [.member(kind, members: [try member("foo", "127.0.0.1", 5000)], ltime: 7)])
    }

    @Test func memberEventLtimeIsOptional() throws {
        let members = #""members":[{"name":"a","addr":"10.0.0.1","port":0},{"name":"b","addr":"::1","port":65535}]"#
        let expected: [SnapshotEvent] = [
            .member(.leave, members: [try member("a", "10.0.0.1", 0), try member("b", "::1", 65535)], ltime: nil)
        ]
        #expect(try decode(#"{"type":"member-leave",\#(members)}"#) == expected)
        #expect(try decode(#"{"type":"member-leave",\#(members),"ltime":null}"#) == expected)
    }

    @Test func userEvent() throws {
        let body = #"{"type":"user","ltime":42,"name":"deploy","payload":"aGVsbG8=","coalesce":true}"#
        #expect(try decode(body) == [.user(ltime: 42, name: "deploy", payload: Array("hello".utf8), coalesce: true)])
    }

    @Test func userEventDefaults() throws {
        #expect(try decode(#"{"type":"user","ltime":1,"name":"x"}"#) == [.user(ltime: 1, name: "x", payload: [], coalesce: false)])
        #expect(try decode(#"{"type":"user","ltime":1,"name":"x","payload":"","coalesce":false}"#)
            == [.user(ltime: 1, name: "x", payload: [], coalesce: false)])
        #expect(try decode(#"{"type":"user","ltime":1,"name":"x","payload":null,"coalesce":null}"#)
            == [.user(ltime: 1, name: "x", payload: [], coalesce: false)])
    }

    @Test func userEventPayloadBytes() throws {
        let payload: [UInt8] = Array(0...255)
        let body = #"{"type":"user","ltime":1,"name":"bin","payload":"\#(Data(payload).base64EncodedString())"}"#
        #expect(try decode(body) == [.user(ltime: 1, name: "bin", payload: payload, coalesce: false)])
        for length in 0..<7 {
            let bytes = Array(payload.prefix(length))
            let text = #"{"type":"user","ltime":1,"name":"b","payload":"\#(Data(bytes).base64EncodedString())"}"#
            #expect(try decode(text) == [.user(ltime: 1, name: "b", payload: bytes, coalesce: false)])
        }
    }

    @Test func queryAndClockEvents() throws {
        #expect(try decode(#"{"type":"query","ltime":50,"name":"uptime"}"#) == [.query(ltime: 50, name: "uptime")])
        #expect(try decode(#"{"type":"clock","ltime":100}"#) == [.clock(ltime: 100)])
    }

    @Test func fieldsInAnyOrder() throws {
        let body = """
            { "ltime" : 9, "members": [ {"port": 1, "addr": "fe80::1", "name": "n"} ],
              "type": "member-update" }
            """
        #expect(try decode(body) == [.member(.update, members: [try member("n", "fe80::1", 1)], ltime: 9)])
    }

    /// A misspelled field must not be dropped in silence: the event is refused, naming it. Its
    /// value is still read as JSON (invalid JSON is reported as such, first).
    @Test(arguments: [
        (#"{"type":"user","ltime":42,"name":"n","ltme":7}"#, #"unknown field "ltme" in a user event"#),
        (#"{"type":"user","ltime":42,"name":"loy","payload":"aGVsbG81","cltme":100e0860}"#, #"unknown field "cltme" in a user event"#),
        (#"{"ltme":7,"type":"clock","ltime":1}"#, #"unknown field "ltme" in a clock event"#),
        (#"{"type":"user","ltime":1,"name":"u","coalsce":true}"#, #"unknown field "coalsce" in a user event"#),
        (#"{"type":"query","ltime":1,"name":"q","Type":"query"}"#, #"unknown field "Type" in a query event"#),
        (#"{"type":"clock","ltime":1,"xé":{"nested":[1,{"deep":[]}]}}"#, #"unknown field "xé" in a clock event"#),
        (#"{"type":"member-join","members":[{"name":"a","addr":"::1","port":1}],"addr":"::1"}"#,
         #"unknown field "addr" in a member-join event"#),
        (#"{"type":"member-join","members":[{"name":"a","addr":"::1","port":1,"zone":"x"}]}"#, #"unknown field "zone" in members[0]"#),
        (#"{"type":"member-join","members":[{"name":"a","addr":"::1","port":1},{"nmae":"b","addr":"::1","port":1}]}"#,
         #"unknown field "nmae" in members[1]"#),
        (#"{"type":"member-join","members":[{"name":"a","addr":"::1","port":1,"tags":{"role":"web"}}]}"#,
         #"unknown field "tags" in members[0]"#),
    ])
    func unknownFieldsAreRefused(body: String, reason: String) {
        #expect(failure(body) == EventDecodingError(eventIndex: 0, reason: reason))
        #expect(failure("[{\"type\":\"clock\",\"ltime\":1},\(body)]") == EventDecodingError(eventIndex: 1, reason: reason))
        #expect(failure("{\"type\":\"clock\",\"ltime\":1}\n\(body)\n", .ndjson) == EventDecodingError(eventIndex: 1, reason: reason))
        #expect(ReferenceDecoder.decode(Array(body.utf8), format: .single) == nil)
    }

    @Test func repeatedKeyTakesTheLastValue() throws {
        #expect(try decode(#"{"type":"clock","ltime":1,"ltime":2}"#) == [.clock(ltime: 2)])
        #expect(try decode(#"{"type":"user","ltime":"bad","ltime":3,"name":"n"}"#)
            == [.user(ltime: 3, name: "n", payload: [], coalesce: false)])
    }

    @Test func escapedKeysAreUnescaped() throws {
        #expect(try decode(#"{"typ\u0065":"clock","\u006ctime":5}"#) == [.clock(ltime: 5)])
    }

    // MARK: - Framing

    @Test func arrayOfEvents() throws {
        let body = """
              [ {"type":"clock","ltime":1},
                {"type":"query","ltime":2,"name":"q"},
                {"type":"member-join","members":[{"name":"m","addr":"192.168.0.1","port":7946}]} ]\t
            """
        #expect(try decode(body) == [
            .clock(ltime: 1),
            .query(ltime: 2, name: "q"),
            .member(.join, members: [try member("m", "192.168.0.1", 7946)], ltime: nil),
        ])
    }

    @Test func ndjsonWithBlankLines() throws {
        let lines = "\n{\"type\":\"clock\",\"ltime\":1}\n\n   \t\n{\"type\":\"clock\",\"ltime\":2}\r\n\r\n{\"type\":\"clock\",\"ltime\":3}"
        let expected: [SnapshotEvent] = [.clock(ltime: 1), .clock(ltime: 2), .clock(ltime: 3)]
        #expect(try decode(lines, .ndjson) == expected)
        #expect(try decode(lines + "\n", .ndjson) == expected)
        #expect(try decode(lines + "\n\n  ", .ndjson) == expected)
    }

    @Test func ndjsonIsOneObjectPerLine() {
        #expect(failure("{\"type\":\"clock\",\"ltime\":1} {\"type\":\"clock\",\"ltime\":2}\n", .ndjson)?.description
            == "event 0: invalid JSON at byte 27: unexpected content after the JSON value")
        #expect(failure("{\"type\":\"clock\",\n\"ltime\":1}\n", .ndjson)?.eventIndex == 0)
        #expect(failure("{\"type\":\"clock\",\"ltime\":1}\n[{\"type\":\"clock\",\"ltime\":2}]", .ndjson)?.description
            == "event 1: expected a JSON object")
    }

    @Test func singleObjectMustStandAlone() {
        #expect(failure(#"{"type":"clock","ltime":1} {"type":"clock","ltime":2}"#)?.description
            == "invalid JSON at byte 27: unexpected content after the JSON value")
        #expect(failure(#"[{"type":"clock","ltime":1}] []"#)?.description
            == "invalid JSON at byte 29: unexpected content after the JSON value")
        #expect(failure("42")?.description == "event 0: expected a JSON object")
        #expect(failure(#""clock""#)?.description == "event 0: expected a JSON object")
    }

    @Test(arguments: [
        ("", EventDecoder.Format.single), (" \n\t ", .single), ("[]", .single), (" [ ] ", .single),
        ("", .ndjson), ("\n\n", .ndjson), (" \r\n \n", .ndjson),
    ])
    func noEvents(body: String, format: EventDecoder.Format) {
        #expect(failure(body, format) == EventDecodingError(eventIndex: nil, reason: "no events"))
    }

    @Test func acceptsAnyByteCollection() throws {
        let body = Array(#"xx{"type":"clock","ltime":3}"#.utf8)
        let decoder = EventDecoder()
        #expect(try decoder.decode(body[2...], format: .single) == [.clock(ltime: 3)])
        #expect(try decoder.decode(body[2...].lazy.map { $0 }, format: .single) == [.clock(ltime: 3)])
        #expect(try decoder.decode(Data(body.dropFirst(2)), format: .single) == [.clock(ltime: 3)])
        let viaPointer = try body.dropFirst(2).withUnsafeBytes { bytes in try decoder.decode(bytes, format: .single) }
        #expect(viaPointer == [.clock(ltime: 3)])
    }

    @Test func decoderIsReusable() throws {
        let decoder = EventDecoder()
        let big = (0..<30_000).map { #"{"type":"clock","ltime":\#($0)}"# }.joined(separator: "\n")
        #expect(try decoder.decode(Array(big.utf8), format: .ndjson).count == 30_000)
        #expect(try decoder.decode(Array("[\(big.split(separator: "\n").joined(separator: ","))]".utf8), format: .single).count
            == 30_000)
        #expect(throws: EventDecodingError.self) { try decoder.decode(Array("{".utf8), format: .single) }
        #expect(try decoder.decode(Array(#"{"type":"clock","ltime":1}"#.utf8), format: .single) == [.clock(ltime: 1)])
        #expect(try decoder.decode(Array(#"{"type":"clock","ltime":2}"#.utf8), format: .ndjson) == [.clock(ltime: 2)])
    }

    // MARK: - Strings and addresses

    @Test func unicodeAndEscapedNames() throws {
        let cases: [(json: String, name: String)] = [
            (#"node \u00e9 with spaces"#, "node é with spaces"),
            (#"a\"b"#, "a\"b"),
            (#"back\\slash\/"#, "back\\slash/"),
            (#"tab\there"#, "tab\there"),
            ("日本語 é", "日本語 é"),
            (#"\ud83d\ude00 emoji"#, "😀 emoji"),
            (#"nul\u0000byte"#, "nul\u{0}byte"),
            ("", ""),
        ]
        for (json, name) in cases {
            let body = #"{"type":"member-join","members":[{"name":"\#(json)","addr":"1.2.3.4","port":1}]}"#
            #expect(try decode(body) == [.member(.join, members: [try member(name, "1.2.3.4", 1)], ltime: nil)])
            #expect(try decode(#"{"type":"query","ltime":1,"name":"\#(json)"}"#) == [.query(ltime: 1, name: name)])
        }
    }

    @Test(arguments: ["::1", "::", "fe80::1", "2001:db8::ff00:42:8329", "2001:0db8:0000:0000:0000:0000:0000:0001",
                      "::ffff:10.0.0.1", "1:2:3:4:5:6:7:8", "0.0.0.0", "255.255.255.255"])
    func ipAddresses(address: String) throws {
        let expected = try #require(IPAddress(address))
        let body = #"{"type":"member-failed","members":[{"name":"x","addr":"\#(address)","port":7946}]}"#
        let events = try decode(body)
        #expect(events == [.member(.failed, members: [Member(name: "x", address: expected, port: 7946)], ltime: nil)])
        #expect(expected.bytes.count == (address.contains(":") ? 16 : 4))
    }

    @Test(arguments: ["1.2.3", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "::g", "1:2:3:4:5:6:7:8:9", "example.com", "",
                      "fe80::1%eth0"])
    func notAnIPAddress(address: String) {
        let body = #"{"type":"member-join","members":[{"name":"x","addr":"\#(address)","port":1}]}"#
        #expect(failure(body)?.description == #"event 0: members[0].addr is not an IP address: "\#(address)""#)
    }

    @Test func addressWithEmbeddedNulIsRefused() {
        let body = #"{"type":"member-join","members":[{"name":"x","addr":"1.2.3.4\u0000","port":1}]}"#
        #expect(failure(body)?.description == #"event 0: members[0].addr is not an IP address: "1.2.3.4\u0000""#)
    }

    // MARK: - Numbers

    @Test func ltimeRange() throws {
        #expect(try decode(#"{"type":"clock","ltime":18446744073709551615}"#) == [.clock(ltime: .max)])
        #expect(try decode(#"{"type":"clock","ltime":0}"#) == [.clock(ltime: 0)])
        #expect(failure(#"{"type":"clock","ltime":18446744073709551616}"#)?.description
            == "event 0: ltime must be an unsigned 64-bit integer")
    }

    @Test(arguments: ["-1", "-0.5", "1.5", "1e-1", "-1e0", "\"7\"", "true", "null", "[]", "{}", "99999999999999999999999"])
    func ltimeMustBeAnUnsignedInteger(ltime: String) {
        #expect(failure(#"{"type":"clock","ltime":\#(ltime)}"#)?.description
            == "event 0: ltime must be an unsigned 64-bit integer")
        let member = #"{"type":"member-join","ltime":\#(ltime),"members":[{"name":"a","addr":"::1","port":1}]}"#
        let expected = ltime == "null" ? nil : "event 0: ltime must be an unsigned 64-bit integer"
        #expect(failure(member)?.description == expected)
    }

    @Test(arguments: ["-", "01", "1.", ".5", "1e", "+1", "0x10", "1x", "-01"])
    func malformedNumbersAreInvalidJSON(ltime: String) throws {
        let error = try #require(failure(#"{"type":"clock","ltime":\#(ltime)}"#))
        #expect(error.eventIndex == 0)
        #expect(error.reason.hasPrefix("invalid JSON"), "\(error)")
    }

    @Test(arguments: ["-1", "65536", "1.5", "\"80\"", "null"])
    func portMustFitSixteenBits(port: String) {
        let body = #"{"type":"member-join","members":[{"name":"a","addr":"::1","port":1},{"name":"b","addr":"::1","port":\#(port)}]}"#
        #expect(failure(body)?.description == "event 0: members[1].port must be an integer in 0...65535")
    }

    // MARK: - Base64

    @Test(arguments: ["abc", "YR==", "YQ", "YQ=", "Y===", "====", "Y Q==", #"YQ==\n"#, "@@@@", "YQ==YQ==", "YW=b", "-_-_"])
    func invalidBase64(payload: String) {
        let body = #"{"type":"user","ltime":1,"name":"x","payload":"\#(payload)"}"#
        #expect(failure(body)?.description == "event 0: payload is not valid base64")
    }

    // MARK: - Errors name the event

    @Test func firstBadEventIsNamed() {
        let good = #"{"type":"clock","ltime":1}"#
        let bad = #"{"type":"member-jion","members":[]}"#
        let array = "[\(good),\(good),\(good),\(bad),\(bad)]"
        #expect(failure(array)?.description == #"event 3: unknown type "member-jion""#)
        let ndjson = "\(good)\n\n\(good)\n  \n\(good)\n\(bad)\n\(bad)\n"
        #expect(failure(ndjson, .ndjson)?.description == #"event 3: unknown type "member-jion""#)
    }

    @Test(arguments: [
        (#"{"ltime":1}"#, "type is required"),
        (#"{"type":7,"ltime":1}"#, "type must be a string"),
        (#"{"type":null,"ltime":1}"#, "type must be a string"),
        (#"{"type":"Clock","ltime":1}"#, #"unknown type "Clock""#),
        (#"{"type":"a\"\n","ltime":1}"#, #"unknown type "a\"\n""#),
        (#"{"type":"clock"}"#, "ltime is required"),
        (#"{"type":"query","ltime":1}"#, "name is required"),
        (#"{"type":"query","ltime":1,"name":["q"]}"#, "name must be a string"),
        (#"{"type":"user","ltime":1}"#, "name is required"),
        (#"{"type":"user","ltime":1,"name":"u","payload":[1]}"#, "payload must be a base64 string"),
        (#"{"type":"user","ltime":1,"name":"u","coalesce":1}"#, "coalesce must be a boolean"),
        (#"{"type":"user","ltime":1,"name":"u","coalesce":"true"}"#, "coalesce must be a boolean"),
        (#"{"type":"member-join"}"#, "members is required"),
        (#"{"type":"member-join","members":null}"#, "members must be an array"),
        (#"{"type":"member-join","members":{"name":"a"}}"#, "members must be an array"),
        (#"{"type":"member-join","members":[]}"#, "members must not be empty"),
        (#"{"type":"member-join","members":[{"name":"a","addr":"::1","port":1},"b"]}"#, "members[1] must be an object"),
        (#"{"type":"member-join","members":[{"addr":"::1","port":1}]}"#, "members[0].name is required"),
        (#"{"type":"member-join","members":[{"name":1,"addr":"::1","port":1}]}"#, "members[0].name must be a string"),
        (#"{"type":"member-join","members":[{"name":"a","port":1}]}"#, "members[0].addr is required"),
        (#"{"type":"member-join","members":[{"name":"a","addr":[],"port":1}]}"#, "members[0].addr must be a string"),
        (#"{"type":"member-join","members":[{"name":"a","addr":"::1"}]}"#, "members[0].port is required"),
        (#"{"type":"member-join","members":[{"name":"a","addr":"::1","port":1},{"name":"b"}]}"#, "members[1].addr is required"),
    ])
    func schemaErrors(body: String, reason: String) {
        #expect(failure(body) == EventDecodingError(eventIndex: 0, reason: reason))
        #expect(failure("[{\"type\":\"clock\",\"ltime\":1},\(body)]") == EventDecodingError(eventIndex: 1, reason: reason))
        #expect(failure("{\"type\":\"clock\",\"ltime\":1}\n\n\(body)\n", .ndjson) == EventDecodingError(eventIndex: 1, reason: reason))
    }

    /// Fields of another type are not the event's either (openapi.yaml: additionalProperties: false).
    @Test func fieldsAnotherTypeHasAreRefused() {
        #expect(failure(#"{"type":"clock","ltime":1,"name":5,"members":"x","payload":"!","coalesce":3}"#)?.description
            == #"event 0: unknown field "name" in a clock event"#)
        #expect(failure(#"{"type":"clock","ltime":1,"name":null}"#)?.reason == #"unknown field "name" in a clock event"#)
        #expect(failure(#"{"type":"query","ltime":1,"name":"q","payload":""}"#)?.reason == #"unknown field "payload" in a query event"#)
        #expect(failure(#"{"type":"query","ltime":1,"name":"q","coalesce":false}"#)?.reason
            == #"unknown field "coalesce" in a query event"#)
        #expect(failure(#"{"type":"user","ltime":1,"name":"u","members":[]}"#)?.reason == #"unknown field "members" in a user event"#)
        #expect(failure(#"{"type":"member-leave","members":[{"name":"a","addr":"::1","port":1}],"name":"a"}"#)?.reason
            == #"unknown field "name" in a member-leave event"#)
    }

    @Test func memberNameWithLineBreakIsRefused() {
        let body = """
            [{"type":"clock","ltime":1},
             {"type":"member-join","members":[{"name":"ok","addr":"::1","port":1},{"name":"a\\nb","addr":"::1","port":1}]}]
            """
        #expect(failure(body)?.description == #"event 1: member name must not contain a line break: "a\nb""#)
        #expect(failure(#"{"type":"member-join","members":[{"name":"a\rb","addr":"::1","port":1}]}"#)?.eventIndex == 0)
    }

    // MARK: - Broken JSON

    @Test func truncatedJSON() throws {
        let whole = #"{"type":"member-join","members":[{"name":"foo","addr":"127.0.0.1","port":5000}],"ltime":7}"#
        for end in whole.indices.dropLast() {
            let prefix = String(whole[..<end])
            let error = try #require(failure(prefix), "\(prefix)")
            if prefix.isEmpty {
                #expect(error.reason == "no events")
                continue
            }
            // Every truncation is reported where the input ends (issue 11).
            let ending = "invalid JSON at byte \(prefix.utf8.count): unexpected end"
            #expect(error.reason.hasPrefix(ending), "\(prefix): \(error)")
            #expect(ReferenceDecoder.jsonError(Array(prefix.utf8)) == ending, "\(prefix)")
            let line = #"{"type":"clock","ltime":1}"# + "\n"
            let ndjson = try #require(failure(line + prefix, .ndjson))
            #expect(ndjson.eventIndex == 1 && ndjson.reason.hasPrefix("invalid JSON at byte \(line.utf8.count + prefix.utf8.count): unexpected end"),
                    "\(prefix): \(ndjson)")
        }
        #expect(failure(#"{"type":"clock","ltime":1"#)?.description
            == "event 0: invalid JSON at byte 25: unexpected end (unclosed object or array)")
        #expect(failure(#"[{"type":"clock","ltime":1},{"type":"clock""#)?.eventIndex == nil)
    }

    @Test(arguments: [
        #"{"type":"clock","ltime":1,"x":tru}"#,
        #"{"type":"clock","ltime":1,"x":nul}"#,
        #"{"type":"clock","ltime":1,"x":[1,2}"#,
        #"{"type":"clock","ltime":1,"x":{"a" 1}}"#,
        #"{"type":"clock","ltime":1,"x":{"a":1,}}"#,
        #"{"type":"clock","ltime":1,"x":[1,]}"#,
        #"{"type":"clock","ltime":1,"x":"\q"}"#,
        #"{"type":"clock","ltime":1,"x":"\ud800"}"#,
        #"{"type":"clock","ltime":1,"x":01}"#,
        #"{"type":"clock","ltime":1,"x":1.e5}"#,
        #"{"type":"clock","ltime":1,}"#,
        #"{"type":"clock" "ltime":1}"#,
        #"{"type":"clock","ltime":1]"#,
        #"{"type":"clock","ltime":1}}"#,
        #"{"type":"clock","ltime":1} x"#,
        #"{'type':'clock','ltime':1}"#,
        #"{type:"clock","ltime":1}"#,
        "{\"type\":\"clock\",\"ltime\":1,\"x\":\"a\tb\"}",
        #"}{"#,
        #"{"#,
        #"{""#,
        "nul",
    ])
    func invalidJSON(body: String) throws {
        let error = try #require(failure(body), "\(body)")
        #expect(error.reason.hasPrefix("invalid JSON"), "\(body): \(error)")
        let ndjson = try #require(failure(#"{"type":"clock","ltime":1}"# + "\n" + body, .ndjson))
        #expect(ndjson.eventIndex == 1 && ndjson.reason.hasPrefix("invalid JSON"), "\(body): \(ndjson)")
    }

    @Test func invalidJSONNamesTheByte() {
        #expect(failure(#"{"type":"clock","ltime":1,"x":tru}"#)?.description == "event 0: invalid JSON at byte 30: invalid literal")
        #expect(failure("{\"type\":\"clock\",\"ltime\":1}\n{\"type\":\"clock\",\"ltime\":01}", .ndjson)?.description
            == "event 1: invalid JSON at byte 51: invalid number")
        #expect(failure(#"[{"type":"clock","ltime":1} {"type":"clock","ltime":2}]"#)?.description
            == "event 1: invalid JSON at byte 28: unexpected token")
    }

    /// A JSON error says where it is, as a byte offset into the body: the end of the input for
    /// a truncated body, the first byte after the value for trailing content, the closer that
    /// closes nothing. Foundation (the reference) agrees on the kind and the offset.
    @Test(arguments: [
        (#"{"type":"clock","ltime":1"#, "invalid JSON at byte 25: unexpected end (unclosed object or array)"),
        (#"{"type":"cl"#, "invalid JSON at byte 11: unexpected end (unclosed string)"),
        (#"{"type":"clock","ltime":"#, "invalid JSON at byte 24: unexpected end (unclosed object or array)"),
        (#"[{"type":"clock","ltime":1},{"type":"clock""#, "invalid JSON at byte 43: unexpected end (unclosed object or array)"),
        (#"{"type":"member-join","members":[{"name":"é","addr":"::1","port":1}"#,
         "invalid JSON at byte 68: unexpected end (unclosed object or array)"),
        (#"{"type":"clock","ltime":1} x"#, "invalid JSON at byte 27: unexpected content after the JSON value"),
        (#"{"type":"clock","ltime":1}}"#, "invalid JSON at byte 26: unexpected content after the JSON value"),
        (#"{"type":"clock","ltime":1} {"type":"clock","ltime":2}"#, "invalid JSON at byte 27: unexpected content after the JSON value"),
        (#"{"type":"clock","ltime":1]"#, "invalid JSON at byte 25: unexpected ']'"),
        (#"}{"#, "invalid JSON at byte 0: unexpected '}'"),
        ("{\"type\":\"clock\",\"ltime\":1,\"x\":\"a\tb\"}", "invalid JSON at byte 32: unescaped control character in a string"),
    ])
    func jsonErrorsSayWhere(body: String, message: String) throws {
        let error = try #require(failure(body))
        #expect(error.reason == message, "\(body)")
        let reference = try #require(ReferenceDecoder.jsonError(Array(body.utf8)), "\(body)")
        #expect(message.hasPrefix(reference), "Foundation: \(reference)")
        // In NDJSON the offset counts from the start of the body, not of the line.
        let first = #"{"type":"clock","ltime":1}"# + "\n"
        let shifted = message.replacing(/byte (\d+)/) { "byte \(Int($0.1)! + first.utf8.count)" }
        #expect(failure(first + body, .ndjson) == EventDecodingError(eventIndex: 1, reason: shifted))
    }

    @Test func invalidUTF8() {
        let body = Array(#"{"type":"query","ltime":1,"name":"a"#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8)
        #expect(failure(body)?.description == "invalid JSON at byte 35: invalid UTF-8")
        #expect(failure(Array(#"{"type":"clock","ltime":1}"#.utf8) + [0x0A] + body, .ndjson)?.description
            == "event 1: invalid JSON at byte 62: invalid UTF-8")
        #expect(failure(Array(#"{"type":"query","ltime":1,"name":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8))?.reason
            == "invalid JSON at byte 34: invalid UTF-8") // a UTF-16 surrogate
    }

    @Test func nestingGarbage() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(failure(deep)?.description == "event 0: JSON nested too deeply")
        #expect(failure("[[[[[[[[]]]]]]]]")?.description == "event 0: expected a JSON object")
        #expect(failure(#"{"type":"clock","ltime":1,"x":\#(deep)}"#)?.description == "event 0: JSON nested too deeply")
        let shallow = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(failure(#"{"type":"clock","ltime":1,"x":\#(shallow)}"#)?.description == #"event 0: unknown field "x" in a clock event"#)
        let unbalanced = String(repeating: "[", count: 100_000)
        #expect(failure(unbalanced)?.reason.hasPrefix("invalid JSON") == true)
        #expect(failure(#"{"type":"clock","ltime":1,"x":\#(unbalanced)}"#)?.eventIndex == 0)
        #expect(failure(#"[[{"type":"clock","ltime":1}]]"#)?.description == "event 0: expected a JSON object")
        #expect(failure(#"{"type":"member-join","members":[[{"name":"a","addr":"::1","port":1}]]}"#)?.description
            == "event 0: members[0] must be an object")
    }

    // MARK: - Equivalence with a JSONSerialization reference

    @Test func matchesJSONSerializationOnGeneratedEvents() throws {
        var generator = EventTextGenerator(seed: 0x5EED_CAFE)
        let texts = (0..<2000).map { _ in generator.validEvent() }
        let decoder = EventDecoder()

        // Each event on its own, and all of them as an array and as NDJSON.
        var expected: [SnapshotEvent] = []
        for text in texts {
            let reference = try #require(ReferenceDecoder.decode(Array(text.utf8), format: .single), "\(text)")
            let fast = try decoder.decode(Array(text.utf8), format: .single)
            #expect(fast == reference, "\(text)")
            expected += reference
        }
        #expect(expected.count == 2000)
        let array = Array(("[" + texts.joined(separator: generator.separator() + "," + generator.separator()) + "]").utf8)
        #expect(ReferenceDecoder.decode(array, format: .single) == expected)
        #expect(try decoder.decode(array, format: .single) == expected)
        let ndjson = Array(texts.map { $0 + (generator.coin() ? "\n" : "\n \n") }.joined().utf8)
        #expect(ReferenceDecoder.decode(ndjson, format: .ndjson) == expected)
        #expect(try decoder.decode(ndjson, format: .ndjson) == expected)
    }

    @Test func agreesWithJSONSerializationOnMutatedEvents() throws {
        var generator = EventTextGenerator(seed: 42)
        let decoder = EventDecoder()
        var refused = 0
        for _ in 0..<1000 {
            let text = generator.mutatedEvent()
            let reference = ReferenceDecoder.decode(Array(text.utf8), format: .single)
            let fast = Result { () throws(EventDecodingError) in try decoder.decode(Array(text.utf8), format: .single) }
            #expect((try? fast.get()) == reference, "\(text)")
            if reference == nil { refused += 1 }
            // Where Foundation says the input ended early, the decoder says so at the same byte.
            if case .failure(let error) = fast, let json = ReferenceDecoder.jsonError(Array(text.utf8)), json.hasSuffix("unexpected end"), !text.isEmpty {
                #expect(error.reason.hasPrefix(json), "\(text)")
            }
        }
        #expect(refused > 300 && refused < 1000)
    }
}

// MARK: - Reference decoder

/// The slow path the fast decoder must agree with: the same schema read through Foundation's
/// JSONSerialization. Returns nil for a refused body. (Foundation's base64 is laxer than the
/// decoder's, e.g. it accepts "YR==" and "====", so the generators avoid such payloads.)
private enum ReferenceDecoder {
    static func decode(_ body: [UInt8], format: EventDecoder.Format) -> [SnapshotEvent]? {
        var objects: [Any] = []
        switch format {
        case .single:
            guard let first = body.first(where: { !isSpace($0) }),
                  let json = try? JSONSerialization.jsonObject(with: Data(body), options: .fragmentsAllowed)
            else { return nil }
            if first == UInt8(ascii: "["), let array = json as? [Any] {
                objects = array
            } else {
                objects = [json]
            }
        case .ndjson:
            for line in body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            where line.contains(where: { !isSpace($0) }) {
                guard let json = try? JSONSerialization.jsonObject(with: Data(line), options: .fragmentsAllowed) else {
                    return nil
                }
                objects.append(json)
            }
        }
        guard !objects.isEmpty else { return nil }
        var events: [SnapshotEvent] = []
        for object in objects {
            guard let event = event(object), event.validationError == nil else { return nil }
            events.append(event)
        }
        return events
    }

    /// Foundation's JSON error as the decoder words its start: `invalid JSON at byte N`, plus
    /// `: unexpected end` (N the end of the input) when the input ended early. Nil when Foundation
    /// parses the body.
    static func jsonError(_ body: [UInt8]) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: Data(body), options: .fragmentsAllowed)
            return nil
        } catch {
            let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? ""
            if text.hasPrefix("Unexpected end of file") { return "invalid JSON at byte \(body.count): unexpected end" }
            guard let match = text.firstMatch(of: /around character (\d+)/) else { return "invalid JSON: \(text)" }
            return "invalid JSON at byte \(match.1)"
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// The fields each type has (openapi.yaml); any other key refuses the event.
    private static func fields(of type: String) -> Set<String> {
        switch type {
        case "user": ["type", "ltime", "name", "payload", "coalesce"]
        case "query": ["type", "ltime", "name"]
        case "clock": ["type", "ltime"]
        default: ["type", "ltime", "members"]
        }
    }

    private static func event(_ json: Any) -> SnapshotEvent? {
        guard let object = json as? [String: Any], let type = object["type"] as? String,
              Set(object.keys).isSubset(of: fields(of: type))
        else { return nil }
        if let kind = MemberEventKind(name: type) {
            var ltime: UInt64?
            if let value = object["ltime"], !(value is NSNull) {
                guard let number = uint64(value) else { return nil }
                ltime = number
            }
            guard let list = object["members"] as? [Any], !list.isEmpty else { return nil }
            var members: [Member] = []
            for item in list {
                guard let fields = item as? [String: Any], Set(fields.keys).isSubset(of: ["name", "addr", "port"]),
                      let name = fields["name"] as? String,
                      let text = fields["addr"] as? String, let address = IPAddress(text),
                      let port = fields["port"].flatMap(uint64), port <= 65535
                else { return nil }
                members.append(Member(name: name, address: address, port: UInt16(port)))
            }
            return .member(kind, members: members, ltime: ltime)
        }
        guard let ltime = object["ltime"].flatMap(uint64) else { return nil }
        switch type {
        case "user":
            guard let name = object["name"] as? String else { return nil }
            var payload: [UInt8] = []
            if let value = object["payload"], !(value is NSNull) {
                guard let text = value as? String, let data = Data(base64Encoded: text) else { return nil }
                payload = Array(data)
            }
            var coalesce = false
            if let value = object["coalesce"], !(value is NSNull) {
                guard let flag = bool(value) else { return nil }
                coalesce = flag
            }
            return .user(ltime: ltime, name: name, payload: payload, coalesce: coalesce)
        case "query":
            guard let name = object["name"] as? String else { return nil }
            return .query(ltime: ltime, name: name)
        case "clock":
            return .clock(ltime: ltime)
        default:
            return nil
        }
    }

    /// A JSON integer in 0...UInt64.max. Foundation keeps the literal's kind in objCType:
    /// "c" for true/false, "d" for fractions, exponents and integers beyond 64 bits. A whole
    /// number written with a fraction or an exponent (1.0, 1e3) is an integer too (JSON Schema).
    private static func uint64(_ value: Any) -> UInt64? {
        guard let number = value as? NSNumber else { return nil }
        switch String(cString: number.objCType) {
        case "Q": return number.uint64Value
        case "d", "f":
            let double = number.doubleValue
            return double >= 0 && double < 0x1p64 && double.rounded(.towardZero) == double ? UInt64(double) : nil
        case "c": return nil
        default: return number.int64Value >= 0 ? UInt64(number.int64Value) : nil
        }
    }

    private static func bool(_ value: Any) -> Bool? {
        guard let number = value as? NSNumber, String(cString: number.objCType) == "c" else { return nil }
        return number.boolValue
    }
}

// MARK: - Event text generator

/// Seeded random event objects as JSON text: every type, fields in random order, random spacing,
/// escaped and raw Unicode, IPv4 and IPv6 in several spellings, extreme ltimes, and unknown
/// fields with nested values. mutatedEvent() breaks one thing (or nothing) in a valid event.
private struct EventTextGenerator {
    private var random: SplitMix64
    private typealias Field = (key: String, value: String)
    private struct MemberText { var name: String; var addr: String; var port: String; var extra: Field? }

    init(seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    mutating func next() -> UInt64 { random.next() }

    private mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func coin() -> Bool { next() & 1 == 0 }
    private mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }

    /// Whitespace that may appear between tokens inside one event (never a newline: NDJSON).
    mutating func separator() -> String { pick(["", "", "", "", " ", "  ", "\t", " \t "]) }

    mutating func validEvent() -> String { object(validFields()) }

    mutating func mutatedEvent() -> String {
        var fields = validFields()
        func replace(_ key: String, _ value: String, in fields: inout [Field]) {
            if let i = fields.firstIndex(where: { $0.key == key }) {
                fields[i].value = value
            } else {
                fields.append((key, value))
            }
        }
        switch below(14) {
        case 0:
            fields.remove(at: below(fields.count))
        case 1:
            fields[below(fields.count)].value = jsonValue(depth: 2)
        case 2:
            replace("type", quote(pick(["member-jion", "Clock", "", "member", "users", "member-join "])), in: &fields)
        case 3:
            replace("ltime", pick(["-1", "1.5", "1e3", "\"1\"", "18446744073709551616", "null", "true", "[]"]), in: &fields)
        case 4:
            var members = (0..<(1 + below(3))).map { _ in memberText() }
            let i = below(members.count)
            switch below(4) {
            case 0: members[i].port = pick(["65536", "-1", "\"1\"", "1.0", "null"])
            case 1: members[i].addr = quote(pick(["1.2.3", "::g", "", "1.2.3.4.5", "localhost"]))
            case 2: members[i].name = pick(["5", "null", "[]"])
            default: members[i].name = quote(pick(["line\nbreak", "carriage\rreturn"]))
            }
            replace("members", membersText(members), in: &fields)
        case 5:
            replace("payload", quote(pick(["abc", "Y===", "YQ", "YQ=", "@@@@", "Y Q==", "-_-_"])), in: &fields)
        case 6:
            replace("members", pick(["[]", "{}", "[5]", "null", "\"m\""]), in: &fields)
        case 7:
            let i = below(fields.count)
            fields.append((fields[i].key, jsonValue(depth: 1)))
        case 8:
            replace("coalesce", pick(["\"true\"", "1", "0", "null", "false"]), in: &fields)
        case 10:
            // A field the type does not have: a misspelling, another type's field, or a member's.
            let key = pick(["extra", "Type", "LTIME", "ltme", "names", "zone", "x\u{e9}", "meta", "name", "members", "payload"])
            if !fields.contains(where: { $0.key == key }) { fields.append((key, jsonValue(depth: 2))) }
        case 11:
            var members = (0..<(1 + below(3))).map { _ in memberText() }
            members[below(members.count)].extra = (pick(["tags", "zone", "Name", "status"]), jsonValue(depth: 2))
            replace("members", membersText(members), in: &fields)
        case 9:
            let text = object(fields)
            return String(text.prefix(below(text.count)))
        default:
            break // unchanged: valid
        }
        return object(fields)
    }

    private mutating func validFields() -> [Field] {
        var fields: [Field] = []
        let kind = below(8)
        switch kind {
        case 0..<5:
            fields.append(("type", quote(MemberEventKind.allCases[kind].name)))
            fields.append(("members", membersText((0..<(1 + below(4))).map { _ in memberText() })))
            switch below(3) {
            case 0: break
            case 1: fields.append(("ltime", "null"))
            default: fields.append(("ltime", String(ltime())))
            }
        case 5:
            fields.append(("type", quote("user")))
            fields.append(("ltime", String(ltime())))
            fields.append(("name", quote(name(allowLineBreaks: true))))
            switch below(3) {
            case 0: break
            case 1: fields.append(("payload", "null"))
            default:
                let bytes = (0..<below(48)).map { _ in UInt8.random(in: 0...255, using: &self) }
                fields.append(("payload", quote(Data(bytes).base64EncodedString())))
            }
            if coin() { fields.append(("coalesce", pick(["true", "false", "null"]))) }
        case 6:
            fields.append(("type", quote("query")))
            fields.append(("ltime", String(ltime())))
            fields.append(("name", quote(name(allowLineBreaks: true))))
        default:
            fields.append(("type", quote("clock")))
            fields.append(("ltime", String(ltime())))
        }
        for i in stride(from: fields.count - 1, to: 0, by: -1) { fields.swapAt(i, below(i + 1)) }
        return fields
    }

    private mutating func object(_ fields: [Field]) -> String {
        var out = "{" + separator()
        for (i, field) in fields.enumerated() {
            if i > 0 { out += "," + separator() }
            out += quote(field.key) + separator() + ":" + separator() + field.value + separator()
        }
        return out + "}"
    }

    private mutating func memberText() -> MemberText {
        MemberText(name: quote(name(allowLineBreaks: false)), addr: quote(address()), port: String(below(65536)), extra: nil)
    }

    private mutating func membersText(_ members: [MemberText]) -> String {
        let objects = members.map { member -> String in
            var fields: [Field] = [("name", member.name), ("addr", member.addr), ("port", member.port)]
            if let extra = member.extra { fields.append(extra) }
            for i in stride(from: fields.count - 1, to: 0, by: -1) { fields.swapAt(i, below(i + 1)) }
            return object(fields)
        }
        return "[" + separator() + objects.joined(separator: "," + separator()) + separator() + "]"
    }

    private mutating func ltime() -> UInt64 {
        switch below(6) {
        case 0: pick([0, 1, .max, UInt64(Int64.max), UInt64(Int64.max) + 1, .max - 1])
        case 1: next()
        default: UInt64(below(1_000_000))
        }
    }

    private mutating func name(allowLineBreaks: Bool) -> String {
        var pool: [String] = ["a", "b", "z", "N", "0", "9", "-", ".", "_", " ", "\"", "\\", "/", "\t", "\u{e9}", "\u{df}",
                              "\u{65e5}", "\u{672c}", "\u{1F600}", "\u{7f}", "\u{0}", "\u{1}"]
        if allowLineBreaks { pool += ["\n", "\r"] }
        return String((0..<below(14)).map { _ in pick(pool) }.joined())
    }

    private mutating func address() -> String {
        switch below(5) {
        case 0, 1:
            return (0..<4).map { _ in String(below(256)) }.joined(separator: ".")
        case 2:
            return "::ffff:" + (0..<4).map { _ in String(below(256)) }.joined(separator: ".")
        default:
            let groups = (0..<8).map { _ in below(3) == 0 ? 0 : below(65536) }
            let texts = groups.map { String($0, radix: 16, uppercase: coin()) }
            guard coin(), let start = groups.firstIndex(of: 0) else { return texts.joined(separator: ":") }
            var end = start
            while end < 8 && groups[end] == 0 { end += 1 }
            return texts[..<start].joined(separator: ":") + "::" + texts[end...].joined(separator: ":")
        }
    }

    /// A JSON string literal, escaping what must be escaped and some other characters at random.
    private mutating func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += coin() ? "\\\\" : "\\u005c"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += coin() ? "\\t" : "\\u0009"
            case "/" where coin(): out += "\\/"
            default:
                if scalar.value < 0x20 || (scalar.value >= 0x80 && coin()) {
                    for unit in String(scalar).utf16 { out += "\\u" + hex4(unit) }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private mutating func hex4(_ unit: UInt16) -> String {
        let digits = String(unit, radix: 16, uppercase: coin())
        return String(repeating: "0", count: 4 - digits.count) + digits
    }

    private mutating func jsonValue(depth: Int) -> String {
        switch below(depth > 0 ? 9 : 7) {
        case 0: return String(Int64(bitPattern: next()) >> below(64))
        // No "-0": Foundation reads it as the integer 0, the decoder (like Go's ParseUint) refuses it.
        case 1: return pick(["0.5", "-1.25e-3", "1E+9", "-0.0", "3.14159", "123456789012345678901234567890"])
        case 2: return quote(name(allowLineBreaks: true))
        case 3: return "true"
        case 4: return "false"
        case 5: return "null"
        case 6: return quote("")
        case 7: return "[" + (0..<below(4)).map { _ in jsonValue(depth: depth - 1) }.joined(separator: "," + separator()) + "]"
        default:
            let fields = (0..<below(4)).map { i in (key: "k\(i)", value: jsonValue(depth: depth - 1)) }
            return object(fields)
        }
    }
}

extension EventTextGenerator: RandomNumberGenerator {}
