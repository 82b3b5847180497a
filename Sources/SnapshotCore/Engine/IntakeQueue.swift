import DequeModule
import Dispatch
import Foundation

/// The completion of a submission: called once, on an engine thread or the submitter's.
public typealias SubmitCompletion = @Sendable (Result<Acknowledgement, SnapshotError>) -> Void

/// A batch of events handed to the engine by one submitter, for one snapshot.
struct Submission: Sendable {
    /// The snapshot's identity (`SnapshotWriter.defaultID` for `default`).
    let snapshot: UInt32
    let events: [SnapshotEvent]
    /// Nil once the submitter has been answered (buffered mode answers on admission).
    let completion: SubmitCompletion?
}

/// One unit of work for the writer, in submission order.
enum WorkItem: Sendable {
    case events(Submission)
    case leave(UInt32, SubmitCompletion)
    /// The agent's new life after a leave; answered with the state to rejoin with.
    case rejoin(UInt32, @Sendable (Result<SnapshotState, SnapshotError>) -> Void)
    case compact(UInt32, @Sendable (Result<CompactionResult, SnapshotError>) -> Void)
    /// A named snapshot made durable (its create record synced) before it is answered.
    case create(UInt32, @Sendable (Result<Void, SnapshotError>) -> Void)
    /// A named snapshot removed: its delete record synced, then its file removed.
    case delete(UInt32, @Sendable (Result<Void, SnapshotError>) -> Void)
    /// The snapshot's state replaced by an imported one (refused when it has records, unless
    /// `replacing`), durably: answered once synced.
    case replace(UInt32, SnapshotState, replacing: Bool, @Sendable (Result<Void, SnapshotError>) -> Void)
}

/// What the writer takes from the queue in one go.
struct TakenWork {
    var items = Deque<WorkItem>()
    var closing = false
}

/// The bounded intake queue between submitters and the one writer, shared by every snapshot of
/// a store. Submitters never block: when there is no room a submission is parked until space
/// frees or its deadline passes (then it is refused with `.queueFull`). Capacity counts events;
/// a submission larger than the whole capacity is admitted when the queue is empty, so it cannot
/// wait forever.
///
/// Fairness between snapshots: the last eighth of the capacity (`reserve`) only admits a
/// snapshot with nothing queued, so a flood from any number of snapshots never takes the room a
/// quiet one needs; parked submissions wait per snapshot (each snapshot's in order) and are
/// admitted round-robin between snapshots. A flooder's submissions park and time out (503), not
/// the quiet one's.
final class IntakeQueue: @unchecked Sendable {
    private struct Parked {
        var submission: Submission
        var deadline: DispatchTime
    }

    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var items = Deque<WorkItem>()
    /// Events queued, in all, and by snapshot (only snapshots with events queued are keys).
    private var depth = 0
    private var depths: [UInt32: Int] = [:]
    private var parked: [UInt32: Deque<Parked>] = [:]
    /// Snapshots with parked submissions, in the order they are offered room.
    private var parkedOrder = Deque<UInt32>()
    private var parkedTotal = 0
    /// One timer refuses parked submissions whose deadline passed; armed for the earliest
    /// finite deadline (a timer for each parked submission costs more than parking itself).
    private var expiryTimer: (any DispatchSourceTimer)?
    private var timerArmedFor: DispatchTime?
    private var closing = false
    private var leaving: Set<UInt32>
    private var wakeups = 0
    /// Control items queued (they are taken at once, whatever the depth).
    private var controlItems = 0
    /// A submission found no room since the writer last took: it takes at once, whatever the depth.
    private var spaceWanted = false

    let capacity: Int
    /// Room only a snapshot with nothing queued may take.
    let reserve: Int
    /// Buffered mode answers a submission when it is admitted.
    let answersOnAdmission: Bool
    /// Events queued before an admission wakes the writer. In fsync mode every submitter
    /// waits for the writer, so the first event wakes it. In buffered mode nobody waits: the
    /// writer is woken once a quarter of the queue has filled (or by its flush timer), so that
    /// it takes batches instead of being woken, at a futex call each, for every event
    /// (measured: user events 2.1M/s woken each time).
    let wakeDepth: Int
    let observer: any EngineObserver

    init(capacity: Int, answersOnAdmission: Bool, leaving: Set<UInt32>, observer: any EngineObserver) {
        self.capacity = max(1, capacity)
        self.reserve = self.capacity / 8
        self.answersOnAdmission = answersOnAdmission
        self.wakeDepth = answersOnAdmission ? max(1, self.capacity / 4) : 1
        self.leaving = leaving
        self.observer = observer
    }

    /// Events admitted and not yet taken by the writer.
    var currentDepth: Int { condition.withLock { depth } }

    /// Submissions waiting for space.
    var parkedCount: Int { condition.withLock { parkedTotal } }

