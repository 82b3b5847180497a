/// Reads a snapshot as its engine would recover it, changing nothing: the snapshot file (the
/// last checkpoint), then the write-ahead log's records after the position it covers. For tools
/// and tests that look at a store, served or at rest; the engine's open does the same and then
/// repairs what the data-safety rules allow.
public struct StoreReplayer {
    public var io: any FileIO
    public var rejoinAfterLeave: Bool

    public init(io: any FileIO = POSIXFileIO(), rejoinAfterLeave: Bool = false) {
        self.io = io
        self.rejoinAfterLeave = rejoinAfterLeave
    }

    /// The log's directory for a snapshot file that names none: `wal` beside it.
    public static func defaultLogDirectory(for path: String) -> String {
        let directory = SnapshotWriter.directory(of: path)
        return (directory == "/" ? "" : directory) + "/wal"
    }

    /// The state, what replaying the file found, and what reading the log found.
    public func replay(path: String, logDirectory: String? = nil) throws(SnapshotFileError) -> (SnapshotState, ReplayReport, LogReport) {
        var (state, report) = try SnapshotReplayer(io: io, rejoinAfterLeave: rejoinAfterLeave).replay(path: path)
        let reader = LogReader(directory: logDirectory ?? Self.defaultLogDirectory(for: path), io: io, preservesDamage: false)
        do throws(FileIOError) {
            let log = try reader.replay(snapshot: SnapshotWriter.snapshotID, after: report.logPosition ?? 0,
                                        onto: &state, rejoinAfterLeave: rejoinAfterLeave)
            return (state, report, log)
        } catch {
            throw .io(error)
        }
    }
}
