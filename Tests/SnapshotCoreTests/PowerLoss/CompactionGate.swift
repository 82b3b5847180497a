import Foundation
@testable import SnapshotCore

/// Makes the order of the engine's calls deterministic, so that call number N is the same
/// call in every run of a workload. The writer's calls are ordered by the workload, which
/// waits for each answer; the checkpoint's thread would race them. So a checkpoint is held
/// at its first call (the create of `PATH.checkpoint`) until the workload lets it go, at a point
/// where the writer has nothing to do but wait for it: a checkpoint the engine starts on its
/// own (the log passed `minCompactSize` since the last) waits there while events go on into
/// the log, and runs at the workload's next `compact` step.
final class CompactionGate: ForwardingFileIO, @unchecked Sendable {  // state guarded by `condition`
    let base: any FileIO
    private let condition = NSCondition()
    private var waiting = 0
    private var permits = 0
    private var isOpen = false

    init(base: any FileIO) {
        self.base = base
    }

    func open(_ path: String, create: Bool, truncate: Bool) throws(FileIOError) -> Int32 {
        if create && path.hasSuffix(".checkpoint") {
            condition.lock()
            waiting += 1
            condition.broadcast()
            while !isOpen && permits == 0 { condition.wait() }
            if permits > 0 { permits -= 1 }
            waiting -= 1
            condition.broadcast()  // for `releaseOne`
            condition.unlock()
        }
        return try base.open(path, create: create, truncate: truncate)
    }

    /// Blocks until a compactor waits at the gate (true) or `answered()` holds (false: the
    /// compaction was answered without reaching the gate). Whoever makes `answered` true calls `poke()`.
    func waitForCompactor(unless answered: () -> Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: PowerLossDriver.patience)
        while waiting == 0 && !answered() {
            if !condition.wait(until: deadline) && waiting == 0 && !answered() {
                // A hang would cost CI its whole time; say what did not happen instead.
                preconditionFailure("power-loss driver: no compactor reached the gate and the compaction was not answered")
            }
        }
        return waiting > 0
    }

    func poke() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Lets the waiting compactor go.
    func release() {
        condition.lock()
        permits += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Lets one waiting compactor go, and returns once it has gone through the gate (so that a
    /// caller that loops does not hand out a permit a later compactor would take unheld).
    func releaseOne() {
        condition.lock()
        permits += 1
        condition.broadcast()
        while permits > 0 && !isOpen { condition.wait() }
        condition.unlock()
    }

    /// Stops holding compactors (before a close, which waits for a compaction in flight).
    func openForGood() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }
}