    func submit(_ events: [SnapshotEvent], to snapshot: UInt32, deadline: DispatchTime, completion: @escaping SubmitCompletion) {
        var refusal: SnapshotError?
        var admitted: Submission?
        var wakeWriter = false
        let submission = Submission(snapshot: snapshot, events: events, completion: completion)
        condition.lock()
        if closing {
            refusal = .closed
        } else if leaving.contains(snapshot) {
            refusal = .leaving
        } else if parked[snapshot] == nil && fits(events.count, snapshot: snapshot) {
            admitted = admit(submission)
            wakeWriter = !answersOnAdmission || depth >= wakeDepth
        } else {
            // No room: the writer must take what is queued now, however little.
            spaceWanted = true
            wakeWriter = true
            if deadline <= .now() {
                refusal = .queueFull
            } else {
                park(Parked(submission: submission, deadline: deadline))
                armExpiry(for: deadline)
            }
        }
        condition.unlock()
        // Signalled after unlocking, so that the writer does not wake only to wait for the lock.
        if wakeWriter { condition.signal() }
        if let refusal {
            observer.refused(count: events.count, reason: refusal)
            completion(.failure(refusal))
        } else if let admitted {
            answerOnAdmission(admitted, original: completion)
        }
    }

    /// Queues a control item (leave, rejoin, compact, create, delete). Control items do not
    /// count against capacity. Events admitted after a rejoin are queued behind it, so the
    /// writer records them in the new life.
    func enqueue(_ item: WorkItem) -> SnapshotError? {
        condition.lock()
        defer { condition.unlock() }
        if closing { return .closed }
        switch item {
        case .leave(let snapshot, _): leaving.insert(snapshot)
        case .rejoin(let snapshot, _), .delete(let snapshot, _): leaving.remove(snapshot)
        case .replace(let snapshot, let state, _, _):
            // Events after it are refused when the imported state is leaving (the writer refuses
            // them too, should the import itself be refused).
            if state.leaving { leaving.insert(snapshot) } else { leaving.remove(snapshot) }
        case .events, .compact, .create: break
        }
        items.append(item)
        controlItems += 1
        condition.signal()
        return nil
    }

    /// A leave that failed to reach the disk: events are accepted again.
    func clearLeaving(_ snapshot: UInt32) {
        condition.withLock { _ = leaving.remove(snapshot) }
    }

    /// Whether events to `snapshot` are refused as leaving (a replace that did not happen).
    func setLeaving(_ snapshot: UInt32, _ isLeaving: Bool) {
        condition.withLock {
            if isLeaving { leaving.insert(snapshot) } else { leaving.remove(snapshot) }
        }
    }

    /// Stops intake. Parked submissions are admitted (they will be written); returns false
    /// when the queue was already closing.
    @discardableResult
    func close() -> Bool {
        var admittedNow: [(Submission, SubmitCompletion?)] = []
        condition.lock()
        let first = !closing
        closing = true
        while let snapshot = parkedOrder.popFirst() {
            for entry in parked.removeValue(forKey: snapshot) ?? [] {
                admittedNow.append((admit(entry.submission), entry.submission.completion))
            }
        }
        parkedTotal = 0
        expiryTimer?.cancel()
        expiryTimer = nil
        timerArmedFor = nil
        condition.signal()
        condition.unlock()
        for (submission, original) in admittedNow { answerOnAdmission(submission, original: original) }
        return first
    }

    /// Wakes the writer (a checkpoint finished).
    func wake() {
        condition.withLock {
            wakeups += 1
            condition.signal()
        }
    }

    /// The writer's side: waits until there is work, a wake-up, closing, or `deadline`, then
    /// takes every queued item and admits parked submissions into the space it freed.
    /// `idleWhenClosing`: the writer still waits for a checkpoint, so it sleeps even when closing.
    func take(until deadline: Date, idleWhenClosing: Bool) -> TakenWork {
        var work = TakenWork()
        work.closing = take(until: deadline, idleWhenClosing: idleWhenClosing, into: &work.items)
        return work
    }

    /// `take(until:idleWhenClosing:)` into `taken`, which must be empty: its storage becomes
    /// the queue's, so a writer that hands back the deque it emptied makes no allocation here.
    /// Returns whether the queue is closing and empty.
    func take(until deadline: Date, idleWhenClosing: Bool, into taken: inout Deque<WorkItem>) -> Bool {
        precondition(taken.isEmpty, "take(into:) needs an empty deque")
        condition.lock()
        // Buffered mode lets events gather up to `wakeDepth` (or the deadline, the writer's
        // flush timer): taking each as it comes keeps the writer on the lock submitters use.
        func enoughWork() -> Bool {
            !items.isEmpty && (!answersOnAdmission || depth >= wakeDepth || controlItems > 0 || spaceWanted || parkedTotal > 0)
        }
        while !enoughWork() && wakeups == 0 && (!closing || idleWhenClosing) {
            if !condition.wait(until: deadline) { break }
        }
        wakeups = 0
        controlItems = 0
        spaceWanted = false
        // Swapped out, not copied: the lock is held for O(1), not for a retain per item
        // while submitters wait on it (measured: 6x the context switches with a copy).
        swap(&taken, &items)
        depth = 0
        if !depths.isEmpty { depths.removeAll(keepingCapacity: true) }
        let admittedNow = admitParkedThatFit()
        let closingNow = closing && items.isEmpty && parkedTotal == 0
        condition.unlock()
        for (submission, original) in admittedNow { answerOnAdmission(submission, original: original) }
        return closingNow
    }

