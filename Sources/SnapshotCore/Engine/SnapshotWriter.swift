import DequeModule
import Dispatch
import Foundation
import Synchronization

/// The one writer: it owns the snapshot file and the state, drains the intake queue in
/// batches, encodes every record of a batch into one buffer, writes it with one write(2),
/// syncs once (group commit) and then completes the whole batch. It runs on its own thread,
/// because it blocks on the disk.
final class SnapshotWriter: @unchecked Sendable {
    // Owned by the writer thread alone after `start()`.
    private var fd: Int32
    private var state: SnapshotState
    private var clock: LamportClock
    private var fileBytes: Int64
    /// Encoded records not yet written (buffered mode keeps them up to the flush interval).
    private var pending: [UInt8] = []
    private var pendingRecords = 0
    private var lastFlush = DispatchTime.now()
    private var compaction: Compaction?
    private var compactionWaiters: [Compaction.Waiter] = []
    /// Bytes appended since the running compaction froze its copy of the state.
    private var tail: [UInt8] = []
    private var nextCompactionAttempt = DispatchTime(uptimeNanoseconds: 0)
    /// Set when a failed write may have left bytes past `fileBytes`: they are cut before the
    /// next append, and nothing is appended until that works.
    private var fileDirty = false
    /// Set when buffered records were lost by a failed write: compaction rewrites the file
    /// from the state (Go's recovery, at most every `compactionRetryInterval`).
    private var stateAheadOfFile = false
    /// Set when the directory fsync after compaction's rename failed: the snapshot's name may
    /// not be on disk (a power loss could bring the old file back), so nothing is synced and
    /// acknowledged until a directory fsync has succeeded.
    private var directoryUnsynced = false
    private var compactions = 0
    private var lastError: String?

    let path: String
    let configuration: EngineConfiguration
    let queue: IntakeQueue
    let encoder: any SnapshotEncoder.Type
    private let status: Mutex<EngineStatus>
    private let closeWaiters = Mutex<(done: Bool, waiters: [@Sendable () -> Void])>((false, []))
    private var io: any FileIO { configuration.io }
    private var observer: any EngineObserver { configuration.observer }

