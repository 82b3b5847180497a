import Glibc
import SnapshotCore

/// What the offline tools share.
enum OfflineTool {
    /// The snapshot as its engine would recover it: the file (the last checkpoint), then the
    /// write-ahead log's records after it (`wal` beside the file). Changes nothing.
    static func replay(_ path: String, rejoinAfterLeave: Bool) throws(SnapshotFileError) -> (SnapshotState, ReplayReport, LogReport) {
        try StoreReplayer(rejoinAfterLeave: rejoinAfterLeave).replay(path: path)
    }

    /// Runs a file operation and turns its error into a run-time failure (exit 1).
    static func attempt<T, E: Error>(_ what: String, _ body: () throws(E) -> T) throws(Failure) -> T {
        do {
            return try body()
        } catch {
            throw Failure("cannot \(what): \(error)")
        }
    }

    /// Takes the snapshot's lock, and its log's, for a tool that writes it: refused while a
    /// server (or another tool) holds either.
    static func lock(_ snapshot: String) throws(Failure) -> [SnapshotLock] {
        do {
            return [try SnapshotLock.acquire(snapshot: snapshot),
                    try SnapshotLock.acquire(snapshot: StoreReplayer.defaultLogDirectory(for: snapshot))]
        } catch {
            throw Failure("\(error)")
        }
    }

    /// True when both paths name the same file (the same device and inode).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return a == b }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    final class Box<T>: @unchecked Sendable {
        var value: T?
    }
}
