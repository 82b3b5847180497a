import Dispatch
import Glibc

/// Many Serf snapshots kept durable on one write-ahead log: each named, each apart (its own
/// records, clocks, leave and options), all written by one writer, so that one fdatasync makes a
/// batch durable whatever snapshots its records are for. The snapshot `default` is always there
/// (the one snapshot of a store opened on a single file); others are created, explicitly or by a
/// first write, and deleted.
///
/// Submitters never block: every call that waits for the queue or the disk takes a completion,
/// so a Dispatch-driven server can park a request.
public final class SnapshotStore: Sendable {
    public let layout: StoreLayout
    public let configuration: EngineConfiguration
    /// What opening the store found.
    public let report: StoreReport
    let queue: IntakeQueue
    let writer: SnapshotWriter
    let directory: StoreDirectory
    /// Files in the snapshots directory nothing explains: a create of their name is refused, so
    /// that they are never overwritten.
    private let unexplainedNames: Set<String>

    /// Opens (or creates) the store: replays every snapshot's file (its last checkpoint) and the
    /// log's records past it, and starts the writer in a new log segment (`StoreRecovery`).
    public init(layout: StoreLayout, configuration: EngineConfiguration = .init()) throws(SnapshotFileError) {
        let recovered: StoreRecovery.Recovered
        let log: LogWriter
        do {
            recovered = try StoreRecovery(layout: layout, configuration: configuration).open()
            guard let writer = recovered.log else { throw FileIOError("open", layout.logDirectory, code: EIO) }
            log = writer
        } catch {
            switch error {
            case let error as SnapshotFileError: throw error
            case let error as FileIOError: throw .io(error)
            default: throw .io(FileIOError("open", layout.defaultPath, code: EIO))
            }
        }
        self.layout = layout
        self.configuration = configuration
        self.report = recovered.report
        unexplainedNames = Set(recovered.report.unexplainedFiles.map { String($0.split(separator: "/").last ?? "") })
        var entries = StoreDirectory.Entries()
        entries.nextID = recovered.catalog.nextID
        var slots: [SnapshotSlot] = []
        var leaving: Set<UInt32> = []
        for snapshot in recovered.slots {
            var status = SlotStatus()
            status.state = snapshot.initial
            status.fileBytes = snapshot.fileBytes
            status.checkpointPosition = snapshot.filePosition
            let handle = SlotHandle(id: snapshot.id, name: snapshot.name, options: snapshot.options,
                                    path: layout.path(of: snapshot.name), status: status)
            entries.byName[snapshot.name] = handle
            entries.byID[snapshot.id] = handle
            slots.append(SnapshotSlot(handle: handle, state: snapshot.initial, fileBytes: snapshot.fileBytes,
                                      checkpointPosition: snapshot.filePosition, dirtySince: snapshot.firstReplayed))
            if snapshot.initial.leaving { leaving.insert(snapshot.id) }
        }
        directory = StoreDirectory(entries)
        queue = IntakeQueue(capacity: configuration.queueCapacity, answersOnAdmission: configuration.durability == .buffered,
                            leaving: leaving, observer: configuration.observer)
        writer = SnapshotWriter(layout: layout, log: log, slots: slots, catalog: recovered.catalog,
                                catalogDirtySince: recovered.catalogDirtySince, configuration: configuration,
                                queue: queue, directory: directory, checkpointAtStart: recovered.report.log.isDamaged)
        writer.start()
    }

    /// The options a snapshot created by a first write gets.
    public var defaultOptions: SnapshotOptions {
        SnapshotOptions(format: configuration.format, rejoinAfterLeave: configuration.rejoinAfterLeave)
    }

    // MARK: - Snapshots

    /// Creates the snapshot `name` with `options`, durably: completes with true once its create
    /// record is synced, false at once when it exists with these options; `.conflict` when it
    /// exists with others, `.tooManySnapshots` at the limit.
    public func create(_ name: SnapshotName, options: SnapshotOptions,
                       completion: @escaping @Sendable (Result<Bool, SnapshotError>) -> Void) {
        let outcome = directory.withLock { entries -> Result<SlotHandle?, SnapshotError> in
            if let existing = entries.byName[name] {
                return existing.options == options ? .success(nil)
                    : .failure(.conflict("the snapshot \"\(name)\" exists with other options: format \(existing.options.format.rawValue), rejoin_after_leave \(existing.options.rejoinAfterLeave)"))
            }
            return register(name, options: options, in: &entries).map { Optional($0) }
        }
        switch outcome {
        case .failure(let error): completion(.failure(error))
        case .success(nil): completion(.success(false))
        case .success(let handle?):
            enqueue(.create(handle.id) { result in completion(result.map { true }) }) { completion(.failure($0)) }
        }
    }

