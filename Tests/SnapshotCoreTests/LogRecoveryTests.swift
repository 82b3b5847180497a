import Foundation
import Glibc
import Synchronization
import Testing
@testable import SnapshotCore

/// The engine on its write-ahead log across a kill, a damaged log, Go's files and clean stops.
///
/// A kill is `LogFaultIO.kill()`: from then on every file call of the engine fails (kill -9 on a
/// real file system: whatever was written stays in the page cache), the engine is closed (its
/// close can write nothing) and a new engine opens the store through the real file system.
@Suite struct LogRecoveryTests {
    let dir = makeTemporaryDirectory()
    var path: String { dir + "/snapshot" }
    var wal: String { dir + "/wal" }

    /// Small segments (cut often), the next one prepared inline (one order of calls), and
    /// checkpoints only when asked for and at close.
    func configuration(_ io: any FileIO = POSIXFileIO(), format: SnapshotFormat = .v2,
                       rejoinAfterLeave: Bool = false) -> EngineConfiguration {
        var configuration = EngineConfiguration()
        configuration.io = io
        configuration.format = format
        configuration.rejoinAfterLeave = rejoinAfterLeave
        configuration.segmentSize = 1024
        configuration.preparesSegmentsInBackground = false
        configuration.minCompactSize = 1 << 30
        // No writer tick either: its laggard rule (a checkpoint once the log runs two segments
        // past a snapshot's oldest record) would checkpoint on its own in a slow run.
        configuration.flushInterval = 3600
        return configuration
    }

    func open(_ io: any FileIO = POSIXFileIO(), format: SnapshotFormat = .v2, rejoinAfterLeave: Bool = false) throws -> SnapshotEngine {
        try SnapshotEngine(path: path, configuration: configuration(io, format: format, rejoinAfterLeave: rejoinAfterLeave))
    }

    /// kill -9: nothing more reaches the disk, then the process is gone.
    func kill(_ engine: SnapshotEngine, _ io: LogFaultIO) async {
        io.kill()
        await engine.close()
    }

    /// Joins, failures, rejoins at new addresses and clocks, in many small batches.
    func churn(_ engine: SnapshotEngine, _ range: Range<Int>) async throws {
        for i in range {
            _ = try await engine.submit([join(member("n\(i)", "10.0.\(i / 200).\(i % 200)", 7946), ltime: UInt64(i))])
            if i % 3 == 0 { _ = try await engine.submit([failed(member("n\(i / 2)"))]) }
            if i % 5 == 0 { _ = try await engine.submit([join(member("n\(i / 3)", "10.9.0.\(i % 200)", 1)), user(UInt64(i)), query(UInt64(i / 2))]) }
        }
    }

    func replayedStore() throws -> SnapshotState {
        try StoreReplayer().replay(path: path).0
    }

    // MARK: - A kill

