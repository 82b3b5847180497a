import Dispatch

/// A Serf snapshot kept durable: open it on a path, submit events, read the state, leave,
/// compact, close. The snapshot `default` of a store (`SnapshotStore`) opened around that path:
/// a store of one snapshot is exactly the single-file snapshot of before there were names.
/// Submitters never block: every call that waits for the queue or the disk takes a completion
/// (or is `async`), so a Dispatch-driven server can park a request.
public final class SnapshotEngine: Sendable {
    /// The store this engine's snapshot is the `default` of.
    public let store: SnapshotStore
    private let handle: SlotHandle

    public var path: String { store.layout.defaultPath }
    /// The write-ahead log's directory.
    public var logDirectory: String { store.layout.logDirectory }
    public var configuration: EngineConfiguration { store.configuration }
    /// What replaying the snapshot file (the last checkpoint) found when the engine opened.
    public var replayReport: ReplayReport { store.report.defaultReplay }
    /// What reading the write-ahead log found when the engine opened.
    public var logReport: LogReport { store.report.log }

    /// Opens (or creates) the snapshot at `path` and its write-ahead log: replays the file (the
    /// last checkpoint), then the log's records after the position the checkpoint covers, and
    /// starts the writer in a new log segment. A damaged file is first copied to
    /// `PATH.damaged-<UTC time>` (`replayReport.preservedCopy`), then rewritten from what replay
    /// recovered, in its own format; a damaged segment is copied likewise and checkpointed
    /// past. A file that is not a snapshot at all is refused, unchanged.
    public convenience init(path: String, configuration: EngineConfiguration = .init()) throws(SnapshotFileError) {
        let store = try SnapshotStore(layout: StoreLayout(snapshotPath: path, logDirectory: configuration.logDirectory),
                                      configuration: configuration)
        self.init(store: store)
    }

    /// The snapshot `default` of an open store.
    public init(store: SnapshotStore) {
        self.store = store
        // `default` is always in the directory, and never deleted.
        self.handle = store.directory.handle(.default) ?? SlotHandle(id: SnapshotWriter.defaultID, name: .default,
                                                                     options: store.defaultOptions, path: store.layout.defaultPath)
    }

    // MARK: - Events

    /// Submits events. They are recorded in order, after everything submitted before.
    /// - Parameter deadline: how long to wait for queue space before `.queueFull`
    ///   (`.now()` refuses at once when the queue is full).
    /// - Parameter completion: in `fsync` mode, called once the records are on disk; in
    ///   `buffered` mode, once admitted. Called exactly once, from an engine thread or this one.
    public func submit(_ events: [SnapshotEvent], deadline: DispatchTime = .distantFuture,
                       completion: @escaping @Sendable (Result<Acknowledgement, SnapshotError>) -> Void) {
        store.submit(events, to: .default, deadline: deadline, completion: completion)
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
        store.leave(.default, completion: completion)
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
        store.rejoin(.default, completion: completion)
    }

    public func rejoin() async throws(SnapshotError) -> SnapshotState {
        let result = await withCheckedContinuation { continuation in
            rejoin { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Checkpoints now (or in the round after the one in flight) while ingestion goes on.
    public func compact(completion: @escaping @Sendable (Result<CompactionResult, SnapshotError>) -> Void) {
        store.compact(.default, completion: completion)
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
        store.close(completion: completion)
    }

    public func close() async {
        await store.close()
    }

    /// Closes and blocks the calling thread until done. For command-line tools and for
    /// threads that may block; never call it from a Dispatch worker.
    public func closeAndWait() {
        store.closeAndWait()
    }

    // MARK: - Read side

    /// A consistent copy of the engine's state and file, as of the last batch written to the
    /// file (in `buffered` mode up to a flush interval behind what was accepted).
    public var status: EngineStatus { store.status(of: handle) }

    /// Events admitted and not yet taken by the writer.
    public var queueDepth: Int { store.queueDepth }
    public var queueCapacity: Int { store.queueCapacity }
    /// Submissions parked, waiting for queue space.
    public var parkedSubmissions: Int { store.parkedSubmissions }

    /// Alive nodes with their addresses, sorted by name or shuffled (`SnapshotState.aliveNodeList`).
    public func aliveNodes(shuffled: Bool = false) -> [(name: String, address: String)] {
        status.state.aliveNodeList(shuffled: shuffled)
    }
}
