import Dispatch
import Foundation
import Synchronization
import Testing
@testable import SnapshotCore

/// Go serf's snapshot_test.go scenarios, and the seed plan's, against the engine.
@Suite struct EngineTests {
    let dir = makeTemporaryDirectory()
    var path: String { dir + "/snapshot" }

    func open(_ configure: (inout EngineConfiguration) -> Void = { _ in }) throws -> SnapshotEngine {
        var configuration = EngineConfiguration()
        configure(&configuration)
        return try SnapshotEngine(path: path, configuration: configuration)
    }

    /// Go's TestSnapshotter: user 42, query 50, clock 100, join/fail/join foo; then reopen.
    func writeGoScenario(_ engine: SnapshotEngine) async throws {
        let foo = member("foo")
        _ = try await engine.submit([user(42), query(50), .clock(ltime: 100)])
        _ = try await engine.submit([join(foo), failed(foo), join(foo)])
    }

    @Test(arguments: EngineConfiguration.Durability.allCases)
    func roundTripsGoScenario(durability: EngineConfiguration.Durability) async throws {
        let engine = try open {
            $0.durability = durability
            $0.format = .v1
        }
        let ack = try await engine.submit([user(42)])
        #expect(ack == Acknowledgement(accepted: 1, durable: durability == .fsync))
        try await writeGoScenario(engine)
        await engine.close()

        let reopened = try open()
        let state = reopened.status.state
        #expect(state.lastClock == 100)
        #expect(state.lastEventClock == 42)
        #expect(state.lastQueryClock == 50)
        #expect(reopened.aliveNodes().map(\.name) == ["foo"])
        #expect(reopened.aliveNodes().first?.address == "127.0.0.1:5000")
        #expect(reopened.replayReport.skipped.isEmpty)
        await reopened.close()
        #expect(readFile(path).hasPrefix(V1Format.headerLine))
    }

    /// Go's TestSnapshotter_forceCompact: a 1024-byte limit, 1024 user events and 1024 queries.
    @Test func forcedCompactionKeepsClocks() async throws {
        let observer = RecordingObserver()
        let engine = try open {
            $0.minCompactSize = 1024
            $0.observer = observer
        }
        for i in 0..<1024 {
            _ = try await engine.submit([user(UInt64(i)), query(UInt64(i))])
        }
        await engine.close()
        #expect(observer.snapshot.compactions.count > 0)
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        #expect(size < 4096)

        let reopened = try open()
        #expect(reopened.status.state.lastEventClock == 1023)
        #expect(reopened.status.state.lastQueryClock == 1023)
        await reopened.close()
        #expect(!FileManager.default.fileExists(atPath: path + ".compact"))
    }

    /// Go's TestSnapshotter_leave: after a leave, replay finds nothing.
    @Test func leaveClearsState() async throws {
        let engine = try open { $0.format = .v1 }
        try await writeGoScenario(engine)
        try await engine.leave()
        #expect(engine.status.state.leaving)
        #expect(engine.aliveNodes().isEmpty)
        await #expect(throws: SnapshotError.leaving) { try await engine.submit([user(99)]) }
        try await engine.leave()  // idempotent
        await engine.close()
        #expect(readFile(path).hasSuffix("leave\n"))

        // A restarted agent is a new life, as in Go: the leave cleared the state, and events
        // are recorded again.
        let reopened = try open()
        let state = reopened.status.state
        #expect(state.lastClock == 0 && state.lastEventClock == 0 && state.lastQueryClock == 0)
        #expect(state.aliveNodes.isEmpty)
        #expect(!state.leaving)
        _ = try await reopened.submit([user(7)])
        #expect(reopened.status.state.lastEventClock == 7)
        await reopened.close()
    }

    /// While one process lives, an agent that left starts its new life with a rejoin: the state
    /// is cleared as Go's replay of the leave clears it, and events are recorded again.
    @Test func rejoinEndsTheLeave() async throws {
        let engine = try open { $0.format = .v1 }
        let before = try await engine.rejoin()  // no leave: only the state
        #expect(!before.leaving)
        try await writeGoScenario(engine)
        try await engine.leave()
        await #expect(throws: SnapshotError.leaving) { try await engine.submit([user(99)]) }
        let state = try await engine.rejoin()
        #expect(!state.leaving && state.aliveNodes.isEmpty && state.lastClock == 0 && state.lastEventClock == 0)
        _ = try await engine.submit([join(member("new")), user(3)])
        #expect(engine.aliveNodes().map(\.name) == ["new"])
        await engine.close()
        // The file replays to what the process had: the leave, then the new life.
        let reopened = try open()
        #expect(reopened.aliveNodes().map(\.name) == ["new"])
        #expect(reopened.status.state.lastEventClock == 3 && !reopened.status.state.leaving)
        await reopened.close()
    }

