import Glibc

/// An IPv4 or IPv6 address, parsed once at the edge and printed exactly as Go's
/// `net.IP.String()` prints it, so that `alive:` records are byte-compatible with Go serf.
/// Stored inline (no heap allocation): it is on the ingest path of every member event.
public struct IPAddress: Hashable, Sendable {
    /// The 16 bytes of the address, big-endian, IPv4 in the last 4 (and `count == 4`).
    private let high: UInt64
    private let low: UInt64
    private let count: UInt8

    /// Parses dotted IPv4 or textual IPv6 (RFC 4291). Returns nil for anything else.
    public init?(_ text: String) {
        guard !text.utf8.contains(0) else { return nil }  // inet_pton would stop at a NUL
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(validBytes: withUnsafeBytes(of: &v4) { Array($0) })
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self.init(validBytes: withUnsafeBytes(of: &v6) { Array($0) })
            return
        }
        return nil
    }

    /// From 4 or 16 bytes in network order.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.init(validBytes: bytes)
    }

    /// From 4 or 16 bytes in network order, without copying them to the heap.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        let offset = 16 - bytes.count
        for (i, byte) in bytes.enumerated() {
            let position = offset + i
            if position < 8 { high |= UInt64(byte) << (56 - 8 * position) } else { low |= UInt64(byte) << (56 - 8 * (position - 8)) }
        }
        self.high = high
        self.low = low
        self.count = UInt8(bytes.count)
    }

    private init(validBytes: [UInt8]) {
        let parsed = validBytes.withUnsafeBytes { IPAddress(bytes: $0) }
        self = parsed ?? IPAddress.unspecified
    }

    private init(high: UInt64, low: UInt64, count: UInt8) {
        self.high = high
        self.low = low
        self.count = count
    }

    static let unspecified = IPAddress(high: 0, low: 0, count: 4)

    /// The bytes in network order: 4 for IPv4, 16 for IPv6.
    public var bytes: [UInt8] {
        var all = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            let shift = UInt64(56 - 8 * i)
            all[i] = UInt8(truncatingIfNeeded: high >> shift)
            all[i + 8] = UInt8(truncatingIfNeeded: low >> shift)
        }
        return count == 4 ? Array(all[12...]) : all
    }

    /// IPv4, or IPv4-mapped IPv6 (`::ffff:a.b.c.d`), which Go prints in dotted form.
    public var isIPv4: Bool { count == 4 || (high == 0 && low >> 32 == 0xFFFF) }

    private func group(_ i: Int) -> UInt16 {
        UInt16(truncatingIfNeeded: i < 4 ? high >> (48 - 16 * UInt64(i)) : low >> (48 - 16 * UInt64(i - 4)))
    }

    /// Go's `net.IP.String()`: dotted quad, or RFC 5952 IPv6 where the first longest run of two
    /// or more zero groups becomes `::` and hex digits are lower case.
    public var goString: String {
        if isIPv4 {
            return String(unsafeUninitializedCapacity: 15) { writeIPv4(into: $0) }  // 255.255.255.255
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(39)
        appendIPv6(to: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Go's `net.TCPAddr{IP, Port}.String()`: `10.0.0.1:7946`, `[fe80::1]:7946`.
    public func goHostPort(port: UInt16) -> String {
        guard isIPv4 else { return "[\(goString)]:\(port)" }
        // The common case, written straight into the String: one allocation at most.
        return String(unsafeUninitializedCapacity: Self.maxIPv4HostPort) { writeIPv4HostPort(port: port, into: $0) }
    }

    /// Whether `text` is `goHostPort(port:)`, without building that String (IPv4 compared in
    /// place; the writer uses it to keep a node's address String when a join repeats it).
    public func isGoHostPort(_ text: String, port: UInt16) -> Bool {
        guard isIPv4 else { return text == goHostPort(port: port) }
        var text = text
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.maxIPv4HostPort) { out in
            let count = writeIPv4HostPort(port: port, into: out)
            return text.withUTF8 { bytes in
                guard bytes.count == count, let a = bytes.baseAddress, let b = out.baseAddress else { return false }
                return memcmp(a, b, count) == 0
            }
        }
    }

    /// `255.255.255.255:65535`
    private static let maxIPv4HostPort = 21

    /// Writes the dotted quad (the last 4 bytes); returns the count written (at most 15).
    private func writeIPv4(into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var n = 0
        for shift in stride(from: 24, through: 0, by: -8) {
            if shift < 24 {
                out[n] = UInt8(ascii: ".")
                n += 1
            }
            n = Self.writeDecimal(UInt32(truncatingIfNeeded: low >> UInt64(shift)) & 0xFF, into: out, at: n)
        }
        return n
    }

    /// Writes the dotted quad and port; returns the count written (at most `maxIPv4HostPort`).
    private func writeIPv4HostPort(port: UInt16, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var n = writeIPv4(into: out)
        out[n] = UInt8(ascii: ":")
        n += 1
        return Self.writeDecimal(UInt32(port), into: out, at: n)
    }

    /// RFC 5952 text of an IPv6 address that is not IPv4-mapped.
    private func appendIPv6(to buffer: inout [UInt8]) {
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            guard group(i) == 0 else { i += 1; continue }
            var j = i
            while j < 8 && group(j) == 0 { j += 1 }
            if j - i > bestLength { bestStart = i; bestLength = j - i }
            i = j
        }
        if bestLength < 2 { bestStart = -1 }
        let hex: StaticString = "0123456789abcdef"
        var k = 0
        var afterGap = false
        while k < 8 {
            if k == bestStart {
                buffer.append(contentsOf: [UInt8(ascii: ":"), UInt8(ascii: ":")])
                k += bestLength
                afterGap = true
                continue
            }
            if k > 0 && !afterGap { buffer.append(UInt8(ascii: ":")) }
            afterGap = false
            let value = group(k)
            var started = false
            for shift in stride(from: 12, through: 0, by: -4) {
                let digit = Int((value >> UInt16(shift)) & 0xF)
                if digit != 0 || started || shift == 0 {
                    buffer.append(hex.utf8Start[digit])
                    started = true
                }
            }
            k += 1
        }
    }

    /// Writes `value` in decimal at `start`; returns the index after its last digit.
    private static func writeDecimal(_ value: UInt32, into out: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        var digits = 1, rest = value
        while rest >= 10 { rest /= 10; digits += 1 }
        var index = start + digits, remaining = value
        repeat {
            index -= 1
            out[index] = UInt8(truncatingIfNeeded: remaining % 10) + 0x30
            remaining /= 10
        } while remaining > 0
        return start + digits
    }

}