    // MARK: - Private (condition held unless said otherwise)

    private func park(_ entry: Parked) {
        let snapshot = entry.submission.snapshot
        if parked[snapshot] == nil { parkedOrder.append(snapshot) }
        parked[snapshot, default: []].append(entry)
        parkedTotal += 1
    }

    /// Admits parked submissions while one fits: each snapshot's in order, the snapshots in
    /// turn (one submission each a round), so that one snapshot's backlog does not go first.
    private func admitParkedThatFit() -> [(Submission, SubmitCompletion?)] {
        var admittedNow: [(Submission, SubmitCompletion?)] = []
        var progress = true
        while progress && !parkedOrder.isEmpty {
            progress = false
            for _ in 0..<parkedOrder.count {
                let snapshot = parkedOrder.removeFirst()
                guard var waiting = parked[snapshot], let first = waiting.first else { continue }
                if fits(first.submission.events.count, snapshot: snapshot) {
                    waiting.removeFirst()
                    parkedTotal -= 1
                    admittedNow.append((admit(first.submission), first.submission.completion))
                    progress = true
                }
                if waiting.isEmpty {
                    parked[snapshot] = nil
                } else {
                    parked[snapshot] = waiting
                    parkedOrder.append(snapshot)
                }
            }
        }
        return admittedNow
    }

    /// Whether `count` events of `snapshot` may be queued now.
    private func fits(_ count: Int, snapshot: UInt32) -> Bool {
        if depth == 0 || depth + count <= capacity - reserve { return true }
        return depth + count <= capacity && depths[snapshot] == nil
    }

    /// Appends a submission; in buffered mode its stored completion is dropped, because the
    /// submitter is answered now.
    private func admit(_ submission: Submission) -> Submission {
        let stored = answersOnAdmission
            ? Submission(snapshot: submission.snapshot, events: submission.events, completion: nil) : submission
        items.append(.events(stored))
        depth += submission.events.count
        depths[submission.snapshot, default: 0] += submission.events.count
        return stored
    }

    /// Called without the lock held.
    private func answerOnAdmission(_ stored: Submission, original: SubmitCompletion?) {
        observer.accepted(stored.events)
        if answersOnAdmission, let original {
            original(.success(Acknowledgement(accepted: stored.events.count, durable: false)))
        }
    }

    /// Makes sure the expiry timer fires by `deadline` (condition held).
    private func armExpiry(for deadline: DispatchTime) {
        guard deadline != .distantFuture else { return }
        if let armed = timerArmedFor, armed <= deadline { return }
        let timer: any DispatchSourceTimer
        if let existing = expiryTimer {
            timer = existing
        } else {
            timer = DispatchSource.makeTimerSource(queue: .global())
            timer.setEventHandler { [weak self] in self?.expireParked() }
            timer.activate()
            expiryTimer = timer
        }
        timer.schedule(deadline: deadline, leeway: .milliseconds(1))
        timerArmedFor = deadline
    }

    /// Refuses every parked submission whose deadline has passed and re-arms for the rest.
    private func expireParked() {
        condition.lock()
        let now = DispatchTime.now()
        var expired: [Submission] = []
        var next: DispatchTime?
        for snapshot in parkedOrder {
            guard let waiting = parked[snapshot] else { continue }
            var kept = Deque<Parked>()
            for entry in waiting {
                if entry.deadline <= now {
                    expired.append(entry.submission)
                } else {
                    kept.append(entry)
                    if entry.deadline != .distantFuture, next.map({ entry.deadline < $0 }) ?? true { next = entry.deadline }
                }
            }
            parked[snapshot] = kept.isEmpty ? nil : kept
        }
        parkedOrder.removeAll { parked[$0] == nil }
        parkedTotal -= expired.count
        timerArmedFor = nil
        if let next { armExpiry(for: next) }
        // Those behind an expired one may fit now.
        let admittedNow = admitParkedThatFit()
        let wakeWriter = !admittedNow.isEmpty || parkedTotal > 0
        condition.unlock()
        if wakeWriter { condition.signal() }
        for submission in expired {
            observer.refused(count: submission.events.count, reason: .queueFull)
            submission.completion?(.failure(.queueFull))
        }
        for (submission, original) in admittedNow { answerOnAdmission(submission, original: original) }
    }
}
