/// The writer's side of one snapshot of the store: its state, its clock and where its
/// checkpoints stand. Owned by the writer thread alone.
final class SnapshotSlot {
    let handle: SlotHandle
    var id: UInt32 { handle.id }
    var state: SnapshotState
    var clock: LamportClock
    /// Bytes of its file, as the last checkpoint wrote it (0 while it has none).
    var fileBytes: Int64
    /// The log position the last durable checkpoint of it covers.
    var checkpointPosition: UInt64
    /// The log position from which it has records that no durable checkpoint covers (nil:
    /// none). A lower bound: the log keeps every segment from there on.
    var dirtySince: UInt64?
    /// `dirtySince` as it was when the checkpoint in flight started (nil: none in flight).
    var inFlightSince: UInt64?
    /// Log bytes of its records since its last checkpoint started.
    var bytesSinceCheckpoint: Int64 = 0
    /// Buffered records lost by a failed write: the next checkpoint writes them from the state.
    var aheadOfLog = false
    /// A checkpoint is wanted soon (damage read back at open, a compact request).
    var checkpointRequested = false
    var checkpoints = 0
    /// The alive set when the agent left (the state's is cleared, unless rejoin-after-leave):
    /// a checkpoint of a leaving snapshot writes it before its `leave`, as the log holds them,
    /// so that a restart with rejoin-after-leave still finds the nodes (Go's file keeps them too).
    var aliveAtLeave: AliveSet?
    /// `compact` requests waiting for its next checkpoint.
    var waiters: [CheckpointRound.Waiter] = []
    /// The writer's unit that last saved this snapshot for an undo.
    var undoEpoch = -1

    init(handle: SlotHandle, state: SnapshotState, fileBytes: Int64, checkpointPosition: UInt64, dirtySince: UInt64?) {
        self.handle = handle
        self.state = state
        var clock = LamportClock()
        clock.witness(state.lastClock)  // as Serf does after replaying a snapshot
        self.clock = clock
        self.fileBytes = fileBytes
        self.checkpointPosition = checkpointPosition
        self.dirtySince = dirtySince
    }

    /// Where its needed part of the log starts (nil: it needs none of it).
    var neededSince: UInt64? {
        switch (dirtySince, inFlightSince) {
        case (let a?, let b?): min(a, b)
        case (let a?, nil): a
        case (nil, let b?): b
        case (nil, nil): nil
        }
    }

    /// Its records are about to be appended at or after `position`.
    func touch(at position: UInt64, bytes: Int) {
        if dirtySince == nil { dirtySince = position }
        bytesSinceCheckpoint += Int64(bytes)
    }

    /// What a checkpoint of it writes: the state, with the alive set as it was at a leave.
    var checkpointState: SnapshotState {
        var frozen = state
        if frozen.leaving, let alive = aliveAtLeave { frozen.aliveNodes = alive }
        return frozen
    }

    func publish(showingState: Bool, compacting: Bool) {
        let snapshot = showingState ? state : nil
        let bytes = fileBytes, covered = checkpointPosition, count = checkpoints
        handle.status.withLock {
            if let snapshot { $0.state = snapshot }
            $0.fileBytes = bytes
            $0.checkpointPosition = covered
            $0.compactions = count
            $0.compacting = compacting
        }
    }
}
