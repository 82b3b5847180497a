import SnapshotCore
@testable import SnapshotService
import Testing

/// What a stock serf agent hands its `-event-handler` (the environment, stdin), read into the
/// event `snapshotd forward` posts; and that event's JSON, read back by the server's decoder.
@Suite struct SerfHandlerInvocationTests {
    static func invocation(_ environment: [String: String], stdin: String = "", port: UInt16 = 7946, snapshot: String? = nil) throws(SerfHandlerInvocationError) -> SerfHandlerInvocation {
        try SerfHandlerInvocation(environment: environment, stdin: Array(stdin.utf8), memberPort: port, snapshot: snapshot)
    }

    static func failure(_ environment: [String: String], stdin: String = "", snapshot: String? = nil) -> String? {
        do {
            _ = try invocation(environment, stdin: stdin, snapshot: snapshot)
            return nil
        } catch {
            return error.description
        }
    }

    static func member(_ name: String, _ address: String, _ port: UInt16 = 7946) throws -> Member {
        try #require(IPAddress(address).map { Member(name: name, address: $0, port: port) })
    }

    /// The bytes serf 0.8/0.9 writes for a member-join of two agents (taken from a real run:
    /// `NAME\tADDR\tROLE\tTAGS\n`, the second agent with no role and no tags).
    static let joinStdin = "a1\t127.0.0.2\tweb\trole=web,x=y\na2\t127.0.0.3\t\t\n"

    @Test(arguments: MemberEventKind.allCases)
    func memberEvents(kind: MemberEventKind) throws {
        let read = try Self.invocation(["SERF_EVENT": kind.name, "SERF_SELF_NAME": "a1"], stdin: Self.joinStdin)
        #expect(read.snapshot.rawValue == "a1")
        #expect(read.event == .member(kind, members: [try Self.member("a1", "127.0.0.2"), try Self.member("a2", "127.0.0.3")], ltime: nil))
        #expect(String(decoding: read.body, as: UTF8.self) == #"{"type":"\#(kind.name)","members":[{"name":"a1","addr":"127.0.0.2","port":7946},{"name":"a2","addr":"127.0.0.3","port":7946}]}"#)
        #expect(try EventDecoder().decode(read.body, format: .single) == [read.event])
    }

    @Test func memberPortAndIPv6() throws {
        let read = try Self.invocation(["SERF_EVENT": "member-failed", "SERF_SELF_NAME": "a1"], stdin: "n\tfe80::1\t\t\r\n\n", port: 8301)
        #expect(read.event == .member(.failed, members: [try Self.member("n", "fe80::1", 8301)], ltime: nil))
        #expect(String(decoding: read.body, as: UTF8.self).contains(#""addr":"fe80::1","port":8301"#))
    }

    /// Lines of older agents (no tags field) and lines with only name and address are taken.
    @Test func shortLines() throws {
        let read = try Self.invocation(["SERF_EVENT": "member-leave", "SERF_SELF_NAME": "a1"], stdin: "x\t10.0.0.1\nz\t10.0.0.2\trole")
        #expect(read.event == .member(.leave, members: [try Self.member("x", "10.0.0.1"), try Self.member("z", "10.0.0.2")], ltime: nil))
    }

    /// The agent writes a tab in a name as `\t` (and a line feed as `\n`): the tab comes back;
    /// `\n` stays as written (a line break cannot be recorded). Quotes and backslashes are
    /// escaped in the JSON.
    @Test func escapedNames() throws {
        let read = try Self.invocation(["SERF_EVENT": "member-join", "SERF_SELF_NAME": "a1"], stdin: "a\\tb\\nc \"q\"\t10.0.0.1\t\t\n")
        let name = "a\tb\\nc \"q\""
        #expect(read.event == .member(.join, members: [try Self.member(name, "10.0.0.1")], ltime: nil))
        #expect(try EventDecoder().decode(read.body, format: .single) == [read.event])
    }

    @Test func userEventAndQuery() throws {
        let user = try Self.invocation(["SERF_EVENT": "user", "SERF_SELF_NAME": "a1", "SERF_USER_EVENT": "deploy", "SERF_USER_LTIME": "18446744073709551615"],
                                       stdin: "payload\n")
        #expect(user.event == .user(ltime: UInt64.max, name: "deploy", payload: [], coalesce: false))
        #expect(String(decoding: user.body, as: UTF8.self) == #"{"type":"user","ltime":18446744073709551615,"name":"deploy"}"#)
        #expect(try EventDecoder().decode(user.body, format: .single) == [user.event])
        let query = try Self.invocation(["SERF_EVENT": "query", "SERF_SELF_NAME": "a1", "SERF_QUERY_NAME": "up\u{1}", "SERF_QUERY_LTIME": "9"])
        #expect(query.event == .query(ltime: 9, name: "up\u{1}"))
        #expect(String(decoding: query.body, as: UTF8.self) == #"{"type":"query","ltime":9,"name":"up\u0001"}"#)
        #expect(try EventDecoder().decode(query.body, format: .single) == [query.event])
    }

