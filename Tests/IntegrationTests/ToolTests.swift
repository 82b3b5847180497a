import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The offline tools (`inspect`, `verify`, `convert`, `compact`, and `health`) run as the real
/// binary, on files the real server wrote, on damaged files and on garbage.
@Suite struct ToolTests {
    // MARK: - Running the binary

    /// How one run of the binary ended.
    struct ToolRun: Sendable, CustomStringConvertible {
        var arguments: [String]
        /// The exit code, or the signal number when `signaled`.
        var status: Int32
        /// True when a signal ended the process (a crash, or our kill after `timedOut`).
        var signaled: Bool
        var timedOut: Bool
        var stdout: String
        var stderr: String

        /// Exited on its own with a code (no signal, no timeout).
        var exited: Bool { !signaled && !timedOut }

        var description: String {
            "snapshotd \(arguments.joined(separator: " ")): \(signaled ? "signal" : "exit") \(status)\(timedOut ? " (timed out)" : "")"
                + "\nstdout: \(stdout.prefix(1500))\nstderr: \(stderr.prefix(1500))"
        }
    }

    struct ToolError: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads a descriptor to its end on a thread of its own, then closes it.
    private final class Drain: Sendable {
        private let state = Mutex<(bytes: [UInt8], done: Bool)>(([], false))

        init(fd: Int32) {
            Thread.detachNewThread { [self] in
                var chunk = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if count > 0 {
                        state.withLock { $0.bytes.append(contentsOf: chunk[0..<count]) }
                    } else if count < 0 && errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
                close(fd)
                state.withLock { $0.done = true }
            }
        }

        /// Waits (up to 10 s more) for end of file, then returns what was read.
        func text() -> String {
            let deadline = Date().addingTimeInterval(10)
            while !state.withLock({ $0.done }) && Date() < deadline { usleep(1000) }
            return state.withLock { String(decoding: $0.bytes, as: UTF8.self) }
        }
    }

