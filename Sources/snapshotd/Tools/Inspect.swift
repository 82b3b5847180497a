import ArgumentParser
import Foundation
import Glibc
import SnapshotCore

/// `snapshotd inspect PATH [--json]`: what a snapshot holds (its file, the last checkpoint, and
/// the write-ahead log's records after it), and any damage in either. `--data-dir DIR`: the
/// whole store (every snapshot, the log, the catalog), or one snapshot of it with `--name`.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a snapshot (its file's format and records, the log after it, the state, damage), or a whole store.")

    @Argument(help: "The snapshot file (or --data-dir).") var path: String?
    @Option(help: "A store's data directory: every snapshot in it, or the one --name gives.") var dataDir: String?
    @Option(help: "With --data-dir: the snapshot to show.") var name: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Replay as an agent with rejoin-after-leave would.") var rejoinAfterLeave = false

    func validate() throws {
        if (path == nil) == (dataDir == nil) { throw ValidationError("give a snapshot file or --data-dir DIR, one of them") }
        if name != nil && dataDir == nil { throw ValidationError("--name needs --data-dir") }
        if let name, (try? SnapshotName(name)) == nil { throw ValidationError("--name \(name.debugDescription) is not a snapshot name") }
    }

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
        /// The log position the file (a checkpoint) covers; nil for a file that names none.
        var log_position: UInt64?
        var log: Log
        var clean: Bool

        /// The write-ahead log beside the file: its records after the checkpoint are part of the snapshot.
        struct Log: Encodable {
            struct Region: Encodable { var segment: String; var offset: Int; var length: Int }
            var segments: Int
            var records: Int
            var replayed: Int
            var damaged: [Region]
            var torn_tails: [Region]
        }
    }

    static func report(path: String, rejoinAfterLeave: Bool) throws(SnapshotFileError) -> Report {
        let (state, replay, log) = try OfflineTool.replay(path, rejoinAfterLeave: rejoinAfterLeave)
        return report(path: path, state: state, replay: replay, log: log)
    }

    /// One snapshot of a store, its log part the store's log with its own records replayed.
    static func report(_ snapshot: StoreContents.Snapshot, store: StoreReport) -> Report {
        var log = store.log
        log.replayed = snapshot.replayed
        return report(path: snapshot.path, state: snapshot.state, replay: snapshot.file, log: log)
    }

    static func report(path: String, state: SnapshotState, replay: ReplayReport, log: LogReport) -> Report {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? replay.validLength
        let created = replay.createdAt.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double($0) / 1e9)) }
        return Report(
            path: path, format: replay.format.rawValue, bytes: size, created_at: created, records: replay.records,
            records_by_type: replay.recordsByKind, ignored: replay.ignored,
            alive_nodes: state.aliveNodeList().map { Report.Node(name: $0.name, addr: $0.address) },
            clock: state.lastClock, event_clock: state.lastEventClock, query_clock: state.lastQueryClock,
            leaving: state.leaving,
            damaged: replay.skipped.map { Report.Damage(offset: $0.offset, length: $0.length, reason: $0.reason) },
            torn_tail_bytes: replay.tornTailBytes, log_position: replay.logPosition,
            log: Report.Log(
                segments: log.segmentCount, records: log.records, replayed: log.replayed,
                damaged: log.damaged.map { .init(segment: $0.segment, offset: $0.offset, length: $0.length) },
                torn_tails: log.tornTails.map { .init(segment: $0.segment, offset: $0.offset, length: $0.length) }),
            clean: replay.isClean && !log.isDamaged)
    }

    func run() throws {
        let report: Report
        if let dataDir {
            let contents = try OfflineTool.attempt("read the store in \(dataDir)") { () throws(SnapshotFileError) in
                try StoreContents(layout: StoreLayout(dataDirectory: dataDir), rejoinAfterLeave: rejoinAfterLeave)
            }
            guard let name else {
                let summary = StoreSummary(contents, dataDirectory: dataDir)
                if json { print(try Self.encode(summary)) } else { summary.print() }
                return
            }
            guard let snapshot = contents.snapshots.first(where: { $0.name.rawValue == name }) else {
                throw Failure("no snapshot named \(name.debugDescription) in \(dataDir)")
            }
            report = Self.report(snapshot, store: contents.report)
        } else {
            let path = self.path ?? ""
            report = try OfflineTool.attempt("read \(path)") { () throws(SnapshotFileError) in
                try Self.report(path: path, rejoinAfterLeave: rejoinAfterLeave)
            }
        }
        if json {
            print(try Self.encode(report))
            return
        }
        Self.printText(report)
    }

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func printText(_ report: Report) {
        print("path:        \(report.path)")
        print("format:      \(report.format)\(report.created_at.map { ", created \($0)" } ?? "")")
        print("bytes:       \(report.bytes)")
        let kinds = report.records_by_type.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("records:     \(report.records)\(kinds.isEmpty ? "" : " (\(kinds))"), \(report.ignored) ignored")
        print("clocks:      clock \(report.clock), event-clock \(report.event_clock), query-clock \(report.query_clock)")
        print("leaving:     \(report.leaving)")
        print("alive nodes: \(report.alive_nodes.count)")
        for node in report.alive_nodes { print("  \(node.name) \(node.addr)") }
        print("damage:      \(report.damaged.isEmpty ? "none" : "\(report.damaged.count) region(s)")")
        for damage in report.damaged { print("  offset \(damage.offset), \(damage.length) bytes: \(damage.reason)") }
        if report.torn_tail_bytes > 0 {
            print("torn tail:   \(report.torn_tail_bytes) bytes at offset \(report.bytes - report.torn_tail_bytes) (an interrupted append; the next open cuts it)")
        }
        let log = report.log
        let covered = report.log_position.map { ", the file covers it to position \($0)" } ?? ""
        print("log:         \(log.segments) segment(s), \(log.records) record(s), \(log.replayed) replayed after the file\(covered)")
        for damage in log.damaged { print("  damage: \(damage.segment) offset \(damage.offset), \(damage.length) bytes") }
        for torn in log.torn_tails {
            print("  torn tail: \(torn.segment) offset \(torn.offset), \(torn.length) bytes (an interrupted append, no acknowledged record)")
        }
    }
}


