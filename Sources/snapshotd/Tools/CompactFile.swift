import ArgumentParser
import Dispatch
import Foundation
import SnapshotCore

/// `snapshotd compact PATH`: offline compaction, crash-safe like the online one.
struct CompactFile: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compact", abstract: "Compact a snapshot file in place (not while a server has it open).")

    @Argument(help: "The snapshot file.") var path: String

    func run() throws {
        guard FileManager.default.fileExists(atPath: path) else { throw Failure("no snapshot at \(path)") }
        let lock = try OfflineTool.lock(path)
        defer { withExtendedLifetime(lock) {} }
        let engine = try OfflineTool.attempt("open \(path)") { () throws(SnapshotFileError) in try SnapshotEngine(path: path) }
        if let copy = engine.replayReport.preservedCopy {
            FileHandle.standardError.write(Data("snapshotd compact: \(path) was damaged: kept as \(copy), rewritten from the records recovered\n".utf8))
        }
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
            throw Failure("\(error)")
        case nil:
            throw Failure("compaction did not finish")
        }
    }
}

