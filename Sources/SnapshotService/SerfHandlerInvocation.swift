import SnapshotCore

/// One run of a command as a stock `serf agent`'s `-event-handler`, read: the event the agent
/// handed over and the snapshot it goes to. A value, parsed from the environment and standard
/// input the agent gave, no I/O (`snapshotd forward` reads them, and posts `body`).
///
/// What the agent gives (cmd/serf/command/agent/invoke.go, Debian's `serf`):
/// - always `SERF_EVENT` (`member-join`, `member-leave`, `member-failed`, `member-update`,
///   `member-reap`, `user`, `query`) and `SERF_SELF_NAME` (the agent's node name);
/// - for a user event `SERF_USER_EVENT` and `SERF_USER_LTIME`, for a query `SERF_QUERY_NAME` and
///   `SERF_QUERY_LTIME`; the payload on stdin (not recorded: Go serf's snapshot keeps only clocks);
/// - for a member event, on stdin one line a member: `NAME\tADDRESS\tROLE\tTAGS\n`, the name,
///   role and tags with a tab written `\t` and a line feed `\n` (Go's `eventClean`).
///
/// What it does not give: members' ports (`memberPort` for every member: Serf's 7946 unless the
/// cluster runs elsewhere) and the member Lamport clock (member events are sent without `ltime`).
public struct SerfHandlerInvocation: Sendable, Equatable {
    /// Where the event goes: `--snapshot`, else `SERF_SELF_NAME`.
    public let snapshot: SnapshotName
    public let event: SnapshotEvent

    /// The most stdin a member event may have: the server's request limit (4 MiB) bounds the
    /// JSON anyway, and the JSON of a line is longer than the line.
    public static let maxInputBytes = 4 * 1024 * 1024

    /// Reads an invocation. `snapshot` is `--snapshot` (nil: `SERF_SELF_NAME`), `memberPort` the
    /// port recorded for every member. `stdin` is only read for member events.
    public init(
        environment: [String: String], stdin: [UInt8], memberPort: UInt16, snapshot: String? = nil
    ) throws(SerfHandlerInvocationError) {
        self.snapshot = try Self.snapshotName(snapshot, selfName: environment["SERF_SELF_NAME"])
        guard let type = environment["SERF_EVENT"], !type.isEmpty else {
            throw SerfHandlerInvocationError("SERF_EVENT is not set: run this as a serf agent's -event-handler")
        }
        switch SnapshotEventKind(name: type) {
        case .user:
            let (name, ltime) = try Self.named(environment, name: "SERF_USER_EVENT", ltime: "SERF_USER_LTIME")
            event = .user(ltime: ltime, name: name, payload: [], coalesce: false)
        case .query:
            let (name, ltime) = try Self.named(environment, name: "SERF_QUERY_NAME", ltime: "SERF_QUERY_LTIME")
            event = .query(ltime: ltime, name: name)
        case let kind?:
            guard let memberKind = kind.memberKind else { throw Self.notAHandlerEvent(type) }
            event = .member(memberKind, members: try Self.members(stdin, port: memberPort, event: type), ltime: nil)
        case nil:
            throw Self.notAHandlerEvent(type)
        }
    }

    /// The kinds serf hands a handler: all but `clock`, which is snapshotd's own.
    static let handlerEventKinds = SnapshotEventKind.allCases.filter { $0 != .clock }

    private static func notAHandlerEvent(_ type: String) -> SerfHandlerInvocationError {
        SerfHandlerInvocationError(
            "SERF_EVENT=\(type) is not an event serf hands a handler (\(handlerEventKinds.map(\.name).joined(separator: ", ")))")
    }

    /// The body of the `POST /v1/snapshots/{name}/events` that records the event.
    public var body: [UInt8] { EventEncoder.json(event) }

    private static func snapshotName(_ given: String?, selfName: String?) throws(SerfHandlerInvocationError) -> SnapshotName {
        let (text, source) = given.map { ($0, "--snapshot") } ?? (selfName ?? "", "SERF_SELF_NAME")
        if given == nil, text.isEmpty {
            throw SerfHandlerInvocationError("SERF_SELF_NAME is not set: give --snapshot NAME, or run this as a serf agent's -event-handler")
        }
        do {
            return try SnapshotName(text)
        } catch {
            let hint = given == nil ? ": give --snapshot NAME" : ""
            throw SerfHandlerInvocationError(
                "\(source) \(text.debugDescription) is not a snapshot name (1 to 128 of A-Z a-z 0-9 . _ -, the first a letter or digit: \(error))\(hint)")
        }
    }

    private static func named(_ environment: [String: String], name: String, ltime: String) throws(SerfHandlerInvocationError) -> (String, UInt64) {
        guard let value = environment[name] else { throw SerfHandlerInvocationError("\(name) is not set for SERF_EVENT=\(environment["SERF_EVENT"] ?? "")") }
        guard let text = environment[ltime] else { throw SerfHandlerInvocationError("\(ltime) is not set for SERF_EVENT=\(environment["SERF_EVENT"] ?? "")") }
        guard let clock = UInt64(text) else { throw SerfHandlerInvocationError("\(ltime)=\(text) is not a Lamport time (an unsigned 64-bit integer)") }
        return (value, clock)
    }

    /// The members of a member event: one line each, `NAME\tADDRESS[\tROLE[\tTAGS]]`.
    private static func members(_ stdin: [UInt8], port: UInt16, event: String) throws(SerfHandlerInvocationError) -> [Member] {
        guard stdin.count <= maxInputBytes else {
            throw SerfHandlerInvocationError("\(event): more than \(maxInputBytes) bytes of members on stdin")
        }
        var members: [Member] = []
        var number = 0
        for line in stdin.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            var line = line
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let fields = line.split(separator: UInt8(ascii: "\t"), maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count >= 2, let rawName = String(validating: fields[0], as: UTF8.self),
                  let addressText = String(validating: fields[1], as: UTF8.self)
            else {
                throw SerfHandlerInvocationError("\(event): stdin line \(number) is not NAME<tab>ADDRESS<tab>ROLE<tab>TAGS in UTF-8: \(Self.quote(line))")
            }
            let name = Self.unescape(rawName)
            guard !name.isEmpty else { throw SerfHandlerInvocationError("\(event): stdin line \(number) has no member name") }
            guard let address = IPAddress(addressText) else {
                throw SerfHandlerInvocationError("\(event): stdin line \(number): \(addressText.debugDescription) is not an IPv4 or IPv6 address")
            }
            members.append(Member(name: name, address: address, port: port))
        }
        guard !members.isEmpty else { throw SerfHandlerInvocationError("\(event): no members on stdin (one line a member: NAME<tab>ADDRESS<tab>ROLE<tab>TAGS)") }
        let probe = SnapshotEvent.member(.join, members: members, ltime: nil)
        if let reason = probe.validationError { throw SerfHandlerInvocationError("\(event): \(reason)") }
        return members
    }

    /// Undoes the agent's `\t` for a tab in a name. Its `\n` stays as written: a member name with
    /// a line break cannot be recorded (Go serf's own snapshot file is line-based too), and the
    /// agent's escape is not reversible anyway (a name that holds a backslash and a `t` reads as
    /// one with a tab).
    static func unescape(_ name: String) -> String {
        name.replacing("\\t", with: "\t")
    }

    private static func quote(_ line: ArraySlice<UInt8>) -> String {
        String(decoding: line.prefix(200), as: UTF8.self).debugDescription
    }
}
