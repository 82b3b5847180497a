import Foundation
@testable import SnapshotCore
import Synchronization
import Testing

/// A delete is done once its record is synced: a file that cannot be removed then is removed
/// later (after the next round, at close), never the file of a new snapshot of the same name.
@Suite struct DeleteRetryTests {
    /// Refuses to remove one path, a number of times.
    final class StubbornRemove: ForwardingFileIO, @unchecked Sendable {
        let base: any FileIO = POSIXFileIO()
        let path: String
        let refusals: Atomic<Int>

        init(path: String, refusals: Int) {
            self.path = path
            self.refusals = Atomic(refusals)
        }

        func remove(_ path: String) throws(FileIOError) {
            if path == self.path, refusals.load(ordering: .relaxed) > 0 {
                refusals.subtract(1, ordering: .relaxed)
                throw FileIOError("unlink", path, code: EIO)
            }
            try base.remove(path)
        }
    }

    @Test func aFailedRemovalIsTriedAgainAfterTheNextRound() async throws {
        let directory = makeTemporaryDirectory()
        let layout = StoreLayout(dataDirectory: directory)
        let io = StubbornRemove(path: layout.path(of: named("gone")), refusals: 1)
        var configuration = EngineConfiguration()
        configuration.io = io
        let store = try SnapshotStore(layout: layout, configuration: configuration)
        _ = try await store.submit([join(member("a"))], to: named("gone")).get()
        _ = try await store.compact(named("gone")).get()
        #expect(fileExists(layout.path(of: named("gone"))))
        // Answered as done (its record is durable), the file still there, the failure reported.
        _ = try await store.delete(named("gone")).get()
        #expect(store.status(of: named("gone")) == nil)
        #expect(fileExists(layout.path(of: named("gone"))))
        #expect(store.storeStatus.lastError?.contains("could not be removed") == true)
        // The next round removes it.
        _ = try await store.compact(.default).get()
        #expect(!fileExists(layout.path(of: named("gone"))))
        await store.close()
    }

    @Test func aNewSnapshotOfTheNameKeepsItsFile() async throws {
        let directory = makeTemporaryDirectory()
        let layout = StoreLayout(dataDirectory: directory)
        let io = StubbornRemove(path: layout.path(of: named("again")), refusals: 1)
        var configuration = EngineConfiguration()
        configuration.io = io
        let store = try SnapshotStore(layout: layout, configuration: configuration)
        _ = try await store.submit([join(member("old"))], to: named("again")).get()
        _ = try await store.compact(named("again")).get()
        _ = try await store.delete(named("again")).get()
        // The same name again, checkpointed over the old file before any retry.
        _ = try await store.submit([join(member("new"))], to: named("again")).get()
        _ = try await store.compact(named("again")).get()
        _ = try await store.compact(.default).get()
        #expect(fileExists(layout.path(of: named("again"))))
        await store.close()
        let reopened = try SnapshotStore(layout: layout)
        #expect(reopened.status(of: named("again"))?.state.aliveNodes.keys.sorted() == ["new"])
        await reopened.close()
    }
}
