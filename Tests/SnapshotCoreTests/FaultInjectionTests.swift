import Foundation
import Glibc
import Synchronization
import Testing
@testable import SnapshotCore

/// A file layer that fails on demand: short writes, a write that stops half way and then fails
/// (ENOSPC, EIO), or a failing fdatasync: of the log's appends (pwrite) and of whole-file
/// writes (checkpoints) alike.
final class FaultyFileIO: ForwardingFileIO {
    enum Fault: Sendable, Equatable {
        /// Every write takes at most this many bytes (not an error: the writer must loop).
        case shortWrites(Int)
        /// A write takes half of what it is given, and the next one fails with `errno`.
        case failWrites(Int32)
        case failSyncs(Int32)
    }

    let base: any FileIO = POSIXFileIO()
    let fault = Mutex<Fault?>(nil)
    private let halfWritten = Mutex(false)

    func set(_ new: Fault?) {
        fault.withLock { $0 = new }
        halfWritten.withLock { $0 = false }
    }

    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) -> Int {
        try faulty(bytes, path: path) { bytes throws(FileIOError) in try base.write(fd, bytes, path: path) }
    }

    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(FileIOError) -> Int {
        try faulty(bytes, path: path) { bytes throws(FileIOError) in try base.write(fd, bytes, at: offset, path: path) }
    }

    private func faulty(_ bytes: UnsafeRawBufferPointer, path: String,
                        _ write: (UnsafeRawBufferPointer) throws(FileIOError) -> Int) throws(FileIOError) -> Int {
        switch fault.withLock({ $0 }) {
        case .shortWrites(let most)?:
            return try write(UnsafeRawBufferPointer(rebasing: bytes.prefix(most)))
        case .failWrites(let code)?:
            let first = halfWritten.withLock { done in
                defer { done = true }
                return !done
            }
            if first && bytes.count > 1 {
                return try write(UnsafeRawBufferPointer(rebasing: bytes.prefix(bytes.count / 2)))
            }
            throw FileIOError("write", path, code: code)
        default:
            return try write(bytes)
        }
    }

    func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
        if case .failSyncs(let code)? = fault.withLock({ $0 }) { throw FileIOError("fdatasync", path, code: code) }
        try base.dataSync(fd, path: path)
    }

    func sync(_ fd: Int32, path: String) throws(FileIOError) {
        if case .failSyncs(let code)? = fault.withLock({ $0 }) { throw FileIOError("fsync", path, code: code) }
        try base.sync(fd, path: path)
    }

}

/// Faults at the file layer reach the submitters and the metrics, leave a readable file, and
/// the engine recovers when the fault clears.
@Suite struct FaultInjectionTests {
    let dir = makeTemporaryDirectory()
    var path: String { dir + "/snapshot" }

    func open(_ io: FaultyFileIO, _ observer: RecordingObserver, format: SnapshotFormat = .v2) throws -> SnapshotEngine {
        var configuration = EngineConfiguration()
        configuration.io = io
        configuration.observer = observer
        configuration.format = format
        return try SnapshotEngine(path: path, configuration: configuration)
    }

    func replayed(format: SnapshotFormat) throws -> (SnapshotState, ReplayReport) {
        try SnapshotReplayer(rejoinAfterLeave: false).replay(path: path)
    }

    @Test(arguments: [SnapshotFormat.v1, .v2])
    func shortWritesAreCompleted(format: SnapshotFormat) async throws {
        let io = FaultyFileIO()
        let observer = RecordingObserver()
        let engine = try open(io, observer, format: format)
        io.set(.shortWrites(3))
        for i in 1...50 { _ = try await engine.submit([join(member("n\(i)")), user(UInt64(i))]) }
        await engine.close()
        let (state, report) = try replayed(format: format)
        #expect(report.isClean)
        #expect(state.aliveNodes.count == 50 && state.lastEventClock == 50)
        #expect(observer.snapshot.failures.isEmpty)
    }

