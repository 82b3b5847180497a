import Glibc

/// Feeds a v1 (Go text) snapshot through Go serf's replay rules, one chunk at a time, with two
/// repairs Go lacks:
/// - **Resynchronisation.** A run of non-text bytes (NULs left by a power loss on a file system
///   with delayed allocation, or any other control byte) is a damaged region: it is reported,
///   and the text after it on the same line is parsed as a line of its own, so a valid record
///   glued to the damage is kept (Go skips the whole line).
/// - **A provable torn tail.** A final line without `\n` is cut only when it is what an
///   interrupted append leaves: text that starts like a record (`alive: fo`). Anything else at
///   the end is damage, reported and kept.
public struct V1Decoder: SnapshotDecoder {
    private var carry: [UInt8] = []
    /// Offset of the first byte not yet part of a complete line.
    private var lineStart: Int64 = 0
    /// The log position of the last `# snapshotd log position: N` line (a checkpoint's).
    public private(set) var logPosition: UInt64?

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

    /// Ends the input and returns the length of the valid prefix: the file's length, or where a
    /// torn last line starts.
    mutating func finish<V: ReplayVisitor>(into visitor: inout V) -> Int64 {
        guard !carry.isEmpty else { return lineStart }
        let tail = carry
        carry.removeAll()
        let torn = tail.withUnsafeBytes { V1Format.isTornLine($0) }
        if torn { return lineStart }
        let offset = lineStart
        lineStart += Int64(tail.count)
        visitor.skipped(offset: offset, length: Int64(tail.count), reason: "damaged bytes without a line end, up to the end of the file")
        return lineStart
    }

    private mutating func emit<V: ReplayVisitor>(_ line: UnsafeRawBufferPointer, _ visitor: inout V) {
        let offset = lineStart
        let length = Int64(line.count + 1)
        lineStart += length
        var text = line, textOffset = offset
        if let damaged = V1Format.lastNonTextByte(line) {
            // Resynchronise: the damage runs to its last non-text byte; the rest may be a record.
            text = UnsafeRawBufferPointer(rebasing: line[(damaged + 1)...])
            textOffset = offset + Int64(damaged + 1)
            if text.isEmpty {
                visitor.skipped(offset: offset, length: length, reason: "non-text bytes")
                return
            }
            if case .malformed = V1Format.parseLineView(text) {
                visitor.skipped(offset: offset, length: length, reason: "non-text bytes")
                return
            }
            visitor.skipped(offset: offset, length: Int64(damaged + 1), reason: "non-text bytes")
        }
        switch V1Format.parseLineView(text) {
        case .record(let record): visitor.record(record, offset: textOffset)
        case .ignored:
            if let position = V1Format.logPosition(inComment: text) { logPosition = position }
            visitor.ignored(offset: textOffset)
        case .malformed(let reason): visitor.skipped(offset: offset, length: length, reason: reason)
        }
    }
}
