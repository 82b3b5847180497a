import Dispatch
import Foundation
import Synchronization
import Testing
@testable import SnapshotCore

/// The intake queue's fairness between snapshots, on the queue itself (no writer, no timing):
/// the reserve is kept for snapshots with nothing queued, parked submissions wait per snapshot
/// and are admitted round-robin, each snapshot's in order, and expiry refuses the flooder's.
@Suite struct IntakeFairnessTests {
    static let flooder: UInt32 = 1, quiet: UInt32 = 2, other: UInt32 = 3

    /// Answers by submission tag, in the order they came.
    final class Answers: Sendable {
        let log = Mutex<[(String, Result<Acknowledgement, SnapshotError>)]>([])
        func completion(_ tag: String) -> SubmitCompletion {
            { [self] result in log.withLock { $0.append((tag, result)) } }
        }
        var tags: [String] { log.withLock { $0.map(\.0) } }
        func result(_ tag: String) -> Result<Acknowledgement, SnapshotError>? {
            log.withLock { $0.first { $0.0 == tag }?.1 }
        }
    }

    /// A buffered-mode queue answers on admission: the answer says it was admitted.
    func queue(capacity: Int) -> IntakeQueue {
        IntakeQueue(capacity: capacity, answersOnAdmission: true, leaving: [], observer: NoEngineObserver())
    }

    func events(_ count: Int) -> [SnapshotEvent] { (0..<count).map { user(UInt64($0 + 1)) } }

    /// What the writer took: each submission's snapshot and size, in order.
    func taken(_ work: TakenWork) -> [(snapshot: UInt32, count: Int)] {
        work.items.compactMap {
            if case .events(let submission) = $0 { return (submission.snapshot, submission.events.count) }
            return nil
        }
    }

    func take(_ queue: IntakeQueue) -> TakenWork {
        queue.take(until: Date(), idleWhenClosing: false)
    }

    @Test func aFlooderCannotTakeTheReserve() {
        let queue = queue(capacity: 16)  // reserve: 2
        #expect(queue.reserve == 2)
        let answers = Answers()
        for i in 0..<20 { queue.submit(events(1), to: Self.flooder, deadline: .distantFuture, completion: answers.completion("f\(i)")) }
        // 14 admitted (capacity less the reserve), the rest parked.
        #expect(queue.currentDepth == 14)
        #expect(queue.parkedCount == 6)
        #expect(answers.tags == (0..<14).map { "f\($0)" })
        // A quiet snapshot's submission takes the reserve at once, while the flooder's are parked.
        queue.submit(events(2), to: Self.quiet, deadline: .distantFuture, completion: answers.completion("q0"))
        #expect(answers.result("q0")?.succeeded == true)
        #expect(queue.currentDepth == 16)
        // Another quiet one finds the reserve taken: it parks.
        queue.submit(events(1), to: Self.other, deadline: .distantFuture, completion: answers.completion("o0"))
        #expect(answers.result("o0") == nil)
        #expect(queue.parkedCount == 7)
        queue.close()
    }

    @Test func aQuietSnapshotIsAdmittedInTheReserveEvenWhenSomeArePassingIt() {
        let queue = queue(capacity: 16)
        let answers = Answers()
        queue.submit(events(13), to: Self.flooder, deadline: .distantFuture, completion: answers.completion("f0"))
        // The flooder has events queued: one more passing capacity − reserve parks.
        queue.submit(events(2), to: Self.flooder, deadline: .distantFuture, completion: answers.completion("f1"))
        #expect(answers.result("f1") == nil)
        // The quiet one fits in the reserve (13 + 3 ≤ 16).
        queue.submit(events(3), to: Self.quiet, deadline: .distantFuture, completion: answers.completion("q0"))
        #expect(answers.result("q0")?.succeeded == true)
        // A quiet one that does not fit even in the reserve parks too.
        queue.submit(events(1), to: Self.other, deadline: .distantFuture, completion: answers.completion("o0"))
        #expect(answers.result("o0") == nil)
        queue.close()
    }

