import DequeModule
import Dispatch
import Foundation
import Synchronization

/// The one writer of a store: it owns the write-ahead log, the catalog and every snapshot's
/// state, drains the intake queue in batches, encodes every record of a batch (whatever
/// snapshots they are for) into one buffer, appends it to the log with one write, syncs once
/// (group commit) and then completes the whole batch. Checkpoints (each snapshot's file, written
/// from a copy of its state) run beside it in rounds, off the acknowledgement path. It runs on
/// its own thread, because it blocks on the disk.
final class SnapshotWriter: @unchecked Sendable {
    /// The identity of the snapshot `default` in the log's records (a store of one snapshot
    /// writes only these).
    static let defaultID: UInt32 = 0

    // Owned by the writer thread alone after `start()`.
    private let log: LogWriter
    private var slots: [UInt32: SnapshotSlot]
    /// The catalog as the log holds it (a batch's creates included while it is written).
    private var catalog: Catalog
    /// As `SnapshotSlot.dirtySince`/`inFlightSince`, for the catalog's records.
    private var catalogDirtySince: UInt64?
    private var catalogInFlightSince: UInt64?
    /// Encoded log records not yet written (buffered mode keeps them up to the flush interval).
    private var pending: [UInt8] = []
    private var pendingRecords = 0
    /// Snapshots with records in `pending`.
    private var pendingSlots: Set<UInt32> = []
    private var lastFlush = DispatchTime.now()
    private var round: CheckpointRound?
    private var roundIDs: Set<UInt32> = []
    private var roundWaiters: [UInt32: [CheckpointRound.Waiter]] = [:]
    /// Bytes each snapshot had since its checkpoint when the round started (for its result).
    private var roundBytesBefore: [UInt32: Int64] = [:]
    private var rounds = 0
    /// Snapshots due for a checkpoint, and those with records no checkpoint covers.
    private var due: Set<UInt32> = []
    /// Snapshots with `compact` requests waiting: their round starts at once, retry interval or not.
    private var requested: Set<UInt32> = []
    private var dirty: Set<UInt32> = []
    private var nextCheckpointAttempt = DispatchTime(uptimeNanoseconds: 0)
    /// Deleted snapshots in the round in flight: their files go once it is done.
    private var deletesAfterRound: [(SnapshotSlot, @Sendable (Result<Void, SnapshotError>) -> Void)] = []
    /// Deleted snapshots whose file could not be removed yet (`removeFiles`).
    private var pendingRemovals: [SnapshotSlot] = []
    private var lastError: String?
    private var batchEpoch = 0
    /// Buffers a batch reuses (emptied, their capacity kept), so that a commit allocates
    /// nothing for its bookkeeping: the submissions taken, those applied, the snapshots
    /// touched, the states kept for an undo.
    private var batchBuffer: [Submission] = []
    private var appliedBuffer: [Submission] = []
    private var touchedBuffer: [SnapshotSlot] = []
    private var undoBuffer: [UndoPoint.Slot] = []
    /// Snapshots whose create record a failed write undid (their names were freed): what was
    /// queued for them is refused as not written, rather than as unknown.
    private var uncreated: [UInt32: SnapshotName] = [:]

    let layout: StoreLayout
    let configuration: EngineConfiguration
    /// Chosen once, at open: a unit (a batch, a leave) is answered after its fdatasync and undone
    /// when that fails (`fsync`), or answered on admission and written at the flush interval
    /// (`buffered`, never undone).
    private let durable: Bool
    let queue: IntakeQueue
    let directory: StoreDirectory
    /// A snapshot with records further back in the log than this is checkpointed, however few
    /// they are, so that the log's old segments can go (the log stays within about this much of
    /// records no checkpoint covers, however many snapshots hold them).
    private let laggardBytes: UInt64
    /// Events in one group-commit unit when several snapshots share a batch (`commitFairly`).
    private let fairUnitEvents: Int
    private let status: Mutex<StoreStatus>
    private let closeWaiters = Mutex<(done: Bool, waiters: [@Sendable () -> Void])>((false, []))
    private var io: any FileIO { configuration.io }
    private var observer: any EngineObserver { configuration.observer }

