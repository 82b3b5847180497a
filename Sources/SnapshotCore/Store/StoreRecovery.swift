import Dispatch
import Foundation
import Glibc

/// Opens a store as it was left: the snapshot `default`'s file, the catalog file, every named
/// snapshot's file, then the write-ahead log in one pass (each record onto its snapshot, each
/// catalog record onto the catalog, those past what the files cover). Repairs what the
/// data-safety rules allow: a provable torn tail is cut; a damaged file or segment is copied
/// aside first; a file nothing explains is kept and reported.
struct StoreRecovery {
    let layout: StoreLayout
    let configuration: EngineConfiguration
    /// Repair and open for writing (the store's open); false: read only, change nothing (the
    /// offline tools' look at a store, served or at rest).
    var repairs = true
    private var io: any FileIO { configuration.io }

    /// One snapshot while the store is read back.
    struct Recovering {
        var id: UInt32
        var name: SnapshotName
        var options: SnapshotOptions
        /// The state recovered: set once the log is read (`builder` holds it until then).
        var initial = SnapshotState()
        /// The file's state, then the log's records past its position replayed onto it: the
        /// alive set is made Strings and a tree once, when the log is read.
        var builder: StateBuilder
        var filePosition: UInt64
        var fileBytes: Int64
        var report: ReplayReport
        var firstReplayed: UInt64?
        var replayed = 0
    }

    struct Recovered {
        var slots: [Recovering]
        var catalog: Catalog
        var catalogDirtySince: UInt64?
        /// Nil when read only.
        var log: LogWriter?
        var report: StoreReport
    }

