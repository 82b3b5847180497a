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
    func start(state: SnapshotState, format: any SnapshotEncoder.Type, io: any FileIO, done: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            let result = Self.write(state: state, format: format, path: temporaryPath, io: io)
            outcome.withLock { $0 = result }
            done()
        }
        thread.name = "snapshot-compactor"
        thread.start()
    }

    private static func write(state: SnapshotState, format: any SnapshotEncoder.Type, path: String, io: any FileIO) -> Result<(fd: Int32, size: Int64), SnapshotError> {
        let fd: Int32
        do throws(FileIOError) {
            fd = try io.open(path, create: true, truncate: true)
        } catch {
            return .failure(.compactionFailed(error.description))
        }
        do throws(FileIOError) {
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20)
            format.header(into: &buffer)
            var size: Int64 = 0
            var failure: FileIOError?
            state.compactedRecords { record in
                guard failure == nil else { return }
                format.encode(record, into: &buffer)
                if buffer.count >= 1 << 20 {
                    do throws(FileIOError) { try io.writeAll(fd, buffer, path: path) } catch { failure = error }
                    size += Int64(buffer.count)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            if let failure { throw failure }
            try io.writeAll(fd, buffer, path: path)
            size += Int64(buffer.count)
            try io.sync(fd, path: path)
            return .success((fd, size))
        } catch {
            io.close(fd)
            try? io.remove(path)
            return .failure(.compactionFailed(error.description))
        }
    }
}
