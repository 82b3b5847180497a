import TestSupport
@testable import SnapshotCore

/// What a power-loss test does to the engine, step by step. Each step waits for its answer
/// before the next one starts (see `PowerLossDriver`), so a run's calls come in one order.
struct PowerLossWorkload: Sendable {
    enum Step: Sendable {
        /// One submission (one group commit: its records are written and synced together).
        case submit([SnapshotEvent])
        /// The agent leaves: `leave` is appended and synced; later submissions are refused.
        case leave
        /// Compacts, or lets the compaction the engine started on its own run now.
        case compact
        /// Closes the engine and opens a new one on the same file system.
        case reopen
    }

    static let path = "/data/snapshot"

    var name: String
    var format: SnapshotFormat
    /// Small, so that the engine compacts on its own as well.
    var minCompactSize: Int64
    var steps: [Step]

    var configuration: EngineConfiguration {
        var configuration = EngineConfiguration()
        // Small segments: cut often, and cheap to model in memory.
        configuration.segmentSize = 1024
        configuration.preparesSegmentsInBackground = false
        // Recovery replays the log in parts of a few records (`ChunkedLogReplay`) at every crash point.
        configuration.recoveryPartMinimum = 128
        configuration.recoveryThreads = 2  // in parts on any machine
        // And the checkpoint of `default` beside them, when it is v2 (`StoreRecovery`).
        configuration.recoveryParallelCheckpointMinimum = 0
        configuration.format = format
        configuration.durability = .fsync
        configuration.minCompactSize = minCompactSize
        // No timer-driven work: nothing happens at a time the workload does not choose.
        configuration.flushInterval = 3600
        configuration.compactionRetryInterval = 3600
        return configuration
    }

    // MARK: - The small one: every crash point

    /// Each durability-relevant shape once: a new file; batches of several records; a rejoin
    /// at a new address; a failure; clocks; a forced compaction; an automatic one with events
    /// appended to its tail meanwhile; a reopen of an existing file; an event with an old clock
    /// (no record); a leave in a compaction's tail, a refused submission after it, a reopen of a
    /// snapshot that left.
    static func small(format: SnapshotFormat) -> PowerLossWorkload {
        let a = node("a", "10.0.0.1"), b = node("b", "10.0.0.2"), c = node("c", "10.0.0.3")
        let d = node("d", "10.0.0.4"), e = node("e", "10.0.0.5")
        return PowerLossWorkload(name: "small-\(format)", format: format, minCompactSize: 256, steps: [
            .submit([.member(.join, members: [a, b], ltime: 3)]),
            .submit([.user(ltime: 5, name: "deploy", payload: [1, 2], coalesce: false), .query(ltime: 4, name: "uptime")]),
            .submit([.member(.failed, members: [a], ltime: nil)]),
            .submit([.member(.join, members: [node("a", "10.0.0.9")], ltime: 8)]),
            .submit([.clock(ltime: 12)]),
            .compact,
            .submit([.member(.join, members: [c], ltime: nil), .user(ltime: 6, name: "deploy", payload: [], coalesce: true),
                     .query(ltime: 5, name: "uptime")]),
            // Past the compaction threshold: the engine starts a compaction, held until the next `.compact`.
            .submit((7...30).map { .user(ltime: UInt64($0), name: "tick", payload: [], coalesce: false) }),
            .submit([.member(.leave, members: [b], ltime: 14)]),
            .submit([.member(.join, members: [d], ltime: nil), .member(.update, members: [d], ltime: 15),
                     .member(.reap, members: [b], ltime: nil)]),
            .submit([.member(.join, members: [a], ltime: 16)]),  // back at its first address
            .compact,
            .reopen,
            .submit([.user(ltime: 3, name: "old", payload: [], coalesce: false), .member(.join, members: [e], ltime: nil)]),
            .submit([.member(.failed, members: [c], ltime: nil), .query(ltime: 40, name: "uptime")]),
            // Past the threshold again: the leave goes into the held compaction's tail.
            .submit((41...70).map { .user(ltime: UInt64($0), name: "tick", payload: [], coalesce: false) }),
            .leave,
            .submit([.member(.join, members: [node("f", "10.0.0.6")], ltime: nil)]),
            .compact,
            .reopen,
            .leave,
        ])
    }