    func open() throws -> Recovered {
        var report = StoreReport()
        let fileDefaults = SnapshotOptions(format: configuration.format, rejoinAfterLeave: configuration.rejoinAfterLeave)
        let defaultPath = layout.defaultPath
        // A large v2 checkpoint of the snapshot `default` replays on a thread of its own while
        // the log's parts replay: they need only the position it covers, which its header says.
        // Its replay's own report decides; where it names another position, the log is
        // replayed again in sequence (`defaultAgrees`).
        let peeked = SnapshotReplayer(io: io, rejoinAfterLeave: configuration.rejoinAfterLeave, defaultFormat: configuration.format)
            .v2LogPosition(path: defaultPath, minimumSize: configuration.recoveryParallelCheckpointMinimum)
        var background: BackgroundCheckpoint?
        var opened: (builder: StateBuilder, report: ReplayReport, size: Int64)?
        if peeked == nil {
            opened = try openCheckpoint(defaultPath, damagedBase: defaultPath, options: fileDefaults, createsEmpty: true)
        }
        // Whatever happens below, the checkpoint's replay (and its repairs) is over when this returns.
        defer { background?.wait() }
        let provisional = opened.map { $0.report.logPosition ?? 0 } ?? (peeked ?? nil) ?? 0
        report.defaultReplay = opened?.report ?? ReplayReport()
        if repairs {
            try io.createDirectory(layout.logDirectory)
            // Always, not only when this open creates them: a process killed after a create or
            // a checkpoint's rename, before the directory fsync that followed, leaves a name
            // that is in the page cache but maybe not on disk (the power-loss tests).
            try io.syncDirectory(SnapshotWriter.directory(of: layout.defaultPath))
        }
        var snapshots: [Recovering] = [Recovering(
            id: SnapshotWriter.defaultID, name: .default,
            options: SnapshotOptions(format: opened?.report.format ?? configuration.format, rejoinAfterLeave: configuration.rejoinAfterLeave),
            builder: opened?.builder ?? StateBuilder(rejoinAfterLeave: configuration.rejoinAfterLeave),
            filePosition: provisional, fileBytes: opened?.size ?? 0, report: opened?.report ?? ReplayReport())]
        // The position the checkpoint replayed in the background covers counts once it is known.
        var covered = opened.map { $0.report.logPosition ?? 0 } ?? 0
        var failure: (any Error)?
        /// Puts the checkpoint replayed in the background in place (once); false when its replay
        /// failed (`failure`: the log is still replayed, in sequence, before it is thrown) or
        /// covers another position than the parts were given.
        func defaultAgrees() -> Bool {
            guard let waiting = background else { return failure == nil }
            background = nil
            do {
                let (builder, fileReport, size) = try waiting.join()
                snapshots[0].builder = builder
                snapshots[0].report = fileReport
                snapshots[0].fileBytes = size
                snapshots[0].options.format = fileReport.format
                snapshots[0].filePosition = fileReport.logPosition ?? 0
                report.defaultReplay = fileReport
            } catch {
                failure = error
                return false
            }
            return snapshots[0].filePosition == provisional
        }

        let hasNamed = io.exists(layout.snapshotsDirectory)
        var catalog = Catalog()
        var catalogPosition: UInt64 = 0
        if hasNamed {
            if repairs { try io.syncDirectory(layout.snapshotsDirectory) }
            for name in try io.contentsOfDirectory(layout.snapshotsDirectory)
            where repairs && name.hasPrefix(".") && name.hasSuffix(".checkpoint") {
                try io.remove(layout.snapshotsDirectory + "/" + name)  // a checkpoint cut short
            }
            if io.exists(layout.catalogPath) {
                let bytes = try Self.contents(of: layout.catalogPath, io: io)
                let decoded = bytes.withUnsafeBytes { CatalogFile.decode($0) }
                if let decoded { (catalog, catalogPosition) = (decoded.catalog, decoded.position) }
                if decoded?.damaged ?? true {
                    report.catalogDamaged = true
                    if repairs { report.preservedCopies.append(try DamagedCopy.preserve(layout.catalogPath, io: io)) }
                }
                covered = max(covered, catalogPosition)
            }
        }
        for entry in catalog.entries.values.sorted(by: { $0.id < $1.id }) {
            snapshots.append(try openNamed(entry, report: &report))
        }

        // The log, in one pass. The files' large alive sets are kept as they replayed, the
        // log's changes put on top of them at the end.
        for i in snapshots.indices { snapshots[i].builder.freezeAliveSet() }
        var index: [UInt32: Int] = [:]
        for (i, snapshot) in snapshots.enumerated() { index[snapshot.id] = i }
        var catalogDirtySince: UInt64?
        var orphans = 0
        var lastID: UInt32?, lastIndex = -1
        let reader = LogReader(directory: layout.logDirectory, io: io, preservesDamage: repairs)
        // Replayed in parts on every core (`ChunkedLogReplay`), or, where that gives up, in one
        // sequence: its closures are passed straight to the decoder (non-escaping), so that their
        // captured state stays on the stack, not in boxes checked on every record (measured: a
        // stored closure made recovery of 1M records about twice as slow).
        var logReport = LogReport()
        if peeked != nil {
            // Started only now, after the repairs of the files read so far, and joined before
            // any later change (the log's damaged copies, named snapshots its catalog records
            // create, unused segments): while it runs this thread only reads, so the store's
            // changes come in one order (the power-loss tests number them). Not the order of a
            // replay first: here the leftover `.checkpoint` and `.compact` files go after the
            // directory's sync, which is harmless (a removal undone is removed at the next open).
            let recovery = self
            background = BackgroundCheckpoint {
                let opened = try recovery.openCheckpoint(defaultPath, damagedBase: defaultPath,
                                                         options: fileDefaults, createsEmpty: true)
                var builder = opened.0
                builder.freezeAliveSet()
                return (builder, opened.1, opened.2)
            }
        }
        if io.exists(layout.logDirectory) || repairs {
            let targets = snapshots.map {
                ChunkedLogReplay.Target(id: $0.id, filePosition: $0.filePosition, rejoinAfterLeave: $0.options.rejoinAfterLeave)
            }
            logReport = try reader.read(decoding: { segments in
                var chunked = ChunkedLogReplay(targets: targets)
                chunked.minimumPart = configuration.recoveryPartMinimum
                chunked.maxThreads = configuration.recoveryThreads
                let outcome = chunked.replay(segments)
                if let outcome, defaultAgrees() {
                    for i in snapshots.indices {
                        for delta in outcome.deltas[i] { snapshots[i].builder.append(delta) }
                        snapshots[i].replayed += outcome.replayed[i]
                        if snapshots[i].firstReplayed == nil { snapshots[i].firstReplayed = outcome.firstReplayed[i] }
                    }
                    orphans += outcome.orphans
                    return outcome.reports
                }
                // In sequence: the catalog's records change which snapshot a record is of.
                _ = defaultAgrees()
                return segments.map { segment in
                    LogSegmentDecoder().decodeViews(segment, { at, id, record in
                        if id != lastID {
                            lastID = id
                            lastIndex = index[id] ?? -1
                        }
                        guard lastIndex >= 0 else { orphans += 1; return }
                        guard at >= snapshots[lastIndex].filePosition else { return }
                        if snapshots[lastIndex].firstReplayed == nil { snapshots[lastIndex].firstReplayed = at }
                        snapshots[lastIndex].builder.record(record, offset: Int64(at))
                        snapshots[lastIndex].replayed += 1
                    }, catalog: { at, change in
                        if case .reset(let id) = change {
                            // Everything of the snapshot before it is replaced: the state starts again.
                            if let i = index[id], at >= snapshots[i].filePosition {
                                snapshots[i].builder = StateBuilder(rejoinAfterLeave: snapshots[i].options.rejoinAfterLeave,
                                                                    startingFrom: SnapshotState())
                                if snapshots[i].firstReplayed == nil { snapshots[i].firstReplayed = at }
                            }
                            return
                        }
                        guard at >= catalogPosition, failure == nil else { return }
                        if catalogDirtySince == nil { catalogDirtySince = at }
                        let replacedID: UInt32? = switch change {
                        case .create(_, let name, _): catalog.ids[name]
                        case .delete(let id), .reset(let id): id
                        }
                        catalog.apply(change, at: at)
                        if let replacedID, let i = index.removeValue(forKey: replacedID) {
                            snapshots[i].builder = StateBuilder(rejoinAfterLeave: snapshots[i].options.rejoinAfterLeave)
                            snapshots[i].replayed = 0
                            snapshots[i].id = .max  // dropped below
                        }
                        if case .create(let id, _, _) = change, let entry = catalog.entries[id] {
                            do {
                                let opened = try openNamed(entry, report: &report)
                                covered = max(covered, opened.filePosition)
                                index[id] = snapshots.count
                                snapshots.append(opened)
                            } catch {
                                failure = error
                            }
                        }
                        lastID = nil  // the index changed
                    })
                }
            })
        }
        _ = defaultAgrees()
        if let failure { throw failure }
        for snapshot in snapshots { covered = max(covered, snapshot.filePosition) }
        logReport.replayed = snapshots.reduce(0) { $0 + $1.replayed }
        report.orphanRecords = orphans
        snapshots.removeAll { $0.id == .max }
        for i in snapshots.indices {
            snapshots[i].initial = snapshots[i].builder.finishState()
            snapshots[i].builder = StateBuilder(rejoinAfterLeave: snapshots[i].options.rejoinAfterLeave)  // its memory back
        }
        report.log = logReport
        if hasNamed { try sortFiles(catalog: catalog, report: &report) }
        guard repairs else {
            return Recovered(slots: snapshots, catalog: catalog, catalogDirtySince: catalogDirtySince, log: nil, report: report)
        }
        for unused in logReport.unused { try io.remove(unused) }
        let log = try LogWriter(
            directory: layout.logDirectory, io: io,
            configuration: .init(segmentSize: configuration.segmentSize,
                                 prepareInBackground: configuration.preparesSegmentsInBackground),
            sealed: logReport.segments, sequence: logReport.lastSequence + 1, base: max(logReport.end, covered))
        return Recovered(slots: snapshots, catalog: catalog, catalogDirtySince: catalogDirtySince, log: log, report: report)
    }