    /// Runs `executable` (the snapshotd binary by default) with `arguments`, killing it after
    /// `timeout` seconds.
    static func run(_ arguments: [String], executable: String? = nil, directory: String? = nil, timeout: Double = 60,
                    environment: [String: String] = [:]) throws -> ToolRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable ?? SnapshotdProcess.locateBinary())
        process.arguments = arguments
        // The tests' own settings never come from the environment they run in.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SNAPSHOTD_") }.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        let stdout = Drain(fd: dup(out.fileHandleForReading.fileDescriptor))
        let stderr = Drain(fd: dup(err.fileHandleForReading.fileDescriptor))
        try? out.fileHandleForReading.close()
        try? err.fileHandleForReading.close()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() >= deadline {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                break
            }
            usleep(2000)
        }
        return ToolRun(
            arguments: arguments, status: process.terminationStatus,
            signaled: process.terminationReason != .exit, timedOut: timedOut,
            stdout: stdout.text(), stderr: stderr.text())
    }

    /// `snapshotd inspect --json PATH`, decoded.
    struct Report: Decodable, Equatable {
        struct Node: Decodable, Equatable, Hashable { var name: String; var addr: String }
        struct Damage: Decodable, Equatable { var offset: Int64; var length: Int64; var reason: String }
        var path: String
        var format: String
        var bytes: Int64
        var created_at: String?
        var records: Int
        var records_by_type: [String: Int]
        var ignored: Int
        var alive_nodes: [Node]
        var clock: UInt64
        var event_clock: UInt64
        var query_clock: UInt64
        var leaving: Bool
        var damaged: [Damage]
        var torn_tail_bytes: Int64
        var log_position: UInt64?
        var log: Log
        var clean: Bool

        struct Log: Decodable, Equatable {
            struct Region: Decodable, Equatable { var segment: String; var offset: Int; var length: Int }
            var segments: Int
            var records: Int
            var replayed: Int
            var damaged: [Region]
            var torn_tails: [Region]
        }

        /// What a snapshot holds, whatever the file looks like.
        var state: State { State(alive_nodes: alive_nodes, clock: clock, event_clock: event_clock, query_clock: query_clock, leaving: leaving) }
    }

    struct State: Equatable, CustomStringConvertible {
        var alive_nodes: [Report.Node]
        var clock: UInt64
        var event_clock: UInt64
        var query_clock: UInt64
        var leaving: Bool

        init(alive_nodes: [Report.Node], clock: UInt64, event_clock: UInt64, query_clock: UInt64, leaving: Bool) {
            self.alive_nodes = alive_nodes
            self.clock = clock
            self.event_clock = event_clock
            self.query_clock = query_clock
            self.leaving = leaving
        }

        init(_ snapshot: ServiceTests.Snapshot) {
            self.init(alive_nodes: snapshot.alive_nodes.map { Report.Node(name: $0.name, addr: $0.addr) },
                      clock: snapshot.clock, event_clock: snapshot.event_clock, query_clock: snapshot.query_clock,
                      leaving: snapshot.leaving)
        }

        var description: String {
            "\(alive_nodes.count) alive \(alive_nodes.prefix(3).map(\.name)), clocks \(clock)/\(event_clock)/\(query_clock), leaving \(leaving)"
        }
    }

    static func inspect(_ path: String) throws -> Report {
        let result = try run(["inspect", "--json", path])
        guard result.exited, result.status == 0 else { throw ToolError(description: "inspect failed: \(result)") }
        do {
            return try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        } catch {
            throw ToolError(description: "inspect --json printed no report (\(error)): \(result)")
        }
    }

    // MARK: - Files

    static func bytes(_ path: String) -> [UInt8] {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    /// A member-join event as the API takes it.
    static func join(_ name: String, _ addr: String, _ port: Int, ltime: Int? = nil) -> String {
        let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return #"{"type":"member-join","members":[{"name":"\#(escaped)","addr":"\#(addr)","port":\#(port)}]\#(ltime.map { #","ltime":\#($0)"# } ?? "")}"#
    }

    static func failed(_ name: String) -> String {
        #"{"type":"member-failed","members":[{"name":"\#(name)","addr":"127.0.0.1","port":1}]}"#
    }

    /// IPv4, IPv6, names with spaces, failures and all three clocks.
    static let mixedEvents: [String] = {
        var events = [
            join("foo", "127.0.0.1", 5000, ltime: 7),
            join("v6 node", "fe80::1", 7946),
            join("mapped", "::ffff:10.0.0.1", 7946),
            join("rfc5952", "2001:db8:0:0:1:0:0:1", 1),
            join("node with spaces", "10.1.2.3", 0),
            failed("mapped"),
            #"{"type":"user","ltime":42,"name":"deploy"}"#,
            #"{"type":"query","ltime":50,"name":"uptime"}"#,
            #"{"type":"clock","ltime":100}"#,
        ]
        for i in 0..<30 { events.append(join("n\(i)", "10.0.\(i / 256).\(i % 256)", 7946)) }
        for i in stride(from: 0, to: 30, by: 3) { events.append(failed("n\(i)")) }
        events.append(#"{"type":"user","ltime":77,"name":"deploy"}"#)
        events.append(join("late", "2001:db8::a", 8301, ltime: 120))
        return events
    }()

    /// Runs the real server on a fresh file, posts `events` (NDJSON), stops it cleanly and
    /// returns the file and the state the server reported before stopping.
    /// A snapshot a server wrote: stopped (the file a complete checkpoint, the log empty), or
    /// killed with `kill -9` (the file as the last checkpoint left it, the rest in the log).
    static func serverFile(format: String, events: [String], arguments: [String] = [], kill: Bool = false) throws -> (path: String, state: State) {
        let (process, client, path) = try ServiceTests.start(nil, ["--format", format] + arguments)
        var chunk: [String] = []
        func flush() throws {
            guard !chunk.isEmpty else { return }
            let response = try ServiceTests.post(client, "/v1/events", chunk.joined(separator: "\n") + "\n", contentType: "application/x-ndjson")
            #expect(response.status == 200, "\(response.text)")
            chunk.removeAll()
        }
        for event in events {
            chunk.append(event)
            if chunk.count == 100 { try flush() }
        }
        try flush()
        let state = State(try ServiceTests.snapshot(client))
        if kill {
            process.kill9()
        } else {
            #expect(try ServiceTests.stop(process) == 0)
        }
        return (path, state)
    }

    // MARK: - gosnap

    static let packageRoot = ProcessInfo.processInfo.environment["SNAPSHOTD_ROOT"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The Go serf driver, built when missing; fails (never skips) when Go or serf are missing.
    static let gosnap: Result<String, ToolError> = {
        let binary = packageRoot + "/Tests/Interop/bin/gosnap"
        if FileManager.default.isExecutableFile(atPath: binary) { return .success(binary) }
        do {
            let build = try run([binary], executable: packageRoot + "/Tests/Interop/build-gosnap.sh", timeout: 300)
            guard build.exited, build.status == 0 else { return .failure(ToolError(description: "building gosnap failed: \(build)")) }
            return .success(binary)
        } catch {
            return .failure(ToolError(description: "building gosnap failed: \(error)"))
        }
    }()

    struct GoState: Decodable, Equatable {
        var alive_nodes: [Report.Node]
        var clock: UInt64
        var event_clock: UInt64
        var query_clock: UInt64
    }

    // MARK: - inspect

    @Test(arguments: ["v1", "v2"])
    func inspectDescribesServerFiles(format: String) throws {
        let (path, state) = try Self.serverFile(format: format, events: Self.mixedEvents)
        let report = try Self.inspect(path)
        #expect(report.format == format)
        #expect(report.state == state)
        #expect(report.clean && report.damaged.isEmpty && report.torn_tail_bytes == 0)
        #expect(report.bytes == Int64(Self.bytes(path).count))
        #expect(report.path == path)
        #expect(report.alive_nodes.count == 25)  // 5 + 30 + 1, less "mapped" and 10 failed
        #expect(report.clock == 120 && report.event_clock == 77 && report.query_clock == 50)
        // At rest the file is a checkpoint of everything, and the log is empty.
        #expect(report.ignored == (format == "v1" ? 2 : 1))  // the v2 header, or v1's header and position lines
        #expect(report.records == report.records_by_type.values.reduce(0, +))
        #expect(report.records == 25 + 3 && report.records_by_type["not-alive"] == nil)
        #expect(report.log_position != nil && report.log.segments == 0 && report.log.replayed == 0)
        #expect((format == "v2") == (report.created_at != nil))

        let text = try Self.run(["inspect", path])
        #expect(text.exited && text.status == 0, "\(text)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "path:        \(path)")
        #expect(lines.contains { $0.hasPrefix("format:      \(format)") })
        #expect(lines.contains("clocks:      clock 120, event-clock 77, query-clock 50"))
        #expect(lines.contains("leaving:     false"))
        #expect(lines.contains("alive nodes: 25"))
        #expect(lines.contains("  node with spaces 10.1.2.3:0"))
        #expect(lines.contains("  v6 node [fe80::1]:7946"))
        #expect(lines.contains("  late [2001:db8::a]:8301"))
        #expect(lines.contains("damage:      none"))
        #expect(!lines.contains { $0.hasPrefix("  mapped ") })

        let verify = try Self.run(["verify", path])
        #expect(verify.exited && verify.status == 0, "\(verify)")
        #expect(verify.stdout == "\(path): \(format), \(report.records) records, clean\n  log: 0 segment(s), 0 record(s), 0 after the file\n")
    }

    // MARK: - verify

    /// 0 clean, 1 damaged (a flipped byte), 2 unreadable. A torn tail (a last record cut short,
    /// which a crash leaves and the next start cuts) is the normal trace of a crash: exit 0, with
    /// a line saying so.
    @Test func verifyExitCodes() throws {
        let (path, state) = try Self.serverFile(format: "v2", events: Self.mixedEvents)
        let dir = (path as NSString).deletingLastPathComponent
        let original = Self.bytes(path)
        let before = try Self.inspect(path)
        #expect(original.count > 200)

        // 0: clean.
        let clean = try Self.run(["verify", path])
        #expect(clean.exited && clean.status == 0, "\(clean)")

        // 1: one byte flipped in the middle costs exactly the record that holds it.
        var flipped = original
        let middle = original.count / 2
        flipped[middle] ^= 0x5A
        let flippedPath = dir + "/flipped"
        try Self.write(flipped, to: flippedPath)
        let damaged = try Self.run(["verify", flippedPath])
        #expect(damaged.exited && damaged.status == 1, "\(damaged)")
        #expect(damaged.stdout.contains("DAMAGED") && damaged.stdout.contains("checksum mismatch"), "\(damaged)")
        let damagedReport = try Self.inspect(flippedPath)
        #expect(damagedReport.damaged.count == 1)
        #expect(damagedReport.torn_tail_bytes == 0)
        #expect(!damagedReport.clean)
        #expect(damagedReport.records == before.records - 1)
        if let region = damagedReport.damaged.first {
            #expect(region.offset <= Int64(middle) && Int64(middle) < region.offset + region.length, "\(region)")
            #expect(region.reason == "checksum mismatch")
        }
        let damagedText = try Self.run(["inspect", flippedPath])
        #expect(damagedText.exited && damagedText.status == 0, "\(damagedText)")
        #expect(damagedText.stdout.contains("damage:      1 region(s)"), "\(damagedText)")

        // A last record cut short (v2 and v1): a torn tail, not a damaged region: exit 0.
        let v1 = try Self.serverFile(format: "v1", events: Self.mixedEvents)
        for (source, cut) in [(path, 3), (v1.path, 4)] {
            let whole = Self.bytes(source)
            let tornPath = source + ".torn"
            try Self.write(Array(whole.dropLast(cut)), to: tornPath)
            let wholeReport = try Self.inspect(source)
            let tornReport = try Self.inspect(tornPath)
            #expect(tornReport.damaged.isEmpty, "\(tornReport.damaged)")
            #expect(tornReport.torn_tail_bytes > 0)
            #expect(!tornReport.clean)
            #expect(tornReport.records == wholeReport.records - 1)
            let torn = try Self.run(["verify", tornPath])
            #expect(torn.exited && torn.status == 0, "\(torn)")
            let at = Int64(whole.count - cut) - tornReport.torn_tail_bytes
            #expect(torn.stdout.contains("clean") && !torn.stdout.contains("DAMAGED"), "\(torn)")
            #expect(torn.stdout.contains("an interrupted append"), "\(torn)")
            #expect(torn.stdout.contains("torn tail: \(tornReport.torn_tail_bytes) bytes at offset \(at)"), "\(torn)")
            #expect(!torn.stdout.contains("checksum mismatch"), "\(torn)")
        }

        // An empty file is a snapshot not yet written: clean.
        let emptyPath = dir + "/empty"
        try Self.write([], to: emptyPath)
        let empty = try Self.run(["verify", emptyPath])
        #expect(empty.exited && empty.status == 0, "\(empty)")

        // 2: unreadable.
        for (unreadable, reason) in [(dir + "/missing", "No such file or directory"), (dir, "Is a directory"), (path + "/x", "Not a directory")] {
            let result = try Self.run(["verify", unreadable])
            #expect(result.exited && result.status == 2, "\(result)")
            #expect(result.stderr.contains("snapshotd verify: cannot read \(unreadable)") && result.stderr.contains(reason), "\(result)")
            let inspect = try Self.run(["inspect", unreadable])
            #expect(inspect.exited && inspect.status != 0, "\(inspect)")
            #expect(inspect.stderr.contains("cannot read \(unreadable)"), "\(inspect)")
        }
        #expect(Self.bytes(path) == original)
        #expect(try Self.inspect(path).state == state)
    }

    // MARK: - convert

    /// v2 -> v1 -> v2 keeps the state, and Go serf replays the v1 file to the same state.
    @Test func convertRoundTripKeepsStateAndGoReadsV1() throws {
        let gosnap = try Self.gosnap.get()
        let (path, state) = try Self.serverFile(format: "v2", events: Self.mixedEvents)
        let dir = (path as NSString).deletingLastPathComponent
        let v1Path = dir + "/as-v1", v2Path = dir + "/back-to-v2"

        let toV1 = try Self.run(["convert", "--to", "v1", path, v1Path])
        #expect(toV1.exited && toV1.status == 0, "\(toV1)")
        #expect(toV1.stdout.contains("\(path) (v2) -> \(v1Path) (v1): 25 alive nodes"), "\(toV1)")
        let toV2 = try Self.run(["convert", "--to", "v2", v1Path, v2Path])
        #expect(toV2.exited && toV2.status == 0, "\(toV2)")
        #expect(!Self.exists(v1Path + ".tmp") && !Self.exists(v2Path + ".tmp"))

        let original = try Self.inspect(path), asV1 = try Self.inspect(v1Path), back = try Self.inspect(v2Path)
        #expect(original.state == state)
        #expect(asV1.format == "v1" && back.format == "v2")
        #expect(asV1.state == state)
        #expect(back.state == state)
        #expect(asV1.clean && back.clean)
        // Compacted: one record a node and the three clocks.
        #expect(asV1.records == state.alive_nodes.count + 3 && back.records == state.alive_nodes.count + 3)
        let text = String(decoding: Self.bytes(v1Path), as: UTF8.self)
        #expect(text.hasPrefix("# serf snapshot v1 (snapshotd)\n"))
        #expect(text.contains("alive: node with spaces 10.1.2.3:0\n"))
        for verified in [v1Path, v2Path] {
            let verify = try Self.run(["verify", verified])
            #expect(verify.exited && verify.status == 0, "\(verify)")
        }

        // Go serf reads the v1 output.
        let go = try Self.run(["read", v1Path], executable: gosnap)
        #expect(go.exited && go.status == 0, "\(go)")
        let goState = try JSONDecoder().decode(GoState.self, from: Data(go.stdout.utf8))
        #expect(goState == GoState(alive_nodes: state.alive_nodes, clock: state.clock, event_clock: state.event_clock, query_clock: state.query_clock))
        #expect(!go.stderr.contains("[WARN]"), "\(go.stderr)")
    }

    /// OUT naming IN in any way (the same path, another spelling, a symlink, a hard link) is
    /// refused, and IN is left as it was.
    @Test func convertRefusesToOverwriteItsInput() throws {
        let (path, state) = try Self.serverFile(format: "v2", events: Self.mixedEvents)
        let dir = (path as NSString).deletingLastPathComponent
        let original = Self.bytes(path)
        let symlink = dir + "/symlink", hardLink = dir + "/hardlink"
        try FileManager.default.createSymbolicLink(atPath: symlink, withDestinationPath: path)
        #expect(link(path, hardLink) == 0)
        let spelled = dir + "/./" + (path as NSString).lastPathComponent
        for output in [path, spelled, symlink, hardLink] {
            for to in ["v1", "v2"] {
                let result = try Self.run(["convert", "--to", to, path, output])
                #expect(result.exited && result.status != 0, "\(result)")
                #expect(result.stderr.contains("refusing to overwrite the input \(path)"), "\(result)")
                #expect(!Self.exists(output + ".tmp"))
            }
            // The other way round too: IN given through the link, OUT the file itself.
            let reversed = try Self.run(["convert", "--to", "v1", output, path])
            #expect(reversed.exited && reversed.status != 0, "\(reversed)")
            #expect(reversed.stderr.contains("refusing to overwrite the input"), "\(reversed)")
        }
        #expect(Self.bytes(path) == original)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: symlink) == path)
        #expect(Self.bytes(hardLink) == original)
        #expect(try Self.inspect(path).state == state)
    }

    @Test func convertRejectsBadArguments() throws {
        let (path, _) = try Self.serverFile(format: "v2", events: Array(Self.mixedEvents.prefix(5)))
        let dir = (path as NSString).deletingLastPathComponent
        let out = dir + "/out"
        for to in ["v3", "V1", "", "json", "v1 "] {
            let result = try Self.run(["convert", "--to", to, path, out])
            #expect(result.exited && result.status != 0, "\(result)")
            #expect(result.stderr.contains("--to must be v1 or v2"), "\(result)")
        }
        let noTarget = try Self.run(["convert", path, out])
        #expect(noTarget.exited && noTarget.status != 0 && noTarget.stderr.contains("--to"), "\(noTarget)")
        let missingInput = try Self.run(["convert", "--to", "v1", dir + "/missing", out])
        #expect(missingInput.exited && missingInput.status != 0, "\(missingInput)")
        #expect(missingInput.stderr.contains("cannot read \(dir)/missing"), "\(missingInput)")
        let noDirectory = try Self.run(["convert", "--to", "v1", path, dir + "/no/such/dir/out"])
        #expect(noDirectory.exited && noDirectory.status != 0, "\(noDirectory)")
        #expect(noDirectory.stderr.contains("cannot write"), "\(noDirectory)")
        #expect(!Self.exists(out) && !Self.exists(out + ".tmp"))
    }

    /// A Go (v1) file may hold a name longer than a v2 record carries: converting it to v2 is
    /// refused with a message (no crash, nothing left behind); to v1 it goes through.
    @Test func convertRefusesNamesTooLongForV2() throws {
        let (path, _) = try Self.serverFile(format: "v2", events: Array(Self.mixedEvents.prefix(5)))
        let dir = (path as NSString).deletingLastPathComponent
        let input = dir + "/long-name-v1"
        let longName = String(repeating: "n", count: 70_000)
        try Self.write(Array("alive: short 10.0.0.1:7946\nalive: \(longName) 10.0.0.2:7946\nclock: 3\n".utf8), to: input)
        let out = dir + "/long-name-v2"
        let refused = try Self.run(["convert", "--to", "v2", input, out])
        #expect(refused.exited && refused.status != 0, "\(refused)")
        #expect(refused.stderr.contains("too long for a v2 record"), "\(refused)")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("long-name-v2") }
        #expect(left.isEmpty, "\(left)")
        let asV1 = try Self.run(["convert", "--to", "v1", input, dir + "/long-name-copy"])
        #expect(asV1.exited && asV1.status == 0, "\(asV1)")
        #expect(try Self.inspect(dir + "/long-name-copy").state.alive_nodes.count == 2)
    }

    /// convert writes OUT through a temporary file of its own: an input named OUT.tmp survives.
    @Test func convertNeverConsumesItsInput() throws {
        let (path, state) = try Self.serverFile(format: "v2", events: Array(Self.mixedEvents.prefix(5)))
        let dir = (path as NSString).deletingLastPathComponent
        let input = dir + "/backup.tmp"
        try Self.write(Self.bytes(path), to: input)
        let result = try Self.run(["convert", "--to", "v1", input, dir + "/backup"])
        #expect(result.exited, "\(result)")
        #expect(Self.exists(input) && Self.bytes(input) == Self.bytes(path), "\(result)")
        if result.status == 0 { #expect(try Self.inspect(dir + "/backup").state == state) }
    }

    // MARK: - compact

    @Test(arguments: ["v1", "v2"])
    func compactShrinksAFileOffline(format: String) throws {
        var events: [String] = []
        for i in 0..<300 { events.append(Self.join("node-\(i)", "10.9.\(i / 256).\(i % 256)", 7946)) }
        for i in 0..<300 where i % 6 != 0 { events.append(Self.failed("node-\(i)")) }
        for i in 1...100 { events.append(#"{"type":"user","ltime":\#(i),"name":"deploy"}"#) }
        events.append(#"{"type":"query","ltime":9,"name":"uptime"}"#)
        events.append(#"{"type":"clock","ltime":500}"#)
        // Killed: the file is the empty first checkpoint, everything else is in the log.
        let (path, state) = try Self.serverFile(format: format, events: events, arguments: ["--min-compact-size", "100000000"], kill: true)
        let before = try Self.inspect(path)
        #expect(before.state == state)
        #expect(before.records == 3 && before.log.replayed > 600 && before.log.segments > 0)

        let result = try Self.run(["compact", path])
        #expect(result.exited && result.status == 0, "\(result)")
        let after = try Self.inspect(path)
        #expect(after.state == state)
        #expect(after.format == format)
        #expect(after.clean)
        #expect(after.records == state.alive_nodes.count + 3)
        #expect(after.log.segments == 0 && after.log.replayed == 0, "the log is folded into the file")
        #expect(result.stdout.hasPrefix("\(path): ") && result.stdout.contains(" -> \(after.bytes) bytes in "), "\(result)")
        #expect(!Self.exists(path + ".compact") && !Self.exists(path + ".checkpoint"))
        let verify = try Self.run(["verify", path])
        #expect(verify.exited && verify.status == 0, "\(verify)")

        // The server takes the compacted file as it is.
        let (process, client, _) = try ServiceTests.start(path)
        #expect(State(try ServiceTests.snapshot(client)) == state)
        #expect(try ServiceTests.stop(process) == 0)
    }

    @Test func compactRefusesWhatIsNotASnapshot() throws {
        let dir = SnapshotdProcess.makeTempDir()
        let missing = try Self.run(["compact", dir + "/missing"])
        #expect(missing.exited && missing.status != 0, "\(missing)")
        #expect(missing.stderr.contains("no snapshot at \(dir)/missing"), "\(missing)")
        #expect(!Self.exists(dir + "/missing"))
        let directory = try Self.run(["compact", dir])
        #expect(directory.exited && directory.status != 0, "\(directory)")
        #expect(directory.stderr.contains("cannot open \(dir)"), "\(directory)")
    }

    // MARK: - Garbage

    /// Files no snapshotd wrote. What replay cannot explain is never cut: a file that is not a
    /// snapshot at all is refused by every tool and left as it is (inspect and compact exit 1,
    /// verify 2); a damaged one is reported (verify 1), and compact keeps it as
    /// PATH.damaged-<time> before it rewrites it from the records recovered. Nothing crashes.
    @Test func garbageFilesAreReportedNotCrashedOn() throws {
        enum Kind { case notASnapshot, damaged, torn, clean }
        let dir = SnapshotdProcess.makeTempDir()
        var rng = SplitMix64(seed: 0x5EED_0F_6A_4BA6E)
        func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        let (real, _) = try Self.serverFile(format: "v2", events: Array(Self.mixedEvents.prefix(5)))
        let header = Array(Self.bytes(real).prefix(24))
        let files: [(name: String, bytes: [UInt8], kind: Kind)] = [
            ("random", random(5000), .notASnapshot),
            ("high-byte", [0xFF] + random(5000), .notASnapshot),
            ("magic-then-random", Array(header.prefix(8)) + random(5000), .notASnapshot),
            ("header-then-random", header + random(5000), .damaged),
            ("header-only", header, .clean),
            ("half-header", Array(header.prefix(10)), .torn),
            ("zeros", [UInt8](repeating: 0, count: 4096), .notASnapshot),
            ("newlines", [UInt8](repeating: 0x0A, count: 100), .notASnapshot),
            ("no-newline", [UInt8](repeating: 0x61, count: 300_000), .notASnapshot),
            ("bad-utf8", Array("alive: \u{1}x ".utf8) + [0xC3, 0x28, 0xFF, 0xFE] + Array(" 1.2.3.4:5\nclock: 99999999999999999999\nleave now\n".utf8), .notASnapshot),
            ("text", Array("hello\nworld\n".utf8), .notASnapshot),
            ("text-then-record", Array("hello\nclock: 5\n".utf8), .damaged),
        ]
        for file in files {
            let path = dir + "/" + file.name
            try Self.write(file.bytes, to: path)
            let verify = try Self.run(["verify", path])
            let compacted = try Self.run(["compact", path])
            #expect(compacted.exited, "\(compacted)")
            let converted = try Self.run(["convert", "--to", "v1", path, path + ".v1"])
            #expect(converted.exited, "\(converted)")
            if file.kind == .notASnapshot {
                #expect(verify.exited && verify.status == 2 && verify.stderr.contains("neither a v1 nor a v2 snapshot"), "\(verify)")
                let inspect = try Self.run(["inspect", path])
                #expect(inspect.exited && inspect.status == 1 && inspect.stderr.contains("neither a v1 nor a v2 snapshot"), "\(inspect)")
                #expect(compacted.status == 1 && compacted.stderr.contains("neither a v1 nor a v2 snapshot"), "\(compacted)")
                #expect(converted.status == 1, "\(converted)")
                #expect(Self.bytes(path) == file.bytes, "\(file.name) was changed")
                continue
            }
            let report = try Self.inspect(dir + "/" + file.name + ".v1")  // what convert recovered
            #expect(converted.status == 0, "\(converted)")
            #expect(verify.exited && verify.status == (file.kind == .damaged ? 1 : 0), "\(verify)")
            #expect(compacted.status == 0, "\(compacted)")
            let after = try Self.inspect(path)
            #expect(after.clean && after.state == report.state, "\(file.name): \(after)")
            let copies = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(file.name + ".damaged-") }
            if file.kind == .damaged {
                #expect(copies.count == 1, "\(file.name): \(copies)")
                if let copy = copies.first { #expect(Self.bytes(dir + "/" + copy) == file.bytes) }
                #expect(compacted.stderr.contains("was damaged: kept as"), "\(compacted)")
            } else {
                #expect(copies.isEmpty, "\(file.name): \(copies)")
            }
        }
    }

    /// No arguments, unknown flags, bad values: a usage error (non-zero exit with a message),
    /// never a crash, never a server left running.
    @Test func garbageArgumentsExitWithAMessage() throws {
        let dir = SnapshotdProcess.makeTempDir()
        let file = dir + "/snapshot"
        try Self.write(Array(V1Sample.text.utf8), to: file)
        let invocations: [[String]] = [
            ["inspect"], ["verify"], ["convert"], ["compact"],
            ["inspect", "--bogus", file], ["verify", "--json", file], ["compact", "--force", file],
            ["convert", "--to", "v1", "--bogus", file, dir + "/out"], ["convert", "--to"], ["convert", "--to", "v1", file],
            ["inspect", file, file], ["verify", file, "extra"], ["compact", file, file],
            ["--bogus"], ["frobnicate"], ["-x"],
            ["health", "--bogus"], ["health", "--url", "not a url"], ["health", "--url", "ftp://127.0.0.1/"],
            ["health", "--url", "http://127.0.0.1:1/", "--timeout", "0.5"], ["health", "--timeout", "soon"],
            ["serve", "--listen", "nonsense"], ["serve", "--listen", "127.0.0.1:99999"], ["serve", "--listen", "::1:80"],
            ["serve", "--durability", "maybe"], ["serve", "--format", "v3"], ["serve", "--queue-capacity", "0"],
            ["serve", "--queue-wait", "nan"], ["serve", "--min-compact-size", "x"], ["serve", "--log-level", "loud"],
            ["serve", "--max-connections", "-1"], ["serve", "--http-threads", "0"], ["serve", "--token-file", dir + "/no-token", "--listen", "127.0.0.1:0"],
            ["serve", "--unknown"],
        ]
        for arguments in invocations {
            let result = try Self.run(arguments, directory: dir, timeout: 20)
            #expect(result.exited && result.status != 0, "\(result)")
            #expect(!result.stderr.isEmpty, "\(result)")
            #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("crashed"), "\(result)")
        }
        // Help is not an error.
        for arguments in [["--help"], ["inspect", "--help"], ["verify", "-h"], ["convert", "--help"], ["compact", "--help"], ["help", "serve"]] {
            let result = try Self.run(arguments, directory: dir, timeout: 20)
            #expect(result.exited && result.status == 0 && result.stdout.contains("USAGE"), "\(result)")
        }
        #expect(Self.bytes(file) == Array(V1Sample.text.utf8))
        #expect(!Self.exists(dir + "/data"))  // no serve ran on its default snapshot
    }

    /// Arguments that once crashed the tools (found by these tests): now clear errors.
    @Test func oddArgumentsAreErrorsNotCrashes() throws {
        let dir = SnapshotdProcess.makeTempDir()
        try FileManager.default.createDirectory(atPath: dir + "/d", withIntermediateDirectories: true)
        for timeout in ["nan", "inf", "1e300"] {
            let result = try Self.run(["health", "--url", "http://127.0.0.1:1/", "--timeout", timeout], timeout: 20)
            #expect(result.exited && result.status != 0, "\(result)")
        }
        // A one-character relative snapshot path: NSString.deletingLastPathComponent traps in
        // swift-corelibs-foundation. Here `d` is a directory, so a fixed server exits 1.
        let serve = try Self.run(["serve", "--listen", "127.0.0.1:0", "--snapshot", "d"], directory: dir, timeout: 20)
        #expect(serve.exited && serve.status == 1, "\(serve)")
    }

    enum V1Sample {
        static let text = "# serf snapshot v1 (snapshotd)\nalive: foo 127.0.0.1:5000\nclock: 7\nevent-clock: 0\nquery-clock: 0\n"
    }
}