    @Test func snapshotName() throws {
        let environment = ["SERF_EVENT": "query", "SERF_SELF_NAME": "host.example:7946", "SERF_QUERY_NAME": "q", "SERF_QUERY_LTIME": "1"]
        #expect(try Self.invocation(environment, snapshot: "agent-1").snapshot.rawValue == "agent-1")
        #expect(Self.failure(environment)?.hasPrefix(#"SERF_SELF_NAME "host.example:7946" is not a snapshot name"#) == true)
        #expect(Self.failure(environment)?.hasSuffix("give --snapshot NAME") == true)
        #expect(Self.failure(environment, snapshot: "-x")?.hasPrefix(#"--snapshot "-x" is not a snapshot name"#) == true)
        #expect(Self.failure(environment.filter { $0.key != "SERF_SELF_NAME" })?.hasPrefix("SERF_SELF_NAME is not set") == true)
        #expect(Self.failure(["SERF_EVENT": "query", "SERF_SELF_NAME": String(repeating: "a", count: 129), "SERF_QUERY_NAME": "q", "SERF_QUERY_LTIME": "1"]) != nil)
    }

    @Test func malformed() {
        let me = ["SERF_SELF_NAME": "a1"]
        #expect(Self.failure(me)?.hasPrefix("SERF_EVENT is not set") == true)
        #expect(Self.failure(me.merging(["SERF_EVENT": "member-jion"]) { $1 }, stdin: Self.joinStdin)?.hasPrefix("SERF_EVENT=member-jion is not an event") == true)
        #expect(Self.failure(me.merging(["SERF_EVENT": "member-join"]) { $1 })?.contains("no members on stdin") == true)
        #expect(Self.failure(me.merging(["SERF_EVENT": "member-join"]) { $1 }, stdin: "\n \n")?.contains("no members on stdin") == true)
        #expect(Self.failure(me.merging(["SERF_EVENT": "member-join"]) { $1 }, stdin: "a1 127.0.0.1\n")?.contains("stdin line 1 is not NAME<tab>ADDRESS") == true)
        #expect(Self.failure(me.merging(["SERF_EVENT": "member-join"]) { $1 }, stdin: "a1\t127.0.0.1\nb\t127.0.0.300\t\t\n")?.contains(#"stdin line 2: "127.0.0.300" is not an IPv4 or IPv6 address"#) == true)
        #expect(Self.failure(me.merging(["SERF_EVENT": "member-join"]) { $1 }, stdin: "\t127.0.0.1\t\t\n")?.contains("no member name") == true)
        #expect(Self.failure(me.merging(["SERF_EVENT": "user", "SERF_USER_EVENT": "d"]) { $1 })?.hasPrefix("SERF_USER_LTIME is not set") == true)
        #expect(Self.failure(me.merging(["SERF_EVENT": "user", "SERF_USER_EVENT": "d", "SERF_USER_LTIME": "-1"]) { $1 })?.hasPrefix("SERF_USER_LTIME=-1 is not a Lamport time") == true)
        #expect(Self.failure(me.merging(["SERF_EVENT": "query", "SERF_QUERY_LTIME": "1"]) { $1 })?.hasPrefix("SERF_QUERY_NAME is not set") == true)
        var notUTF8 = Array("a1\t127.0.0.1\t\t\n".utf8)
        notUTF8[1] = 0xFF
        do {
            _ = try SerfHandlerInvocation(environment: me.merging(["SERF_EVENT": "member-join"]) { $1 }, stdin: notUTF8, memberPort: 7946)
            Issue.record("a name that is not UTF-8 was taken")
        } catch {
            #expect(error.description.contains("in UTF-8"))
        }
        let huge = [UInt8](repeating: UInt8(ascii: "a"), count: SerfHandlerInvocation.maxInputBytes + 1)
        #expect(throws: SerfHandlerInvocationError.self) {
            try SerfHandlerInvocation(environment: me.merging(["SERF_EVENT": "member-join"]) { $1 }, stdin: huge, memberPort: 7946)
        }
    }

    /// Every event the encoder writes, the server's decoder reads back as the same event.
    @Test func encoderRoundTrip() throws {
        let events: [SnapshotEvent] = [
            .member(.update, members: [try Self.member("\u{7F}é\u{0}", "2001:db8::1", 0)], ltime: 5),
            .user(ltime: 1, name: "", payload: [0, 1, 2, 255], coalesce: true),
            .user(ltime: 2, name: "x", payload: Array("ab".utf8), coalesce: false),
            .clock(ltime: 3),
        ]
        for event in events {
            #expect(try EventDecoder().decode(EventEncoder.json(event), format: .single) == [event], "\(String(decoding: EventEncoder.json(event), as: UTF8.self))")
        }
    }
}
