import Glibc

/// Feeds a v1 (Go text) snapshot through Go serf's replay rules, one chunk at a time.
/// A final line without `\n` is a torn tail: Go ignores it; `finish()` reports where it starts.
public struct V1Decoder: SnapshotDecoder {
    private var carry: [UInt8] = []
    /// Offset of the first byte not yet part of a complete line.
    private var lineStart: Int64 = 0

    public init() {}

    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ visit: (ReplayItem) -> Void) {
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
                emit(line, visit)
            } else {
                carry.append(contentsOf: line)
                let joined = carry
                carry.removeAll(keepingCapacity: true)
                joined.withUnsafeBytes { emit($0, visit) }
            }
            start = newline + 1
        }
    }

    public mutating func finish(_ visit: (ReplayItem) -> Void) -> Int64 {
        lineStart
    }

    private mutating func emit(_ line: UnsafeRawBufferPointer, _ visit: (ReplayItem) -> Void) {
        let offset = lineStart
        let length = Int64(line.count + 1)
        lineStart += length
        switch V1Format.parseLine(line) {
        case .record(let record): visit(.record(record, offset: offset))
        case .ignored: visit(.ignored(offset: offset))
        case .malformed(let reason): visit(.skipped(offset: offset, length: length, reason: reason))
        }
    }
}
