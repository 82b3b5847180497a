import Glibc

/// Go serf's text snapshot format: one record a line, every line ended by `\n`.
///
///     alive: NAME ADDR      (NAME may hold spaces: ADDR follows the last space)
///     not-alive: NAME
///     clock: N | event-clock: N | query-clock: N
///     leave
///     coordinate: ...       (old versions; ignored)
///     # ...                 (comment; ignored)
///     # snapshotd log position: N   (a comment to Go; a checkpoint's log position)
public enum V1Format {
    /// The comment snapshotd writes at the top of every v1 file it creates; Go skips it.
    public static let headerLine = "# serf snapshot v1 (snapshotd)\n"
    /// A checkpoint's comment after `headerLine`: `# snapshotd log position: N` (decimal), the
    /// log position the file covers. A comment to Go; the last such line counts.
    public static let logPositionPrefix = positionPrefix.description
    private static let positionPrefix: StaticString = "# snapshotd log position: "

    /// Appends the log position comment line for `position`.
    public static func appendLogPositionLine(_ position: UInt64, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: logPositionPrefix.utf8)
        appendDecimal(position, to: &buffer)
        buffer.append(0x0A)
    }

    /// The position a comment line (without its `\n`) holds when it is a log position line;
    /// nil for any other line, and for a position that is not a decimal UInt64.
    static func logPosition(inComment line: UnsafeRawBufferPointer) -> UInt64? {
        let n = positionPrefix.utf8CodeUnitCount
        guard line.count > n, let base = line.baseAddress, memcmp(base, positionPrefix.utf8Start, n) == 0 else { return nil }
        return parseDecimal(UnsafeRawBufferPointer(rebasing: line[n...]))
    }

    /// Appends the line for `record` to `buffer`.
    public static func encode(_ record: SnapshotRecord, into buffer: inout [UInt8]) {
        switch record {
        case .alive(let name, let address):
            buffer.append(contentsOf: "alive: ".utf8)
            buffer.append(contentsOf: name.utf8)
            buffer.append(0x20)
            buffer.append(contentsOf: address.utf8)
        case .notAlive(let name):
            buffer.append(contentsOf: "not-alive: ".utf8)
            buffer.append(contentsOf: name.utf8)
        case .clock(let n):
            buffer.append(contentsOf: "clock: ".utf8)
            appendDecimal(n, to: &buffer)
        case .eventClock(let n):
            buffer.append(contentsOf: "event-clock: ".utf8)
            appendDecimal(n, to: &buffer)
        case .queryClock(let n):
            buffer.append(contentsOf: "query-clock: ".utf8)
            appendDecimal(n, to: &buffer)
        case .leave:
            buffer.append(contentsOf: "leave".utf8)
        }
        buffer.append(0x0A)
    }

    static func appendDecimal(_ value: UInt64, to buffer: inout [UInt8]) {
        if value == 0 {
            buffer.append(0x30)
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 20 digits at most, kept off the heap
        var count = 0
        var v = value
        withUnsafeMutableBytes(of: &digits) { raw in
            while v > 0 {
                raw[count] = UInt8(truncatingIfNeeded: v % 10) &+ 0x30
                v /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { buffer.append(raw[i]) }
        }
    }

    /// What one complete line (without its `\n`) means, by Go serf's replay rules.
    public enum Line: Equatable, Sendable {
        case record(SnapshotRecord)
        /// A comment or an old `coordinate:` line: ignored, as Go does.
        case ignored
        /// A line Go would log and skip, with the reason.
        case malformed(String)
    }

    /// Parses one line by Go serf's rules: prefixes are matched exactly, numbers are unsigned
    /// 64-bit decimals, `alive:` splits at the last space.
    public static func parseLine(_ line: UnsafeRawBufferPointer) -> Line {
        switch parseLineView(line) {
        case .record(let view): .record(view.record)
        case .ignored: .ignored
        case .malformed(let reason): .malformed(reason)
        }
    }

    /// `Line` with the record as a view that borrows the line's bytes.
    enum LineView {
        case record(RecordView)
        case ignored
        case malformed(String)
    }

    /// `parseLine` without Strings.
    static func parseLineView(_ line: UnsafeRawBufferPointer) -> LineView {
        func hasPrefix(_ p: StaticString) -> Bool {
            let n = p.utf8CodeUnitCount
            guard line.count >= n, let base = line.baseAddress else { return false }
            return memcmp(base, p.utf8Start, n) == 0
        }
        func rest(_ p: StaticString) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: line[p.utf8CodeUnitCount...])
        }
        if line.isEmpty { return .malformed("empty line") }
        if hasPrefix("alive: ") {
            let info = rest("alive: ")
            var space = info.count - 1
            while space >= 0 && info[space] != 0x20 { space -= 1 }
            guard space >= 0 else { return .malformed("alive record without an address") }
            return .record(.alive(name: UnsafeRawBufferPointer(rebasing: info[..<space]),
                                  address: UnsafeRawBufferPointer(rebasing: info[(space + 1)...])))
        }
        if hasPrefix("not-alive: ") {
            return .record(.notAlive(name: rest("not-alive: ")))
        }
        if hasPrefix("clock: ") {
            guard let n = parseDecimal(rest("clock: ")) else { return .malformed("bad clock value") }
            return .record(.clock(.clock, n))
        }
        if hasPrefix("event-clock: ") {
            guard let n = parseDecimal(rest("event-clock: ")) else { return .malformed("bad event-clock value") }
            return .record(.clock(.eventClock, n))
        }
        if hasPrefix("query-clock: ") {
            guard let n = parseDecimal(rest("query-clock: ")) else { return .malformed("bad query-clock value") }
            return .record(.clock(.queryClock, n))
        }
        if hasPrefix("coordinate: ") || hasPrefix("#") { return .ignored }
        if line.count == 5 && hasPrefix("leave") { return .record(.leave) }
        return .malformed("unrecognized line")
    }

    /// The index of the last byte of `line` that Go serf never writes in a v1 file: a control
    /// byte other than tab (NUL among them), or DEL. Names are UTF-8, so bytes of 0x80 and above
    /// are text.
    static func lastNonTextByte(_ line: UnsafeRawBufferPointer) -> Int? {
        var end = line.count
        // Eight bytes at a time from the end: a word with no byte below 0x20 and none 0x7F (the
        // usual case, a whole line of text) is skipped at once; one that has either is looked at
        // byte by byte (a tab is text). Measured: the byte loop alone took v1 replay from 3.1x
        // Go serf's rate to 2.1x.
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while end >= 8 {
            let word = line.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self)
            let below20 = (word &- ones &* 0x20) & ~word & highs
            let is7F = ((word ^ (ones &* 0x7F)) &- ones) & ~(word ^ (ones &* 0x7F)) & highs
            if below20 | is7F != 0 {
                for index in stride(from: end - 1, through: end - 8, by: -1) where Self.isNotText(line[index]) { return index }
            }
            end -= 8
        }
        for index in stride(from: end - 1, through: 0, by: -1) where Self.isNotText(line[index]) { return index }
        return nil
    }

    @inline(__always)
    private static func isNotText(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != 0x09) || byte == 0x7F
    }

    /// Whether `bytes` (a last line without its `\n`) is what an interrupted append of a record
    /// leaves: text only, starting like a record or a comment (a prefix of `alive: ` counts too).
    static func isTornLine(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty, lastNonTextByte(bytes) == nil else { return false }
        for keyword in tornLineStarts {
            let n = min(keyword.count, bytes.count)
            if bytes.prefix(n).elementsEqual(keyword.prefix(n)) { return true }
        }
        return false
    }

    private static let tornLineStarts: [[UInt8]] = [
        "alive: ", "not-alive: ", "clock: ", "event-clock: ", "query-clock: ", "leave", "#", "coordinate: ",
    ].map { Array($0.utf8) }

    /// Go's `strconv.ParseUint(s, 10, 64)`: ASCII digits only (an optional leading `+` is
    /// not accepted by base 10 ParseUint either), no overflow.
    static func parseDecimal(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard !bytes.isEmpty else { return nil }
        var value: UInt64 = 0
        for b in bytes {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(b - 0x30))
            if o1 || o2 { return nil }
            value = s
        }
        return value
    }
}
