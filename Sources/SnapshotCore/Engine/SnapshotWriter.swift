import DequeModule
import HashTreeCollections
import Dispatch
import Foundation
import Synchronization

/// The one writer: it owns the write-ahead log and the state, drains the intake queue in
/// batches, encodes every record of a batch into one buffer, appends it to the log with one
/// write, syncs once (group commit) and then completes the whole batch. Checkpoints (the
/// snapshot file, written from a copy of the state) run beside it, off the acknowledgement
/// path. It runs on its own thread, because it blocks on the disk.
final class SnapshotWriter: @unchecked Sendable {
    /// The snapshot's identity in the log's records (one snapshot, the default, for now).
    static let snapshotID: UInt32 = 0

    // Owned by the writer thread alone after `start()`.
    private let log: LogWriter
    private var state: SnapshotState
    private var clock: LamportClock
    /// Bytes of the snapshot file, as the last checkpoint wrote it.
    private var fileBytes: Int64
    /// The log position the last durable checkpoint covers.
    private var checkpointPosition: UInt64
    /// Encoded log records not yet written (buffered mode keeps them up to the flush interval).
    private var pending: [UInt8] = []
    private var pendingRecords = 0
    private var lastFlush = DispatchTime.now()
    private var checkpoint: Checkpoint?
    private var checkpointWaiters: [Checkpoint.Waiter] = []
    private var nextCheckpointAttempt = DispatchTime(uptimeNanoseconds: 0)
    /// Set when buffered records were lost by a failed write: the next checkpoint writes them
    /// from the state (Go's recovery, at most every `compactionRetryInterval`).
    private var stateAheadOfLog = false
    /// Set when the log read back at open had damage: a checkpoint past it soon lets its
    /// segments (copied aside) go, instead of copying them again at every open.
    private var checkpointRequested: Bool
    private var checkpoints = 0
    /// The alive set when the agent left (the state's is cleared, unless rejoin-after-leave):
    /// a checkpoint of a leaving snapshot writes it before its `leave`, as the log holds them,
    /// so that a restart with rejoin-after-leave still finds the nodes (Go's file keeps them too).
    private var aliveAtLeave: TreeDictionary<String, String>?
    private var lastError: String?

    let path: String
    let configuration: EngineConfiguration
    /// Chosen once, at open: a unit (a batch, a leave) is answered after its fdatasync and undone
    /// when that fails (`fsync`), or answered on admission and written at the flush interval
    /// (`buffered`, never undone).
    private let durable: Bool
    let queue: IntakeQueue
    /// The snapshot file's format (the log's records are always `LogFormat`'s).
    let format: SnapshotFormat
    private let status: Mutex<EngineStatus>
    private let closeWaiters = Mutex<(done: Bool, waiters: [@Sendable () -> Void])>((false, []))
    private var io: any FileIO { configuration.io }
    private var observer: any EngineObserver { configuration.observer }

    init(path: String, log: LogWriter, checkpointPosition: UInt64, state: SnapshotState, fileBytes: Int64,
         format: SnapshotFormat, configuration: EngineConfiguration, queue: IntakeQueue, checkpointAtStart: Bool) {
        self.checkpointRequested = checkpointAtStart
        self.path = path
        self.log = log
        self.checkpointPosition = checkpointPosition
        self.state = state
        self.fileBytes = fileBytes
        self.format = format
        self.configuration = configuration
        self.durable = configuration.durability == .fsync
        self.queue = queue
        var clock = LamportClock()
        clock.witness(state.lastClock)  // as Serf does after replaying a snapshot
        self.clock = clock
        var initial = EngineStatus()
        initial.state = state
        initial.fileBytes = fileBytes
        initial.logBytes = log.bytes
        initial.logPosition = log.end
        initial.checkpointPosition = checkpointPosition
        self.status = Mutex(initial)
        pending.reserveCapacity(1 << 16)
    }

