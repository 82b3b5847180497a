@testable import SnapshotCore

/// What a recovery after a power loss must yield.
///
/// The invariant. A snapshot is a log replayed with Serf's rule that the last record wins. The
/// engine appends each submission's records with one write and answers only after fdatasync;
/// it applies submissions in order; and the workload waits for each answer, so when the power
/// goes at most one operation is in flight (a submission or a leave whose answer is the
/// failure the crash caused). (After a kill -9 and a restart, the operation the kill cut off
/// counts as in flight until the next acknowledged one syncs the file.) Compaction and reopening change no state: replaying a compacted
/// file (the live nodes, the three clocks, `leave` when leaving) gives the state it was made
/// from. So the recovered state must be exactly
///
///     replay(records of every acknowledged operation, in order)
///       followed by a prefix, in whole records, of the records of the operation in flight
///       (none of them, some, or all: a write cut anywhere is cut back to a record boundary)
///
/// with the records computed as the engine's writer computes them (`SnapshotState.apply`, a
/// leave clearing the alive set). "Every acknowledged event is present" is the wrong test
/// under last-record-wins: a `not-alive` of the batch in flight may follow an acknowledged join
/// of that node; the log held it and Serf would replay it, so the node may be gone. And the
/// exact form also rules out anything never submitted, or submitted and refused.
///
/// Beside it, a check from the acknowledged events alone, independent of the writer's record
/// logic, that names what was lost (`lostAcknowledged`):
/// - per node, the last acknowledged member event decides: alive at that join's address, or
///   absent after a leave or failure; unless the operation in flight names the node (then its
///   value is allowed too) or is a leave that reached the disk;
/// - each clock is at least the highest acknowledged Lamport time of its kind (clocks only move
///   forward; an older user event or query writes nothing);
/// - after an acknowledged leave: the state a replayed `leave` gives (Go's rule: no alive node,
///   the three clocks zero; a restarted engine is not leaving), until the new life's events;
/// and what was never submitted (`violations`): an alive node at an address no acknowledged or
/// in-flight join gave it, a clock no such event carried, a recovered state that is leaving
/// (a replayed leave never is).
enum PowerLossOracle {
    struct Verdict: Sendable {
        /// Everything wrong, the lost acknowledged effects included.
        var violations: [String] = []
        /// Acknowledged effects missing from the recovered state.
        var lostAcknowledged: [String] = []

        mutating func merge(_ other: Verdict) {
            violations += other.violations
            lostAcknowledged += other.lostAcknowledged
        }
    }

    static func check(_ history: PowerLossHistory, recovered: SnapshotState) -> Verdict {
        var verdict = Verdict()
        verdict.violations += exact(history, recovered: recovered)
        let lost = lostAcknowledged(history, recovered: recovered)
        verdict.lostAcknowledged = lost
        verdict.violations += lost + neverSubmitted(history, recovered: recovered)
        return verdict
    }

    // MARK: - The exact invariant

