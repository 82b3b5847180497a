import Dispatch
import Glibc

/// A Serf snapshot kept durable: open it on a path, submit events, read the state, leave,
/// compact, close. Submitters never block: every call that waits for the queue or the disk
/// takes a completion (or is `async`), so a Dispatch-driven server can park a request.
public final class SnapshotEngine: Sendable {
    public let path: String
    /// The write-ahead log's directory.
    public let logDirectory: String
    public let configuration: EngineConfiguration
    /// What replaying the snapshot file (the last checkpoint) found when the engine opened.
    public let replayReport: ReplayReport
    /// What reading the write-ahead log found when the engine opened.
    public let logReport: LogReport
    private let queue: IntakeQueue
    private let writer: SnapshotWriter

    /// Opens (or creates) the snapshot at `path` and its write-ahead log: replays the file (the
    /// last checkpoint), then the log's records after the position the checkpoint covers, and
    /// starts the writer in a new log segment. A damaged file is first copied to
    /// `PATH.damaged-<UTC time>` (`replayReport.preservedCopy`), then rewritten from what replay
    /// recovered, in its own format; a damaged segment is copied likewise and checkpointed
    /// past. A file that is not a snapshot at all is refused, unchanged.
    public init(path: String, configuration: EngineConfiguration = .init()) throws(SnapshotFileError) {
        let io = configuration.io
        let directory = SnapshotWriter.directory(of: path)
        let logDirectory = configuration.logDirectory ?? StoreReplayer.defaultLogDirectory(for: path)
        var state: SnapshotState
        var report: ReplayReport
        var size: Int64
        let logReport: LogReport
        let log: LogWriter
        do {
            (state, report, size) = try Self.openCheckpoint(path, configuration: configuration)
            try io.createDirectory(logDirectory)
            // Always, not only when this open creates them: a process killed after a create or
            // a checkpoint's rename, before the directory fsync that followed, leaves a name
            // that is in the page cache but maybe not on disk (the power-loss tests).
            try io.syncDirectory(directory)
            let covered = report.logPosition ?? 0
            let recovered = try LogReader(directory: logDirectory, io: io).replay(
                snapshot: SnapshotWriter.snapshotID, after: covered, onto: &state,
                rejoinAfterLeave: configuration.rejoinAfterLeave)
            for unused in recovered.unused { try io.remove(unused) }
            log = try LogWriter(
                directory: logDirectory, io: io,
                configuration: .init(segmentSize: configuration.segmentSize,
                                     prepareInBackground: configuration.preparesSegmentsInBackground),
                sealed: recovered.segments, sequence: recovered.lastSequence + 1, base: max(recovered.end, covered))
            logReport = recovered
        } catch {
            switch error {
            case let error as SnapshotFileError: throw error
            case let error as FileIOError: throw .io(error)
            default: throw .io(FileIOError("open", path, code: EIO))
            }
        }
        self.path = path
        self.logDirectory = logDirectory
        self.configuration = configuration
        self.replayReport = report
        self.logReport = logReport
        self.queue = IntakeQueue(
            capacity: configuration.queueCapacity,
            answersOnAdmission: configuration.durability == .buffered,
            leaving: state.leaving,
            observer: configuration.observer)
        self.writer = SnapshotWriter(
            path: path, log: log, checkpointPosition: report.logPosition ?? 0, state: state, fileBytes: size,
            format: report.format, configuration: configuration, queue: queue,
            checkpointAtStart: logReport.isDamaged)
        writer.start()
    }

    /// Replays the snapshot file, repairing what the data-safety rules allow: a provable torn
    /// tail is cut; a damaged file is kept as a copy and rewritten from what was recovered; a
    /// new or interrupted one gets an empty checkpoint. Returns the state, the report and the size.
    private static func openCheckpoint(_ path: String, configuration: EngineConfiguration) throws -> (SnapshotState, ReplayReport, Int64) {
        let io = configuration.io
        try io.remove(path + ".compact")  // left by a compaction of an earlier version
        try io.remove(path + ".checkpoint")
        let fd = try io.open(path, create: true, truncate: false)
        defer { io.close(fd) }
        var (state, report) = try SnapshotReplayer(
            io: io, rejoinAfterLeave: configuration.rejoinAfterLeave, defaultFormat: configuration.format
        ).replay(fd: fd, path: path)
        let fileSize = report.validLength + report.tornTailBytes
        if report.records == 0 && report.ignored == 0 && report.createdAt == nil
            && fileSize <= Int64(V2Format.headerSize) {
            // No record, no valid header and at most a header's bytes: a new file whose
            // header a power loss cut short, or left zeroed or garbled to its length, before
            // its fsync. It is started again in the configured format, rather than kept with
            // a damaged v2 header (reported at every open) or, when the bytes read as text, made v1.
            // Bytes that are not a torn header are kept beside it first, like any damage.
            if report.isDamaged { report.preservedCopy = try DamagedCopy.preserve(path, io: io) }
            report.skipped = []
            report.validLength = 0
            report.tornTailBytes = fileSize
            report.format = configuration.format
            state = SnapshotState()
        }
        var size = report.validLength
        if report.isDamaged {
            report.preservedCopy = try DamagedCopy.preserve(path, io: io)
            // Where the position itself was lost, 0: the log is replayed whole, which gives the same
            // state (its records are in order, and the last record wins).
            size = try SnapshotFileWriter.replace(path, with: state, format: report.format, io: io,
                                                  logPosition: report.logPosition ?? 0)
        } else if report.tornTailBytes > 0 && size > 0 {
            try io.truncate(fd, to: report.validLength, path: path)
            try io.sync(fd, path: path)
        }
        if size == 0 {
            // A new snapshot: an empty checkpoint, so that the file is there from the start.
            size = try SnapshotFileWriter.replace(path, with: state, format: report.format, io: io,
                                                  logPosition: report.logPosition ?? 0)
        }
        return (state, report, size)
    }