    @Test(arguments: [
        (FaultyFileIO.Fault.failWrites(ENOSPC), SnapshotFormat.v2), (.failWrites(EIO), .v2), (.failSyncs(EIO), .v2),
        (.failWrites(ENOSPC), .v1), (.failSyncs(EIO), .v1),
    ])
    func failuresReachSubmittersAndTheFileStaysReadable(fault: FaultyFileIO.Fault, format: SnapshotFormat) async throws {
        let io = FaultyFileIO()
        let observer = RecordingObserver()
        let engine = try open(io, observer, format: format)
        for i in 1...10 { _ = try await engine.submit([join(member("before\(i)"))]) }

        io.set(fault)
        var failures = 0
        for i in 1...5 {
            do {
                _ = try await engine.submit([join(member("during\(i)")), user(UInt64(100 + i))])
                Issue.record("a submission succeeded during \(fault)")
            } catch {
                guard case .writeFailed(let message) = error else {
                    Issue.record("unexpected \(error)")
                    continue
                }
                #expect(message.contains(fault == .failWrites(ENOSPC) ? "No space" : "error"))
                failures += 1
            }
        }
        #expect(failures == 5)
        #expect(observer.snapshot.failures.count >= 5)
        #expect(observer.snapshot.refused["write_failed"] == 10)
        #expect(engine.status.lastError != nil)
        // Nothing of the failed submissions counts, in memory either.
        #expect(engine.status.state.aliveNodes.count == 10)
        #expect(engine.status.state.lastEventClock == 0)
        // The store (checkpoint and log) is readable meanwhile and holds exactly what was acknowledged.
        let (during, duringReport, duringLog) = try StoreReplayer().replay(path: path)
        #expect(duringReport.skipped.isEmpty && !duringLog.isDamaged)
        #expect(during.aliveNodes.count == 10)

        io.set(nil)
        _ = try await engine.submit([join(member("after")), user(7)])
        #expect(engine.status.lastError == nil)
        await engine.close()
        let (state, report) = try replayed(format: format)
        #expect(report.isClean)
        #expect(state.aliveNodes.count == 11 && state.aliveNodes["after"] != nil && state.lastEventClock == 7)
    }

    @Test func failedLeaveIsNotRecordedAndCanBeRetried() async throws {
        let io = FaultyFileIO()
        let observer = RecordingObserver()
        let engine = try open(io, observer)
        _ = try await engine.submit([join(member("a"))])
        io.set(.failSyncs(EIO))
        await #expect(throws: SnapshotError.self) { try await engine.leave() }
        #expect(!engine.status.state.leaving)
        io.set(nil)
        _ = try await engine.submit([user(3)])  // events are taken again
        try await engine.leave()
        await engine.close()
        let (state, report) = try replayed(format: .v2)
        #expect(report.isClean && !state.leaving && state.aliveNodes.isEmpty && state.lastEventClock == 0)
        #expect(report.recordsByKind["leave"] == 1)
    }

    @Test func failedCompactionKeepsTheOldSnapshot() async throws {
        let io = FaultyFileIO()
        let observer = RecordingObserver()
        let engine = try open(io, observer)
        for i in 1...20 { _ = try await engine.submit([join(member("n\(i)"))]) }
        io.set(.failSyncs(EIO))
        await #expect(throws: SnapshotError.self) { _ = try await engine.compact() }
        #expect(!FileManager.default.fileExists(atPath: path + ".compact"))
        io.set(nil)
        let result = try await engine.compact()
        #expect(result.bytesAfter > 0)
        await engine.close()
        let (state, report) = try replayed(format: .v2)
        #expect(report.isClean && state.aliveNodes.count == 20)
    }

    /// Buffered mode answered already: a failed flush is recovered by a checkpoint of the
    /// state, as Go serf's compaction does.
    @Test func bufferedFlushFailureIsRepairedByCompaction() async throws {
        let io = FaultyFileIO()
        let observer = RecordingObserver()
        var configuration = EngineConfiguration()
        configuration.io = io
        configuration.observer = observer
        configuration.durability = .buffered
        configuration.flushInterval = 0.02
        configuration.compactionRetryInterval = 0.05
        let engine = try SnapshotEngine(path: path, configuration: configuration)
        io.set(.failWrites(EIO))
        for i in 1...5 { _ = try await engine.submit([join(member("n\(i)"))]) }
        #expect(eventually { engine.status.lastError != nil })
        io.set(nil)
        #expect(eventually { engine.status.lastError == nil && engine.status.compactions > 0 })
        await engine.close()
        let (state, report) = try replayed(format: .v2)
        #expect(report.isClean && state.aliveNodes.count == 5)
    }
}
