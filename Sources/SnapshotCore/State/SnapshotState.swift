/// The state a snapshot describes: alive nodes, the three Lamport clocks and whether the agent
/// is leaving. A value: copying it is O(1) (`AliveSet`), which is what lets a checkpoint write
/// a frozen copy while the writer goes on changing its own.
public struct SnapshotState: Sendable, Equatable {
    /// Node name to address (`host:port`, as Go prints it).
    public var aliveNodes = AliveSet()
    public var lastClock: UInt64 = 0
    public var lastEventClock: UInt64 = 0
    public var lastQueryClock: UInt64 = 0
    /// Set by a leave; every later event is refused until the agent's new life (a rejoin).
    /// Held in memory only, as in Go: a replayed `leave` clears the state but does not make a
    /// restarted snapshot leaving (a new process is a new life).
    public var leaving = false

    public init() {}

    /// Applies one replayed record by Go serf's rules (the last record wins).
    public mutating func replay(_ record: SnapshotRecord, rejoinAfterLeave: Bool) {
        switch record {
        case .alive(let name, let address): aliveNodes[name] = address
        case .notAlive(let name): aliveNodes[name] = nil
        case .clock(let n): lastClock = n
        case .eventClock(let n): lastEventClock = n
        case .queryClock(let n): lastQueryClock = n
        case .leave:
            // Go clears the alive set and the clocks, unless the agent is to rejoin after a
            // leave (then it ignores the leave).
            if !rejoinAfterLeave { self = SnapshotState() }
        }
    }

    /// The agent starts a new life after a leave: Go's replay of that leave. The alive set and
    /// the clocks are cleared unless rejoin-after-leave keeps them; events are recorded again.
    public mutating func rejoin(rejoinAfterLeave: Bool) {
        if !rejoinAfterLeave { self = SnapshotState() }
        leaving = false
    }

    /// Applies one event as Go serf's snapshotter does, calling `emit` for each record to append.
    /// `clock` is the member Lamport clock the snapshotter watches.
    public mutating func apply(_ event: SnapshotEvent, clock: inout LamportClock, emit: (SnapshotRecord) -> Void) {
        switch event {
        case .member(let kind, let members, let ltime):
            if let ltime { clock.witness(ltime) }
            switch kind {
            case .join:
                for member in members {
                    // A node mostly rejoins at the address it had: keep that String (and the
                    // tree as it is) rather than build an equal one.
                    if let known = aliveNodes[member.name], member.address.isGoHostPort(known, port: member.port) {
                        emit(.alive(name: member.name, address: known))
                        continue
                    }
                    let address = member.recordedAddress
                    aliveNodes[member.name] = address
                    emit(.alive(name: member.name, address: address))
                }
            case .leave, .failed:
                for member in members {
                    aliveNodes[member.name] = nil
                    emit(.notAlive(name: member.name))
                }
            case .update, .reap:
                break
            }
            checkClock(clock, emit: emit)
        case .user(let ltime, _, _, _):
            // Old clocks are ignored: the event clock only moves forward.
            guard ltime > lastEventClock else { return }
            lastEventClock = ltime
            emit(.eventClock(ltime))
        case .query(let ltime, _):
            guard ltime > lastQueryClock else { return }
            lastQueryClock = ltime
            emit(.queryClock(ltime))
        case .clock(let ltime):
            clock.witness(ltime)
            checkClock(clock, emit: emit)
        }
    }

    /// Go's `updateClock`: records `clock: time - 1` when it is ahead of the last one recorded.
    public mutating func checkClock(_ clock: LamportClock, emit: (SnapshotRecord) -> Void) {
        let lastSeen = clock.lastSeen
        guard lastSeen > lastClock else { return }
        lastClock = lastSeen
        emit(.clock(lastSeen))
    }

    /// Alive nodes with their addresses, sorted by name, or shuffled (Go returns them in random
    /// order so that restarting agents do not all rejoin the same node first).
    public func aliveNodeList(shuffled: Bool = false) -> [(name: String, address: String)] {
        var nodes = aliveNodes.map { (name: $0.key, address: $0.value) }
        if shuffled { nodes.shuffle() } else { nodes.sort { $0.name < $1.name } }
        return nodes
    }

    /// The records that rebuild this state on their own: what compaction writes.
    public func compactedRecords(_ emit: (SnapshotRecord) -> Void) {
        for (name, address) in aliveNodes { emit(.alive(name: name, address: address)) }
        emit(.clock(lastClock))
        emit(.eventClock(lastEventClock))
        emit(.queryClock(lastQueryClock))
        if leaving { emit(.leave) }
    }
}
