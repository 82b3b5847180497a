import Glibc

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
    ///
    /// A served store may be checkpointed meanwhile: the new file is renamed in, then the segments
    /// it covers are removed. The old file with what is left of the log would miss records, so
    /// the store is read again when the file's position moved during the read, or a segment
    /// went between the listing and its read (up to 10 reads; the last one is kept as it is).
    public func replay(path: String, logDirectory: String? = nil) throws(SnapshotFileError) -> (SnapshotState, ReplayReport, LogReport) {
        let file = SnapshotReplayer(io: io, rejoinAfterLeave: rejoinAfterLeave)
        let reader = LogReader(directory: logDirectory ?? Self.defaultLogDirectory(for: path), io: io, preservesDamage: false)
        let attempts = 10
        var attempt = 0
        while true {
            attempt += 1
            // The log's records go onto the table the file replayed into (a large alive set
            // kept as it is, as recovery keeps it): no Strings and tree made of the file's
            // state and then put back into a table for the log.
            var (builder, report) = try file.replayBuilder(path: path)
            builder.freezeAliveSet()
            let log: LogReport
            do throws(FileIOError) {
                log = try reader.replay(snapshot: SnapshotWriter.defaultID, after: report.logPosition ?? 0, onto: &builder)
            } catch {
                if error.code == ENOENT && attempt < attempts { continue }
                throw .io(error)
            }
            // Only the position is wanted: the builder's state is never made Strings and a tree.
            if attempt < attempts, try file.replayBuilder(path: path).1.logPosition != report.logPosition { continue }
            return (builder.finishState(), report, log)
        }
    }
}

/// Every snapshot of a store as its open would recover it, changing nothing (`StoreRecovery`
/// read only): for the offline tools. A store being served may checkpoint meanwhile; its files
/// at rest read exactly.
public struct StoreContents: Sendable {
    public struct Snapshot: Sendable {
        public var name: SnapshotName
        public var options: SnapshotOptions
        public var state: SnapshotState
        public var path: String
        /// What replaying its file found (an empty report when it has none yet).
        public var file: ReplayReport
        /// Its records replayed from the log after the file.
        public var replayed: Int
    }

    /// In name order.
    public var snapshots: [Snapshot]
    public var report: StoreReport

    public init(layout: StoreLayout, io: any FileIO = POSIXFileIO(), rejoinAfterLeave: Bool = false) throws(SnapshotFileError) {
        var configuration = EngineConfiguration()
        configuration.io = io
        configuration.rejoinAfterLeave = rejoinAfterLeave
        let recovered: StoreRecovery.Recovered
        do {
            recovered = try StoreRecovery(layout: layout, configuration: configuration, repairs: false).open()
        } catch {
            switch error {
            case let error as SnapshotFileError: throw error
            case let error as FileIOError: throw .io(error)
            default: throw .io(FileIOError("read", layout.defaultPath, code: EIO))
            }
        }
        snapshots = recovered.slots.map {
            Snapshot(name: $0.name, options: $0.options, state: $0.initial, path: layout.path(of: $0.name),
                     file: $0.report, replayed: $0.replayed)
        }.sorted { $0.name < $1.name }
        report = recovered.report
    }
}