    // MARK: - Events

    /// Submits events. They are recorded in order, after everything submitted before.
    /// - Parameter deadline: how long to wait for queue space before `.queueFull`
    ///   (`.now()` refuses at once when the queue is full).
    /// - Parameter completion: in `fsync` mode, called once the records are on disk; in
    ///   `buffered` mode, once admitted. Called exactly once, from an engine thread or this one.
    public func submit(_ events: [SnapshotEvent], deadline: DispatchTime = .distantFuture,
                       completion: @escaping @Sendable (Result<Acknowledgement, SnapshotError>) -> Void) {
        for (index, event) in events.enumerated() {
            if let reason = event.validationError {
                configuration.observer.refused(count: events.count, reason: .invalidEvent(index: index, reason: reason))
                completion(.failure(.invalidEvent(index: index, reason: reason)))
                return
            }
        }
        queue.submit(events, deadline: deadline, completion: completion)
    }

    public func submit(_ events: [SnapshotEvent], deadline: DispatchTime = .distantFuture) async throws(SnapshotError) -> Acknowledgement {
        let result = await withCheckedContinuation { continuation in
            submit(events, deadline: deadline) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    // MARK: - Leave, compact, close

    /// Marks the snapshot leaving, clears the alive set (unless rejoin-after-leave), appends
    /// `leave` and syncs; completes only then. Later events are refused with `.leaving`.
    public func leave(completion: @escaping @Sendable (Result<Acknowledgement, SnapshotError>) -> Void) {
        if let error = queue.enqueue(.leave(completion)) { completion(.failure(error)) }
    }

    public func leave() async throws(SnapshotError) {
        let result = await withCheckedContinuation { continuation in
            leave { continuation.resume(returning: $0) }
        }
        _ = try result.get()
    }

    /// The agent starts a new life: ends a leave (the state cleared unless rejoin-after-leave,
    /// as Go's replay of the leave does) so that events are recorded again, and answers the
    /// state to rejoin with. Without a leave it only answers the state. Ordered with events:
    /// everything submitted before it is recorded first.
    public func rejoin(completion: @escaping @Sendable (Result<SnapshotState, SnapshotError>) -> Void) {
        if let error = queue.enqueue(.rejoin(completion)) { completion(.failure(error)) }
    }

    public func rejoin() async throws(SnapshotError) -> SnapshotState {
        let result = await withCheckedContinuation { continuation in
            rejoin { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Compacts now (or joins the compaction in flight) while ingestion goes on.
    public func compact(completion: @escaping @Sendable (Result<CompactionResult, SnapshotError>) -> Void) {
        if let error = queue.enqueue(.compact(completion)) { completion(.failure(error)) }
    }

    public func compact() async throws(SnapshotError) -> CompactionResult {
        let result = await withCheckedContinuation { continuation in
            compact { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Stops intake, writes every event already accepted, appends the final clock, syncs and
    /// closes the file; `completion` runs once all of that is done. Idempotent.
    public func close(completion: @escaping @Sendable () -> Void) {
        queue.close()
        writer.whenClosed(completion)
    }

    public func close() async {
        await withCheckedContinuation { continuation in
            close { continuation.resume() }
        }
    }

    /// Closes and blocks the calling thread until done. For command-line tools and for
    /// threads that may block; never call it from a Dispatch worker.
    public func closeAndWait() {
        let done = DispatchSemaphore(value: 0)
        close { done.signal() }
        done.wait()
    }

    // MARK: - Read side

    /// A consistent copy of the engine's state and file, as of the last batch written to the
    /// file (in `buffered` mode up to a flush interval behind what was accepted).
    public var status: EngineStatus { writer.currentStatus }

    /// Events admitted and not yet taken by the writer.
    public var queueDepth: Int { queue.currentDepth }
    public var queueCapacity: Int { queue.capacity }
    /// Submissions parked, waiting for queue space.
    public var parkedSubmissions: Int { queue.parkedCount }

    /// Alive nodes with their addresses, sorted by name or shuffled (`SnapshotState.aliveNodeList`).
    public func aliveNodes(shuffled: Bool = false) -> [(name: String, address: String)] {
        status.state.aliveNodeList(shuffled: shuffled)
    }
}