    /// Parked submissions are admitted round-robin between snapshots, and each snapshot's in
    /// the order it submitted them; a snapshot with submissions parked does not jump its own queue.
    @Test func parkedSubmissionsAreAdmittedRoundRobinAndInOrder() {
        let queue = queue(capacity: 8)  // reserve: 1
        let answers = Answers()
        queue.submit(events(7), to: Self.other, deadline: .distantFuture, completion: answers.completion("fill"))
        // The quiet snapshot's first one takes the reserve; the flooder's park, and so do the
        // quiet one's next ones.
        queue.submit(events(1), to: Self.quiet, deadline: .distantFuture, completion: answers.completion("q0"))
        for i in 0..<4 { queue.submit(events(1), to: Self.flooder, deadline: .distantFuture, completion: answers.completion("f\(i)")) }
        for i in 1..<3 { queue.submit(events(1), to: Self.quiet, deadline: .distantFuture, completion: answers.completion("q\(i)")) }
        #expect(answers.tags == ["fill", "q0"])
        #expect(queue.parkedCount == 6)
        #expect(queue.currentDepth == 8)

        // The writer takes everything; the parked ones come in turn: f, q, f, q, f, f.
        let first = take(queue)
        #expect(first.items.count == 2)
        #expect(answers.tags == ["fill", "q0", "f0", "q1", "f1", "q2", "f2", "f3"])
        let second = take(queue)
        let order = taken(second).map { $0.snapshot == Self.flooder ? "f" : "q" }
        #expect(order == ["f", "q", "f", "q", "f", "f"])
        #expect(queue.parkedCount == 0)
        queue.close()
    }

    /// When only some parked submissions fit, the snapshots are offered room in turn: a
    /// flooder's backlog does not go first because it parked first.
    @Test func roomIsSharedInTurnsWhenOnlySomeFit() {
        let queue = queue(capacity: 8)  // reserve 1: 7 for anyone
        let answers = Answers()
        queue.submit(events(8), to: Self.other, deadline: .distantFuture, completion: answers.completion("fill"))
        for i in 0..<6 { queue.submit(events(2), to: Self.flooder, deadline: .distantFuture, completion: answers.completion("f\(i)")) }
        for i in 0..<2 { queue.submit(events(2), to: Self.quiet, deadline: .distantFuture, completion: answers.completion("q\(i)")) }
        _ = take(queue)
        // 7 events of room (the eighth is the reserve): f0, q0, f1 (6 events), then q1 would
        // make 8: only into the reserve, and the quiet snapshot has events queued now.
        #expect(answers.tags == ["fill", "f0", "q0", "f1"])
        _ = take(queue)
        // The quiet one, passed over last time, is offered room right after the flooder's next.
        #expect(answers.tags == ["fill", "f0", "q0", "f1", "f2", "q1", "f3"])
        queue.close()
    }

