import Glibc

/// Feeds a v1 (Go text) snapshot through Go serf's replay rules, one chunk at a time.
/// A final line without `\n` is a torn tail: Go ignores it; `finish()` reports where it starts.
public struct V1Decoder: SnapshotDecoder {
    private var carry: [UInt8] = []
    /// Offset of the first byte not yet part of a complete line.
    private var lineStart: Int64 = 0

    public init() {}

    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ visit: (ReplayItem) -> Void) {
        ItemVisitor.with(visit) { feed(chunk, into: &$0) }
    }

    public mutating func finish(_ visit: (ReplayItem) -> Void) -> Int64 {
        ItemVisitor.with(visit) { finish(into: &$0) }
    }

    mutating func feed<V: ReplayVisitor>(_ chunk: UnsafeRawBufferPointer, into visitor: inout V) {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        let end = base + chunk.count
        var start = base
        while start < end {
            guard let found = memchr(start, 0x0A, end - start) else {
                carry.append(contentsOf: UnsafeRawBufferPointer(start: start, count: end - start))
                return
            }
            let newline = UnsafeRawPointer(found)
            let line = UnsafeRawBufferPointer(start: start, count: newline - start)
            if carry.isEmpty {
                emit(line, &visitor)
            } else {
                carry.append(contentsOf: line)
                let joined = carry
                carry.removeAll(keepingCapacity: true)
                joined.withUnsafeBytes { emit($0, &visitor) }
            }
            start = newline + 1
        }
    }

    mutating func finish<V: ReplayVisitor>(into visitor: inout V) -> Int64 {
        lineStart
    }

    private mutating func emit<V: ReplayVisitor>(_ line: UnsafeRawBufferPointer, _ visitor: inout V) {
        let offset = lineStart
        let length = Int64(line.count + 1)
        lineStart += length
        switch V1Format.parseLineView(line) {
        case .record(let record): visitor.record(record, offset: offset)
        case .ignored: visitor.ignored(offset: offset)
        case .malformed(let reason): visitor.skipped(offset: offset, length: length, reason: reason)
        }
    }
}