    /// The states a recovery may yield (see the type's comment).
    static func allowedStates(_ history: PowerLossHistory) -> (states: [SnapshotState], violations: [String]) {
        var violations: [String] = []
        // The writer's in-memory state and clock (they decide which records are written), and
        // the state a replay of those records gives.
        var memory = SnapshotState(), clock = LamportClock(), replayed = history.initial
        var inFlight: [SnapshotState]?
        // After a kill, the operation the kill interrupted may be in the page cache and so in
        // what the next engine replays, but durable only once something is synced after it:
        // until then a power loss may take it back to any of its prefixes.
        var unsyncedAfterKill: [SnapshotState] = []
        for entry in history.entries {
            switch entry {
            case .opened(let state):
                // An engine replays exactly what was acknowledged (after a kill: and a prefix of
                // the operation in flight).
                if !(inFlight ?? [replayed]).contains(state) {
                    violations.append("an engine opened on \(describe(state)), expected \(describe(replayed))")
                }
                if let inFlight { unsyncedAfterKill = inFlight }
                inFlight = nil
                memory = state
                replayed = state
                clock = LamportClock()
                clock.witness(state.lastClock)
            case .events(let events, .acknowledged):
                unsyncedAfterKill = []
                for event in events {
                    memory.apply(event, clock: &clock) { replayed.replay($0, rejoinAfterLeave: false) }
                }
            case .events(let events, .failed):
                var state = replayed, scratch = memory, scratchClock = clock
                var prefixes = [state]
                for event in events {
                    scratch.apply(event, clock: &scratchClock) { record in
                        state.replay(record, rejoinAfterLeave: false)
                        prefixes.append(state)
                    }
                }
                inFlight = prefixes
            case .leave(.acknowledged):
                unsyncedAfterKill = []
                if !memory.leaving {
                    memory.leaving = true
                    memory.aliveNodes = [:]
                    replayed.replay(.leave, rejoinAfterLeave: false)
                }
            case .leave(.failed):
                var left = replayed
                left.replay(.leave, rejoinAfterLeave: false)
                inFlight = memory.leaving ? [replayed] : [replayed, left]
            case .events(_, .refused), .leave(.refused):
                break
            }
        }
        return (unsyncedAfterKill + (inFlight ?? [replayed]), violations)
    }

    static func exact(_ history: PowerLossHistory, recovered: SnapshotState) -> [String] {
        let (states, violations) = allowedStates(history)
        guard !states.contains(recovered) else { return violations }
        return violations + ["recovered \(describe(recovered)), expected one of \(states.map(describe).joined(separator: " or "))"]
    }

    // MARK: - From the acknowledged events alone

    /// What the acknowledged events and the one in flight say, by node and by clock.
    private struct Expectation {
        /// The last acknowledged member event per node: its address, or nil when it left or failed.
        var nodes: [String: String?] = [:]
        var memberClock: UInt64 = 0, eventClock: UInt64 = 0, queryClock: UInt64 = 0
        var left = false
        /// What the operation in flight may have set.
        var inFlightNodes: [String: Set<String?>] = [:]
        var inFlightLeave = false
        /// Everything acknowledged or in flight: joins, clocks, leaves.
        var joins: Set<String> = []
        var memberClocks: Set<UInt64> = [0], eventClocks: Set<UInt64> = [0], queryClocks: Set<UInt64> = [0]

        init(_ history: PowerLossHistory) {
            // What the disk held at the start counts as acknowledged.
            let initial = history.initial
            for (name, address) in initial.aliveNodes {
                nodes[name] = .some(address)
                joins.insert(name + "@" + address)
            }
            memberClock = initial.lastClock
            eventClock = initial.lastEventClock
            queryClock = initial.lastQueryClock
            memberClocks.insert(memberClock)
            eventClocks.insert(eventClock)
            queryClocks.insert(queryClock)
            left = initial.leaving
            for entry in history.entries {
                switch entry {
                case .events(let events, .acknowledged):
                    // Acknowledged events after a leave are a new life's (a reopened engine).
                    inFlightLeave = false
                    left = false
                    for event in events { take(event, inFlight: false) }
                case .events(let events, .failed):
                    for event in events { take(event, inFlight: true) }
                case .leave(.acknowledged):
                    // Replayed, the leave clears everything before it.
                    left = true
                    nodes = [:]
                    inFlightNodes = [:]
                    inFlightLeave = false
                    (memberClock, eventClock, queryClock) = (0, 0, 0)
                case .opened(let state) where inFlightLeave && state.aliveNodes.isEmpty && state.lastClock == 0
                    && state.lastEventClock == 0 && state.lastQueryClock == 0:
                    // The leave a kill cut off had reached the file, and the restarted engine
                    // replayed it (the exact check holds the opened state to what is allowed).
                    nodes = [:]
                    inFlightNodes = [:]
                    inFlightLeave = false
                    (memberClock, eventClock, queryClock) = (0, 0, 0)
                case .leave(.failed):
                    inFlightLeave = true
                default:
                    break
                }
            }
        }

