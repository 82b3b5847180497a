import ArgumentParser
import Foundation
import Glibc
import SnapshotCore

/// `snapshotd inspect PATH [--json]`: what a snapshot holds (its file, the last checkpoint, and
/// the write-ahead log's records after it), and any damage in either.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a snapshot: its file's format and records, the log after it, the state, damage.")

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
        let report = try OfflineTool.attempt("read \(path)") { () throws(SnapshotFileError) in
            try Self.report(path: path, rejoinAfterLeave: rejoinAfterLeave)
        }
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

