/// Builds a `SnapshotState` and a `ReplayReport` from what a decoder reports: replay's visitor.
/// The rules are `SnapshotState.replay`'s (the last record wins); the alive set is kept in an
/// `AliveTable` and made an `AliveSet` once, by `finish()`.
struct StateBuilder: ReplayVisitor {
    let rejoinAfterLeave: Bool
    /// The clocks and `leaving`; also the alive set once `usesStrings`.
    private var state = SnapshotState()
    private var table = AliveTable()
    /// Set when a name is not ASCII (the table cannot take it): the table is moved into
    /// `state.aliveNodes` and records go through `SnapshotState.replay`, until a leave.
    private var usesStrings = false
    private(set) var report = ReplayReport()
    /// Records by `RecordView.Kind.rawValue`: inline, no array to check for uniqueness per record.
    private var counts = InlineArray<6, Int>(repeating: 0)
    /// The table as it was when it was frozen (`freezeAliveSet()`); `table` then starts empty
    /// and takes the records after it (`keepsRemovals`), and the alive set is this base with
    /// what `table` changed on top. Nil once the table is emptied (nothing of it is kept then).
    private var base: AliveSet.Base?

    /// Alive sets smaller than this are made Strings and a tree: they cost little, and a base
    /// makes every later lookup two.
    static let baseMinimum = 4096

    /// A delta (`delta(rejoinAfterLeave:)`): what a stretch of records changes, to be put on top
    /// of the builder of the records before it (`append(_:)`).
    private var isDelta = false
    /// A delta: a leave cleared everything before it, so the delta is the whole state.
    private(set) var clearsEarlier = false
    /// A delta: the clocks its records set (bit `RecordView.Kind.rawValue`).
    private var clocksSet: UInt8 = 0
    /// A delta met a name its table cannot take (not ASCII): it cannot be appended, and the
    /// records must be replayed in sequence instead.
    private(set) var needsSequence = false

    /// `expectedNames`: the alive table is made that large at once.
    init(rejoinAfterLeave: Bool, expectedNames: Int = 0) {
        self.rejoinAfterLeave = rejoinAfterLeave
        if expectedNames > 0 { table = AliveTable(capacity: expectedNames) }
    }

    /// A builder of what a stretch of records changes, independent of what came before it: its
    /// table keeps removals (a name set not alive must hide an earlier alive one), and it knows
    /// which clocks were set and whether a leave cleared the rest. Replaying a log in parts at
    /// once (`ChunkedLogReplay`) gives each part one, appended in order.
    static func delta(rejoinAfterLeave: Bool) -> StateBuilder {
        var builder = StateBuilder(rejoinAfterLeave: rejoinAfterLeave)
        builder.table = AliveTable(keepsRemovals: true)
        builder.isDelta = true
        return builder
    }

    /// Replay that goes on from `initial` (a checkpoint's state, the log's records following).
    init(rejoinAfterLeave: Bool, startingFrom initial: SnapshotState) {
        self.rejoinAfterLeave = rejoinAfterLeave
        state = initial
        state.aliveNodes = [:]
        for (name, address) in initial.aliveNodes where !usesStrings {
            var name = name, address = address
            let kept = name.withUTF8 { name in address.withUTF8 { table.setAlive(UnsafeRawBufferPointer(name), address: UnsafeRawBufferPointer($0)) } }
            if !kept {
                // A name the table cannot take: the strings carry on, from the whole set.
                table.removeAll()
                state.aliveNodes = initial.aliveNodes
                usesStrings = true
            }
        }
    }

    mutating func record(_ record: RecordView, offset: Int64) {
        report.records += 1
        counts[record.kind.rawValue] += 1
        apply(record)
    }

    /// A record's change to the state (`record` without the counting).
    private mutating func apply(_ record: RecordView) {
        switch record.kind {
        case .alive where !usesStrings:
            if table.setAlive(record.name, address: record.address) { return }
            if isDelta { needsSequence = true; return }
            moveTableToState()
        case .notAlive where !usesStrings:
            if table.setNotAlive(record.name) { return }
            if isDelta { needsSequence = true; return }
            moveTableToState()
        case .leave where !rejoinAfterLeave:
            // Everything is cleared (by `state.replay` below): the table can serve again.
            table.removeAll()
            base = nil
            usesStrings = false
            clearsEarlier = true
            clocksSet = 0
        case .clock, .eventClock, .queryClock:
            clocksSet |= 1 << UInt8(record.kind.rawValue)
        default:
            break
        }
        state.replay(record.record, rejoinAfterLeave: rejoinAfterLeave)
    }

