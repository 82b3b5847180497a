import ArgumentParser
import Foundation
import SnapshotCore

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
        // The output may be a snapshot a server owns (it has a lock file): never write under it.
        let lock = FileManager.default.fileExists(atPath: SnapshotLock.lockPath(for: output)) ? try OfflineTool.lock(output) : nil
        defer { withExtendedLifetime(lock) {} }
        let (state, report, log) = try OfflineTool.attempt("read \(input)") { () throws(SnapshotFileError) in
            try OfflineTool.replay(input, rejoinAfterLeave: false)
        }
        if format == .v2 {
            let tooLong = state.aliveNodes.filter { !V2Format.fits(name: $0.key, address: $0.value) }
            if !tooLong.isEmpty {
                throw Failure("\(tooLong.count) node name(s) are too long for a v2 record (at most \(V2Format.maxPayload - 4) bytes of name and address): \(input) cannot be converted to v2")
            }
        }
        if report.isDamaged || log.isDamaged {
            FileHandle.standardError.write(Data("snapshotd convert: \(input) has \(report.skipped.count + log.damaged.count) damaged region(s); converting what was recovered\n".utf8))
        }
        let size = try OfflineTool.attempt("write \(output)") { () throws(FileIOError) in
            try SnapshotFileWriter.replace(output, with: state, format: format)
        }
        print("\(input) (\(report.format.rawValue)) -> \(output) (\(format.rawValue)): \(state.aliveNodes.count) alive nodes, \(size) bytes")
    }
}

