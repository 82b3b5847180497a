import Dispatch
import Foundation
import Glibc
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
            let thread = Thread {
                Self.yieldToEveryone()
                work()
            }
            thread.name = "snapshot-checkpoint"
            thread.start()
        } else {
            work()
        }
    }

    /// Linux's SCHED_IDLE (<sched.h>; not in the Glibc module).
    private static let scheduleIdle: Int32 = 5

    /// Gives the calling thread (only it, on Linux) the lowest CPU priority: SCHED_IDLE, which
    /// runs when nothing else wants the CPU and is preempted at once when another thread wakes;
    /// nice 19 where that is refused. A checkpoint is never urgent: at normal priority, run back
    /// to back on 2 CPUs, it took half of snapshotd's CPU time (iterating and encoding 100,000
    /// nodes) and durable POSTs fell from ~41,000 to ~14,000 a second (p99 0.6 ms to 7 ms).
    /// It still progresses on a busy machine (an idle thread keeps a small share), only slower.
    private static func yieldToEveryone() {
        var parameters = sched_param()
        if sched_setscheduler(0, scheduleIdle, &parameters) != 0 {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        }
    }

    private func write(_ state: SnapshotState, format: SnapshotFormat, io: any FileIO) throws(FileIOError) -> Written {
        let (fd, size) = try SnapshotFileWriter.write(state, format: format, to: temporaryPath, io: io, logPosition: position)
        io.close(fd)
        do throws(FileIOError) {
            try io.rename(temporaryPath, path)
        } catch {
            try? io.remove(temporaryPath)
            throw error
        }
        // Until this fsync the rename may be undone by a power loss, and the old checkpoint
        // back: the segments stay until it has returned.
        try io.syncDirectory(SnapshotWriter.directory(of: path))
        for segment in covered { try io.remove(segment.path) }
        return Written(size: size)
    }
}