    @Test(arguments: [SnapshotFormat.v1, .v2])
    func aKilledEngineRecoversTheCheckpointAndTheLogExactly(format: SnapshotFormat) async throws {
        let io = LogFaultIO()
        let engine = try open(io, format: format)
        try await churn(engine, 0..<40)
        _ = try await engine.compact()
        try await churn(engine, 40..<70)
        let expected = engine.status.state, covered = engine.status.checkpointPosition, end = engine.status.logPosition
        #expect(covered > 0 && end > covered)
        await kill(engine, io)
        #expect(LogTesting.segmentNames(wal).count > 1)

        let reopened = try open(format: format)
        #expect(reopened.status.state == expected)
        #expect(reopened.replayReport.logPosition == covered && reopened.replayReport.format == format)
        let log = reopened.logReport
        #expect(!log.isDamaged && log.replayed > 0 && log.records > log.replayed, "\(log)")
        #expect(log.end == end && reopened.status.logPosition == end)
        await reopened.close()
        // A clean close: the checkpoint alone holds it all.
        #expect(LogTesting.names(wal).isEmpty)
        let (state, report) = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: path)
        #expect(state == expected && report.isClean && report.logPosition == end)
    }

    /// Buffered mode writes without a sync: what it wrote is in the page cache, which a kill
    /// keeps, so recovery finds everything flushed (and the status shows only what was flushed).
    @Test func aKillKeepsWhatBufferedModeWrote() async throws {
        let io = LogFaultIO()
        var configuration = configuration(io)
        configuration.durability = .buffered
        configuration.flushInterval = 0.02
        let engine = try SnapshotEngine(path: path, configuration: configuration)
        for i in 0..<60 {
            let ack = try await engine.submit([join(member("n\(i)")), user(UInt64(i + 1))])
            #expect(!ack.durable)
        }
        #expect(eventually { engine.status.state.lastEventClock == 60 })
        let expected = engine.status.state
        #expect(expected.aliveNodes.count == 60)
        await kill(engine, io)
        let reopened = try open()
        #expect(reopened.status.state == expected && reopened.logReport.replayed == reopened.logReport.records)
        await reopened.close()
    }

    /// Submissions that a failed fdatasync refused are not in the recovered state, and nor is
    /// anything the failed write left.
    @Test func aFailedSyncLeavesNothingToRecover() async throws {
        let io = LogFaultIO()
        let engine = try open(io)
        try await churn(engine, 0..<10)
        io.failSyncs(EIO)
        await #expect(throws: SnapshotError.self) { _ = try await engine.submit([join(member("refused")), user(999)]) }
        _ = try await engine.submit([join(member("after"))])
        let expected = engine.status.state
        #expect(expected.aliveNodes["refused"] == nil && expected.aliveNodes["after"] != nil)
        await kill(engine, io)
        let reopened = try open()
        #expect(reopened.status.state == expected)
        #expect(!reopened.logReport.isDamaged && reopened.logReport.tornTails.isEmpty)
        await reopened.close()
    }

    /// A write that fails half way: the refused events are neither in the store a tool reads
    /// meanwhile nor in what a recovery after a kill finds.
    @Test func eventsRefusedByAFailedWriteAreNotReadBack() async throws {
        let io = LogFaultIO()
        let engine = try open(io)
        _ = try await engine.submit([join(member("a"))])
        io.failWrites(.half(ENOSPC))
        await #expect(throws: SnapshotError.self) {
            _ = try await engine.submit((0..<10).map { join(member("refused\($0)")) })
        }
        let expected = engine.status.state
        #expect(try replayedStore() == expected)
        await kill(engine, io)
        let reopened = try open()
        #expect(reopened.status.state.aliveNodes.keys.sorted() == ["a"])
        await reopened.close()
    }

    /// The same through the engine, for a write that fails half way (ENOSPC on a segment that
    /// could not be preallocated, EIO): the refused batch leaves whole records past the log's
    /// end, the zeros over them fail too; the next batch is bigger (the queue grew meanwhile)
    /// and cuts to a new segment. After a kill, recovery must not find the refused events.
    @Test func eventsRefusedByAFailedWriteStayOutOfTheLogAcrossACut() async throws {
        let io = LogFaultIO()
        let engine = try open(io)
        _ = try await engine.submit([join(member("a"))])
        io.failWrites(.half(ENOSPC), .fail(ENOSPC))  // and the zeros over it
        await #expect(throws: SnapshotError.self) {
            _ = try await engine.submit((0..<10).map { join(member("refused\($0)")) })
        }
        // 978 bytes: more than what is left of the segment, less than a segment.
        _ = try await engine.submit((0..<26).map { join(member("later\($0)")) })
        let expected = engine.status.state
        #expect(expected.aliveNodes.count == 27)
        await kill(engine, io)
        let reopened = try open()
        #expect(reopened.logReport.segments.map(\.sequence) == [1, 2])
        #expect(reopened.status.state.aliveNodes.keys.filter { $0.hasPrefix("refused") }.sorted() == [])
        #expect(reopened.status.state == expected)
        await reopened.close()
    }

    // MARK: - Positions

    /// A checkpoint covers a position: recovery replays the log from there. The log's records
    /// before it, replayed again on top of the checkpoint (what the engine does when a damaged
    /// file lost its position), give the same state: the records are in order and the last wins,
    /// across a leave and a rejoin too.
    @Test(arguments: [false, true])
    func replayingTheLogFromZeroOverTheCheckpointChangesNothing(rejoinAfterLeave: Bool) async throws {
        let io = LogFaultIO()
        let engine = try open(io, rejoinAfterLeave: rejoinAfterLeave)
        try await churn(engine, 0..<30)
        try await engine.leave()
        _ = try await engine.rejoin()
        try await churn(engine, 30..<45)
        _ = try await engine.compact()
        // Undo some of what the checkpoint holds, after it.
        for i in 30..<38 { _ = try await engine.submit([failed(member("n\(i)"))]) }
        try await churn(engine, 45..<60)
        let expected = engine.status.state
        await kill(engine, io)

        let (checkpoint, report) = try SnapshotReplayer(rejoinAfterLeave: rejoinAfterLeave).replay(path: path)
        let position = try #require(report.logPosition)
        let reader = LogReader(directory: wal, io: POSIXFileIO(), preservesDamage: false)
        var fromPosition = checkpoint, fromZero = checkpoint
        let exact = try reader.replay(snapshot: 0, after: position, onto: &fromPosition, rejoinAfterLeave: rejoinAfterLeave)
        let whole = try reader.replay(snapshot: 0, after: 0, onto: &fromZero, rejoinAfterLeave: rejoinAfterLeave)
        #expect(fromPosition == expected)
        #expect(fromZero == expected)
        #expect(whole.replayed == whole.records && whole.replayed > exact.replayed && exact.replayed > 0)

        // The engine's own case: the checkpoint's position is lost (its v2 extension damaged),
        // the file is kept aside and rewritten covering 0, and the whole log is replayed.
        var bytes = LogTesting.bytes(path)
        bytes[V2Format.headerSize + 3] ^= 0x08
        try LogTesting.setBytes(path, bytes)
        let reopened = try open(rejoinAfterLeave: rejoinAfterLeave)
        #expect(reopened.replayReport.isDamaged && reopened.replayReport.logPosition == nil)
        #expect(reopened.replayReport.preservedCopy.map { LogTesting.bytes($0) == bytes } == true)
        #expect(reopened.logReport.replayed == reopened.logReport.records)
        #expect(reopened.status.state == expected)
        await reopened.close()
        #expect(try replayedStore() == expected)
    }

    // MARK: - Go's files

    /// A v1 file Go serf wrote (no position line) with no log is adopted as a checkpoint of
    /// nothing in the log; after events and a clean close it is a v1 file Go reads.
    @Test func aGoWrittenFileIsAdoptedAndGoReadsItAfterAClose() async throws {
        let scenario = GoInteropTests.Scenario.membership()
        try GoInteropTests.goWrite(path, scenario.commands, rejoin: false, minCompactSize: 1 << 20)
        let written = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: path)
        #expect(written.1.format == .v1 && written.1.logPosition == nil && written.1.isClean)

        let engine = try open()
        #expect(engine.replayReport.format == .v1 && engine.replayReport.logPosition == nil)
        #expect(engine.logReport == LogReport() && engine.status.state == written.0)
        #expect(engine.status.checkpointPosition == 0 && engine.status.logPosition == 0)
        _ = try await engine.submit([join(member("swift", "10.7.7.7", 7946), ltime: 300), user(500)])
        _ = try await engine.submit([failed(member("foo"))])
        let expected = engine.status.state
        await engine.close()

        #expect(LogTesting.names(wal).isEmpty)
        let text = readFile(path)
        let end = engine.status.logPosition
        #expect(end > 0 && text.hasPrefix(V1Format.headerLine + "# snapshotd log position: \(end)\n"))
        let go = try GoInteropTests.goRead(path, rejoin: false)
        #expect(go.alive_nodes.map(\.name) == expected.aliveNodeList().map(\.name))
        #expect(go.alive_nodes.map(\.addr) == expected.aliveNodeList().map(\.address))
        #expect(go.clock == expected.lastClock && go.event_clock == 500 && go.query_clock == expected.lastQueryClock)
        #expect(!go.alive_nodes.map(\.name).contains("foo") && go.alive_nodes.map(\.name).contains("swift"))

        // And the next open finds the position it wrote, and nothing in the log.
        let reopened = try open()
        #expect(reopened.replayReport.logPosition == end && reopened.status.state == expected)
        await reopened.close()
    }

    // MARK: - A damaged log

    /// A segment damaged at rest: the open copies it aside, reports it (segment, offset,
    /// length) and recovers the records around it; a checkpoint (the one the open asks for)
    /// then lets the segment go. The copy stays, and later opens are clean.
    @Test func aDamagedSegmentIsCopiedReportedAndCheckpointedPast() async throws {
        let io = LogFaultIO()
        let engine = try open(io)
        for i in 0..<10 { _ = try await engine.submit([join(member("n\(i)"))]) }
        await kill(engine, io)

        let segment = LogTesting.path(wal, 1)
        let (_, records) = try LogTesting.read(wal)
        #expect(LogTesting.labels(records) == (0..<10).map { "n\($0)" })
        let offset = LogFormat.headerSize + Int(records[2].position)
        let length = Int(records[3].position - records[2].position)
        var bytes = LogTesting.bytes(segment)
        bytes[offset + 11] ^= 0x20
        try LogTesting.setBytes(segment, bytes)

        var ticking = configuration()
        ticking.flushInterval = 0.5  // the checkpoint past the damage starts at the writer's first turn
        let reopened = try SnapshotEngine(path: path, configuration: ticking)
        let report = reopened.logReport
        #expect(report.damaged == [.init(segment: segment, offset: offset, length: length)])
        #expect(report.preservedCopies.count == 1)
        let copy = try #require(report.preservedCopies.first)
        #expect(copy.hasPrefix(segment + ".damaged-") && LogTesting.bytes(copy) == bytes)
        #expect(reopened.status.state.aliveNodes.keys.sorted() == ["n0", "n1", "n3", "n4", "n5", "n6", "n7", "n8", "n9"])
        // Checkpointed past on its own, soon (not at the next open).
        #expect(eventually { reopened.status.compactions > 0 })
        #expect(!FileManager.default.fileExists(atPath: segment) && FileManager.default.fileExists(atPath: copy))
        let state = reopened.status.state
        await reopened.close()

        let again = try open()
        #expect(!again.logReport.isDamaged && again.logReport.preservedCopies.isEmpty && again.status.state == state)
        await again.close()
        #expect(LogTesting.names(wal) == [(copy as NSString).lastPathComponent])
    }

    /// A kill leaves the segment prepared for the next cut (zeros) behind, and a segment may be
    /// left empty (created, not preallocated): the open removes both and starts after them.
    @Test func unusedSegmentsAreRemovedAtOpen() async throws {
        let io = LogFaultIO()
        let engine = try open(io)
        try await churn(engine, 0..<5)
        await kill(engine, io)
        let prepared = LogTesting.path(wal, 2)
        #expect(LogTesting.segmentNames(wal) == [LogSegment.name(sequence: 1), LogSegment.name(sequence: 2)])
        #expect(LogTesting.bytes(prepared).allSatisfy { $0 == 0 } && LogTesting.size(prepared) == 1024)
        try LogTesting.setBytes(LogTesting.path(wal, 7), [])

        let reopened = try open()
        #expect(reopened.logReport.unused == [prepared, LogTesting.path(wal, 7)])
        #expect(reopened.logReport.lastSequence == 7 && reopened.logReport.segments.map(\.sequence) == [1])
        // The new run writes segment 8, and has 9 ready.
        #expect(LogTesting.segmentNames(wal) == [1, 8, 9].map { LogSegment.name(sequence: $0) })
        _ = try await reopened.submit([join(member("x"))])
        let (_, seen) = try LogTesting.read(wal)
        #expect(seen.last.map { LogTesting.label($0.record) } == "x")
        await reopened.close()
        #expect(LogTesting.names(wal).isEmpty)
    }

    // MARK: - Clean stops

    /// A clean close checkpoints everything and removes every segment; an open and a close
    /// with nothing new leave the file as it was, byte for byte.
    @Test(arguments: [SnapshotFormat.v1, .v2])
    func aCleanCloseLeavesNoSegmentsAndAnIdleReopenChangesNothing(format: SnapshotFormat) async throws {
        let engine = try open(format: format)
        try await churn(engine, 0..<30)
        let expected = engine.status.state
        await engine.close()
        #expect(LogTesting.names(wal).isEmpty)
        let file = LogTesting.bytes(path)
        let end = engine.status.logPosition
        #expect(engine.status.checkpointPosition == end)

        for _ in 0..<3 {
            let reopened = try open(format: format)
            #expect(reopened.logReport == LogReport() && reopened.replayReport.logPosition == end)
            #expect(reopened.status.state == expected && reopened.status.logPosition == end)
            await reopened.close()
            #expect(LogTesting.names(wal).isEmpty && LogTesting.bytes(path) == file)
            #expect(reopened.status.compactions == 0)
        }
        #expect(LogTesting.names(dir) == ["snapshot", "wal"])
    }

    /// A checkpoint removes the sealed segments it covers, listed when it starts. One sealed
    /// while it runs (the next batch did not fit) ends exactly at its position: it must stay
    /// the log's until a later checkpoint removes it. Forgotten with the others, its file stays
    /// behind for the life of the process, and a clean close leaves it too.
    @Test func aSegmentSealedWhileACheckpointRunsIsRemovedLater() async throws {
        let gate = CompactionGate(base: POSIXFileIO())
        let engine = try open(gate)
        for i in 0..<20 { _ = try await engine.submit([join(member("n\(i)"))]) }
        let answered = Mutex<Result<CompactionResult, SnapshotError>?>(nil)
        engine.compact { result in
            answered.withLock { $0 = result }
            gate.poke()
        }
        #expect(gate.waitForCompactor(unless: { answered.withLock { $0 != nil } }))
        let position = engine.status.logPosition
        // 978 bytes: does not fit in what is left of segment 1, which is sealed ending at the
        // checkpoint's position.
        _ = try await engine.submit((0..<26).map { join(member("later\($0)")) })
        #expect(engine.status.logPosition > position && LogTesting.segmentNames(wal).count == 3)
        gate.release()
        #expect(eventually { answered.withLock { $0 != nil } && engine.status.compactions == 1 })
        #expect(engine.status.checkpointPosition == position)
        gate.openForGood()
        await engine.close()
        #expect(LogTesting.names(wal).isEmpty)
    }

    // MARK: - Reading a live store

    /// `StoreReplayer` (what inspect, verify and convert use) on a store being served gives the
    /// engine's state: before any checkpoint, after one, across cuts, after a leave and rejoin.
    @Test func theStoreOfALiveEngineReplaysToItsStatus() async throws {
        let engine = try open()
        try await churn(engine, 0..<20)
        #expect(try replayedStore() == engine.status.state)
        _ = try await engine.compact()
        #expect(try replayedStore() == engine.status.state)
        try await churn(engine, 20..<60)
        #expect(LogTesting.segmentNames(wal).count > 3)
        #expect(try replayedStore() == engine.status.state)
        try await engine.leave()
        _ = try await engine.rejoin()
        try await churn(engine, 60..<70)
        #expect(try replayedStore() == engine.status.state)
        _ = try await engine.compact()
        _ = try await engine.submit([failed(member("n65"))])
        #expect(try replayedStore() == engine.status.state)
        await engine.close()
        #expect(try replayedStore() == engine.status.state)
    }

    /// A checkpoint large enough to be kept as its table (`StateBuilder.baseMinimum` names) with
    /// the log's records on top: the offline read gives the engine's state too, leaves and
    /// rejoins in the log included.
    @Test func aLargeCheckpointAndItsLogReplayToTheStatus() async throws {
        let engine = try open()
        let count = StateBuilder.baseMinimum + 500
        let members = (0..<count).map { member("n\($0)", "10.1.\($0 / 200).\($0 % 200)", 7946) }
        _ = try await engine.submit([.member(.join, members: members, ltime: 1)])
        _ = try await engine.compact()
        try await churn(engine, 0..<60)
        #expect(try replayedStore() == engine.status.state)
        #expect(try replayedStore().aliveNodes.count == engine.status.state.aliveNodes.count)
        try await engine.leave()
        _ = try await engine.rejoin()
        try await churn(engine, 60..<70)
        #expect(try replayedStore() == engine.status.state)
        await engine.close()
        #expect(try replayedStore() == engine.status.state)
    }

    // MARK: - The checkpoint replayed beside the log's parts

    /// A killed store: a checkpoint of `StateBuilder.baseMinimum` + 500 names, then a log of
    /// many segments past it. Returns the state the engine had and its log's end.
    func killedStoreWithALargeCheckpoint(format: SnapshotFormat) async throws -> (SnapshotState, end: UInt64) {
        let io = LogFaultIO()
        let engine = try open(io, format: format)
        let count = StateBuilder.baseMinimum + 500
        _ = try await engine.submit([.member(.join, members: (0..<count).map { member("n\($0)", "10.1.\($0 / 200).\($0 % 200)", 7946) }, ltime: 1)])
        _ = try await engine.compact()
        try await churn(engine, 0..<120)
        let expected = engine.status.state, end = engine.status.logPosition
        await kill(engine, io)
        #expect(LogTesting.segmentNames(wal).count > 3)
        return (expected, end)
    }

    /// A copy of the store, opened with the checkpoint replayed beside the log (`minimum` 0) or
    /// first (`Int64.max`), the log in parts; and whether the checkpoint was opened on a thread
    /// of its own (not the one opening the engine).
    func openCopy(minimum: Int64, io: (any FileIO)? = nil, format: SnapshotFormat = .v2) throws -> (SnapshotEngine, besideTheLog: Bool) {
        let copy = makeTemporaryDirectory() + "/store"
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        let threads = ThreadsOpening(copy + "/snapshot", base: io ?? POSIXFileIO())
        var configuration = configuration(threads, format: format)
        configuration.recoveryPartMinimum = 128
        configuration.recoveryThreads = 2  // in parts on any machine
        configuration.recoveryParallelCheckpointMinimum = minimum
        let caller = pthread_self()
        let engine = try SnapshotEngine(path: copy + "/snapshot", configuration: configuration)
        return (engine, threads.threads.withLock { $0 }.contains { pthread_equal($0, caller) == 0 })
    }

    @Test(arguments: [SnapshotFormat.v1, .v2])
    func aLargeCheckpointReplaysBesideTheLogToTheSameState(format: SnapshotFormat) async throws {
        let (expected, end) = try await killedStoreWithALargeCheckpoint(format: format)
        let (beside, wasBeside) = try openCopy(minimum: 0, format: format)
        let (first, wasFirst) = try openCopy(minimum: .max, format: format)
        // Only a v2 file's header says the position the parts need.
        #expect(wasBeside == (format == .v2) && !wasFirst)
        #expect(beside.status.state == expected && first.status.state == expected)
        #expect(beside.status.logPosition == end && first.status.logPosition == end)
        #expect(beside.replayReport == first.replayReport)
        var besideLog = beside.logReport, firstLog = first.logReport
        #expect(besideLog.replayed > 0 && besideLog.records > besideLog.replayed, "\(besideLog)")
        besideLog.segments = []; firstLog.segments = []  // their paths are the copies'
        besideLog.unused = []; firstLog.unused = []
        #expect(besideLog == firstLog)
        await beside.close()
        await first.close()
    }

    /// Where the checkpoint's replay covers another position than its header said when it
    /// was first read, the parts replayed past that one are not used: the log is replayed again.
    @Test func aCheckpointThatCoversAnotherPositionThanItsHeaderSaidReplaysTheLogAgain() async throws {
        let (expected, end) = try await killedStoreWithALargeCheckpoint(format: .v2)
        // The first read-only open of the file (the header's read) finds a header of a position
        // past the log's end: parts replayed past it would hold none of the log's records.
        // (A lower one would not show: the records between are replayed again over the
        // checkpoint, which changes nothing, `replayingTheLogFromZeroOverTheCheckpointChangesNothing`.)
        let other = makeTemporaryDirectory() + "/header"
        var header: [UInt8] = []
        V2Format.header(createdAt: 1, logPosition: 1 << 40, into: &header)
        #expect(FileManager.default.createFile(atPath: other, contents: Data(header)))
        let (engine, beside) = try openCopy(minimum: 0, io: FirstReadFrom(other))
        #expect(beside)
        #expect(engine.status.state == expected)
        // Nor does the position the header said: the log goes on from where it ended.
        #expect(engine.status.logPosition == end)
        #expect(engine.logReport.records > engine.logReport.replayed)
        await engine.close()
    }

    /// The offline tools' read of a store (`StoreContents`: inspect, verify, export; nothing
    /// repaired) replays a large checkpoint beside the log too, with the engine's default threshold.
    @Test func aReadOnlyReadReplaysALargeCheckpointBesideTheLog() async throws {
        let io = LogFaultIO()
        let engine = try open(io)
        let count = 40_000  // a v2 checkpoint over the default 1 MiB
        _ = try await engine.submit([.member(.join, members: (0..<count).map { member("node-\($0)", "10.2.\($0 / 250).\($0 % 250)", 7946) }, ltime: 1)])
        _ = try await engine.compact()
        try await churn(engine, 0..<60)
        let expected = engine.status.state
        await kill(engine, io)
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        #expect(size >= EngineConfiguration().recoveryParallelCheckpointMinimum)
        let threads = ThreadsOpening(path, base: POSIXFileIO())
        let caller = pthread_self()
        let contents = try StoreContents(layout: StoreLayout(dataDirectory: dir), io: threads)
        let snapshot = try #require(contents.snapshots.first { $0.name == .default })
        #expect(snapshot.state == expected)
        #expect(snapshot.replayed > 0 && contents.report.log.records > snapshot.replayed)
        #expect(threads.threads.withLock { $0 }.contains { pthread_equal($0, caller) == 0 })
    }

    /// A checkpoint that cannot be opened fails the open, replayed beside the log or first.
    @Test(arguments: [Int64(0), .max])
    func aCheckpointThatCannotBeOpenedFailsTheOpen(minimum: Int64) async throws {
        _ = try await killedStoreWithALargeCheckpoint(format: .v2)
        #expect(throws: (any Error).self) { _ = try openCopy(minimum: minimum, io: RefusedWritableOpen()) }
    }

    /// A checkpoint may finish while a tool reads the store (inspect, verify and convert read a
    /// served store without its lock): between the reader's read of the file and its listing of
    /// the log, or between the listing and the reading of the segments. It removes the segments
    /// it covers, so the reader must not pair the old file with the log that is left.
    @Test(arguments: [true, false])
    func aCheckpointDuringARead(beforeListing: Bool) async throws {
        let engine = try open()
        try await churn(engine, 0..<40)
        #expect(LogTesting.segmentNames(wal).count > 3)
        let expected = engine.status.state
        let checkpoint: @Sendable () -> Void = {
            let done = DispatchSemaphore(value: 0)
            engine.compact { _ in done.signal() }
            done.wait()
        }
        let io = BetweenReads(before: beforeListing ? checkpoint : nil, after: beforeListing ? nil : checkpoint)
        let (state, _, _) = try StoreReplayer(io: io).replay(path: path)
        #expect(engine.status.compactions == 1)
        #expect(state == expected)
        await engine.close()
    }
}