    var currentStatus: EngineStatus { status.withLock { $0 } }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "snapshot-writer"
        thread.start()
    }

    /// Calls `completion` once the writer has written everything and closed the file.
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
        while true {
            let wake = !durable && !pending.isEmpty
                ? min(nextTick, lastFlush.uptimeNanoseconds + interval) : nextTick
            let now = DispatchTime.now().uptimeNanoseconds
            let waitSeconds = wake > now ? Double(wake - now) / 1e9 : 0
            let work = queue.take(until: Date(timeIntervalSinceNow: waitSeconds), idleWhenClosing: checkpoint != nil)
            process(work.items)
            if let checkpoint, checkpoint.result != nil { finishCheckpoint(checkpoint) }
            let after = DispatchTime.now().uptimeNanoseconds
            if after >= nextTick {
                // Go checks the clock every 500 ms as well as after member events.
                state.checkClock(clock) { encode($0) }
                nextTick = after + interval
            }
            if !durable && !pending.isEmpty && after >= lastFlush.uptimeNanoseconds + interval {
                flushBuffered()
            } else if durable && !pending.isEmpty {
                _ = commit([])
            }
            if !work.closing { maybeCheckpoint() }
            if work.closing && checkpoint == nil {
                finishClose()
                return
            }
        }
    }

    private func process(_ items: Deque<WorkItem>) {
        var batch: [Submission] = []
        for item in items {
            switch item {
            case .events(let submission):
                batch.append(submission)
            case .leave(let completion):
                if !batch.isEmpty { _ = commit(batch); batch.removeAll() }
                leave(completion)
            case .rejoin(let completion):
                if !batch.isEmpty { _ = commit(batch); batch.removeAll() }
                rejoin(completion)
            case .compact(let completion):
                if !batch.isEmpty { _ = commit(batch); batch.removeAll() }
                checkpointWaiters.append(completion)
                startCheckpoint()
            }
        }
        if !batch.isEmpty { _ = commit(batch) }
    }

    private func encode(_ record: SnapshotRecord) {
        LogFormat.encode(record, snapshot: Self.snapshotID, into: &pending)
        pendingRecords += 1
    }

    // MARK: - Group commit

    /// Applies a batch to the state and encodes its records. In `fsync` mode the batch is
    /// written, synced and only then completed; if that fails the state is rolled back and
    /// every submitter is told. Returns false on a write failure.
    @discardableResult
    private func commit(_ batch: [Submission]) -> Bool {
        // The state is kept for a rollback in fsync mode only: a copy shares the alive set's
        // tree, so the batch's first change to each node copies it (buffered mode never rolls back).
        let before = undoPoint(keepingState: durable)
        // Events never change `leaving` (only a leave item does): a batch is all taken or all refused.
        let applied = state.leaving ? [] : batch
        let refused = state.leaving ? batch : []
        if !applied.isEmpty {
            // The state, clock and buffer are moved into locals for the loop: plain value
            // mutation, instead of an exclusivity check on the writer's properties per record.
            var batchState = state, batchClock = clock, bytes = pending, records = 0
            state = SnapshotState()
            pending = []
            let snapshot = Self.snapshotID
            for submission in applied {
                for event in submission.events {
                    batchState.apply(event, clock: &batchClock) { record in
                        LogFormat.encode(record, snapshot: snapshot, into: &bytes)
                        records += 1
                    }
                }
            }
            state = batchState
            clock = batchClock
            pending = bytes
            pendingRecords += records
        }
        for submission in refused {
            observer.refused(count: submission.events.count, reason: .leaving)
            submission.completion?(.failure(.leaving))
        }
        guard durable else {
            if pending.count >= 1 << 20 { flushBuffered() }
            publish()  // the state itself once it reaches the log (flushBuffered)
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
        publish()
        for submission in applied {
            submission.completion?(.success(Acknowledgement(accepted: submission.events.count, durable: true)))
        }
        return true
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
        lastFlush = .now()
        if lastError != nil && !stateAheadOfLog { lastError = nil }
    }

    /// What a group-commit unit (a batch, a leave) changes, taken before it: one value that puts
    /// the writer's state, clock and buffer back when the unit's write or sync fails.
    private struct UndoPoint {
        /// Nil when the unit is never rolled back (buffered batches).
        var state: SnapshotState?
        var clock: LamportClock
        var pending: Int
        var records: Int
    }

    private func undoPoint(keepingState: Bool) -> UndoPoint {
        UndoPoint(state: keepingState ? state : nil, clock: clock, pending: pending.count, records: pendingRecords)
    }

    /// Nothing of the unit since `point` counts. What its write or failed sync left in the log
    /// lies past the log's end, overwritten by the next append (`LogWriter`).
    private func undo(_ point: UndoPoint) {
        if let before = point.state { state = before }
        clock = point.clock
        pending.removeSubrange(point.pending...)
        pendingRecords = point.records
    }

    private func flushBuffered() {
        do {
            try writePending(sync: false)
        } catch {
            // Buffered submitters were answered already; the state is ahead of the log. A
            // checkpoint writes the state (Go's recovery, at most every 30 s).
            pending.removeAll(keepingCapacity: true)
            pendingRecords = 0
            stateAheadOfLog = true
            record(.writeFailed(error.description))
        }
        publish()
    }

    private func record(_ error: SnapshotError) {
        lastError = error.description
        observer.failed(error)
        publish()
    }

    /// Makes the writer's view readable by other threads. The state is published only when it
    /// is the log's (nothing pending): buffered batches show once written. That also keeps
    /// the alive set's tree unshared between buffered batches: a published copy makes the next
    /// batch copy every node it touches (measured: a sixth of the writer's instructions on member events).
    private func publish() {
        let snapshot = pending.isEmpty ? state : nil, bytes = fileBytes, count = checkpoints
        let error = lastError, running = checkpoint != nil
        let logBytes = log.bytes, logEnd = log.end, covered = checkpointPosition
        status.withLock {
            if let snapshot { $0.state = snapshot }
            $0.fileBytes = bytes
            $0.logBytes = logBytes
            $0.logPosition = logEnd
            $0.checkpointPosition = covered
            $0.compactions = count
            $0.lastError = error
            $0.compacting = running
        }
    }

    // MARK: - Leave

    private func leave(_ completion: SubmitCompletion) {
        if state.leaving {
            completion(.success(Acknowledgement(accepted: 0, durable: true)))
            return
        }
        let before = undoPoint(keepingState: true)
        aliveAtLeave = state.aliveNodes
        state.leaving = true
        if !configuration.rejoinAfterLeave { state.aliveNodes = [:] }
        encode(.leave)
        do {
            try writePending(sync: true)
        } catch {
            undo(before)
            aliveAtLeave = nil
            queue.clearLeaving()
            let failure = SnapshotError.writeFailed(error.description)
            record(failure)
            completion(.failure(failure))
            return
        }
        publish()
        completion(.success(Acknowledgement(accepted: 0, durable: true)))
    }

    /// Ends a leave as Go's replay of it does (`SnapshotState.rejoin`). Nothing is written: the
    /// log's last `leave` already replays to exactly this state, so a restart right after it
    /// gives the same answer; records of the new life follow it.
    private func rejoin(_ completion: @Sendable (Result<SnapshotState, SnapshotError>) -> Void) {
        if state.leaving {
            aliveAtLeave = nil
            state.rejoin(rejoinAfterLeave: configuration.rejoinAfterLeave)
            if !configuration.rejoinAfterLeave { clock = LamportClock() }
            publish()
        }
        completion(.success(state))
    }

    // MARK: - Checkpoints

    private func maybeCheckpoint() {
        guard checkpoint == nil, DispatchTime.now() >= nextCheckpointAttempt else { return }
        let sinceCheckpoint = Int64(log.end - checkpointPosition) + Int64(pending.count)
        if stateAheadOfLog || checkpointRequested || sinceCheckpoint > configuration.compactionThreshold(aliveNodes: state.aliveNodes.count) {
            startCheckpoint()
        }
    }

    /// Starts a checkpoint of the state as of the log's end (joined by later waiters while it
    /// runs). What is pending is written to the log first, so that the position is exact.
    private func startCheckpoint(inBackground: Bool = true) {
        guard checkpoint == nil else { return }  // waiters join the one in flight
        if !pending.isEmpty {
            if durable { _ = commit([]) } else { flushBuffered() }
        }
        let position = log.end
        let running = Checkpoint(path: path, position: position, covered: log.sealedSegments(before: position),
                                 bytesBefore: fileBytes + Int64(position - checkpointPosition))
        checkpoint = running
        var frozen = state
        if frozen.leaving, let alive = aliveAtLeave { frozen.aliveNodes = alive }
        let queue = self.queue
        running.start(state: frozen, format: format, io: io, inBackground: inBackground) { queue.wake() }
        publish()
    }

    private func finishCheckpoint(_ running: Checkpoint) {
        checkpoint = nil
        let waiters = checkpointWaiters
        checkpointWaiters.removeAll()
        let outcome: Result<CompactionResult, SnapshotError>
        switch running.result {
        case .success(let written):
            fileBytes = written.size
            checkpointPosition = running.position
            log.forget(running.covered)
            checkpoints += 1
            stateAheadOfLog = false
            checkpointRequested = false
            lastError = nil
            // Bytes a recovery reads: the checkpoint, and the log after the position it covers.
            let result = CompactionResult(bytesBefore: running.bytesBefore, bytesAfter: fileBytes + Int64(log.end - checkpointPosition),
                                          seconds: Self.seconds(since: running.startedAt))
            observer.compacted(result)
            outcome = .success(result)
        case .failure(let error):
            nextCheckpointAttempt = .now() + configuration.compactionRetryInterval
            record(error)
            outcome = .failure(error)
        case nil:
            outcome = .failure(.compactionFailed("checkpoint did not finish"))
        }
        publish()
        for waiter in waiters { waiter(outcome) }
    }

    // MARK: - Close

    /// Writes the final clock and everything pending, then checkpoints all of it and empties
    /// the log: the files a stopped snapshotd leaves are complete snapshot files (a v1 one is
    /// exactly what Go serf opens). When that fails the log stays, and the next open replays it.
    private func finishClose() {
        state.checkClock(clock) { encode($0) }
        do {
            try writePending(sync: true)
        } catch {
            record(.writeFailed(error.description))
        }
        if log.end != checkpointPosition || stateAheadOfLog || checkpointRequested {
            startCheckpoint(inBackground: false)
            if let running = checkpoint { finishCheckpoint(running) }
        }
        if checkpointPosition == log.end && !stateAheadOfLog {
            do {
                try log.removeAll()
            } catch {
                record(.writeFailed(error.description))
            }
        } else {
            log.close()
        }
        publish()
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
