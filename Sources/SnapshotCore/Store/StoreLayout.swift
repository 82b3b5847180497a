/// Where a store keeps its files: the snapshot `default` in its own file (the one file of a
/// single-snapshot store, as before there were names), the write-ahead log in a directory, and
/// every other snapshot in a file named after it in the snapshots directory, beside the catalog.
///
/// In the snapshots directory a name is a file name as it is (`SnapshotName` allows no `/`, no
/// NUL and no leading dot); what the store writes there for itself starts with a dot, so it can
/// never be a snapshot's name: `.catalog`, and each snapshot's `.NAME.checkpoint` and
/// `.NAME.damaged-<UTC time>`.
public struct StoreLayout: Sendable, Equatable {
    /// The snapshot `default`'s file.
    public var defaultPath: String
    public var logDirectory: String
    public var snapshotsDirectory: String

    /// `snapshot`, `wal` and `snapshots` in `directory` (the data directory).
    public init(dataDirectory directory: String) {
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        self.init(snapshotPath: base + "/snapshot", logDirectory: base + "/wal", snapshotsDirectory: base + "/snapshots")
    }

    /// Around the snapshot `default`'s file: by default the log in `wal` and the other snapshots
    /// in `snapshots`, both beside it.
    public init(snapshotPath: String, logDirectory: String? = nil, snapshotsDirectory: String? = nil) {
        let directory = SnapshotWriter.directory(of: snapshotPath)
        let prefix = directory == "/" ? "" : directory
        self.defaultPath = snapshotPath
        self.logDirectory = logDirectory ?? prefix + "/wal"
        self.snapshotsDirectory = snapshotsDirectory ?? prefix + "/snapshots"
    }

    /// The catalog file.
    public var catalogPath: String { snapshotsDirectory + "/.catalog" }

    /// The file of the snapshot `name`.
    public func path(of name: SnapshotName) -> String {
        name == .default ? defaultPath : snapshotsDirectory + "/" + name.rawValue
    }

    /// Where a checkpoint of `name` is written before it is renamed over its file.
    func temporaryPath(of name: SnapshotName) -> String {
        name == .default ? defaultPath + ".checkpoint" : snapshotsDirectory + "/." + name.rawValue + ".checkpoint"
    }

    /// The base of the names of damaged copies of `name`'s file.
    func damagedCopyBase(of name: SnapshotName) -> String {
        name == .default ? defaultPath : snapshotsDirectory + "/." + name.rawValue
    }
}
