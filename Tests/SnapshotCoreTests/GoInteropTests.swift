import Foundation
import Testing
@testable import SnapshotCore

/// Both directions against the real Go serf 0.9.4 snapshotter (Debian's golang-go and
/// golang-github-hashicorp-serf-dev), through the small driver in Tests/Interop/gosnap.
@Suite(.serialized) struct GoInteropTests {
    static let packageRoot = ProcessInfo.processInfo.environment["SNAPSHOTD_ROOT"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path

    /// Builds the driver on first use; fails (never skips) when Go or serf are missing.
    static let gosnap: Result<String, GoInteropError> = {
        let binary = packageRoot + "/Tests/Interop/bin/gosnap"
        let (status, output) = run(packageRoot + "/Tests/Interop/build-gosnap.sh", [binary])
        guard status == 0 else { return .failure(GoInteropError(message: "building gosnap failed: \(output)")) }
        return .success(binary)
    }()

    struct GoInteropError: Error, CustomStringConvertible { var message: String; var description: String { message } }

    struct GoState: Decodable, Equatable {
        struct Node: Decodable, Equatable { var name: String; var addr: String }
        var alive_nodes: [Node]
        var clock: UInt64
        var event_clock: UInt64
        var query_clock: UInt64
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], stdin: String? = nil) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        do { try process.run() } catch { return (-1, "\(error)") }
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: stdout, as: UTF8.self)
        return (process.terminationStatus, process.terminationStatus == 0 ? text : text + String(decoding: stderr, as: UTF8.self))
    }

    static func goRead(_ path: String, rejoin: Bool) throws -> GoState {
        let binary = try gosnap.get()
        let (status, output) = run(binary, ["read", path] + (rejoin ? ["--rejoin"] : []))
        guard status == 0 else { throw GoInteropError(message: "gosnap read: \(output)") }
        return try JSONDecoder().decode(GoState.self, from: Data(output.utf8))
    }

    static func goWrite(_ path: String, _ commands: [String], rejoin: Bool, minCompactSize: Int) throws {
        let binary = try gosnap.get()
        var arguments = ["write", path, "--min-compact-size", String(minCompactSize)]
        if rejoin { arguments.append("--rejoin") }
        let (status, output) = run(binary, arguments, stdin: commands.joined(separator: "\n") + "\n")
        guard status == 0 else { throw GoInteropError(message: "gosnap write: \(output)") }
    }

    /// One scenario as engine events and as gosnap's JSON commands.
    struct Scenario {
        var events: [SnapshotEvent] = []
        var commands: [String] = []

        mutating func join(_ name: String, _ addr: String, _ port: UInt16, ltime: UInt64? = nil) {
            events.append(.member(.join, members: [member(name, addr, port)], ltime: ltime))
            let lt = ltime.map { ",\"ltime\":\($0)" } ?? ""
            commands.append("{\"type\":\"member-join\",\"members\":[{\"name\":\"\(name)\",\"addr\":\"\(addr)\",\"port\":\(port)}]\(lt)}")
        }
        mutating func failed(_ name: String) {
            events.append(.member(.failed, members: [member(name)], ltime: nil))
            commands.append("{\"type\":\"member-failed\",\"members\":[{\"name\":\"\(name)\",\"addr\":\"127.0.0.1\",\"port\":1}]}")
        }
        mutating func user(_ ltime: UInt64) {
            events.append(.user(ltime: ltime, name: "deploy", payload: [], coalesce: false))
            commands.append("{\"type\":\"user\",\"ltime\":\(ltime),\"name\":\"deploy\"}")
        }
        mutating func query(_ ltime: UInt64) {
            events.append(.query(ltime: ltime, name: "uptime"))
            commands.append("{\"type\":\"query\",\"ltime\":\(ltime),\"name\":\"uptime\"}")
        }
        /// A clock observation; Go records it at the next member event (here an update).
        mutating func clock(_ ltime: UInt64) {
            events.append(.clock(ltime: ltime))
            events.append(.member(.update, members: [], ltime: nil))
            commands.append("{\"type\":\"clock\",\"ltime\":\(ltime)}")
            commands.append("{\"type\":\"member-update\",\"members\":[]}")
        }

        /// IPv4, IPv6 (compressed, mapped, loopback), names with spaces, failures, clocks, and
        /// enough user events to pass a small compaction threshold several times.
        static func membership() -> Scenario {
            var s = Scenario()
            s.join("foo", "127.0.0.1", 5000, ltime: 7)
            s.join("v6 node", "fe80::1", 7946)
            s.join("mapped", "::ffff:10.0.0.1", 7946)
            s.join("rfc5952", "2001:db8:0:0:1:0:0:1", 1)
            s.join("loop6", "0:0:0:0:0:0:0:1", 65535)
            s.join("node with spaces", "10.1.2.3", 0)
            s.failed("mapped")
            s.user(42)
            s.query(50)
            s.clock(100)
            for i in 0..<120 { s.user(43 + UInt64(i)) }
            s.join("late", "2001:db8::a", 8301)
            s.failed("rfc5952")
            s.query(77)
            return s
        }
    }

    func expected(_ state: SnapshotState) -> GoState {
        GoState(
            alive_nodes: state.aliveNodes.map { GoState.Node(name: $0.key, addr: $0.value) }.sorted { $0.name < $1.name },
            clock: state.lastClock, event_clock: state.lastEventClock, query_clock: state.lastQueryClock)
    }

    func engineWrite(_ path: String, _ scenario: Scenario, leave: Bool, rejoin: Bool, minCompactSize: Int64) async throws -> SnapshotState {
        var configuration = EngineConfiguration()
        configuration.minCompactSize = minCompactSize
        configuration.rejoinAfterLeave = rejoin
        configuration.format = .v1
        let engine = try SnapshotEngine(path: path, configuration: configuration)
        for event in scenario.events { _ = try await engine.submit([event]) }
        if leave { try await engine.leave() }
        let state = engine.status.state
        await engine.close()
        return state
    }

    func engineRead(_ path: String, rejoin: Bool) throws -> SnapshotState {
        try SnapshotReplayer(rejoinAfterLeave: rejoin).replay(path: path).0
    }

    /// Go reads what the engine wrote (with compactions along the way) and finds the same state.
    @Test(arguments: [false, true])
    func goReadsEngineFile(leave: Bool) async throws {
        let path = makeTemporaryDirectory() + "/snapshot"
        let scenario = Scenario.membership()
        let live = try await engineWrite(path, scenario, leave: leave, rejoin: false, minCompactSize: leave ? 1 << 20 : 600)
        let replayed = try engineRead(path, rejoin: false)
        let go = try Self.goRead(path, rejoin: false)
        #expect(go == expected(replayed))
        if leave {
            #expect(go == GoState(alive_nodes: [], clock: 0, event_clock: 0, query_clock: 0))
        } else {
            #expect(go == expected(live))
            #expect(go.alive_nodes.map(\.addr).contains("[2001:db8::a]:8301"))
            #expect(go.alive_nodes.map(\.name).contains("node with spaces"))
            #expect(go.clock == 100 && go.event_clock == 162 && go.query_clock == 77)
            #expect(!readFile(path).contains("alive: mapped"))  // compacted at least once
        }
    }

    /// With rejoin-after-leave, both ignore the leave and keep the alive set and clocks.
    @Test func leaveWithRejoinMatches() async throws {
        let path = makeTemporaryDirectory() + "/snapshot"
        let live = try await engineWrite(path, .membership(), leave: true, rejoin: true, minCompactSize: 1 << 20)
        let go = try Self.goRead(path, rejoin: true)
        #expect(go == expected(live))
        #expect(go.alive_nodes.count == 5)
    }

    /// Go opens a v1 checkpoint (the log position comment after the header line, and another
    /// one further down) and finds every node and clock; snapshotd finds the last position.
    @Test func goReadsAV1Checkpoint() async throws {
        let dir = makeTemporaryDirectory()
        let live = try await engineWrite(dir + "/snapshot", .membership(), leave: false, rejoin: false, minCompactSize: 1 << 20)
        let checkpoint = dir + "/checkpoint"
        _ = try SnapshotFileWriter.replace(checkpoint, with: live, format: .v1, logPosition: 123_456_789)
        #expect(readFile(checkpoint).hasPrefix(V1Format.headerLine + "# snapshotd log position: 123456789\n"))
        let go = try Self.goRead(checkpoint, rejoin: false)
        #expect(go == expected(live))
        #expect(go.alive_nodes.count == 5 && go.clock == 100 && go.event_clock == 162 && go.query_clock == 77)
        #expect(try SnapshotReplayer(rejoinAfterLeave: false).replay(path: checkpoint).1.logPosition == 123_456_789)

        let handle = try #require(FileHandle(forWritingAtPath: checkpoint))
        handle.seekToEndOfFile()
        handle.write(Data("# snapshotd log position: 123456999\nalive: extra 10.9.9.9:7946\n".utf8))
        try handle.close()
        let more = try Self.goRead(checkpoint, rejoin: false)
        #expect(more.alive_nodes.count == 6 && more.alive_nodes.contains(GoState.Node(name: "extra", addr: "10.9.9.9:7946")))
        let (replayed, report) = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: checkpoint)
        #expect(report.logPosition == 123_456_999 && report.isClean && expected(replayed) == more)
    }

    /// The engine replays what Go wrote from the same events and finds what Go finds.
    @Test(arguments: [(false, 1 << 20), (false, 600), (true, 1 << 20)])
    func engineReadsGoFile(leave: Bool, minCompactSize: Int) async throws {
        let dir = makeTemporaryDirectory()
        let goPath = dir + "/go-snapshot"
        var scenario = Scenario.membership()
        if leave { scenario.commands.append("{\"type\":\"leave\"}") }
        try Self.goWrite(goPath, scenario.commands, rejoin: false, minCompactSize: minCompactSize)
        let engineSide = try engineRead(goPath, rejoin: false)
        let goSide = try Self.goRead(goPath, rejoin: false)
        #expect(expected(engineSide) == goSide)

        let ours = try await engineWrite(dir + "/ours", scenario, leave: leave, rejoin: false, minCompactSize: Int64(minCompactSize))
        if leave {
            #expect(engineSide.aliveNodes.isEmpty && engineSide.lastClock == 0)
        } else {
            #expect(expected(engineSide) == expected(ours))
        }
        let engine = try SnapshotEngine(path: goPath)
        #expect(engine.replayReport.skipped.isEmpty && engine.replayReport.logPosition == nil)
        await engine.close()
    }
}
