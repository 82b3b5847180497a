import Glibc

/// A point on the monotonic clock that `snapshotd forward` must be done by.
struct Deadline {
    /// Nanoseconds on CLOCK_MONOTONIC.
    let nanoseconds: UInt64

    init(secondsFromNow seconds: Double) {
        nanoseconds = Self.now() &+ UInt64(max(0, seconds) * 1e9)
    }

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Seconds left, 0 once passed.
    var remaining: Double {
        let now = Self.now()
        return now >= nanoseconds ? 0 : Double(nanoseconds - now) / 1e9
    }

    /// Milliseconds left for poll(2): at least 1 while any time is left, 0 once passed.
    var pollMilliseconds: Int32 {
        let left = remaining
        return left <= 0 ? 0 : Int32(min(Double(Int32.max), (left * 1000).rounded(.up)))
    }

    static func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var left = timespec()
        while nanosleep(&request, &left) != 0, errno == EINTR { request = left }
    }
}
