import Glibc
import Synchronization
@testable import SnapshotCore

/// A fault, not a bug: the first directory fsync after a rename (compaction's) fails with EIO,
/// as a disk's transient error would make it; every other call works. The rename happened,
/// but whether it is on disk is unknown until a directory fsync succeeds.
final class FailingDirectorySync: ForwardingFileIO {
    let base: any FileIO
    private let state = Mutex((renamed: false, failed: false))

    init(base: any FileIO) {
        self.base = base
    }

    func rename(_ from: String, _ to: String) throws(FileIOError) {
        try base.rename(from, to)
        state.withLock { $0.renamed = true }
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