    init(layout: StoreLayout, log: LogWriter, slots: [SnapshotSlot], catalog: Catalog, catalogDirtySince: UInt64?,
         configuration: EngineConfiguration, queue: IntakeQueue, directory: StoreDirectory, checkpointAtStart: Bool) {
        self.layout = layout
        self.log = log
        self.slots = Dictionary(uniqueKeysWithValues: slots.map { ($0.id, $0) })
        self.catalog = catalog
        self.catalogDirtySince = catalogDirtySince
        self.configuration = configuration
        self.durable = configuration.durability == .fsync
        self.queue = queue
        self.directory = directory
        // Two segments, and never less than a few times what makes a busy snapshot checkpoint on
        // its own: a store of one snapshot checkpoints as before there were names (Go's rule).
        self.laggardBytes = UInt64(max(1, configuration.laggardLogBytes ?? max(2 * configuration.segmentSize, 4 * configuration.minCompactSize)))
        self.fairUnitEvents = max(64, configuration.queueCapacity / 8)
        var initial = StoreStatus()
        initial.snapshots = slots.count
        initial.logBytes = log.bytes
        initial.logPosition = log.end
        self.status = Mutex(initial)
        for slot in slots where slot.dirtySince != nil {
            dirty.insert(slot.id)
            if checkpointAtStart { slot.checkpointRequested = true; due.insert(slot.id) }
        }
        pending.reserveCapacity(1 << 16)
    }

