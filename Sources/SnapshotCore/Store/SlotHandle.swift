import Synchronization

/// One snapshot of a store as submitters and readers see it: its name, identity and options,
/// and the status the writer publishes for it. Shared between threads; the writer's own side is
/// `SnapshotSlot`.
final class SlotHandle: Sendable {
    let id: UInt32
    let name: SnapshotName
    let options: SnapshotOptions
    /// Its file.
    let path: String
    let status: Mutex<SlotStatus>

    init(id: UInt32, name: SnapshotName, options: SnapshotOptions, path: String, status: SlotStatus = SlotStatus()) {
        self.id = id
        self.name = name
        self.options = options
        self.path = path
        self.status = Mutex(status)
    }

    var currentStatus: SlotStatus { status.withLock { $0 } }
}

/// What the writer last published for one snapshot.
struct SlotStatus: Sendable {
    var state = SnapshotState()
    var fileBytes: Int64 = 0
    var checkpointPosition: UInt64 = 0
    var compactions = 0
    var compacting = false
}