/// `inspect --data-dir DIR`: every snapshot of a store in a line, the log, and what is not right.
struct StoreSummary: Encodable {
    struct Entry: Encodable {
        var name: String
        var format: String
        var rejoin_after_leave: Bool
        var alive: Int
        var leaving: Bool
        var file_records: Int
        var log_records: Int
        var damaged: Bool
    }

    var data_dir: String
    var snapshots: [Entry]
    var log: Inspect.Report.Log
    var catalog_damaged: Bool
    var unexplained_files: [String]
    var files_of_deleted_snapshots: [String]
    var stale_files: [String]
    var clean: Bool

    init(_ contents: StoreContents, dataDirectory: String) {
        data_dir = dataDirectory
        snapshots = contents.snapshots.map {
            Entry(name: $0.name.rawValue, format: $0.options.format.rawValue, rejoin_after_leave: $0.options.rejoinAfterLeave,
                  alive: $0.state.aliveNodes.count, leaving: $0.state.leaving, file_records: $0.file.records,
                  log_records: $0.replayed, damaged: $0.file.isDamaged)
        }
        let report = contents.report
        log = Inspect.Report.Log(
            segments: report.log.segmentCount, records: report.log.records, replayed: report.log.replayed,
            damaged: report.log.damaged.map { .init(segment: $0.segment, offset: $0.offset, length: $0.length) },
            torn_tails: report.log.tornTails.map { .init(segment: $0.segment, offset: $0.offset, length: $0.length) })
        catalog_damaged = report.catalogDamaged
        unexplained_files = report.unexplainedFiles
        files_of_deleted_snapshots = report.removedFiles
        stale_files = report.staleFiles
        clean = !report.log.isDamaged && !report.catalogDamaged && report.unexplainedFiles.isEmpty
            && report.staleFiles.isEmpty && snapshots.allSatisfy { !$0.damaged }
    }

    func print() {
        Swift.print("data dir:    \(data_dir)")
        Swift.print("snapshots:   \(snapshots.count)")
        for entry in snapshots {
            let leaving = entry.leaving ? ", leaving" : ""
            let damaged = entry.damaged ? ", DAMAGED" : ""
            Swift.print("  \(entry.name): \(entry.format), \(entry.alive) alive\(leaving), \(entry.file_records) record(s) in its file, \(entry.log_records) in the log\(damaged)")
        }
        Swift.print("log:         \(log.segments) segment(s), \(log.records) record(s), \(log.replayed) replayed after the files")
        for damage in log.damaged { Swift.print("  damage: \(damage.segment) offset \(damage.offset), \(damage.length) bytes") }
        for torn in log.torn_tails { Swift.print("  torn tail: \(torn.segment) offset \(torn.offset), \(torn.length) bytes (an interrupted append)") }
        if catalog_damaged { Swift.print("catalog:     DAMAGED (its valid records are used; the next open keeps a copy)") }
        for file in unexplained_files { Swift.print("unexplained: \(file) (not a snapshot of this store; kept as it is)") }
        for file in files_of_deleted_snapshots { Swift.print("deleted:     \(file) (a deleted snapshot's file; the next open removes it)") }
        for file in stale_files { Swift.print("stale:       \(file) (an earlier snapshot's of that name; the next open keeps a copy)") }
        Swift.print("clean:       \(clean)")
    }
}
