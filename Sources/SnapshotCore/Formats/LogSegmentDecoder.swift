/// Reads one write-ahead-log segment (`LogFormat`), given whole (segments are mapped): every
/// valid record with its log position and snapshot, and what the rest of the segment is.
/// A value fed bytes, no I/O.
///
/// After the header, at each offset: a record is valid when its length is at most
/// `V2Format.maxPayload`, its type a v2 record type, all its bytes present, its checksum right
/// and its payload of its type's layout. Otherwise:
/// - zeros from there to the end are space preallocated and not yet written (`writtenEnd`);
/// - the start of a record whose bytes run out (or run into the zeros) right after the last
///   valid record is a torn tail: an append cut short (`tornTail`);
/// - anything else is damage, reported once per region; decoding resynchronises on the next
///   valid record, as v2 replay does.
public struct LogSegmentDecoder {
    public struct Damage: Sendable, Equatable {
        public var offset: Int
        public var length: Int
    }

    public struct Report: Sendable, Equatable {
        /// The header's base position; nil when the header is damaged (then nothing is read).
        public var base: UInt64?
        public var records = 0
        /// The end of the last valid record: where the writer appends next.
        public var validEnd = 0
        /// Where the unwritten zeros begin (the segment's size when there are none).
        public var writtenEnd = 0
        /// Bytes of an append cut short after the last valid record.
        public var tornTail = 0
        public var damaged: [Damage] = []
    }

    /// Where records start, and the base a header names (nil: the header is damaged): a log
    /// segment's (`LogFormat`) unless told otherwise (the catalog file's, `CatalogFile`).
    let headerSize: Int
    let base: (UnsafeRawBufferPointer) -> UInt64?

    public init() {
        self.init(headerSize: LogFormat.headerSize, base: LogFormat.base(ofHeader:))
    }

    init(headerSize: Int, base: @escaping (UnsafeRawBufferPointer) -> UInt64?) {
        self.headerSize = headerSize
        self.base = base
    }

    /// A valid record: a snapshot's, borrowed from the bytes, or a catalog change.
    private enum Entry {
        case record(RecordView)
        case catalog(CatalogRecord)
    }

    /// Decodes `segment`, calling `visit(position, snapshot, record)` for each valid record
    /// (`position` is the log's: the base plus the offset after the header).
    /// Catalog records go to `catalog`.
    public func decode(_ segment: UnsafeRawBufferPointer, _ visit: (UInt64, UInt32, SnapshotRecord) -> Void,
                       catalog: (UInt64, CatalogRecord) -> Void = { _, _ in }) -> Report {
        decodeViews(segment, { position, snapshot, view in visit(position, snapshot, view.record) }, catalog: catalog)
    }

    /// As `decode`, each record borrowed from `segment` for the visit (replay makes no String of it).
    ///
    /// `part`: decode only the records from `part.lowerBound` (a record's start, after the
    /// header) to `part.upperBound`, as if the segment's written bytes ended there
    /// (`ChunkedLogReplay`: a segment decoded in parts at once). The report is then that of the
    /// part; it is the whole segment's from the start of the part on when the part's start is
    /// where decoding the segment from its header would have found a valid record, not in a
    /// damaged region: the part before it decoded to its end with no damage and no torn tail.
    /// A part that ends at the segment's end (`upperBound` nil) finds the unwritten zeros itself.
    func decodeViews(_ segment: UnsafeRawBufferPointer, part: (lowerBound: Int, upperBound: Int?)? = nil,
                     _ visit: (UInt64, UInt32, RecordView) -> Void,
                     catalog: (UInt64, CatalogRecord) -> Void = { _, _ in }) -> Report {
        withoutActuallyEscaping(visit) { visit in
            withoutActuallyEscaping(catalog) { catalog in
                var visitor = ClosureLogVisitor(visit: visit, change: catalog)
                return decodeViews(segment, part: part, into: &visitor)
            }
        }
    }