    /// With rejoin-after-leave a rejoin keeps the alive set and the clocks, as Go's replay does.
    @Test func rejoinAfterLeaveKeepsState() async throws {
        let engine = try open { $0.rejoinAfterLeave = true }
        try await writeGoScenario(engine)
        try await engine.leave()
        let state = try await engine.rejoin()
        #expect(!state.leaving && state.aliveNodes.count == 1 && state.lastEventClock == 42)
        _ = try await engine.submit([user(43)])
        await engine.close()
    }

    /// Go's TestSnapshotter_leave_rejoin: the leave is ignored on replay.
    @Test func leaveWithRejoinKeepsState() async throws {
        let engine = try open { $0.rejoinAfterLeave = true }
        try await writeGoScenario(engine)
        try await engine.leave()
        #expect(engine.aliveNodes().map(\.name) == ["foo"])
        await engine.close()

        let reopened = try open { $0.rejoinAfterLeave = true }
        let state = reopened.status.state
        #expect(state.lastClock == 100 && state.lastEventClock == 42 && state.lastQueryClock == 50)
        #expect(reopened.aliveNodes().map(\.name) == ["foo"])
        #expect(!state.leaving)
        await reopened.close()
    }

    /// Go's TestSnapshotter_slowDiskNotBlockingEventCh: with the disk held, submitting more
    /// than the queue holds never blocks the submitter; every event completes once it frees.
    @Test func slowDiskNeverBlocksSubmitters() async throws {
        let io = GatedFileIO()
        let engine = try open {
            $0.io = io
            $0.queueCapacity = 64
        }
        let completed = Mutex(0)
        let failures = Mutex(0)
        let total = 3000
        for i in 0..<total {
            engine.submit([user(UInt64(i + 1))]) { result in
                if case .failure = result { failures.withLock { $0 += 1 } }
                completed.withLock { $0 += 1 }
            }
        }
        // Every submit call returned while the disk was held.
        #expect(completed.withLock { $0 } == 0)
        #expect(engine.parkedSubmissions > 0)
        #expect(engine.queueDepth <= 64)
        io.open()
        #expect(eventually { completed.withLock { $0 } == total })
        #expect(failures.withLock { $0 } == 0)
        await engine.close()
        let reopened = try open()
        #expect(reopened.status.state.lastEventClock == UInt64(total))
        await reopened.close()
    }

