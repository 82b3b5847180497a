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
    /// Records by `RecordView.Kind.rawValue`: inline, no array to check for uniqueness per record.
    private var counts = InlineArray<6, Int>(repeating: 0)
    /// The table as it was when its alive set began converting on another thread
    /// (`convertAliveSetInBackground()`); `table` then starts empty and takes the records
    /// after it (`keepsRemovals`), and the alive set is that conversion with what `table`
    /// changed applied. Nil once the table is emptied (nothing of it is kept then).
    private var converting: (table: AliveTable, conversion: AliveSetConversion)?

    /// Alive sets smaller than this are made Strings where they are needed: a thread costs
    /// more than they do.
    static let backgroundConversionMinimum = 4096

    init(rejoinAfterLeave: Bool) {
        self.rejoinAfterLeave = rejoinAfterLeave
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
        switch record.kind {
        case .alive where !usesStrings:
            if table.setAlive(record.name, address: record.address) { return }
            moveTableToState()
        case .notAlive where !usesStrings:
            if table.setNotAlive(record.name) { return }
            moveTableToState()
        case .leave where !rejoinAfterLeave:
            // Everything is cleared (by `state.replay` below): the table can serve again.
            table.removeAll()
            converting = nil
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

    /// Starts making the alive set so far Strings and a tree on another thread, while records
    /// go on onto a table of their own (recovery: the checkpoint's alive set, while the log
    /// replays); `finishState()` takes it and applies what they changed. Nothing happens for a
    /// small set, or when conversions already run on the other CPUs (`AliveSetConversion`).
    ///
    /// The records' table holds only the names they set: a log over a few thousand names
    /// replays in a table that stays in the cache, not in the checkpoint's (100,000 alive
    /// nodes: 7 MB of slots and names, copied at the first write while the conversion holds
    /// them). Measured under perf, 1,000,000 records onto a 100,000-node checkpoint: 75 ms of
    /// samples a run against 85 ms on the checkpoint's table; the open's wall time is the
    /// conversion's.
    mutating func convertAliveSetInBackground() {
        guard !usesStrings, converting == nil, table.count >= Self.backgroundConversionMinimum else { return }
        guard let conversion = AliveSetConversion.start(table) else { return }
        converting = (table, conversion)
        table = AliveTable(keepsRemovals: true)
    }

    /// Whether the alive set is converting on another thread (for the tests).
    var isConvertingInBackground: Bool { converting != nil }

    private mutating func moveTableToState() {
        if let (earlier, conversion) = converting {
            var nodes = conversion.wait()
            table.forEachChange(since: earlier) { name, address in
                nodes[String(decoding: name, as: UTF8.self)] = address.map { String(decoding: $0, as: UTF8.self) }
            }
            state.aliveNodes = nodes
            converting = nil
        } else {
            state.aliveNodes = table.aliveNodes()
        }
        table.removeAll()
        usesStrings = true
    }
}