    /// As `decodeViews(_:part:_:catalog:)`, to a visitor: replay's own, specialised with the
    /// loop, keeps its state in registers rather than in a closure's captures (recovery's
    /// parts: the captures' loads and the call were a third of their time).
    func decodeViews<V: LogVisitor>(_ segment: UnsafeRawBufferPointer, part: (lowerBound: Int, upperBound: Int?)? = nil,
                                    into visitor: inout V) -> Report {
        if let part, let upperBound = part.upperBound {
            // The bytes after the part are not this decode's: the part is a segment of its own
            // (same header), written to its end.
            precondition(part.lowerBound >= headerSize && upperBound >= part.lowerBound && upperBound <= segment.count)
            return decodeViews(UnsafeRawBufferPointer(rebasing: segment[0..<upperBound]), part: (part.lowerBound, nil),
                               into: &visitor, writtenToEnd: true)
        }
        return decodeViews(segment, part: part, into: &visitor, writtenToEnd: false)
    }

    private func decodeViews<V: LogVisitor>(_ segment: UnsafeRawBufferPointer, part: (lowerBound: Int, upperBound: Int?)?,
                                            into visitor: inout V, writtenToEnd: Bool) -> Report {
        var report = Report()
        let headerSize = self.headerSize
        guard let base = base(segment) else {
            report.writtenEnd = segment.count
            if Self.endOfNonZero(segment, notBefore: 0) <= headerSize {
                // Nothing past the header's bytes: the segment's first write (its header, then its
                // first records) cut short. No record can be in it: a torn tail, not damage.
                report.validEnd = 0
                report.tornTail = Self.endOfNonZero(segment, notBefore: 0)
                report.writtenEnd = report.tornTail
            } else if !segment.isEmpty {
                report.damaged = [Damage(offset: 0, length: segment.count)]
            }
            return report
        }
        report.base = base
        let end = segment.count
        // Zeros at the end are unwritten space: find where they start, once (a word at a time:
        // most of a preallocated segment can be zeros).
        let written = writtenToEnd ? end : Self.endOfNonZero(segment, notBefore: headerSize)
        report.writtenEnd = written
        var position = max(headerSize, part?.lowerBound ?? headerSize)
        report.validEnd = position
        var damageStart: Int?
        // Resynchronisation tries a checksum at every plausible offset of a damaged region; the
        // budget (as v2 replay's) keeps crafted bytes from costing more than linear work.
        var budget = Int.max
        while position < written {
            if let (length, entry) = validRecord(at: position, in: segment, before: end, budget: &budget) {
                if let start = damageStart {
                    report.damaged.append(Damage(offset: start, length: position - start))
                    damageStart = nil
                    budget = Int.max
                }
                let at = base + UInt64(position - headerSize)
                switch entry {
                case .record(let record):
                    visitor.record(at: at, snapshot: UInt32(littleEndian: segment.loadUnaligned(fromByteOffset: position, as: UInt32.self)), record)
                case .catalog(let change):
                    visitor.catalog(at: at, change)
                }
                report.records += 1
                position += length + LogFormat.recordOverhead
                report.validEnd = position
                continue
            }
            if damageStart == nil && position == report.validEnd && isTornStart(at: position, in: segment, writtenEnd: written) {
                // Only when nothing valid follows: a damaged length can look like a cut record
                // and must not swallow the records behind it.
                var search = position + 1, searchBudget = (1 << 20) + 64 * (written - position)
                var later = false
                while search < written && !later {
                    later = validRecord(at: search, in: segment, before: end, budget: &searchBudget) != nil
                    search += 1
                }
                if !later {
                    report.tornTail = written - position
                    report.writtenEnd = written
                    return report
                }
            }
            if damageStart == nil {
                damageStart = position
                budget = 1 << 20
            }
            budget += 64
            position += 1
        }
        if let start = damageStart {
            report.damaged.append(Damage(offset: start, length: written - start))
        }
        // A last record may end in zero bytes (its checksum's, say): it counts as written.
        report.writtenEnd = max(written, report.validEnd)
        return report
    }