    /// A named snapshot's file: missing (none written yet), or read as the snapshot `default`'s
    /// is. A file that covers less of the log than the snapshot's create record is not this
    /// snapshot's (an earlier one of the same name): it is copied aside, and the snapshot starts empty.
    private func openNamed(_ entry: Catalog.Entry, report: inout StoreReport) throws -> Recovering {
        let path = layout.path(of: entry.name)
        var builder = StateBuilder(rejoinAfterLeave: entry.options.rejoinAfterLeave)
        var fileReport = ReplayReport(), size: Int64 = 0
        fileReport.format = entry.options.format
        if io.exists(path) {
            (builder, fileReport, size) = try openCheckpoint(path, damagedBase: layout.damagedCopyBase(of: entry.name),
                                                           options: entry.options, createsEmpty: false)
            if (fileReport.logPosition ?? 0) < entry.createdAt {
                if repairs {
                    report.preservedCopies.append(try DamagedCopy.preserve(path, as: layout.damagedCopyBase(of: entry.name), io: io))
                }
                report.staleFiles.append(path)
                builder = StateBuilder(rejoinAfterLeave: entry.options.rejoinAfterLeave)
                fileReport = ReplayReport()
                fileReport.format = entry.options.format
                size = 0
            }
            if fileReport.isDamaged || fileReport.preservedCopy != nil { report.damagedSnapshots.append(entry.name) }
        }
        return Recovering(id: entry.id, name: entry.name, options: entry.options, builder: builder,
                          filePosition: fileReport.logPosition ?? 0, fileBytes: size, report: fileReport)
    }

