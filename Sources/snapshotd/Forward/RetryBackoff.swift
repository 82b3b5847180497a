/// How long `snapshotd forward` waits before its next attempt: exponential from 50 ms, doubled
/// each time up to 1 s, with jitter (half the step fixed, half random) so that the agents of a
/// cluster that all lost snapshotd at once do not retry in step; at least a 503's `Retry-After`,
/// but never more than `maxWait` (an overloaded snapshotd's hint is honoured, within reason: the
/// agent runs its handlers one at a time and waits for each).
struct RetryBackoff {
    static let first = 0.05
    static let maxStep = 1.0
    static let maxWait = 5.0

    private(set) var attempts = 0

    /// The wait after a failed attempt (and counts it).
    mutating func next(retryAfter: Double?, random: Double = Double.random(in: 0..<1)) -> Double {
        let step = min(Self.maxStep, Self.first * Double(1 << min(attempts, 20)))
        attempts += 1
        let jittered = step / 2 + step / 2 * random
        return min(Self.maxWait, max(jittered, retryAfter ?? 0))
    }
}
