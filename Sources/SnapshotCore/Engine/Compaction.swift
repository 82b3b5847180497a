import Dispatch
import Foundation
import Synchronization

/// One compaction in flight. The compactor thread writes `PATH.compact` from a frozen copy of
/// the state while the writer goes on appending to the live file; the writer keeps the bytes
/// it appends meanwhile (`tail`) and, once the compactor is done, appends them to the new
/// file, syncs it, renames it over the snapshot and syncs the directory.
final class Compaction: Sendable {
    typealias Waiter = @Sendable (Result<CompactionResult, SnapshotError>) -> Void

    let temporaryPath: String
    let startedAt: UInt64
    let bytesBefore: Int64
    /// Set by the compactor: the open, synced file descriptor of the new file and its size,
    /// or the error.
    private let outcome = Mutex<Result<(fd: Int32, size: Int64), SnapshotError>?>(nil)

    init(temporaryPath: String, bytesBefore: Int64) {
        self.temporaryPath = temporaryPath
        self.startedAt = DispatchTime.now().uptimeNanoseconds
        self.bytesBefore = bytesBefore
    }

    var result: Result<(fd: Int32, size: Int64), SnapshotError>? { outcome.withLock { $0 } }

    /// Starts the compactor on its own thread (it does blocking file I/O, so not on Dispatch).
    func start(state: SnapshotState, format: SnapshotFormat, io: any FileIO, done: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            let result: Result<(fd: Int32, size: Int64), SnapshotError>
            do throws(FileIOError) {
                result = .success(try SnapshotFileWriter.write(state, format: format, to: temporaryPath, io: io))
            } catch {
                result = .failure(.compactionFailed(error.description))
            }
            outcome.withLock { $0 = result }
            done()
        }
        thread.name = "snapshot-compactor"
        thread.start()
    }
}