    init(path: String, fd: Int32, state: SnapshotState, fileBytes: Int64, encoder: any SnapshotEncoder.Type,
         configuration: EngineConfiguration, queue: IntakeQueue) {
        self.path = path
        self.fd = fd
        self.state = state
        self.fileBytes = fileBytes
        self.encoder = encoder
        self.configuration = configuration
        self.queue = queue
        var clock = LamportClock()
        clock.witness(state.lastClock)  // as Serf does after replaying a snapshot
        self.clock = clock
        var initial = EngineStatus()
        initial.state = state
        initial.fileBytes = fileBytes
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
            let wake = configuration.durability == .buffered && !pending.isEmpty
                ? min(nextTick, lastFlush.uptimeNanoseconds + interval) : nextTick
            let now = DispatchTime.now().uptimeNanoseconds
            let waitSeconds = wake > now ? Double(wake - now) / 1e9 : 0
            let work = queue.take(until: Date(timeIntervalSinceNow: waitSeconds), idleWhenClosing: compaction != nil)
            process(work.items)
            if let compaction, compaction.result != nil { finishCompaction(compaction) }
            let after = DispatchTime.now().uptimeNanoseconds
            if after >= nextTick {
                // Go checks the clock every 500 ms as well as after member events.
                state.checkClock(clock) { encode($0) }
                nextTick = after + interval
            }
            if configuration.durability == .buffered && !pending.isEmpty
                && after >= lastFlush.uptimeNanoseconds + interval {
                flushBuffered()
            } else if configuration.durability == .fsync && !pending.isEmpty {
                _ = commit([])
            }
            if !work.closing { maybeCompact() }
            if work.closing && compaction == nil {
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
                compactionWaiters.append(completion)
                startCompaction()
            }
        }
        if !batch.isEmpty { _ = commit(batch) }
    }

    private func encode(_ record: SnapshotRecord) {
        let before = pending.count
        encoder.encode(record, into: &pending)
        pendingRecords += 1
        if compaction != nil { tail.append(contentsOf: pending[before...]) }
    }

    // MARK: - Group commit

    /// Applies a batch to the state and writes its records. In `fsync` mode the batch is
    /// written, synced and only then completed; if that fails the state and the file are
    /// rolled back and every submitter is told. Returns false on a write failure.
    @discardableResult
    private func commit(_ batch: [Submission]) -> Bool {
        // The state is kept for a rollback in fsync mode only: a copy shares the alive set's
        // tree, so the batch's first change to each node copies it (buffered mode never rolls back).
        let before = undoPoint(keepingState: configuration.durability == .fsync)
        // Events never change `leaving` (only a leave item does): a batch is all taken or all refused.
        let applied = state.leaving ? [] : batch
        let refused = state.leaving ? batch : []
        if !applied.isEmpty {
            // The state, clock and buffer are moved into locals for the loop: plain value
            // mutation, instead of an exclusivity check on the writer's properties per record.
            var batchState = state, batchClock = clock, bytes = pending, records = 0
            state = SnapshotState()
            pending = []
            let encoder = self.encoder
            for submission in applied {
                for event in submission.events {
                    batchState.apply(event, clock: &batchClock) { record in
                        encoder.encode(record, into: &bytes)
                        records += 1
                    }
                }
            }
            if compaction != nil { tail.append(contentsOf: bytes[before.pending...]) }
            state = batchState
            clock = batchClock
            pending = bytes
            pendingRecords += records
        }
        for submission in refused {
            observer.refused(count: submission.events.count, reason: .leaving)
            submission.completion?(.failure(.leaving))
        }
        switch configuration.durability {
        case .buffered:
            if pending.count >= 1 << 20 { flushBuffered() }
            publish()  // the state itself once it reaches the file (flushBuffered)
            return true
        case .fsync:
            do {
                try writePending(sync: true)
            } catch {
                // Nothing of this batch counts: undo it in memory and on disk.
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
    }

    /// Writes `pending` with one write(2) (looping only on short writes) and, when asked,
    /// fdatasyncs it. `fileBytes` and `pending` change only when all of it succeeded, so a
    /// failure leaves them describing the last good file.
    private func writePending(sync: Bool) throws(FileIOError) {
        if sync && directoryUnsynced {
            try io.syncDirectory(Self.directory(of: path))
            directoryUnsynced = false
        }
        if fileDirty {
            try io.truncate(fd, to: fileBytes, path: path)
            fileDirty = false
        }
        if !pending.isEmpty {
            let start = DispatchTime.now().uptimeNanoseconds
            fileDirty = true  // until the write is whole
            try io.writeAll(fd, pending, path: path)
            observer.wrote(records: pendingRecords, bytes: pending.count, seconds: Self.seconds(since: start))
        }
        if sync {
            let start = DispatchTime.now().uptimeNanoseconds
            try io.dataSync(fd, path: path)
            observer.synced(seconds: Self.seconds(since: start))
        }
        fileDirty = false
        fileBytes += Int64(pending.count)
        pending.removeAll(keepingCapacity: true)
        pendingRecords = 0
        lastFlush = .now()
        if lastError != nil && !stateAheadOfFile { lastError = nil }
    }

    /// What a group-commit unit (a batch, a leave) changes, taken before it: one value that puts
    /// the writer's state, clock, buffers and file back when the unit's write or sync fails.
    private struct UndoPoint {
        /// Nil when the unit is never rolled back (buffered batches).
        var state: SnapshotState?
        var clock: LamportClock
        var pending: Int
        var records: Int
        var tail: Int
    }

    private func undoPoint(keepingState: Bool) -> UndoPoint {
        UndoPoint(state: keepingState ? state : nil, clock: clock, pending: pending.count, records: pendingRecords, tail: tail.count)
    }

    /// Nothing of the unit since `point` counts: undone in memory and on disk.
    private func undo(_ point: UndoPoint) {
        if let before = point.state { state = before }
        clock = point.clock
        pending.removeSubrange(point.pending...)
        pendingRecords = point.records
        if compaction != nil { tail.removeSubrange(point.tail...) }
        rollBackFile()
    }

    /// After a failed write: cut the file back to its last good length.
    private func rollBackFile() {
        do {
            let size = try io.size(fd, path: path)
            if size != fileBytes { try io.truncate(fd, to: fileBytes, path: path) }
            fileDirty = false
        } catch {
            fileDirty = true
        }
    }

    private func flushBuffered() {
        do {
            try writePending(sync: false)
        } catch {
            // Buffered submitters were answered already; the state is ahead of the file.
            // Compaction rewrites the file from the state (Go's recovery, at most every 30 s).
            pending.removeAll(keepingCapacity: true)
            pendingRecords = 0
            rollBackFile()
            stateAheadOfFile = true
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
    /// is the file's (nothing pending): buffered batches show once written. That also keeps
    /// the alive set's tree unshared between buffered batches: a published copy makes the next
    /// batch copy every node it touches (measured: a sixth of the writer's instructions on member events).
    private func publish() {
        let snapshot = pending.isEmpty ? state : nil, bytes = fileBytes, count = compactions
        let error = lastError, compacting = compaction != nil
        status.withLock {
            if let snapshot { $0.state = snapshot }
            $0.fileBytes = bytes
            $0.compactions = count
            $0.lastError = error
            $0.compacting = compacting
        }
    }

    // MARK: - Leave

    private func leave(_ completion: SubmitCompletion) {
        if state.leaving {
            completion(.success(Acknowledgement(accepted: 0, durable: true)))
            return
        }
        let before = undoPoint(keepingState: true)
        state.leaving = true
        if !configuration.rejoinAfterLeave { state.aliveNodes = [:] }
        encode(.leave)
        do {
            try writePending(sync: true)
        } catch {
            undo(before)
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
    /// file's last `leave` already replays to exactly this state, so a restart right after it
    /// gives the same answer; records of the new life follow it in the file.
    private func rejoin(_ completion: @Sendable (Result<SnapshotState, SnapshotError>) -> Void) {
        if state.leaving {
            state.rejoin(rejoinAfterLeave: configuration.rejoinAfterLeave)
            if !configuration.rejoinAfterLeave { clock = LamportClock() }
            publish()
        }
        completion(.success(state))
    }

    // MARK: - Compaction

    private func maybeCompact() {
        guard compaction == nil, DispatchTime.now() >= nextCompactionAttempt else { return }
        let size = fileBytes + Int64(pending.count)
        if stateAheadOfFile || size > configuration.compactionThreshold(aliveNodes: state.aliveNodes.count) {
            startCompaction()
        }
    }

    private func startCompaction() {
        guard compaction == nil else { return }  // waiters join the one in flight
        let running = Compaction(temporaryPath: path + ".compact", bytesBefore: fileBytes + Int64(pending.count))
        compaction = running
        tail.removeAll(keepingCapacity: true)
        let queue = self.queue
        running.start(state: state, format: encoder.format, io: io) { queue.wake() }
        publish()
    }

    private func finishCompaction(_ running: Compaction) {
        compaction = nil
        let waiters = compactionWaiters
        compactionWaiters.removeAll()
        let outcome: Result<CompactionResult, SnapshotError>
        switch running.result {
        case .success(let (newFD, size)):
            outcome = install(newFD: newFD, size: size, running: running)
        case .failure(let error):
            outcome = .failure(error)
        case nil:
            outcome = .failure(.compactionFailed("compaction did not finish"))
        }
        tail.removeAll(keepingCapacity: true)
        switch outcome {
        case .success(let result):
            compactions += 1
            stateAheadOfFile = false
            fileDirty = false
            if !directoryUnsynced { lastError = nil }
            observer.compacted(result)
        case .failure(let error):
            nextCompactionAttempt = .now() + configuration.compactionRetryInterval
            record(error)
        }
        publish()
        for waiter in waiters { waiter(outcome) }
    }

    /// Appends what arrived during the compaction to the new file, syncs it, renames it over
    /// the snapshot (atomically: there is never a moment without a complete snapshot at
    /// `path`), syncs the directory, and switches the writer to it.
    private func install(newFD: Int32, size: Int64, running: Compaction) -> Result<CompactionResult, SnapshotError> {
        let temporaryPath = running.temporaryPath
        do {
            // The compactor synced what it wrote; only a tail needs another sync.
            if !tail.isEmpty {
                try io.writeAll(newFD, tail, path: temporaryPath)
                try io.sync(newFD, path: temporaryPath)
            }
            try io.rename(temporaryPath, path)
        } catch {
            io.close(newFD)
            try? io.remove(temporaryPath)
            return .failure(.compactionFailed(error.description))
        }
        // The rename happened: the new file is the snapshot, whatever follows.
        io.close(fd)
        fd = newFD
        fileBytes = size + Int64(tail.count)
        // Everything pending is in the new file already: in the frozen state or in the tail.
        pending.removeAll(keepingCapacity: true)
        pendingRecords = 0
        do {
            try io.syncDirectory(Self.directory(of: path))
            directoryUnsynced = false
        } catch {
            directoryUnsynced = true  // tried again before the next sync (writePending)
            record(.compactionFailed(error.description))
        }
        let seconds = Self.seconds(since: running.startedAt)
        return .success(CompactionResult(bytesBefore: running.bytesBefore, bytesAfter: fileBytes, seconds: seconds))
    }

    // MARK: - Close

    private func finishClose() {
        state.checkClock(clock) { encode($0) }
        do {
            try writePending(sync: true)
        } catch {
            record(.writeFailed(error.description))
        }
        io.close(fd)
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