    /// Gives `name` a new identity (directory locked).
    private func register(_ name: SnapshotName, options: SnapshotOptions,
                          in entries: inout StoreDirectory.Entries) -> Result<SlotHandle, SnapshotError> {
        guard entries.byID.count < configuration.maxSnapshots else {
            return .failure(.tooManySnapshots(limit: configuration.maxSnapshots))
        }
        guard !unexplainedNames.contains(name.rawValue) else {
            return .failure(.conflict("the store holds a file named \"\(name)\" that is not one of its snapshots: move it away first"))
        }
        let handle = SlotHandle(id: entries.nextID, name: name, options: options, path: layout.path(of: name))
        entries.nextID += 1
        entries.byName[name] = handle
        entries.byID[handle.id] = handle
        return .success(handle)
    }

    /// The snapshot `name`, created with the default options when `creating` and it is missing.
    private func resolve(_ name: SnapshotName, creating: Bool) -> Result<SlotHandle, SnapshotError> {
        var created = false
        let outcome = directory.withLock { entries -> Result<SlotHandle, SnapshotError> in
            if let handle = entries.byName[name] { return .success(handle) }
            guard creating else { return .failure(.unknownSnapshot(name.rawValue)) }
            created = true
            return register(name, options: defaultOptions, in: &entries)
        }
        if created, case .success(let handle) = outcome {
            // Its create record is written whether or not the events that made it are admitted.
            _ = queue.enqueue(.create(handle.id) { _ in })
        }
        return outcome
    }

    /// Deletes the named snapshot durably: its delete record synced, its file removed. The
    /// snapshot `default` is not deleted (`.conflict`).
    public func delete(_ name: SnapshotName, completion: @escaping @Sendable (Result<Void, SnapshotError>) -> Void) {
        guard name != .default else {
            completion(.failure(.conflict("the snapshot \"default\" cannot be deleted")))
            return
        }
        let directory = self.directory
        guard let handle = directory.withLock({ entries -> SlotHandle? in
            guard let handle = entries.byName.removeValue(forKey: name) else { return nil }
            return handle
        }) else {
            completion(.failure(.unknownSnapshot(name.rawValue)))
            return
        }
        enqueue(.delete(handle.id) { result in
            directory.withLock { entries in
                switch result {
                case .success: entries.byID[handle.id] = nil
                case .failure:
                    // Not deleted: found by its name again, unless a new one took the name meanwhile.
                    if entries.byName[name] == nil { entries.byName[name] = handle }
                }
            }
            completion(result)
        }) { completion(.failure($0)) }
    }

    /// Every snapshot's name, sorted.
    public var names: [SnapshotName] { directory.withLock { Array($0.byName.keys) }.sorted() }

    public var snapshotCount: Int { directory.withLock { $0.byName.count } }

    /// Up to `limit` snapshots after `after` in name order (nil: from the first), among the
    /// names `include` accepts.
    public func list(after: String? = nil, limit: Int = .max,
                     including include: (SnapshotName) -> Bool = { _ in true }) -> [SnapshotSummary] {
        let handles = directory.withLock { Array($0.byName.values) }.sorted { $0.name < $1.name }
        var result: [SnapshotSummary] = []
        for handle in handles where after.map({ handle.name.rawValue > $0 }) ?? true {
            guard result.count < limit else { break }
            guard include(handle.name) else { continue }
            let state = handle.currentStatus.state
            result.append(SnapshotSummary(name: handle.name, options: handle.options,
                                          aliveCount: state.aliveNodes.count, leaving: state.leaving))
        }
        return result
    }

    /// Snapshots, alive nodes and leaving snapshots across the store.
    public var totals: (snapshots: Int, alive: Int, leaving: Int) {
        let handles = directory.withLock { Array($0.byName.values) }
        var alive = 0, leaving = 0
        for handle in handles {
            let state = handle.currentStatus.state
            alive += state.aliveNodes.count
            if state.leaving { leaving += 1 }
        }
        return (handles.count, alive, leaving)
    }

    /// The options of the snapshot `name`; nil when there is none.
    public func options(of name: SnapshotName) -> SnapshotOptions? { directory.handle(name)?.options }

    // MARK: - Events, leave, rejoin, compact