    /// A likely record start at or after `target` and before `limit`: the first offset, within
    /// `window` bytes, where a valid record starts and is followed by another (or ends at
    /// `limit`). Nil when there is none. A guess, to split a segment for decoding in parts:
    /// only the part before it, decoded to its end, proves it (a record's bytes can look valid).
    func recordStart(near target: Int, in segment: UnsafeRawBufferPointer, before limit: Int, window: Int = 1 << 16) -> Int? {
        var budget = Int.max
        var position = max(target, headerSize)
        let last = min(limit, position + window)
        while position < last {
            if let (length, _) = validRecord(at: position, in: segment, before: limit, budget: &budget) {
                let next = position + length + LogFormat.recordOverhead
                if next == limit || validRecord(at: next, in: segment, before: limit, budget: &budget) != nil { return position }
            }
            position += 1
        }
        return nil
    }

    /// The offset after the last non-zero byte at or after `start` (`start` when there is none).
    static func endOfNonZero(_ bytes: UnsafeRawBufferPointer, notBefore start: Int) -> Int {
        var end = bytes.count
        // 64 bytes a test, then a word, then a byte.
        while end - 64 >= start {
            var any: UInt64 = 0
            for word in 1...8 { any |= bytes.loadUnaligned(fromByteOffset: end - word * 8, as: UInt64.self) }
            if any != 0 { break }
            end -= 64
        }
        while end - 8 >= start && bytes.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self) == 0 { end -= 8 }
        while end > start && bytes[end - 1] == 0 { end -= 1 }
        return end
    }

    /// The payload length and the record of the valid record at `position`, or nil.
    private func validRecord(at position: Int, in bytes: UnsafeRawBufferPointer, before end: Int,
                             budget: inout Int) -> (Int, Entry)? {
        guard end - position >= LogFormat.recordOverhead else { return nil }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self)))
        let type = bytes[position + 8]
        guard length <= V2Format.maxPayload, V2Format.RecordType(rawValue: type) != nil || type == LogFormat.catalogType,
              end - position >= length + LogFormat.recordOverhead, budget >= length else { return nil }
        if budget != .max { budget -= length }
        let covered = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + 9 + length)])
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 9 + length, as: UInt32.self))
        guard CRC32C.checksum(covered) == stored else { return nil }
        let payload = UnsafeRawBufferPointer(rebasing: covered[9...])
        if type == LogFormat.catalogType {
            // Only in the catalog's own stream: a snapshot's record of this type is damage.
            guard UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)) == LogFormat.catalogSnapshot,
                  let change = CatalogRecord(payload: payload) else { return nil }
            return (length, .catalog(change))
        }
        guard let record = V2Format.decodePayloadView(type: type, payload) else { return nil }
        return (length, .record(record))
    }

    /// Whether the written bytes from `position` on are the start of one record cut short: its
    /// header (as far as it got) plausible and its bytes ending before the record does.
    private func isTornStart(at position: Int, in bytes: UnsafeRawBufferPointer, writtenEnd: Int) -> Bool {
        let available = writtenEnd - position
        guard available > 0 else { return false }
        if available < 9 { return true }  // not even the length and type: nothing to check
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self)))
        let type = bytes[position + 8]
        guard length <= V2Format.maxPayload, V2Format.RecordType(rawValue: type) != nil || type == LogFormat.catalogType else { return false }
        return available < length + LogFormat.recordOverhead
    }
}

/// What `LogSegmentDecoder.decodeViews(_:part:into:)` reports to: each valid record, borrowed
/// from the segment for the call, with its log position and snapshot, and each catalog change.
protocol LogVisitor {
    mutating func record(at position: UInt64, snapshot: UInt32, _ record: RecordView)
    mutating func catalog(at position: UInt64, _ change: CatalogRecord)
}

/// The closures of `decodeViews(_:part:_:catalog:)` as a visitor.
private struct ClosureLogVisitor: LogVisitor {
    let visit: (UInt64, UInt32, RecordView) -> Void
    let change: (UInt64, CatalogRecord) -> Void

    mutating func record(at position: UInt64, snapshot: UInt32, _ record: RecordView) { visit(position, snapshot, record) }
    mutating func catalog(at position: UInt64, _ change: CatalogRecord) { self.change(position, change) }
}