/// A reader's file layer that runs something once, just before or just after its first listing
/// of a directory.
final class BetweenReads: ForwardingFileIO {
    let base: any FileIO = POSIXFileIO()
    private let hooks: Mutex<(before: (@Sendable () -> Void)?, after: (@Sendable () -> Void)?)>

    init(before: (@Sendable () -> Void)?, after: (@Sendable () -> Void)?) {
        hooks = Mutex((before, after))
    }

    func contentsOfDirectory(_ path: String) throws(FileIOError) -> [String] {
        hooks.withLock { hooks in
            defer { hooks.before = nil }
            return hooks.before
        }?()
        let names = try base.contentsOfDirectory(path)
        hooks.withLock { hooks in
            defer { hooks.after = nil }
            return hooks.after
        }?()
        return names
    }
}

/// The threads that open `path`.
final class ThreadsOpening: ForwardingFileIO {
    let base: any FileIO
    let path: String
    let threads = Mutex<[pthread_t]>([])

    init(_ path: String, base: any FileIO) {
        self.path = path
        self.base = base
    }

    func open(_ path: String, create: Bool, truncate: Bool) throws(FileIOError) -> Int32 {
        if path == self.path { threads.withLock { $0.append(pthread_self()) } }
        return try base.open(path, create: create, truncate: truncate)
    }

    func openReadOnly(_ path: String) throws(FileIOError) -> Int32 {
        if path == self.path { threads.withLock { $0.append(pthread_self()) } }
        return try base.openReadOnly(path)
    }
}

/// The first read-only open of a `snapshot` file opens `other` instead.
final class FirstReadFrom: ForwardingFileIO {
    let base: any FileIO = POSIXFileIO()
    let other: String
    private let used = Mutex(false)

    init(_ other: String) { self.other = other }

    func openReadOnly(_ path: String) throws(FileIOError) -> Int32 {
        let first = path.hasSuffix("/snapshot") && !used.withLock { used in defer { used = true }; return used }
        return try base.openReadOnly(first ? other : path)
    }
}

/// Refuses to open a `snapshot` file for writing.
struct RefusedWritableOpen: ForwardingFileIO {
    let base: any FileIO = POSIXFileIO()

    func open(_ path: String, create: Bool, truncate: Bool) throws(FileIOError) -> Int32 {
        if path.hasSuffix("/snapshot") { throw FileIOError("open", path, code: EIO) }
        return try base.open(path, create: create, truncate: truncate)
    }
}
