import ArgumentParser
import Foundation
import Glibc
import SnapshotCore

/// `snapshotd inspect PATH [--json]`: what a snapshot file holds, and any damage in it.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a snapshot file: format, records, state, damage.")

    @Argument(help: "The snapshot file.") var path: String
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Replay as an agent with rejoin-after-leave would.") var rejoinAfterLeave = false

    struct Report: Encodable {
        struct Node: Encodable { var name: String; var addr: String }
        struct Damage: Encodable { var offset: Int64; var length: Int64; var reason: String }
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
        var clean: Bool
    }

    static func report(path: String, rejoinAfterLeave: Bool) throws -> Report {
        let (state, replay) = try OfflineTool.replay(path, rejoinAfterLeave: rejoinAfterLeave)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? replay.validLength
        let created = replay.createdAt.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double($0) / 1e9)) }
        return Report(
            path: path, format: replay.format.rawValue, bytes: size, created_at: created, records: replay.records,
            records_by_type: replay.recordsByKind, ignored: replay.ignored,
            alive_nodes: state.aliveNodeList().map { Report.Node(name: $0.name, addr: $0.address) },
            clock: state.lastClock, event_clock: state.lastEventClock, query_clock: state.lastQueryClock,
            leaving: state.leaving,
            damaged: replay.skipped.map { Report.Damage(offset: $0.offset, length: $0.length, reason: $0.reason) },
            torn_tail_bytes: replay.tornTailBytes, clean: replay.isClean)
    }

    func run() throws {
        let report = try Self.report(path: path, rejoinAfterLeave: rejoinAfterLeave)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print("path:        \(report.path)")
        print("format:      \(report.format)\(report.created_at.map { ", created \($0)" } ?? "")")
        print("bytes:       \(report.bytes)")
        let kinds = report.records_by_type.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("records:     \(report.records)\(kinds.isEmpty ? "" : " (\(kinds))"), \(report.ignored) ignored")
        print("clocks:      clock \(report.clock), event-clock \(report.event_clock), query-clock \(report.query_clock)")
        print("leaving:     \(report.leaving)")
        print("alive nodes: \(report.alive_nodes.count)")
        for node in report.alive_nodes { print("  \(node.name) \(node.addr)") }
        if report.clean {
            print("damage:      none")
        } else {
            print("damage:      \(report.damaged.count) region(s), torn tail \(report.torn_tail_bytes) bytes")
            for damage in report.damaged { print("  offset \(damage.offset), \(damage.length) bytes: \(damage.reason)") }
        }
    }
}

/// `snapshotd verify PATH`: exit 0 when every record checks out, 1 with a report, 2 when the
/// file cannot be read.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check every record of a snapshot file (exit 0 clean, 1 damaged, 2 unreadable).")

    @Argument(help: "The snapshot file.") var path: String

    func run() throws {
        let report: Inspect.Report
        do {
            report = try Inspect.report(path: path, rejoinAfterLeave: false)
        } catch {
            FileHandle.standardError.write(Data("snapshotd verify: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if report.clean {
            print("\(path): \(report.format), \(report.records) records, clean")
            return
        }
        print("\(path): \(report.format), \(report.records) valid records, DAMAGED")
        for damage in report.damaged { print("  offset \(damage.offset), \(damage.length) bytes: \(damage.reason)") }
        if report.torn_tail_bytes > 0 { print("  torn tail: \(report.torn_tail_bytes) bytes at offset \(report.bytes - report.torn_tail_bytes)") }
        throw ExitCode(1)
    }
}

/// `snapshotd convert --to v1|v2 IN OUT`: rewrites the replayed state in another format.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rewrite a snapshot's state in format v1 (Go serf) or v2.")

    @Option(help: "v1 or v2.") var to: String
    @Argument(help: "The snapshot to read.") var input: String
    @Argument(help: "The file to write (never the input).") var output: String

    func validate() throws {
        guard SnapshotFormat(rawValue: to) != nil else { throw ValidationError("--to must be v1 or v2") }
    }

    func run() throws {
        guard let format = SnapshotFormat(rawValue: to) else { throw ValidationError("--to must be v1 or v2") }
        if OfflineTool.sameFile(input, output) { throw ValidationError("refusing to overwrite the input \(input)") }
        let (state, report) = try OfflineTool.replay(input, rejoinAfterLeave: false)
        if format == .v2 {
            let tooLong = state.aliveNodes.filter { !V2Format.fits(name: $0.key, address: $0.value) }
            if !tooLong.isEmpty {
                throw ValidationError("\(tooLong.count) node name(s) are too long for a v2 record (at most \(V2Format.maxPayload - 4) bytes of name and address): \(input) cannot be converted to v2")
            }
        }
        if !report.isClean {
            FileHandle.standardError.write(Data("snapshotd convert: \(input) has \(report.skipped.count) damaged region(s); converting what was recovered\n".utf8))
        }
        let size = try OfflineTool.attempt("write \(output)") { () throws(FileIOError) in
            try SnapshotFileWriter.replace(output, with: state, format: format)
        }
        print("\(input) (\(report.format.rawValue)) -> \(output) (\(format.rawValue)): \(state.aliveNodes.count) alive nodes, \(size) bytes")
    }
}

/// `snapshotd compact PATH`: offline compaction, crash-safe like the online one.
struct CompactFile: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compact", abstract: "Compact a snapshot file in place (not while a server has it open).")

    @Argument(help: "The snapshot file.") var path: String

    func run() throws {
        guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("no snapshot at \(path)") }
        let engine = try OfflineTool.attempt("open \(path)") { () throws(FileIOError) in try SnapshotEngine(path: path) }
        let done = DispatchSemaphore(value: 0)
        let outcome = OfflineTool.Box<Result<CompactionResult, SnapshotError>>()
        engine.compact { result in
            outcome.value = result
            done.signal()
        }
        done.wait()
        engine.closeAndWait()
        switch outcome.value {
        case .success(let result)?:
            print("\(path): \(result.bytesBefore) -> \(result.bytesAfter) bytes in \(String(format: "%.3f", result.seconds * 1000)) ms")
        case .failure(let error)?:
            throw ValidationError("\(error)")
        case nil:
            throw ValidationError("compaction did not finish")
        }
    }
}

/// What the offline tools share.
enum OfflineTool {
    static func replay(_ path: String, rejoinAfterLeave: Bool) throws -> (SnapshotState, ReplayReport) {
        try attempt("read \(path)") { () throws(FileIOError) in
            try SnapshotReplayer(rejoinAfterLeave: rejoinAfterLeave).replay(path: path)
        }
    }

    /// Runs a file operation and turns its error into a clear command-line error.
    static func attempt<T>(_ what: String, _ body: () throws(FileIOError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw ValidationError("cannot \(what): \(error)")
        }
    }

    /// True when both paths name the same file (the same device and inode).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return a == b }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    final class Box<T>: @unchecked Sendable {
        var value: T?
    }
}
