import ArgumentParser
import Foundation
import SnapshotCore

/// `snapshotd verify PATH`: exit 0 when every record of the file and of the write-ahead log
/// beside it checks out (a torn tail alone included:
/// it is the normal trace of a crash, holds no acknowledged record, and the next open cuts it),
/// 1 when there is damage, 2 when the file cannot be read as a snapshot.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every record of a snapshot file and of its write-ahead log.",
        discussion: """
            Exit 0: every record checks out. A torn tail (the incomplete last record an interrupted \
            append leaves) is the normal trace of a crash: no acknowledged record is in it and the \
            next open cuts it, so it is reported on a line of its own and still exits 0.
            Exit 1: damage (bytes that are neither valid records nor a torn tail), with the offsets.
            Exit 2: the file cannot be read, or is neither a v1 nor a v2 snapshot.
            """)

    @Argument(help: "The snapshot file (or --data-dir).") var path: String?
    @Option(help: "A store's data directory: every snapshot file, the catalog and the log.") var dataDir: String?

    func validate() throws {
        if (path == nil) == (dataDir == nil) { throw ValidationError("give a snapshot file or --data-dir DIR, one of them") }
    }

    func run() throws {
        if let dataDir {
            try verifyStore(dataDir)
            return
        }
        let path = self.path ?? ""
        let report: Inspect.Report
        do {
            report = try Inspect.report(path: path, rejoinAfterLeave: false)
        } catch {
            let message = switch error {
            case .io(let io): "cannot read \(path): \(io)"
            case .notASnapshot: "\(error)"
            }
            FileHandle.standardError.write(Data("snapshotd verify: \(message)\n".utf8))
            throw ExitCode(2)
        }
        let torn = "torn tail: \(report.torn_tail_bytes) bytes at offset \(report.bytes - report.torn_tail_bytes), an interrupted append (no acknowledged record; the next open cuts it)"
        let log = report.log
        let logLine = "log: \(log.segments) segment(s), \(log.records) record(s), \(log.replayed) after the file"
        func details() {
            for damage in report.damaged { print("  offset \(damage.offset), \(damage.length) bytes: \(damage.reason)") }
            if report.torn_tail_bytes > 0 { print("  " + torn) }
            print("  " + logLine)
            for damage in log.damaged { print("  log damage: \(damage.segment) offset \(damage.offset), \(damage.length) bytes") }
            for tail in log.torn_tails {
                print("  log torn tail: \(tail.segment) offset \(tail.offset), \(tail.length) bytes, an interrupted append (no acknowledged record)")
            }
        }
        if report.damaged.isEmpty && log.damaged.isEmpty {
            print("\(path): \(report.format), \(report.records) records, clean")
            details()
            return
        }
        print("\(path): \(report.format), \(report.records) valid records, DAMAGED")
        details()
        throw ExitCode(1)
    }

    /// Every snapshot of the store, its catalog and its log: exit 1 for damage anywhere, or for a
    /// file in the snapshots directory the store cannot explain.
    private func verifyStore(_ dataDir: String) throws {
        let contents: StoreContents
        do {
            contents = try StoreContents(layout: StoreLayout(dataDirectory: dataDir))
        } catch {
            FileHandle.standardError.write(Data("snapshotd verify: cannot read the store in \(dataDir): \(error)\n".utf8))
            throw ExitCode(2)
        }
        let summary = StoreSummary(contents, dataDirectory: dataDir)
        summary.print()
        for snapshot in contents.snapshots where snapshot.file.isDamaged {
            for damage in snapshot.file.skipped {
                print("  \(snapshot.name): offset \(damage.offset), \(damage.length) bytes: \(damage.reason)")
            }
        }
        if !summary.clean { throw ExitCode(1) }
    }
}
