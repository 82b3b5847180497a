import Glibc

/// An IPv4 or IPv6 address, parsed once at the edge and printed exactly as Go's
/// `net.IP.String()` prints it, so that `alive:` records are byte-compatible with Go serf.
public struct IPAddress: Hashable, Sendable {
    /// IPv4 addresses keep 4 bytes; everything else keeps 16.
    public let bytes: [UInt8]

    /// Parses dotted IPv4 or textual IPv6 (RFC 4291). Returns nil for anything else.
    public init?(_ text: String) {
        guard !text.utf8.contains(0) else { return nil }  // inet_pton would stop at a NUL
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Go prints an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) in dotted form.
    private var ipv4Bytes: ArraySlice<UInt8>? {
        if bytes.count == 4 { return bytes[...] }
        let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        if bytes[0..<12].elementsEqual(mappedPrefix) { return bytes[12..<16] }
        return nil
    }

    public var isIPv4: Bool { ipv4Bytes != nil }

    /// Go's `net.IP.String()`: dotted quad, or RFC 5952 IPv6 where the first longest run of two
    /// or more zero groups becomes `::` and hex digits are lower case.
    public var goString: String {
        if let v4 = ipv4Bytes {
            return v4.map { String($0) }.joined(separator: ".")
        }
        var groups = [UInt16](repeating: 0, count: 8)
        for i in 0..<8 { groups[i] = UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1]) }
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            guard groups[i] == 0 else { i += 1; continue }
            var j = i
            while j < 8 && groups[j] == 0 { j += 1 }
            if j - i > bestLength { bestStart = i; bestLength = j - i }
            i = j
        }
        if bestLength < 2 { bestStart = -1 }
        var out = ""
        var k = 0
        while k < 8 {
            if k == bestStart {
                out += "::"
                k += bestLength
                continue
            }
            if !out.isEmpty && !out.hasSuffix("::") { out += ":" }
            out += String(groups[k], radix: 16)
            k += 1
        }
        return out
    }

    /// Go's `net.TCPAddr{IP, Port}.String()`: `10.0.0.1:7946`, `[fe80::1]:7946`.
    public func goHostPort(port: UInt16) -> String {
        isIPv4 ? "\(goString):\(port)" : "[\(goString)]:\(port)"
    }
}
