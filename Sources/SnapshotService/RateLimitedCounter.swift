import Dispatch
import Synchronization

/// Lets an occurrence through at most once per interval and counts the ones held back in
/// between: something that can happen thousands of times a second (a failing `accept`) is
/// logged as at most one line an interval, which says how many it stands for.
public final class RateLimitedCounter: Sendable {
    private let interval: UInt64
    private let state = Mutex<(last: UInt64?, suppressed: Int)>((nil, 0))

    /// `seconds` between two occurrences let through.
    public init(interval seconds: Double) {
        interval = UInt64(max(0, seconds) * 1e9)
    }

    /// Records one occurrence at `now` (uptime nanoseconds). When it is let through, returns how
    /// many were held back since the last one let through; nil when it is held back itself.
    public func record(now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Int? {
        state.withLock { state -> Int? in
            if let last = state.last, now &- last < interval {
                state.suppressed += 1
                return nil
            }
            let suppressed = state.suppressed
            state = (now, 0)
            return suppressed
        }
    }
}