    /// Submits events to the snapshot `name` (created with `defaultOptions` when missing and
    /// `creating`). They are recorded in order, after everything submitted to it before.
    /// - Parameter deadline: how long to wait for queue space before `.queueFull`.
    /// - Parameter completion: in `fsync` mode, called once the records are on disk; in
    ///   `buffered` mode, once admitted. Called exactly once, from an engine thread or this one.
    public func submit(_ events: [SnapshotEvent], to name: SnapshotName, creating: Bool = true,
                       deadline: DispatchTime = .distantFuture,
                       completion: @escaping @Sendable (Result<Acknowledgement, SnapshotError>) -> Void) {
        for (index, event) in events.enumerated() {
            if let reason = event.validationError {
                configuration.observer.refused(count: events.count, reason: .invalidEvent(index: index, reason: reason))
                completion(.failure(.invalidEvent(index: index, reason: reason)))
                return
            }
        }
        switch resolve(name, creating: creating) {
        case .success(let handle): queue.submit(events, to: handle.id, deadline: deadline, completion: completion)
        case .failure(let error): completion(.failure(error))
        }
    }

    /// Marks `name` leaving, clears its alive set (unless rejoin-after-leave), appends `leave`
    /// and syncs; completes only then. Later events to it are refused with `.leaving`.
    public func leave(_ name: SnapshotName, completion: @escaping @Sendable (Result<Acknowledgement, SnapshotError>) -> Void) {
        switch resolve(name, creating: false) {
        case .success(let handle): enqueue(.leave(handle.id, completion)) { completion(.failure($0)) }
        case .failure(let error): completion(.failure(error))
        }
    }

    /// The agent of `name` starts a new life: ends a leave (the state cleared unless
    /// rejoin-after-leave, as Go's replay of the leave does) and answers the state to rejoin
    /// with. Ordered with events: everything submitted before it is recorded first.
    public func rejoin(_ name: SnapshotName, completion: @escaping @Sendable (Result<SnapshotState, SnapshotError>) -> Void) {
        switch resolve(name, creating: false) {
        case .success(let handle): enqueue(.rejoin(handle.id, completion)) { completion(.failure($0)) }
        case .failure(let error): completion(.failure(error))
        }
    }

    /// Checkpoints `name` now (in the next round) while ingestion goes on.
    public func compact(_ name: SnapshotName, completion: @escaping @Sendable (Result<CompactionResult, SnapshotError>) -> Void) {
        switch resolve(name, creating: false) {
        case .success(let handle): enqueue(.compact(handle.id, completion)) { completion(.failure($0)) }
        case .failure(let error): completion(.failure(error))
        }
    }

    /// Replaces the state of `name` (created with the default options when missing) by
    /// `state`, durably; refused with `.conflict` when it has records, unless `replacing`.
    public func importState(_ state: SnapshotState, into name: SnapshotName, replacing: Bool,
                            completion: @escaping @Sendable (Result<Void, SnapshotError>) -> Void) {
        switch resolve(name, creating: true) {
        case .success(let handle): enqueue(.replace(handle.id, state, replacing: replacing, completion)) { completion(.failure($0)) }
        case .failure(let error): completion(.failure(error))
        }
    }

    private func enqueue(_ item: WorkItem, refused: (SnapshotError) -> Void) {
        if let error = queue.enqueue(item) { refused(error) }
    }

    /// Stops intake, writes every event already accepted, appends the final clocks, checkpoints
    /// every snapshot and empties the log; `completion` runs once all of that is done. Idempotent.
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

    /// The status of the snapshot `name` (nil when there is none): its state as of the last
    /// batch written (in `buffered` mode up to a flush interval behind what was accepted).
    public func status(of name: SnapshotName) -> EngineStatus? {
        directory.handle(name).map { status(of: $0) }
    }

    func status(of handle: SlotHandle) -> EngineStatus {
        let slot = handle.currentStatus, store = writer.currentStatus
        var status = EngineStatus()
        status.state = slot.state
        status.fileBytes = slot.fileBytes
        status.checkpointPosition = slot.checkpointPosition
        status.compactions = slot.compactions
        status.compacting = slot.compacting
        status.logBytes = store.logBytes
        status.logPosition = store.logPosition
        status.lastError = store.lastError
        status.closed = store.closed
        return status
    }

    /// The store as a whole.
    public var storeStatus: StoreStatus {
        var status = writer.currentStatus
        status.snapshots = snapshotCount
        return status
    }

    /// Events admitted and not yet taken by the writer.
    public var queueDepth: Int { queue.currentDepth }
    public var queueCapacity: Int { queue.capacity }
    /// Submissions parked, waiting for queue space.
    public var parkedSubmissions: Int { queue.parkedCount }
}
