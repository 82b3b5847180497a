import Glibc
import Synchronization
@testable import SnapshotCore

/// A file layer that makes calls fail on purpose: the driver expects checkpoints to fail then.
protocol InjectsFaults {}

/// A fault, not a bug: the first directory fsync after a checkpoint's rename fails with EIO,
/// as a disk's transient error would make it; every other call works. The rename happened,
/// but whether it is on disk is unknown until a directory fsync succeeds: the checkpoint
/// fails, and the log must keep everything it holds.
final class FailingDirectorySync: ForwardingFileIO, InjectsFaults {
    let base: any FileIO
    private let state = Mutex((renamed: false, failed: false))

    init(base: any FileIO) {
        self.base = base
    }

    func rename(_ from: String, _ to: String) throws(FileIOError) {
        try base.rename(from, to)
        if from.hasSuffix(".checkpoint") { state.withLock { $0.renamed = true } }
    }

    func syncDirectory(_ path: String) throws(FileIOError) {
        let fail = state.withLock { state in
            defer { state.renamed = false }
            guard state.renamed, !state.failed else { return false }
            state.failed = true
            return true
        }
        if fail { throw FileIOError("fsync directory", path, code: EIO) }
        try base.syncDirectory(path)
    }
}
