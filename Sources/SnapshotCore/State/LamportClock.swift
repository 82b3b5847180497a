/// Serf's member Lamport clock, as the snapshotter sees it. It starts at 1, as Serf's does
/// (Serf increments a new clock once), so that `time - 1` never wraps below zero: Go's
/// snapshotter with a zero clock records 18446744073709551615 and poisons every later clock.
public struct LamportClock: Sendable, Equatable {
    public private(set) var time: UInt64 = 1

    public init() {}

    /// Go's `Witness(v)`: when `v` is not behind the clock, the clock moves to `v + 1`
    /// (saturating at the top instead of wrapping to zero).
    public mutating func witness(_ value: UInt64) {
        if value >= time { time = value == .max ? .max : value + 1 }
    }

    /// The last time the agent has seen: what a `clock:` record holds.
    public var lastSeen: UInt64 { time - 1 }
}