    // MARK: - After a crash: the recovery itself crashes

    /// What an engine does first on a crashed disk (repairs a torn tail, writes a header on an
    /// empty file, removes a stale `PATH.compact`) and a little more: a join and a user event,
    /// a compaction, a failure.
    static func afterCrash(format: SnapshotFormat) -> PowerLossWorkload {
        let z = node("z", "10.3.0.1")
        return PowerLossWorkload(name: "after-crash-\(format)", format: format, minCompactSize: 256, steps: [
            .submit([.member(.join, members: [z], ltime: 90), .user(ltime: 91, name: "again", payload: [], coalesce: false)]),
            .compact,
            .submit([.member(.failed, members: [node("a", "10.0.0.1")], ltime: nil), .query(ltime: 92, name: "uptime")]),
        ])
    }

    // MARK: - The big one: a seeded sample of crash points

    /// `count` steps drawn from `seed`: submissions of one to five events over a dozen names
    /// (joins at changing addresses, leaves, failures, updates, reaps, user events and queries
    /// with clocks mostly rising, member clocks), forced compactions, reopens; it ends with a
    /// leave, a refused submission, a compaction and a reopen.
    static func generated(format: SnapshotFormat, seed: UInt64, count: Int) -> PowerLossWorkload {
        var generator = SplitMix64(seed: seed)
        func draw(_ n: Int) -> Int { Int(generator.next() % UInt64(n)) }
        var userClock: UInt64 = 1, queryClock: UInt64 = 1, memberClock: UInt64 = 1
        var steps: [Step] = []
        for _ in 0..<count {
            switch draw(100) {
            case 0..<8: steps.append(.compact)
            case 8..<12: steps.append(.reopen)
            default:
                var events: [SnapshotEvent] = []
                for _ in 0...draw(5) {
                    let member = node("n\(draw(12))", "10.1.\(draw(3)).\(1 + draw(4))")
                    switch draw(10) {
                    case 0..<4:
                        memberClock += UInt64(draw(3))
                        events.append(.member(.join, members: [member], ltime: draw(2) == 0 ? memberClock : nil))
                    case 4: events.append(.member(.leave, members: [member], ltime: nil))
                    case 5: events.append(.member(.failed, members: [member], ltime: nil))
                    case 6: events.append(.member(draw(2) == 0 ? .update : .reap, members: [member], ltime: memberClock))
                    case 7:
                        userClock += UInt64(draw(4))
                        // Now and then an old one: recorded by no record.
                        let ltime = draw(6) == 0 ? userClock / 2 : userClock
                        events.append(.user(ltime: ltime, name: "u", payload: [UInt8(draw(256))], coalesce: draw(2) == 0))
                    case 8:
                        queryClock += UInt64(draw(4))
                        events.append(.query(ltime: queryClock, name: "q"))
                    default:
                        memberClock += UInt64(1 + draw(3))
                        events.append(.clock(ltime: memberClock))
                    }
                }
                steps.append(.submit(events))
            }
        }
        steps += [.leave, .submit([.member(.join, members: [node("late", "10.2.0.1")], ltime: nil)]), .compact, .reopen]
        return PowerLossWorkload(name: "generated-\(format)-seed-\(seed)", format: format, minCompactSize: 512, steps: steps)
    }

    private static func node(_ name: String, _ address: String) -> Member {
        guard let ip = IPAddress(address) else { preconditionFailure("not an address: \(address)") }
        return Member(name: name, address: ip, port: 7946)
    }
}
