/// Builds a `SnapshotState` and a `ReplayReport` from what a decoder reports: replay's visitor.
/// The rules are `SnapshotState.replay`'s (the last record wins); the alive set is kept in an
/// `AliveTable` and made a `TreeDictionary` once, by `finish()`.
struct StateBuilder: ReplayVisitor {
    let rejoinAfterLeave: Bool
    /// The clocks and `leaving`; also the alive set once `usesStrings`.
    private var state = SnapshotState()
    private var table = AliveTable()
    /// Set when a name is not ASCII (the table cannot take it): the table is moved into
    /// `state.aliveNodes` and records go through `SnapshotState.replay`, until a leave.
    private var usesStrings = false
    private(set) var report = ReplayReport()
    /// Records by `RecordView.Kind`, in fields: no array to check for uniqueness per record.
    private var counts = KindCounts()

    init(rejoinAfterLeave: Bool) {
        self.rejoinAfterLeave = rejoinAfterLeave
    }

    mutating func record(_ record: RecordView, offset: Int64) {
        report.records += 1
        counts.add(record.kind)
        switch record.kind {
        case .alive where !usesStrings:
            if table.setAlive(record.name, address: record.address) {
                state.leaving = false
                return
            }
            moveTableToState()
        case .notAlive where !usesStrings:
            if table.setNotAlive(record.name) {
                state.leaving = false
                return
            }
            moveTableToState()
        case .leave where !rejoinAfterLeave:
            // Everything is cleared (by `state.replay` below): the table can serve again.
            table.removeAll()
            usesStrings = false
        default:
            break
        }
        state.replay(record.record, rejoinAfterLeave: rejoinAfterLeave)
    }

    mutating func ignored(offset: Int64) {
        report.ignored += 1
    }

    mutating func skipped(offset: Int64, length: Int64, reason: String) {
        report.skipped.append(.init(offset: offset, length: length, reason: reason))
    }

    /// The state replayed, and the report with its counts (the caller adds what the decoder knows).
    mutating func finish() -> (SnapshotState, ReplayReport) {
        if !usesStrings { moveTableToState() }
        for kind in [RecordView.Kind.alive, .notAlive, .clock, .eventClock, .queryClock, .leave] where counts[kind] > 0 {
            report.recordsByKind[SnapshotRecord.kinds[kind.rawValue]] = counts[kind]
        }
        return (state, report)
    }

    private mutating func moveTableToState() {
        state.aliveNodes = table.aliveNodes()
        table.removeAll()
        usesStrings = true
    }
}

/// A count per record kind.
private struct KindCounts {
    private var alive = 0, notAlive = 0, clock = 0, eventClock = 0, queryClock = 0, leave = 0

    mutating func add(_ kind: RecordView.Kind) {
        switch kind {
        case .alive: alive += 1
        case .notAlive: notAlive += 1
        case .clock: clock += 1
        case .eventClock: eventClock += 1
        case .queryClock: queryClock += 1
        case .leave: leave += 1
        }
    }

    subscript(kind: RecordView.Kind) -> Int {
        switch kind {
        case .alive: alive
        case .notAlive: notAlive
        case .clock: clock
        case .eventClock: eventClock
        case .queryClock: queryClock
        case .leave: leave
        }
    }
}
