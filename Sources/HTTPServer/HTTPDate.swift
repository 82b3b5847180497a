#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The IMF-fixdate of the current second (RFC 9110 §5.6.7), cached per owner: formatting
/// happens at most once per second, without Foundation.
struct HTTPDate {
    private var second: Int = -1
    /// "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    private(set) var headerLine: [UInt8] = []

    /// Refreshes the cached line if the second changed.
    mutating func update() {
        let now = Int(time(nil))
        if now == second { return }
        second = now
        headerLine = Self.headerLine(for: now)
    }

    static func headerLine(for seconds: Int) -> [UInt8] {
        var clock = time_t(seconds)
        var parts = tm()
        gmtime_r(&clock, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var line: [UInt8] = []
        line.reserveCapacity(37)
        line.append(contentsOf: "Date: ".utf8)
        line.append(contentsOf: days[Int(parts.tm_wday) % 7].utf8)
        line.append(contentsOf: ", ".utf8)
        appendTwoDigits(Int(parts.tm_mday), to: &line)
        line.append(0x20)
        line.append(contentsOf: months[Int(parts.tm_mon) % 12].utf8)
        line.append(0x20)
        let year = Int(parts.tm_year) + 1900
        appendTwoDigits(year / 100, to: &line)
        appendTwoDigits(year % 100, to: &line)
        line.append(0x20)
        appendTwoDigits(Int(parts.tm_hour), to: &line)
        line.append(UInt8(ascii: ":"))
        appendTwoDigits(Int(parts.tm_min), to: &line)
        line.append(UInt8(ascii: ":"))
        appendTwoDigits(Int(parts.tm_sec), to: &line)
        line.append(contentsOf: " GMT\r\n".utf8)
        return line
    }

    private static func appendTwoDigits(_ value: Int, to line: inout [UInt8]) {
        line.append(UInt8(truncatingIfNeeded: 0x30 + (value / 10) % 10))
        line.append(UInt8(truncatingIfNeeded: 0x30 + value % 10))
    }
}