    /// The files of the snapshots directory: a snapshot's, the store's own (names with a leading
    /// dot), one left by a delete that stopped before it removed the file (removed now), or one
    /// nothing explains (kept, reported).
    private func sortFiles(catalog: Catalog, report: inout StoreReport) throws {
        for file in try io.contentsOfDirectory(layout.snapshotsDirectory) where !file.hasPrefix(".") {
            guard let name = try? SnapshotName(file) else {
                report.unexplainedFiles.append(layout.snapshotsDirectory + "/" + file)
                continue
            }
            if catalog.ids[name] != nil { continue }
            if catalog.deletedNames.contains(name) {
                if repairs { try io.remove(layout.path(of: name)) }
                report.removedFiles.append(layout.path(of: name))
            } else {
                report.unexplainedFiles.append(layout.path(of: name))
            }
        }
        if repairs && !report.removedFiles.isEmpty { try io.syncDirectory(layout.snapshotsDirectory) }
    }

    /// Replays a snapshot file, repairing what the data-safety rules allow: a provable torn
    /// tail is cut; a damaged file is kept as a copy and rewritten from what was recovered; a
    /// new or interrupted one gets an empty checkpoint (`createsEmpty`: the snapshot `default`,
    /// whose file is there from the start). Returns the state (in the builder the log's records
    /// go on onto), the report and the size.
    func openCheckpoint(_ path: String, damagedBase: String, options: SnapshotOptions,
                        createsEmpty: Bool) throws -> (StateBuilder, ReplayReport, Int64) {
        guard repairs else {
            // As it is: a missing file is an empty snapshot.
            guard io.exists(path) else {
                var report = ReplayReport()
                report.format = options.format
                return (StateBuilder(rejoinAfterLeave: options.rejoinAfterLeave), report, 0)
            }
            let (builder, report) = try SnapshotReplayer(io: io, rejoinAfterLeave: options.rejoinAfterLeave,
                                                         defaultFormat: options.format).replayBuilder(path: path)
            return (builder, report, report.validLength + report.tornTailBytes)
        }
        try io.remove(path + ".compact")  // left by a compaction of an earlier version
        if createsEmpty { try io.remove(path + ".checkpoint") }
        let fd = try io.open(path, create: true, truncate: false)
        defer { io.close(fd) }
        var (builder, report) = try SnapshotReplayer(
            io: io, rejoinAfterLeave: options.rejoinAfterLeave, defaultFormat: options.format
        ).replayBuilder(fd: fd, path: path)
        let fileSize = report.validLength + report.tornTailBytes
        if report.records == 0 && report.ignored == 0 && report.createdAt == nil
            && fileSize <= Int64(V2Format.headerSize) {
            // No record, no valid header and at most a header's bytes: a new file whose
            // header a power loss cut short, or left zeroed or garbled to its length, before
            // its fsync. It is started again in the configured format, rather than kept with
            // a damaged v2 header (reported at every open) or, when the bytes read as text, made v1.
            // Bytes that are not a torn header are kept beside it first, like any damage.
            if report.isDamaged { report.preservedCopy = try DamagedCopy.preserve(path, as: damagedBase, io: io) }
            report.skipped = []
            report.validLength = 0
            report.tornTailBytes = fileSize
            report.format = options.format
            builder = StateBuilder(rejoinAfterLeave: options.rejoinAfterLeave)
        }
        var size = report.validLength
        // A named snapshot's temporary file starts with a dot, as everything the store writes
        // beside the snapshots' files (`StoreLayout`).
        let temporary = createsEmpty ? nil : damagedBase + ".checkpoint"
        if report.isDamaged {
            report.preservedCopy = try DamagedCopy.preserve(path, as: damagedBase, io: io)
            // Where the position itself was lost, 0: the log is replayed whole, which gives the same
            // state (its records are in order, and the last record wins).
            let state = builder.finishState()
            builder = StateBuilder(rejoinAfterLeave: options.rejoinAfterLeave, startingFrom: state)
            size = try SnapshotFileWriter.replace(path, with: state, format: report.format, io: io,
                                                  logPosition: report.logPosition ?? 0, temporaryPath: temporary)
        } else if report.tornTailBytes > 0 && size > 0 {
            try io.truncate(fd, to: report.validLength, path: path)
            try io.sync(fd, path: path)
        }
        if size == 0 && (createsEmpty || fileSize > 0) {
            // A new snapshot: an empty checkpoint, so that the file is there from the start.
            let state = builder.finishState()
            builder = StateBuilder(rejoinAfterLeave: options.rejoinAfterLeave, startingFrom: state)
            size = try SnapshotFileWriter.replace(path, with: state, format: report.format, io: io,
                                                  logPosition: report.logPosition ?? 0, temporaryPath: temporary)
        }
        return (builder, report, size)
    }

