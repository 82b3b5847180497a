import Synchronization
@testable import SnapshotCore

/// A bug put between the engine and the disk, to show that the power-loss test catches it:
/// one of the engine's syncs becomes a no-op that reports success. No engine change needed.
final class DroppedSync: ForwardingFileIO {
    enum Sync: String, Sendable, CaseIterable {
        /// The group commit's fdatasync of the log (`SnapshotWriter.commit` and `leave`).
        case commitDataSync
        /// The directory fsync that follows a checkpoint's rename of `PATH.checkpoint` over PATH.
        case directorySyncAfterRename
        /// The fsync of the log's directory after a new segment is created (`SegmentPreparer`).
        case segmentDirectorySync
    }

    let base: any FileIO
    let dropped: Sync
    let snapshotPath: String
    private let renamed = Mutex(false)
    /// How many syncs were dropped.
    let drops = Mutex(0)

    init(base: any FileIO, dropping dropped: Sync, snapshotPath: String) {
        self.base = base
        self.dropped = dropped
        self.snapshotPath = snapshotPath
    }

    func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
        if dropped == .commitDataSync && path.hasPrefix(StoreReplayer.defaultLogDirectory(for: snapshotPath) + "/") {
            drops.withLock { $0 += 1 }
            return
        }
        try base.dataSync(fd, path: path)
    }

    func rename(_ from: String, _ to: String) throws(FileIOError) {
        try base.rename(from, to)
        if from.hasSuffix(".checkpoint") { renamed.withLock { $0 = true } }
    }

    func syncDirectory(_ path: String) throws(FileIOError) {
        let afterRename = renamed.withLock { value in
            defer { value = false }
            return value
        }
        if (dropped == .directorySyncAfterRename && afterRename)
            || (dropped == .segmentDirectorySync && path == StoreReplayer.defaultLogDirectory(for: snapshotPath)) {
            drops.withLock { $0 += 1 }
            return
        }
        try base.syncDirectory(path)
    }
}