    /// Puts `later`, a delta of the records that follow this builder's, on top: the state is
    /// then what replaying those records here would have made, and the counts theirs added.
    /// For each name the last record wins, so a delta's net change (each name it set, as it
    /// left it; the clocks it set) is the change of all its records; a delta a leave cleared
    /// replaces what was here. `later.needsSequence` must be false.
    mutating func append(_ later: StateBuilder) {
        precondition(later.isDelta && !later.needsSequence, "only a delta that holds its records can be appended")
        report.records += later.report.records
        for index in counts.indices { counts[index] += later.counts[index] }
        if later.clearsEarlier {
            state = later.state
            table = later.table
            base = nil
            usesStrings = false
            if isDelta { (clearsEarlier, clocksSet) = (true, later.clocksSet) }
            return
        }
        if isDelta { clocksSet |= later.clocksSet }
        let clocks: [(RecordView.Kind, UInt64)] = [(.clock, later.state.lastClock), (.eventClock, later.state.lastEventClock),
                                                   (.queryClock, later.state.lastQueryClock)]
        for (kind, value) in clocks where later.clocksSet & (1 << UInt8(kind.rawValue)) != 0 {
            apply(.clock(kind, value))
        }
        if table.count == 0 && !usesStrings {
            // Nothing here to put them onto (a frozen base's own records' table, or an empty
            // state): the delta's table is that table already.
            table = later.table
            return
        }
        later.table.forEachEntry { name, address in
            apply(address.map { .alive(name: name, address: $0) } ?? .notAlive(name: name))
        }
    }

    mutating func ignored(offset: Int64) {
        report.ignored += 1
    }

    mutating func skipped(offset: Int64, length: Int64, reason: String) {
        report.skipped.append(.init(offset: offset, length: length, reason: reason))
    }

    /// The state replayed, and the report with its counts (the caller adds what the decoder knows).
    mutating func finish() -> (SnapshotState, ReplayReport) {
        (finishState(), countedReport)
    }

    /// The report so far with its counts by kind; the state stays in the builder, which can
    /// go on (recovery replays the log onto the checkpoint's builder: its alive table is made
    /// Strings and a tree once, at the end, not once for the file and again for the log).
    var countedReport: ReplayReport {
        var report = report
        for index in counts.indices where counts[index] > 0 {
            report.recordsByKind[SnapshotRecord.kinds[index]] = counts[index]
        }
        return report
    }

    /// The state replayed. Records may follow (they go on through Strings).
    mutating func finishState() -> SnapshotState {
        if !usesStrings { moveTableToState() }
        return state
    }

    /// Keeps a large alive set so far as it is, the base of the state's `AliveSet`, while the
    /// records after it go onto a table of their own (recovery: the checkpoint's alive set,
    /// then the log); `finishState()` puts what they changed on top. Nothing happens for a
    /// small set.
    ///
    /// The records' table holds only the names they set: a log over a few thousand names
    /// replays in a table that stays in the cache, not in the checkpoint's (100,000 alive
    /// nodes: 7 MB of slots and names).
    mutating func freezeAliveSet() {
        guard !usesStrings, base == nil, table.count >= Self.baseMinimum else { return }
        base = AliveSet.Base(table)
        table = AliveTable(keepsRemovals: true)
    }

    /// Whether the alive set so far is frozen as a base (for the tests).
    var hasFrozenAliveSet: Bool { base != nil }

    private mutating func moveTableToState() {
        if let base {
            var nodes = AliveSet(base: base)
            table.forEachChange(since: base.table) { name, address in
                nodes[String(decoding: name, as: UTF8.self)] = address.map { String(decoding: $0, as: UTF8.self) }
            }
            state.aliveNodes = nodes
            self.base = nil
        } else {
            state.aliveNodes = AliveSet(table.aliveNodes())
        }
        table.removeAll()
        usesStrings = true
    }
}