    /// The whole of a small file.
    static func contents(of path: String, io: any FileIO) throws(FileIOError) -> [UInt8] {
        let fd = try io.openReadOnly(path)
        defer { io.close(fd) }
        var bytes: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try io.read(fd, into: buffer, path: path)
            if n == 0 { break }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return bytes
    }
}

/// A checkpoint's replay on a thread of its own (`StoreRecovery.open`): its builder (frozen),
/// report and size, or the error it threw.
private final class BackgroundCheckpoint: @unchecked Sendable {
    typealias Opened = (StateBuilder, ReplayReport, Int64)
    /// Written by the thread before `done` is signalled, read after it is waited for.
    private var result: Result<Opened, any Error>?
    private let done = DispatchSemaphore(value: 0)
    private var waited = false

    init(_ body: @escaping @Sendable () throws -> Opened) {
        let thread = Thread { [self] in
            result = Result { try body() }
            done.signal()
        }
        thread.name = "snapshot-recovery"
        thread.start()
    }

    /// Waits for the replay to end (once; later calls return at once).
    func wait() {
        guard !waited else { return }
        done.wait()
        waited = true
    }

    func join() throws -> Opened {
        wait()
        guard let result else { preconditionFailure("the replay's thread signalled without a result") }
        return try result.get()
    }
}

/// What opening a store found.
public struct StoreReport: Sendable {
    /// Replaying the snapshot `default`'s file.
    public var defaultReplay = ReplayReport()
    /// Reading the write-ahead log.
    public var log = LogReport()
    /// Named snapshots whose file was damaged (copied aside and rewritten from what was recovered).
    public var damagedSnapshots: [SnapshotName] = []
    /// The catalog file was damaged: copied aside, its valid records kept.
    public var catalogDamaged = false
    /// Copies kept of damaged or stale files (named snapshots and the catalog).
    public var preservedCopies: [String] = []
    /// Files of an earlier snapshot of the same name (copied aside; the snapshot started empty).
    public var staleFiles: [String] = []
    /// Files in the snapshots directory nothing explains: kept as they are.
    public var unexplainedFiles: [String] = []
    /// Files of deleted snapshots a stop left behind, removed now (listed only, when read only).
    public var removedFiles: [String] = []
    /// Log records of no snapshot the store knows (of deleted ones).
    public var orphanRecords = 0

    public init() {}
}