    var currentStatus: StoreStatus { status.withLock { $0 } }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "snapshot-writer"
        thread.start()
    }

    /// Calls `completion` once the writer has written everything and closed the files.
    func whenClosed(_ completion: @escaping @Sendable () -> Void) {
        let done = closeWaiters.withLock { box in
            if box.done { return true }
            box.waiters.append(completion)
            return false
        }
        if done { completion() }
    }

    // MARK: - The loop

    private func run() {
        let interval = UInt64(configuration.flushInterval * 1e9)
        var nextTick = DispatchTime.now().uptimeNanoseconds + interval
        var items = Deque<WorkItem>()
        while true {
            let wake = !durable && !pending.isEmpty
                ? min(nextTick, lastFlush.uptimeNanoseconds + interval) : nextTick
            let now = DispatchTime.now().uptimeNanoseconds
            let waitSeconds = wake > now ? Double(wake - now) / 1e9 : 0
            let closing = queue.take(until: Date(timeIntervalSinceNow: waitSeconds), idleWhenClosing: round != nil, into: &items)
            process(items)
            items.removeAll(keepingCapacity: true)
            if let round, round.isDone { finishRound(round) }
            let after = DispatchTime.now().uptimeNanoseconds
            if after >= nextTick {
                // Go checks the clock every 500 ms as well as after member events.
                checkClocks()
                markLaggards()
                nextTick = after + interval
            }
            if !durable && !pending.isEmpty && after >= lastFlush.uptimeNanoseconds + interval {
                flushBuffered()
            } else if durable && !pending.isEmpty {
                _ = commit([])
            }
            if !closing { maybeCheckpoint() }
            if closing && round == nil {
                finishClose()
                return
            }
        }
    }

    private func process(_ items: Deque<WorkItem>) {
        // A local, not the property, for the appends: no exclusivity check and copy per item.
        var batch = Self.takeBuffer(&batchBuffer)
        defer { batchBuffer = batch }
        for item in items {
            if case .events(let submission) = item {
                batch.append(submission)
                continue
            }
            commit(&batch)
            switch item {
            case .events: break
            case .leave(let id, let completion): leave(id, completion)
            case .rejoin(let id, let completion): rejoin(id, completion)
            case .compact(let id, let completion):
                guard let slot = slots[id] ?? materialize(id) else {
                    completion(.failure(missing(id)))
                    continue
                }
                if roundIDs.contains(id) {
                    // Joins the checkpoint of it in flight (as a compaction in flight was joined).
                    roundWaiters[id, default: []].append(completion)
                    continue
                }
                slot.waiters.append(completion)
                due.insert(id)
                requested.insert(id)
                startRound()
            case .create(let id, let completion): create(id, completion)
            case .delete(let id, let completion): delete(id, completion)
            case .replace(let id, let state, let replacing, let completion): replace(id, with: state, replacing: replacing, completion)
            }
        }
        commit(&batch)
    }

    /// Commits the submissions gathered in `batch`, if any, and empties it (its capacity kept).
    private func commit(_ batch: inout [Submission]) {
        guard !batch.isEmpty else { return }
        commitFairly(batch)
        batch.removeAll(keepingCapacity: true)
    }

    /// Commits what submitters queued. All of one snapshot: one unit (one write, one sync). Of
    /// several: in units of about `fairUnitEvents` events, taken round-robin between the snapshots
    /// (each snapshot's in its order; their order between snapshots does not matter), so that a
    /// snapshot with one event queued beside a flood is answered after one bounded unit, not
    /// after the whole flood's write and sync.
    private func commitFairly(_ batch: [Submission]) {
        let first = batch[0].snapshot
        guard batch.count > 1, batch.contains(where: { $0.snapshot != first }) else {
            _ = commit(batch)
            return
        }
        var queues: [UInt32: Deque<Submission>] = [:]
        var order: [UInt32] = []
        for submission in batch {
            if queues[submission.snapshot] == nil { order.append(submission.snapshot) }
            queues[submission.snapshot, default: []].append(submission)
        }
        var remaining = batch.count
        while remaining > 0 {
            var unit: [UInt32: [Submission]] = [:]
            var unitOrder: [UInt32] = []
            var events = 0
            while remaining > 0 && events < fairUnitEvents {
                for id in order {
                    guard let next = queues[id]?.popFirst() else { continue }
                    if unit[id] == nil { unitOrder.append(id) }
                    unit[id, default: []].append(next)
                    events += max(1, next.events.count)
                    remaining -= 1
                }
            }
            // Grouped by snapshot: `commit` applies a run of one snapshot's submissions in one go.
            _ = commit(unitOrder.flatMap { unit[$0] ?? [] })
        }
    }

    private func checkClocks() {
        for slot in slots.values {
            slot.state.checkClock(slot.clock) { encode($0, for: slot) }
        }
    }

    /// Snapshots (and the catalog) holding on to log far behind its end are made due.
    private func markLaggards() {
        let end = log.end
        for id in dirty {
            if let since = slots[id]?.neededSince, end - min(since, end) > laggardBytes { due.insert(id) }
        }
    }

    private func encode(_ record: SnapshotRecord, for slot: SnapshotSlot) {
        let before = pending.count
        LogFormat.encode(record, snapshot: slot.id, into: &pending)
        pendingRecords += 1
        touched(slot, bytes: pending.count - before)
    }

    /// `slot` has `bytes` more of records in `pending`.
    private func touched(_ slot: SnapshotSlot, bytes: Int) {
        slot.touch(at: log.end, bytes: bytes)
        dirty.insert(slot.id)
        pendingSlots.insert(slot.id)
    }

    /// Why there is no snapshot `id` for a unit that names it.
    private func missing(_ id: UInt32) -> SnapshotError {
        if let name = uncreated[id] { return .writeFailed("the snapshot \"\(name)\" was not created: its create record was not written") }
        return .unknownSnapshot(directory.handle(id: id)?.name.rawValue ?? "#\(id)")
    }

    // MARK: - Snapshots appearing

    /// The writer's side of a snapshot it has not seen yet: a named snapshot given an identity by
    /// a submitter (`SnapshotStore`). Its create record goes into `pending` (and the catalog):
    /// written, and synced, with the unit that first touches it.
    private func materialize(_ id: UInt32) -> SnapshotSlot? {
        var unused = undoPoint(keepingState: false)
        return materialize(id, saving: &unused)
    }

    private func materialize(_ id: UInt32, saving undo: inout UndoPoint) -> SnapshotSlot? {
        guard let handle = directory.handle(id: id) else { return nil }
        if handle.name != .default && !io.exists(layout.snapshotsDirectory) {
            do throws(FileIOError) {
                try io.createDirectory(layout.snapshotsDirectory)
                try io.syncDirectory(SnapshotWriter.directory(of: layout.snapshotsDirectory))
            } catch {
                record(.writeFailed(error.description))
                return nil
            }
        }
        let slot = SnapshotSlot(handle: handle, state: SnapshotState(), fileBytes: 0, checkpointPosition: 0, dirtySince: nil)
        if undo.catalog == nil { undo.catalog = catalog }
        undo.created.append(id)
        slots[id] = slot
        let position = log.end
        let record = CatalogRecord.create(id: id, name: handle.name, options: handle.options)
        catalog.apply(record, at: position)
        LogFormat.encode(record, into: &pending)
        pendingRecords += 1
        if catalogDirtySince == nil { catalogDirtySince = position }
        return slot
    }

    // MARK: - Group commit

    /// What a group-commit unit (a batch, a leave) changes, taken before it: what puts the
    /// writer's snapshots, catalog and buffer back when the unit's write or sync fails.
    private struct UndoPoint {
        struct Slot {
            var slot: SnapshotSlot
            var state: SnapshotState
            var clock: LamportClock
            var dirtySince: UInt64?
            var bytesSinceCheckpoint: Int64
        }

        var pending: Int
        var records: Int
        /// Nil when the unit is never rolled back (buffered batches).
        var slots: [Slot]?
        var catalog: Catalog?
        var catalogDirtySince: UInt64?
        /// Snapshots the unit made appear.
        var created: [UInt32] = []
    }

    /// Keeps `slot` as it is in `point`, once a unit (fsync mode only: `point.slots` is nil otherwise).
    private func save(_ slot: SnapshotSlot, in point: inout UndoPoint) {
        guard point.slots != nil, slot.undoEpoch != batchEpoch else { return }
        slot.undoEpoch = batchEpoch
        point.slots?.append(.init(slot: slot, state: slot.state, clock: slot.clock,
                                  dirtySince: slot.dirtySince, bytesSinceCheckpoint: slot.bytesSinceCheckpoint))
    }

    /// Writes and syncs what the unit since `point` encoded; when that fails, undoes the unit and
    /// returns the error (recorded).
    private func syncUnit(undoing point: UndoPoint) -> SnapshotError? {
        do {
            try writePending(sync: true)
            return nil
        } catch {
            undo(point)
            let failure = SnapshotError.writeFailed(error.description)
            record(failure)
            return failure
        }
    }

    private func undoPoint(keepingState: Bool) -> UndoPoint {
        batchEpoch += 1
        return UndoPoint(pending: pending.count, records: pendingRecords,
                         slots: keepingState ? Self.takeBuffer(&undoBuffer) : nil,
                         catalog: nil, catalogDirtySince: catalogDirtySince)
    }

    /// A reusable buffer's storage, moved out (the property is left empty, which allocates
    /// nothing), so that appending to it does not copy.
    private static func takeBuffer<Element>(_ buffer: inout [Element]) -> [Element] {
        var taken: [Element] = []
        swap(&taken, &buffer)
        return taken
    }

    /// Nothing of the unit since `point` counts. What its write or failed sync left in the log
    /// lies past the log's end, overwritten by the next append (`LogWriter`).
    private func undo(_ point: UndoPoint) {
        for saved in point.slots ?? [] {
            saved.slot.state = saved.state
            saved.slot.clock = saved.clock
            saved.slot.dirtySince = saved.dirtySince
            saved.slot.bytesSinceCheckpoint = saved.bytesSinceCheckpoint
            if saved.dirtySince == nil && saved.slot.inFlightSince == nil { dirty.remove(saved.slot.id) }
        }
        for id in point.created {
            slots[id] = nil
            // Its create record never reached the disk: the name is not taken (a create of it
            // again must create it, not answer that it exists; a restart would not know it).
            let name = directory.withLock { entries -> SnapshotName? in
                guard let handle = entries.byID.removeValue(forKey: id) else { return nil }
                if entries.byName[handle.name] === handle { entries.byName[handle.name] = nil }
                return handle.name
            }
            if let name { uncreated[id] = name }
        }
        if let catalog = point.catalog { self.catalog = catalog }
        catalogDirtySince = point.catalogDirtySince
        pending.removeSubrange(point.pending...)
        pendingRecords = point.records
    }

    /// Applies a batch to the states and encodes its records. In `fsync` mode the batch is
    /// written, synced and only then completed; if that fails the states are rolled back and
    /// every submitter is told. Returns false on a write failure.
    @discardableResult
    private func commit(_ batch: [Submission]) -> Bool {
        // A state is kept for a rollback in fsync mode only: a copy shares the alive set's tree,
        // so the batch's first change to each node copies it (buffered mode never rolls back).
        var before = undoPoint(keepingState: durable)
        var applied = Self.takeBuffer(&appliedBuffer)
        var refused: [(Submission, SnapshotError)] = []
        var touchedSlots = Self.takeBuffer(&touchedBuffer)
        defer {
            // Emptied in place (each is the only reference), then kept for the next batch.
            applied.removeAll(keepingCapacity: true)
            appliedBuffer = applied
            touchedSlots.removeAll(keepingCapacity: true)
            touchedBuffer = touchedSlots
            if var slots = before.slots {
                before.slots = nil
                slots.removeAll(keepingCapacity: true)
                undoBuffer = slots
            }
        }
        var index = 0
        while index < batch.count {
            // A run of submissions for one snapshot is applied in one go (a store of one
            // snapshot: the whole batch).
            let id = batch[index].snapshot
            var end = index + 1
            while end < batch.count && batch[end].snapshot == id { end += 1 }
            defer { index = end }
            guard let slot = slots[id] ?? materialize(id, saving: &before) else {
                let failure = missing(id)
                for submission in batch[index..<end] { refused.append((submission, failure)) }
                continue
            }
            // Events never change `leaving` (only a leave item does): a run is all taken or all refused.
            if slot.state.leaving {
                for submission in batch[index..<end] { refused.append((submission, .leaving)) }
                continue
            }
            save(slot, in: &before)
            // The state, clock and buffer are moved into locals for the loop: plain value
            // mutation, instead of an exclusivity check on the writer's properties per record.
            var runState = slot.state, runClock = slot.clock, bytes = pending, records = 0
            slot.state = SnapshotState()
            pending = []
            let start = bytes.count
            for submission in batch[index..<end] {
                for event in submission.events {
                    runState.apply(event, clock: &runClock) { record in
                        LogFormat.encode(record, snapshot: id, into: &bytes)
                        records += 1
                    }
                }
                applied.append(submission)
            }
            slot.state = runState
            slot.clock = runClock
            let added = bytes.count - start
            pending = bytes
            pendingRecords += records
            touched(slot, bytes: added)
            touchedSlots.append(slot)
        }
        for (submission, reason) in refused {
            observer.refused(count: submission.events.count, reason: reason)
            submission.completion?(.failure(reason))
        }
        guard durable else {
            if pending.count >= 1 << 20 { flushBuffered() }
            markDue(touchedSlots)
            publish(touchedSlots)  // the states themselves once they reach the log (flushBuffered)
            return true
        }
        do {
            try writePending(sync: true)
        } catch {
            // Nothing of this batch counts: undo it.
            undo(before)
            let failure = SnapshotError.writeFailed(error.description)
            record(failure)
            for submission in applied where !submission.events.isEmpty {
                observer.refused(count: submission.events.count, reason: failure)
            }
            for submission in applied { submission.completion?(.failure(failure)) }
            return false
        }
        markDue(touchedSlots)
        publish(touchedSlots)
        for submission in applied {
            submission.completion?(.success(Acknowledgement(accepted: submission.events.count, durable: true)))
        }
        return true
    }

    /// Snapshots whose records since their checkpoint passed Go's compaction threshold are due.
    private func markDue(_ touched: [SnapshotSlot]) {
        for slot in touched where slot.bytesSinceCheckpoint > configuration.compactionThreshold(aliveNodes: slot.state.aliveNodes.count) {
            due.insert(slot.id)
        }
    }

    /// Appends `pending` to the log with one write (looping only on short writes) and, when
    /// asked, fdatasyncs it. `pending` changes only when all of it succeeded.
    private func writePending(sync: Bool) throws(FileIOError) {
        let start = log.end
        if !pending.isEmpty {
            let began = DispatchTime.now().uptimeNanoseconds
            try log.append(pending)
            observer.wrote(records: pendingRecords, bytes: pending.count, seconds: Self.seconds(since: began))
        }
        if sync {
            let began = DispatchTime.now().uptimeNanoseconds
            do {
                try log.sync()
            } catch {
                log.rewind(to: start)  // `pending` is kept: the caller undoes its part
                throw error
            }
            observer.synced(seconds: Self.seconds(since: began))
        }
        pending.removeAll(keepingCapacity: true)
        pendingRecords = 0
        pendingSlots.removeAll(keepingCapacity: true)
        lastFlush = .now()
        if lastError != nil && !slots.values.contains(where: \.aheadOfLog) { lastError = nil }
    }

    private func flushBuffered() {
        let written = pendingSlots.compactMap { slots[$0] }
        do {
            try writePending(sync: false)
        } catch {
            // Buffered submitters were answered already; the states are ahead of the log. A
            // checkpoint writes them (Go's recovery, at most every 30 s).
            pending.removeAll(keepingCapacity: true)
            pendingRecords = 0
            pendingSlots.removeAll(keepingCapacity: true)
            for slot in written {
                slot.aheadOfLog = true
                due.insert(slot.id)
            }
            if catalogDirtySince != nil { catalogDirtySince = 0 }
            record(.writeFailed(error.description))
        }
        publish(written)
    }

    private func record(_ error: SnapshotError) {
        lastError = error.description
        observer.failed(error)
        publishStore()
    }

    /// Makes the writer's view readable by other threads. A state is published only when it is
    /// the log's (nothing pending): buffered batches show once written. That also keeps the alive
    /// set's tree unshared between buffered batches: a published copy makes the next batch copy
    /// every node it touches (measured: a sixth of the writer's instructions on member events).
    private func publish(_ touched: [SnapshotSlot]) {
        let showing = pending.isEmpty
        for slot in touched { slot.publish(showingState: showing, compacting: roundIDs.contains(slot.id)) }
        publishStore()
    }

    private func publishStore() {
        let error = lastError, running = round != nil, count = slots.count, completed = rounds
        let logBytes = log.bytes, logEnd = log.end
        status.withLock {
            $0.snapshots = count
            $0.logBytes = logBytes
            $0.logPosition = logEnd
            $0.checkpointRounds = completed
            $0.checkpointing = running
            $0.lastError = error
        }
    }

    // MARK: - Leave and rejoin

    private func leave(_ id: UInt32, _ completion: SubmitCompletion) {
        var before = undoPoint(keepingState: true)
        guard let slot = slots[id] ?? materialize(id, saving: &before) else {
            completion(.failure(missing(id)))
            return
        }
        if slot.state.leaving {
            completion(.success(Acknowledgement(accepted: 0, durable: true)))
            return
        }
        save(slot, in: &before)
        let aliveBefore = slot.aliveAtLeave
        slot.aliveAtLeave = slot.state.aliveNodes
        slot.state.leaving = true
        if !slot.handle.options.rejoinAfterLeave { slot.state.aliveNodes = [:] }
        encode(.leave, for: slot)
        if let failure = syncUnit(undoing: before) {
            slot.aliveAtLeave = aliveBefore
            queue.clearLeaving(id)
            completion(.failure(failure))
            return
        }
        publish([slot])
        completion(.success(Acknowledgement(accepted: 0, durable: true)))
    }

    /// Ends a leave as Go's replay of it does (`SnapshotState.rejoin`). Nothing is written: the
    /// log's last `leave` already replays to exactly this state, so a restart right after it
    /// gives the same answer; records of the new life follow it.
    private func rejoin(_ id: UInt32, _ completion: @Sendable (Result<SnapshotState, SnapshotError>) -> Void) {
        guard let slot = slots[id] else {
            // Known but never written: a snapshot with no records is an empty state.
            if directory.handle(id: id) != nil { completion(.success(SnapshotState())) } else {
                completion(.failure(missing(id)))
            }
            return
        }
        if slot.state.leaving {
            let rejoinAfterLeave = slot.handle.options.rejoinAfterLeave
            slot.aliveAtLeave = nil
            slot.state.rejoin(rejoinAfterLeave: rejoinAfterLeave)
            if !rejoinAfterLeave { slot.clock = LamportClock() }
            publish([slot])
        }
        completion(.success(slot.state))
    }

    // MARK: - Create and delete

    /// A named snapshot made durable: its create record written and synced (in either
    /// durability mode: a created snapshot is promised).
    private func create(_ id: UInt32, _ completion: @Sendable (Result<Void, SnapshotError>) -> Void) {
        if slots[id] != nil {
            completion(.success(()))
            return
        }
        var before = undoPoint(keepingState: true)
        guard let slot = materialize(id, saving: &before) else {
            completion(.failure(missing(id)))
            return
        }
        if let failure = syncUnit(undoing: before) {
            completion(.failure(failure))
            return
        }
        publish([slot])
        completion(.success(()))
    }

    /// Removes a named snapshot durably: its delete record written and synced, then its file
    /// removed (after the checkpoint round in flight, when that is writing it).
    private func delete(_ id: UInt32, _ completion: @escaping @Sendable (Result<Void, SnapshotError>) -> Void) {
        guard let slot = slots[id] else {
            completion(.success(()))  // given an identity, never written: nothing to remove
            return
        }
        if !pending.isEmpty && !durable { flushBuffered() }
        let before = undoPoint(keepingState: false)
        let savedCatalog = catalog, savedDirty = catalogDirtySince
        let position = log.end
        let record = CatalogRecord.delete(id: id)
        LogFormat.encode(record, into: &pending)
        pendingRecords += 1
        catalog.apply(record, at: position)
        if catalogDirtySince == nil { catalogDirtySince = position }
        do {
            try writePending(sync: true)
        } catch {
            undo(before)
            catalog = savedCatalog
            catalogDirtySince = savedDirty
            let failure = SnapshotError.writeFailed(error.description)
            self.record(failure)
            completion(.failure(failure))
            return
        }
        slots[id] = nil
        due.remove(id)
        requested.remove(id)
        dirty.remove(id)
        for waiter in slot.waiters { waiter(.failure(.unknownSnapshot(slot.handle.name.rawValue))) }
        slot.waiters = []
        if roundIDs.contains(id) {
            deletesAfterRound.append((slot, completion))
        } else {
            completion(removeFiles(of: slot))
        }
        publishStore()
    }

    /// Replaces a snapshot's state by an imported one in one durable write: a reset record, then
    /// the records that rebuild the state (what a checkpoint of it would hold).
    private func replace(_ id: UInt32, with imported: SnapshotState, replacing: Bool,
                         _ completion: @Sendable (Result<Void, SnapshotError>) -> Void) {
        if let existing = slots[id], !replacing, Self.hasRecords(existing.state) {
            queue.setLeaving(id, existing.state.leaving)
            completion(.failure(.conflict("the snapshot \"\(existing.handle.name)\" has records: import with ?replace=true to replace them")))
            return
        }
        var before = undoPoint(keepingState: true)
        guard let slot = slots[id] ?? materialize(id, saving: &before) else {
            completion(.failure(.unknownSnapshot("#\(id)")))
            return
        }
        save(slot, in: &before)
        let aliveBefore = slot.aliveAtLeave, wasLeaving = slot.state.leaving
        let start = pending.count
        LogFormat.encode(CatalogRecord.reset(id: id), into: &pending)
        pendingRecords += 1
        touched(slot, bytes: pending.count - start)
        imported.compactedRecords { encode($0, for: slot) }
        slot.state = imported
        slot.aliveAtLeave = nil
        var clock = LamportClock()
        clock.witness(imported.lastClock)
        slot.clock = clock
        if let failure = syncUnit(undoing: before) {
            slot.aliveAtLeave = aliveBefore
            queue.setLeaving(id, wasLeaving)
            completion(.failure(failure))
            return
        }
        markDue([slot])
        publish([slot])
        completion(.success(()))
    }

    /// Whether a state holds anything a snapshot's records made: nodes, clocks or a leave.
    static func hasRecords(_ state: SnapshotState) -> Bool {
        !state.aliveNodes.isEmpty || state.lastClock > 0 || state.lastEventClock > 0 || state.lastQueryClock > 0 || state.leaving
    }

    /// Removes a deleted snapshot's file. The delete is durable already (its record is synced),
    /// so it is answered as done either way; a removal that fails is tried again after each
    /// round and at close (a file left by a stop is removed by the next open, from the record).
    private func removeFiles(of slot: SnapshotSlot) -> Result<Void, SnapshotError> {
        do throws(FileIOError) {
            try io.remove(slot.handle.path)
            try io.remove(layout.temporaryPath(of: slot.handle.name))
            try io.syncDirectory(SnapshotWriter.directory(of: slot.handle.path))
        } catch {
            pendingRemovals.append(slot)
            record(.writeFailed("the snapshot \"\(slot.handle.name)\" is deleted, but its file could not be removed (tried again later): \(error.description)"))
        }
        return .success(())
    }

    /// Tries the removals that failed again, except where a new snapshot of the same name owns the path now.
    private func retryRemovals() {
        guard !pendingRemovals.isEmpty else { return }
        let waiting = pendingRemovals
        pendingRemovals = []
        for slot in waiting where !slots.values.contains(where: { $0.handle.name == slot.handle.name }) {
            _ = removeFiles(of: slot)
        }
    }

    // MARK: - Checkpoints

    private func maybeCheckpoint() {
        guard round == nil, !requested.isEmpty || DispatchTime.now() >= nextCheckpointAttempt else { return }
        let catalogLags = catalogDirtySince.map { log.end - min($0, log.end) > laggardBytes } ?? false
        if !due.isEmpty || catalogLags { startRound() }
    }

    /// Starts a round of checkpoints of the snapshots due (of every snapshot with records no
    /// checkpoint covers, for `everything`), as of the log's end, and of the catalog when it
    /// changed. What is pending is written to the log first, so that the position is exact.
    private func startRound(inBackground: Bool = true, everything: Bool = false) {
        guard round == nil else { return }  // waiters join the next round
        if !pending.isEmpty {
            if durable { _ = commit([]) } else { flushBuffered() }
        }
        let position = log.end
        let ids = everything ? due.union(dirty).union(slots.values.filter { $0.aheadOfLog || $0.checkpointRequested }.map(\.id)) : due
        var items: [CheckpointRound.Item] = []
        for id in ids {
            guard let slot = slots[id] else { continue }
            items.append(.init(id: id, path: slot.handle.path, temporaryPath: layout.temporaryPath(of: slot.handle.name),
                               state: slot.checkpointState, format: slot.handle.options.format))
            slot.inFlightSince = slot.dirtySince
            slot.dirtySince = nil
            roundBytesBefore[id] = slot.fileBytes + slot.bytesSinceCheckpoint
            slot.bytesSinceCheckpoint = 0
            roundWaiters[id] = slot.waiters
            slot.waiters = []
            requested.remove(id)
            roundIDs.insert(id)
        }
        due.subtract(ids)
        guard !items.isEmpty || catalogDirtySince != nil else { return }
        var catalogItem: CheckpointRound.CatalogItem?
        if catalogDirtySince != nil {
            catalogItem = .init(path: layout.catalogPath, bytes: CatalogFile.encode(catalog, position: position))
            catalogInFlightSince = catalogDirtySince
            catalogDirtySince = nil
        }
        // Once the round is durable the log is needed from the first record no checkpoint
        // (this round's included) covers.
        var needed = position
        for id in dirty where !roundIDs.contains(id) {
            if let since = slots[id]?.neededSince { needed = min(needed, since) }
        }
        let running = CheckpointRound(position: position, items: items, catalog: catalogItem,
                                      covered: log.sealedSegments(before: needed))
        round = running
        let queue = self.queue
        running.start(io: io, inBackground: inBackground) { queue.wake() }
        publish(items.compactMap { slots[$0.id] })
    }

    private func finishRound(_ running: CheckpointRound) {
        round = nil
        let results = running.results
        var failure: SnapshotError?
        var finished: [SnapshotSlot] = []
        // Answered once the round's outcome is published: a caller that reads the status after
        // its compaction's answer sees the compaction.
        var answers: [(CheckpointRound.Waiter, Result<CompactionResult, SnapshotError>)] = []
        for item in running.items {
            let waiters = roundWaiters.removeValue(forKey: item.id) ?? []
            let bytesBefore = roundBytesBefore.removeValue(forKey: item.id) ?? 0
            guard let slot = slots[item.id] else { continue }  // deleted meanwhile
            let outcome: Result<CompactionResult, SnapshotError>
            switch results[item.id] ?? .failure(.compactionFailed("checkpoint did not finish")) {
            case .success(let size):
                slot.fileBytes = size
                slot.checkpointPosition = running.position
                slot.inFlightSince = nil
                slot.checkpoints += 1
                slot.aheadOfLog = false
                slot.checkpointRequested = false
                if slot.dirtySince == nil { dirty.remove(slot.id) }
                // Bytes a recovery reads: the checkpoint, and its records logged after the position it covers.
                let result = CompactionResult(bytesBefore: bytesBefore, bytesAfter: size + slot.bytesSinceCheckpoint,
                                              seconds: Self.seconds(since: running.startedAt))
                observer.compacted(result)
                outcome = .success(result)
            case .failure(let error):
                slot.dirtySince = slot.neededSince
                slot.inFlightSince = nil
                slot.bytesSinceCheckpoint += max(0, bytesBefore - slot.fileBytes)
                due.insert(slot.id)
                failure = error
                outcome = .failure(error)
            }
            finished.append(slot)
            for waiter in waiters { answers.append((waiter, outcome)) }
        }
        roundIDs.removeAll()
        if running.catalog != nil {
            if let error = running.catalogError {
                catalogDirtySince = [catalogDirtySince, catalogInFlightSince].compactMap { $0 }.min()
                failure = failure ?? error
            }
            catalogInFlightSince = nil
        }
        if let failure {
            nextCheckpointAttempt = .now() + configuration.compactionRetryInterval
            record(failure)
        } else {
            log.forget(running.covered)
            rounds += 1
            if !slots.values.contains(where: \.aheadOfLog) { lastError = nil }
        }
        for (slot, completion) in deletesAfterRound { completion(removeFiles(of: slot)) }
        deletesAfterRound.removeAll()
        retryRemovals()
        publish(finished)
        for (waiter, outcome) in answers { waiter(outcome) }
    }

    // MARK: - Close

    /// Writes the final clocks and everything pending, then checkpoints all of it and empties
    /// the log: the files a stopped snapshotd leaves are complete snapshot files (a v1 one is
    /// exactly what Go serf opens). When that fails the log stays, and the next open replays it.
    private func finishClose() {
        checkClocks()
        do {
            try writePending(sync: true)
        } catch {
            record(.writeFailed(error.description))
        }
        retryRemovals()
        if !dirty.isEmpty || !due.isEmpty || catalogDirtySince != nil || slots.values.contains(where: { $0.aheadOfLog || $0.checkpointRequested }) {
            startRound(inBackground: false, everything: true)
            if let running = round { finishRound(running) }
        }
        if dirty.isEmpty && catalogDirtySince == nil && !slots.values.contains(where: \.aheadOfLog) {
            do {
                try log.removeAll()
            } catch {
                record(.writeFailed(error.description))
            }
        } else {
            log.close()
        }
        publish(Array(slots.values))
        status.withLock { $0.closed = true }
        let waiters = closeWaiters.withLock { box in
            box.done = true
            defer { box.waiters.removeAll() }
            return box.waiters
        }
        for waiter in waiters { waiter() }
    }

    // MARK: - Helpers

    static func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }
}