        private mutating func take(_ event: SnapshotEvent, inFlight: Bool) {
            switch event {
            case .member(let kind, let members, let ltime):
                if let ltime {
                    memberClocks.insert(ltime)
                    if !inFlight { memberClock = max(memberClock, ltime) }
                }
                for member in members {
                    let value: String??
                    switch kind {
                    case .join:
                        value = .some(member.recordedAddress)
                        joins.insert(member.name + "@" + member.recordedAddress)
                    case .leave, .failed: value = .some(nil)
                    case .update, .reap: value = nil
                    }
                    guard let value else { continue }
                    if inFlight {
                        inFlightNodes[member.name, default: []].insert(value)
                    } else {
                        nodes[member.name] = value
                        inFlightNodes[member.name] = nil
                    }
                }
            case .user(let ltime, _, _, _):
                eventClocks.insert(ltime)
                if !inFlight { eventClock = max(eventClock, ltime) }
            case .query(let ltime, _):
                queryClocks.insert(ltime)
                if !inFlight { queryClock = max(queryClock, ltime) }
            case .clock(let ltime):
                memberClocks.insert(ltime)
                if !inFlight { memberClock = max(memberClock, ltime) }
            }
        }
    }

    static func lostAcknowledged(_ history: PowerLossHistory, recovered: SnapshotState) -> [String] {
        let expected = Expectation(history)
        var lost: [String] = []
        let cleared = recovered.aliveNodes.isEmpty && recovered.lastClock == 0 && recovered.lastEventClock == 0
            && recovered.lastQueryClock == 0
        if expected.left {
            if !cleared { lost.append("the acknowledged leave is lost (\(describe(recovered)))") }
            return lost
        }
        // A leave in flight that reached the disk cleared everything.
        if expected.inFlightLeave && cleared { return lost }
        for (name, value) in expected.nodes.sorted(by: { $0.key < $1.key }) {
            let actual = recovered.aliveNodes[name]
            guard actual != value, !(expected.inFlightNodes[name]?.contains(actual) ?? false) else { continue }
            if let address = value {
                lost.append("the acknowledged join of \(name) at \(address) is lost (\(actual.map { "at \($0)" } ?? "absent"))")
            } else {
                lost.append("the acknowledged leave or failure of \(name) is lost (alive at \(actual ?? "?"))")
            }
        }
        if recovered.lastClock < expected.memberClock {
            lost.append("member clock \(recovered.lastClock) is behind the acknowledged \(expected.memberClock)")
        }
        if recovered.lastEventClock < expected.eventClock {
            lost.append("event clock \(recovered.lastEventClock) is behind the acknowledged \(expected.eventClock)")
        }
        if recovered.lastQueryClock < expected.queryClock {
            lost.append("query clock \(recovered.lastQueryClock) is behind the acknowledged \(expected.queryClock)")
        }
        return lost
    }

    static func neverSubmitted(_ history: PowerLossHistory, recovered: SnapshotState) -> [String] {
        let expected = Expectation(history)
        var wrong: [String] = []
        for (name, address) in recovered.aliveNodeList() where !expected.joins.contains(name + "@" + address) {
            wrong.append("\(name) alive at \(address), which no acknowledged or in-flight join said")
        }
        if !expected.memberClocks.contains(recovered.lastClock) { wrong.append("member clock \(recovered.lastClock) never submitted") }
        if !expected.eventClocks.contains(recovered.lastEventClock) { wrong.append("event clock \(recovered.lastEventClock) never submitted") }
        if !expected.queryClocks.contains(recovered.lastQueryClock) { wrong.append("query clock \(recovered.lastQueryClock) never submitted") }
        if recovered.leaving { wrong.append("leaving after a recovery: a replayed leave clears the state, it does not make it leaving") }
        return wrong
    }
}
