import Dispatch
import Foundation
import Synchronization

/// One checkpoint in flight: the snapshot's state as of log position `position`, written as a
/// complete snapshot file in the snapshot's own format, from an O(1) copy of the state (its
/// alive set is a persistent tree), on a thread of its own while the writer goes on appending
/// to the log. Temp file, fsync, rename over the snapshot, directory fsync; then the log's
/// segments it covers are removed. None of that is on the acknowledgement path: the log keeps
/// every record until the checkpoint past it is durable.
final class Checkpoint: Sendable {
    typealias Waiter = @Sendable (Result<CompactionResult, SnapshotError>) -> Void

    struct Written: Sendable {
        /// Bytes of the new snapshot file.
        var size: Int64
    }

    let path: String
    let temporaryPath: String
    /// Every log record before this position is in the checkpoint.
    let position: UInt64
    /// Sealed segments whose records are all before `position`: removed once it is durable.
    let covered: [LogSegment]
    let startedAt: UInt64
    let bytesBefore: Int64
    private let outcome = Mutex<Result<Written, SnapshotError>?>(nil)

    init(path: String, position: UInt64, covered: [LogSegment], bytesBefore: Int64) {
        self.path = path
        self.temporaryPath = path + ".checkpoint"
        self.position = position
        self.covered = covered
        self.startedAt = DispatchTime.now().uptimeNanoseconds
        self.bytesBefore = bytesBefore
    }

    var result: Result<Written, SnapshotError>? { outcome.withLock { $0 } }

    /// Runs the checkpoint on its own thread (blocking file I/O: never on Dispatch), or on the
    /// caller's (a close, which waits for it anyway); `done` runs when it has finished.
    func start(state: SnapshotState, format: SnapshotFormat, io: any FileIO, inBackground: Bool,
               done: @escaping @Sendable () -> Void) {
        let work: @Sendable () -> Void = { [self] in
            let result: Result<Written, SnapshotError>
            do throws(FileIOError) {
                result = .success(try write(state, format: format, io: io))
            } catch {
                result = .failure(.compactionFailed(error.description))
            }
            outcome.withLock { $0 = result }
            done()
        }
        if inBackground {
            BackgroundThread.start(name: "snapshot-checkpoint", priority: .idle, work)
        } else {
            work()
        }
    }

    private func write(_ state: SnapshotState, format: SnapshotFormat, io: any FileIO) throws(FileIOError) -> Written {
        // Until its directory fsync has returned the rename may be undone by a power loss, and
        // the old checkpoint back: the segments stay until then.
        let size = try SnapshotFileWriter.replace(path, with: state, format: format, io: io,
                                                  logPosition: position, temporaryPath: temporaryPath)
        // The checkpoint is durable: a segment that cannot be removed now only costs a longer
        // recovery read, and the next start lists it again (its records all before the position).
        for segment in covered { try? io.remove(segment.path) }
        return Written(size: size)
    }
}