    /// A parked submission that does not get room by its deadline is refused with queueFull;
    /// what the quiet snapshot submitted meanwhile was admitted.
    @Test func expiryRefusesTheFloodersParkedSubmissions() {
        let queue = IntakeQueue(capacity: 8, answersOnAdmission: false, leaving: [], observer: NoEngineObserver())
        let answers = Answers()
        for i in 0..<10 {
            queue.submit(events(1), to: Self.flooder, deadline: .now() + .milliseconds(30), completion: answers.completion("f\(i)"))
        }
        #expect(queue.currentDepth == 7)
        #expect(queue.parkedCount == 3)
        queue.submit(events(1), to: Self.quiet, deadline: .now() + .milliseconds(30), completion: answers.completion("q0"))
        #expect(queue.currentDepth == 8)  // in the reserve (fsync mode: answered once written)
        // A deadline already passed is refused at once.
        queue.submit(events(1), to: Self.flooder, deadline: .now(), completion: answers.completion("late"))
        #expect(answers.result("late")?.failure == .queueFull)
        #expect(eventually(timeout: 5) { answers.tags.count == 4 })
        #expect(Set(answers.tags) == ["late", "f7", "f8", "f9"])
        for tag in ["f7", "f8", "f9"] { #expect(answers.result(tag)?.failure == .queueFull) }
        #expect(queue.parkedCount == 0)
        // The admitted ones are all still there for the writer.
        let work = take(queue)
        #expect(taken(work).map(\.snapshot) == Array(repeating: Self.flooder, count: 7) + [Self.quiet])
        queue.close()
    }

    /// A parked submission behind an expired one of the same snapshot is admitted once room
    /// frees, in order, with no one else's overtaking.
    @Test func expiryKeepsEachSnapshotsOrder() {
        let queue = queue(capacity: 8)
        let answers = Answers()
        queue.submit(events(7), to: Self.other, deadline: .distantFuture, completion: answers.completion("fill"))
        queue.submit(events(1), to: Self.other, deadline: .distantFuture, completion: answers.completion("o1"))  // parks
        queue.submit(events(2), to: Self.flooder, deadline: .now() + .milliseconds(20), completion: answers.completion("f0"))
        queue.submit(events(2), to: Self.flooder, deadline: .distantFuture, completion: answers.completion("f1"))
        // f0 and f1 could fit in the reserve? No: 7 + 2 > 8. All parked.
        #expect(queue.parkedCount == 3)
        #expect(eventually(timeout: 5) { answers.result("f0") != nil })
        #expect(answers.result("f0")?.failure == .queueFull)
        #expect(answers.result("f1") == nil)
        _ = take(queue)
        #expect(answers.tags == ["fill", "f0", "o1", "f1"])
        queue.close()
    }

    /// A submission larger than the whole capacity is admitted once the queue is empty.
    @Test func aSubmissionLargerThanTheQueueIsAdmittedWhenItIsEmpty() {
        let queue = queue(capacity: 4)
        let answers = Answers()
        queue.submit(events(1), to: Self.quiet, deadline: .distantFuture, completion: answers.completion("q0"))
        queue.submit(events(10), to: Self.flooder, deadline: .distantFuture, completion: answers.completion("big"))
        #expect(answers.result("big") == nil)
        _ = take(queue)
        #expect(answers.result("big")?.succeeded == true)
        queue.close()
    }

    /// Closing admits every parked submission (they are written), in turn.
    @Test func closeAdmitsTheParked() {
        let queue = queue(capacity: 4)  // no reserve
        let answers = Answers()
        for i in 0..<6 { queue.submit(events(1), to: Self.flooder, deadline: .distantFuture, completion: answers.completion("f\(i)")) }
        #expect(queue.parkedCount == 2)
        #expect(queue.close())
        #expect(answers.tags == (0..<6).map { "f\($0)" })
        queue.submit(events(1), to: Self.quiet, deadline: .distantFuture, completion: answers.completion("after"))
        #expect(answers.result("after")?.failure == .closed)
    }

    /// Through the store: a flooder's parked submissions do not hold up a quiet snapshot.
    @Test func throughTheStoreAQuietSnapshotIsNotHeldUpByAFlooder() async throws {
        let io = HeldSyncs()
        let dir = makeTemporaryDirectory()
        let store = try SnapshotStore(layout: StoreLayout(dataDirectory: dir), configuration: storeConfiguration {
            $0.queueCapacity = 16
            $0.io = io
        })
        let flooder = named("flooder"), quiet = named("quiet")
        #expect(await store.create(flooder).succeeded)
        #expect(await store.create(quiet).succeeded)
        let answers = Answers()
        // The writer takes the first submission and waits in its sync: the queue is empty.
        io.hold()
        store.submit([user(1)], to: flooder, completion: answers.completion("first"))
        #expect(io.waitUntilHeld())
        #expect(store.queueDepth == 0)
        for i in 0..<30 {
            store.submit([user(UInt64(i + 2))], to: flooder, deadline: .now() + .seconds(60), completion: answers.completion("f\(i)"))
        }
        #expect(store.queueDepth == 14)
        #expect(store.parkedSubmissions == 16)
        // A deadline of a millisecond: it must be admitted now, not parked.
        store.submit([join(member("q"))], to: quiet, deadline: .now() + .milliseconds(1), completion: answers.completion("quiet"))
        #expect(store.queueDepth == 15)
        #expect(store.parkedSubmissions == 16)
        io.release()
        #expect(eventually(timeout: 10) { answers.tags.count == 32 })
        #expect(answers.result("quiet")?.succeeded == true)
        #expect(answers.log.withLock { $0.allSatisfy { $0.1.succeeded } })
        #expect(store.alive(quiet) == ["q"])
        #expect(store.state(of: flooder)?.lastEventClock == 31)
        await store.close()
    }
}

/// Holds every data sync while held: the writer stops in its group commit, and the test knows
/// when (no timing).
final class HeldSyncs: ForwardingFileIO, @unchecked Sendable {  // state guarded by `condition`
    let base: any FileIO = POSIXFileIO()
    private let condition = NSCondition()
    private var held = false
    private var waiting = 0

    func hold() { condition.withLock { held = true } }

    func release() {
        condition.withLock {
            held = false
            condition.broadcast()
        }
    }

    /// Whether a sync waits within 10 s.
    func waitUntilHeld() -> Bool {
        condition.withLock {
            let deadline = Date(timeIntervalSinceNow: 10)
            while waiting == 0 { if !condition.wait(until: deadline) { return waiting > 0 } }
            return true
        }
    }

    func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
        condition.withLock {
            waiting += 1
            condition.broadcast()
            while held { condition.wait() }
            waiting -= 1
        }
        try base.dataSync(fd, path: path)
    }
}