    /// Backpressure: a full queue refuses at the submitter's deadline with a distinct error.
    @Test func fullQueueRefusesAtDeadline() async throws {
        let io = GatedFileIO()
        let observer = RecordingObserver()
        let engine = try open {
            $0.io = io
            $0.queueCapacity = 4
            $0.observer = observer
        }
        // The first submission is taken by the writer, which then waits on the disk.
        engine.submit([user(1)]) { _ in }
        #expect(eventually { engine.queueDepth == 0 })
        engine.submit([user(2), user(3), user(4), user(5)]) { _ in }
        await #expect(throws: SnapshotError.queueFull) { try await engine.submit([user(6)], deadline: .now()) }
        await #expect(throws: SnapshotError.queueFull) {
            try await engine.submit([user(7)], deadline: .now() + .milliseconds(50))
        }
        #expect(observer.snapshot.refused["queue_full"] == 2)
        io.open()
        let ack = try await engine.submit([user(8)], deadline: .now() + .seconds(30))
        #expect(ack.accepted == 1)
        await engine.close()
    }

    /// Parked submissions with different deadlines (parked out of deadline order, and some
    /// with none) expire each at its own deadline, through the one expiry timer; the rest are
    /// admitted once the disk frees.
    @Test func parkedSubmissionsExpireEachAtItsDeadline() async throws {
        let io = GatedFileIO()
        let engine = try open {
            $0.io = io
            $0.queueCapacity = 1
        }
        engine.submit([user(1)]) { _ in }
        #expect(eventually { engine.queueDepth == 0 })
        engine.submit([user(2)]) { _ in }  // fills the queue
        let outcomes = Mutex<[UInt64: Result<Acknowledgement, SnapshotError>]>([:])
        let start = DispatchTime.now()
        // ltime -> deadline in ms from now (nil: none): the short ones are parked last.
        let deadlines: [(UInt64, Int?)] = [(3, nil), (4, 400), (5, 5_000), (6, 100), (7, nil), (8, 30)]
        for (ltime, milliseconds) in deadlines {
            let deadline = milliseconds.map { start + .milliseconds($0) } ?? .distantFuture
            engine.submit([user(ltime)], deadline: deadline) { result in
                outcomes.withLock { $0[ltime] = result }
            }
        }
        #expect(eventually { outcomes.withLock { $0.count } == 3 })
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
        #expect(elapsed >= 400)
        outcomes.withLock { results in
            for ltime: UInt64 in [4, 6, 8] {
                guard case .failure(.queueFull) = results[ltime] else {
                    Issue.record("ltime \(ltime): \(String(describing: results[ltime]))")
                    continue
                }
            }
        }
        #expect(engine.parkedSubmissions == 3)
        io.open()
        #expect(eventually { outcomes.withLock { $0.count } == 6 })
        outcomes.withLock { results in
            for ltime: UInt64 in [3, 5, 7] {
                guard case .success = results[ltime] else {
                    Issue.record("ltime \(ltime): \(String(describing: results[ltime]))")
                    continue
                }
            }
        }
        await engine.close()
    }

    /// Submits and returns the result with the time the engine took to call back (measured in
    /// the callback: an `await` may resume late when the test pool's threads are busy).
    private func timedSubmit(_ engine: SnapshotEngine, _ events: [SnapshotEvent],
                             deadline: DispatchTime = .distantFuture) -> (Result<Acknowledgement, SnapshotError>?, seconds: Double) {
        let outcome = Mutex<(Result<Acknowledgement, SnapshotError>, UInt64)?>(nil)
        let start = DispatchTime.now().uptimeNanoseconds
        engine.submit(events, deadline: deadline) { result in
            outcome.withLock { $0 = (result, DispatchTime.now().uptimeNanoseconds) }
        }
        _ = eventually(timeout: 10) { outcome.withLock { $0 != nil } }
        guard let (result, end) = outcome.withLock({ $0 }) else { return (nil, .infinity) }
        return (result, Double(end - start) / 1e9)
    }

    /// Buffered mode lets the writer sleep until a quarter of the queue has gathered; a
    /// submission that finds no room must still wake it at once, not wait for its timer.
    @Test func bufferedSubmissionThatDoesNotFitWakesTheWriter() async throws {
        let engine = try open {
            $0.durability = .buffered
            $0.queueCapacity = 100
            $0.flushInterval = 5
        }
        _ = timedSubmit(engine, (1...10).map { user(UInt64($0)) })
        #expect(engine.queueDepth == 10)  // below a quarter: the writer sleeps on
        let (result, seconds) = timedSubmit(engine, (11...105).map { user(UInt64($0)) }, deadline: .now() + .seconds(3))
        guard case .success(let ack) = result else {
            Issue.record("\(String(describing: result))")
            return
        }
        #expect(ack.accepted == 95)
        #expect(seconds < 2.5)  // the writer's timer is 5 s away
        await engine.close()
    }

    /// An empty submission in fsync mode completes at once (it has nothing to sync).
    @Test func emptySubmissionCompletesAtOnce() async throws {
        let engine = try open { $0.flushInterval = 5 }
        let (result, seconds) = timedSubmit(engine, [])
        #expect(result == .success(Acknowledgement(accepted: 0, durable: true)))
        #expect(seconds < 2.5)
        await engine.close()
    }

    /// The seed plan: 10k events from concurrent submitters under load, none lost.
    @Test func tenThousandConcurrentEventsNoneLost() async throws {
        let engine = try open { $0.queueCapacity = 256 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<10 {
                group.addTask {
                    for i in 0..<1000 {
                        let name = "node-\(producer)-\(i)"
                        let event: SnapshotEvent = i % 10 == 9 ? failed(member("node-\(producer)-\(i - 1)")) : join(member(name))
                        _ = try await engine.submit([event])
                    }
                }
            }
            try await group.waitForAll()
        }
        let expected = 10 * 900 - 10 * 100
        #expect(engine.aliveNodes().count == expected)
        await engine.close()
        let reopened = try open()
        #expect(reopened.aliveNodes().count == expected)
        await reopened.close()
    }

    /// Close writes everything accepted before it returns, even with submissions parked.
    @Test(arguments: EngineConfiguration.Durability.allCases)
    func closeDrainsEverythingAccepted(durability: EngineConfiguration.Durability) async throws {
        let io = GatedFileIO()
        let engine = try open {
            $0.io = io
            $0.durability = durability
            $0.queueCapacity = 16
        }
        let results = Mutex<[Result<Acknowledgement, SnapshotError>]>([])
        for i in 1...200 {
            engine.submit([user(UInt64(i))]) { result in results.withLock { $0.append(result) } }
        }
        let closed = Mutex(false)
        engine.close { closed.withLock { $0 = true } }
        await #expect(throws: SnapshotError.closed) { try await engine.submit([user(1000)]) }
        #expect(!closed.withLock { $0 })
        io.open()
        #expect(eventually { closed.withLock { $0 } })
        let all = results.withLock { $0 }
        #expect(all.count == 200)
        #expect(all.allSatisfy { (try? $0.get()) != nil })
        await engine.close()  // idempotent
        let reopened = try open()
        #expect(reopened.status.state.lastEventClock == 200)
        await reopened.close()
    }

    /// Compaction runs while events keep coming; the result holds both.
    @Test func compactionWithConcurrentWritesIsConsistent() async throws {
        let engine = try open { $0.minCompactSize = 1 << 30 }
        for i in 0..<2000 { _ = try await engine.submit([join(member("n\(i)", "10.0.\(i / 256).\(i % 256)"))]) }
        async let compaction = engine.compact()
        for i in 2000..<3000 { _ = try await engine.submit([join(member("n\(i)", "10.1.\(i / 256).\(i % 256)")), user(UInt64(i))]) }
        let result = try await compaction
        #expect(result.bytesAfter > 0)
        _ = try await engine.compact()
        for i in 0..<100 { _ = try await engine.submit([failed(member("n\(i)"))]) }
        let expected = engine.status.state
        await engine.close()
        let reopened = try open()
        #expect(reopened.status.state.aliveNodes == expected.aliveNodes)
        #expect(reopened.status.state.aliveNodes.count == 2900)
        #expect(reopened.status.state.lastEventClock == 2999)
        #expect(reopened.replayReport.skipped.isEmpty)
        await reopened.close()
    }

    /// Open and close 1000 engines: no file descriptors or threads are left behind.
    @Test func thousandOpenCloseCyclesLeakNothing() async throws {
        let threadsBefore = threadCount()
        for i in 0..<1000 {
            let engine = try open()
            if i % 100 == 0 { _ = try await engine.submit([user(UInt64(i + 1))]) }
            // The log's active segment, and the next one once prepared.
            #expect(eventually { openFileDescriptors(in: dir) == 2 })
            await engine.close()
        }
        #expect(openFileDescriptors(in: dir) == 0)
        // Tests in other suites run alongside and start a few threads of their own; a leak
        // here would leave a thousand.
        #expect(eventually { threadCount() <= threadsBefore + 16 })
    }

    @Test func staleCompactFileIsRemovedAndTornTailTruncated() async throws {
        try Data("alive: a 10.0.0.1:1\nclock: 9\nalive: b 10.0".utf8).write(to: URL(fileURLWithPath: path))
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: path + ".compact"))
        let engine = try open()
        #expect(!FileManager.default.fileExists(atPath: path + ".compact"))
        #expect(engine.replayReport.tornTailBytes == 13)
        #expect(engine.replayReport.records == 2)
        _ = try await engine.submit([join(member("c", "10.0.0.3", 3))])
        await engine.close()
        // At rest the file is a checkpoint of everything: Go's text, the torn line gone.
        let (state, report) = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: path)
        #expect(report.isClean && report.format == .v1)
        #expect(state.aliveNodes == ["a": "10.0.0.1:1", "c": "10.0.0.3:3"] && state.lastClock == 9)
        #expect(!readFile(path).contains("10.0\n") && !readFile(path).contains("alive: b"))
    }

    @Test func malformedLinesAreCountedAndSkipped() async throws {
        try Data("alive: a 10.0.0.1:1\nclock: abc\nbogus\n# c\nclock: 4\n".utf8).write(to: URL(fileURLWithPath: path))
        let engine = try open()
        #expect(engine.replayReport.skipped.map(\.offset) == [20, 31])
        #expect(engine.replayReport.records == 2)
        #expect(engine.replayReport.ignored == 1)
        #expect(engine.status.state.lastClock == 4)
        await engine.close()
    }

    @Test func invalidEventIsRefusedWithItsIndex() async throws {
        let engine = try open()
        await #expect(throws: SnapshotError.invalidEvent(index: 1, reason: "member name must not contain a line break: \"a\\nb\"")) {
            try await engine.submit([user(1), join(member("a\nb"))])
        }
        #expect(engine.status.state.lastEventClock == 0)
        await engine.close()
    }
}
