import Dispatch
import Foundation
@testable import SnapshotCore
import Synchronization
import Testing

/// The writer commits a batch that several snapshots share in bounded units, round-robin between
/// them: a quiet snapshot's one event queued behind a flood is synced (and answered) in the
/// first unit, not after the flood's write. Counted in syncs, not timed.
@Suite struct FairCommitTests {
    /// Holds the first data sync until released, and counts them.
    final class GatedSyncs: ForwardingFileIO, @unchecked Sendable {
        let base: any FileIO = POSIXFileIO()
        let syncs = Atomic<Int>(0)
        private let gate = DispatchSemaphore(value: 0)
        let held = DispatchSemaphore(value: 0)
        /// Armed once the snapshots exist: the next sync is held.
        let holding = Atomic<Bool>(false)

        func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
            if holding.exchange(false, ordering: .relaxed) {
                held.signal()
                gate.wait()
            }
            try base.dataSync(fd, path: path)
            syncs.add(1, ordering: .relaxed)
        }

        func release() { gate.signal() }

        /// Bytes written at offsets (the log's appends).
        let written = Atomic<Int>(0)

        func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(FileIOError) -> Int {
            let n = try base.write(fd, bytes, at: offset, path: path)
            written.add(n, ordering: .relaxed)
            return n
        }
    }

    @Test(arguments: [true, false])
    func aQuietSnapshotIsSyncedInTheFirstUnit(sharedWithAFlood: Bool) throws {
        let directory = makeTemporaryDirectory()
        let io = GatedSyncs()
        var configuration = EngineConfiguration()
        configuration.io = io
        configuration.flushInterval = 3600  // no clock records, no laggard checks: only the batches sync
        let store = try SnapshotStore(layout: StoreLayout(dataDirectory: directory), configuration: configuration)
        let done = DispatchGroup()
        // Both exist before (a create is a unit of its own).
        for name in ["flood", "quiet"] {
            let created = DispatchSemaphore(value: 0)
            store.create(try SnapshotName(name), options: SnapshotOptions()) { _ in created.signal() }
            created.wait()
        }
        func submit(_ events: [SnapshotEvent], to name: String, _ onDone: @escaping @Sendable () -> Void = {}) throws {
            done.enter()
            store.submit(events, to: try SnapshotName(name)) { result in
                #expect((try? result.get()) != nil)
                onDone()
                done.leave()
            }
        }
        // The first batch holds the writer in its sync while the rest queues up behind it.
        let before = io.syncs.load(ordering: .relaxed)
        io.holding.store(true, ordering: .relaxed)
        try submit([user(1)], to: "flood")
        io.held.wait()
        // 1,500 events: within the queue (2,048 less its reserve), six units of 256 and more.
        let flood = (0..<15).map { i in (0..<100).map { join(member("n\(i)-\($0)")) } }
        for events in flood { try submit(events, to: "flood") }
        let quietSyncs = Atomic<Int>(-1), quietBytes = Atomic<Int>(-1), writtenBefore = io.written.load(ordering: .relaxed)
        let lastFloodSyncs = Atomic<Int>(0)
        if sharedWithAFlood {
            try submit([user(2)], to: "quiet") {
                quietSyncs.store(io.syncs.load(ordering: .relaxed) - before, ordering: .relaxed)
                quietBytes.store(io.written.load(ordering: .relaxed) - writtenBefore, ordering: .relaxed)
            }
        }
        try submit([user(3)], to: "flood") { lastFloodSyncs.store(io.syncs.load(ordering: .relaxed) - before, ordering: .relaxed) }
        io.release()
        done.wait()
        if sharedWithAFlood {
            // Synced in the first unit after the held one; the flood's rest went in later units.
            #expect(quietSyncs.load(ordering: .relaxed) == 2, "quiet answered after \(quietSyncs.load(ordering: .relaxed)) syncs")
            #expect(lastFloodSyncs.load(ordering: .relaxed) >= 6)
            // What was written before its answer: a unit's worth, not the flood's.
            let total = io.written.load(ordering: .relaxed) - writtenBefore
            #expect(quietBytes.load(ordering: .relaxed) * 4 < total, "\(quietBytes.load(ordering: .relaxed)) of \(total) bytes")
        } else {
            // One snapshot alone: the whole batch is one unit, one sync after the held one.
            #expect(lastFloodSyncs.load(ordering: .relaxed) == 2)
        }
        store.closeAndWait()
    }
}
