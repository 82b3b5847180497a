import ArgumentParser
import Foundation
import SnapshotCore

/// `snapshotd export NAME --data-dir DIR [--format v1|v2] [--output FILE]`: one snapshot of a
/// store as a complete snapshot file (v1: a file Go serf opens as its `-snapshot`), read as the
/// store's open would recover it, changing nothing.
struct ExportSnapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write one snapshot of a store as a complete snapshot file (v1: Go serf's).")

    @Argument(help: "The snapshot's name.") var name: String
    @Option(help: "The store's data directory.") var dataDir: String
    @Option(help: "v1 or v2 (default: the snapshot's own format).") var format: String?
    @Option(help: "The file to write (default: standard output).") var output: String?

    func validate() throws {
        if (try? SnapshotName(name)) == nil { throw ValidationError("\(name.debugDescription) is not a snapshot name") }
        if let format, SnapshotFormat(rawValue: format) == nil { throw ValidationError("--format must be v1 or v2") }
    }

    func run() throws {
        let contents = try OfflineTool.attempt("read the store in \(dataDir)") { () throws(SnapshotFileError) in
            try StoreContents(layout: StoreLayout(dataDirectory: dataDir))
        }
        guard let snapshot = contents.snapshots.first(where: { $0.name.rawValue == name }) else {
            throw Failure("no snapshot named \(name.debugDescription) in \(dataDir)")
        }
        let chosen = format.flatMap(SnapshotFormat.init(rawValue:)) ?? snapshot.options.format
        guard let output else {
            FileHandle.standardOutput.write(Data(SnapshotFileWriter.encode(snapshot.state, format: chosen)))
            return
        }
        let size = try OfflineTool.attempt("write \(output)") { () throws(FileIOError) in
            try SnapshotFileWriter.replace(output, with: snapshot.state, format: chosen)
        }
        print("\(name) -> \(output) (\(chosen.rawValue)): \(snapshot.state.aliveNodes.count) alive nodes, \(size) bytes")
    }
}
