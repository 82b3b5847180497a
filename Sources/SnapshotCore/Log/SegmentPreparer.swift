import Foundation
import Glibc
import Synchronization

/// Makes the log's next segment ready before the writer needs it: creates the file, preallocates
/// it, syncs it and its directory. So the cut to a new segment costs the writer no create, no
/// allocation and no directory fsync: it writes the header with its first batch and syncs that
/// as it syncs any batch.
///
/// Preallocation is an optimisation: where `fallocate` is missing or the space is not there,
/// the segment is created empty and grows with its appends (each fdatasync then also journals
/// the size). Runs on its own thread, or inline where the caller asks (deterministic tests).
final class SegmentPreparer: Sendable {
    struct Prepared: Sendable {
        var fd: Int32
        var path: String
        var sequence: UInt64
        var preallocated: Bool
    }

    let sequence: UInt64
    let path: String
    private let outcome = Mutex<Result<Prepared, FileIOError>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(directory: String, sequence: UInt64, size: Int64, io: any FileIO, inBackground: Bool) {
        self.sequence = sequence
        self.path = directory + "/" + LogSegment.name(sequence: sequence)
        let work: @Sendable () -> Void = { [self] in
            let result = Result { () throws(FileIOError) -> Prepared in
                try Self.prepare(path: path, directory: directory, sequence: sequence, size: size, io: io)
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        if inBackground {
            BackgroundThread.start(name: "snapshot-log-segment", priority: .low, work)
        } else {
            work()
        }
    }

    /// The prepared segment, once it is ready (blocks the calling thread until then).
    func take() -> Result<Prepared, FileIOError> {
        done.wait()
        done.signal()  // a second take sees the same result
        return outcome.withLock { $0 } ?? .failure(FileIOError("prepare", path, code: EIO))
    }

    /// Closes and removes a segment that was prepared and never used (a close, a failure).
    func discard(io: any FileIO) {
        if case .success(let prepared) = take() {
            io.close(prepared.fd)
            try? io.remove(prepared.path)
        }
    }

    private static func prepare(path: String, directory: String, sequence: UInt64, size: Int64, io: any FileIO) throws(FileIOError) -> Prepared {
        let fd = try io.openSegment(path, create: true)
        do throws(FileIOError) {
            var preallocated = true
            do throws(FileIOError) { try io.preallocate(fd, length: size, path: path) } catch { preallocated = false }
            try io.sync(fd, path: path)
            try io.syncDirectory(directory)
            return Prepared(fd: fd, path: path, sequence: sequence, preallocated: preallocated)
        } catch {
            io.close(fd)
            try? io.remove(path)
            throw error
        }
    }
}
