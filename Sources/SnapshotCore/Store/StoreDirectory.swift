import Synchronization

/// The names of a store's snapshots, shared by submitters (which look a name up, or give it a
/// new identity) and the writer (which looks up a snapshot it has not seen yet). In memory only:
/// the catalog is what makes a name durable.
final class StoreDirectory: Sendable {
    struct Entries: Sendable {
        var byName: [SnapshotName: SlotHandle] = [:]
        var byID: [UInt32: SlotHandle] = [:]
        var nextID: UInt32 = 1
    }

    private let entries: Mutex<Entries>

    init(_ entries: Entries) {
        self.entries = Mutex(entries)
    }

    func withLock<T>(_ body: (inout Entries) -> T) -> T {
        entries.withLock { body(&$0) }
    }

    func handle(_ name: SnapshotName) -> SlotHandle? { entries.withLock { $0.byName[name] } }
    func handle(id: UInt32) -> SlotHandle? { entries.withLock { $0.byID[id] } }
    var count: Int { entries.withLock { $0.byID.count } }
}
