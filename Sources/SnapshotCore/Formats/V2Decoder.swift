/// Feeds a v2 snapshot through its checksums, one chunk at a time. A record whose checksum
/// fails is reported and skipped, and decoding resynchronises on the next valid record, so
/// one damaged record costs only itself. An incomplete last record is a torn tail.
///
/// Records are decoded in place from the chunk they are fed in: only an incomplete record at
/// the end of a chunk is copied, to be completed by the next one. A mapped file, fed whole,
/// is never copied.
public struct V2Decoder: SnapshotDecoder {
    /// The bytes of an incomplete record (or header) at the end of the last chunk.
    private var pending: [UInt8] = []
    /// File offset of `pending[0]`: where decoding resumes.
    private var pendingOffset: Int64 = 0
    private var headerRead = false
    /// Where the damaged bytes now being skipped began.
    private var damageStart: Int64?
    /// End of the last valid record (or of the header).
    private var validEnd: Int64 = 0
    /// The header's creation time, once read and verified.
    public private(set) var createdAt: UInt64?
    /// The log position of a checkpoint's header extension, once read and verified.
    public private(set) var logPosition: UInt64?
    /// Set by a valid header with `V2Format.logPositionFlag`: the extension is read next.
    private var extensionPending = false
    /// Checksum work left for the damaged region being skipped. Resynchronisation tries a
    /// checksum at every offset whose length and type look plausible; a crafted file could make
    /// every offset look so, and cost a checksum of up to `maxPayload` bytes each. The budget
    /// grows with the bytes skipped, so that work stays linear in the file size; a candidate
    /// over budget counts as damage.
    private var resyncBudget = 0
    static let resyncBytesPerSkippedByte = 64
    static let resyncBaseBudget = 1 << 20

    public init() {}

    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ visit: (ReplayItem) -> Void) {
        ItemVisitor.with(visit) { feed(chunk, into: &$0) }
    }

    public mutating func finish(_ visit: (ReplayItem) -> Void) -> Int64 {
        ItemVisitor.with(visit) { finish(into: &$0) }
    }

    mutating func feed<V: ReplayVisitor>(_ chunk: UnsafeRawBufferPointer, into visitor: inout V) {
        var rest = chunk
        while !pending.isEmpty && !rest.isEmpty {
            // Complete the carried record with the head of the chunk: any record starting in
            // `pending` ends within `maxRecordSize` bytes.
            let carried = pending.count
            let head = min(rest.count, V2Format.maxRecordSize)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<head]))
            rest = UnsafeRawBufferPointer(rebasing: rest[head...])
            let used = decodePending(final: false, &visitor)
            if used >= carried {
                // What is left of `pending` is a copy of the chunk: decode the chunk in place.
                let resume = chunk.count - rest.count - pending.count
                rest = UnsafeRawBufferPointer(rebasing: chunk[resume...])
                pending.removeAll(keepingCapacity: true)
            }
        }
        guard !rest.isEmpty else { return }
        let used = decode(rest, at: pendingOffset, final: false, &visitor)
        pendingOffset += Int64(used)
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[used...]))
    }

    mutating func finish<V: ReplayVisitor>(into visitor: inout V) -> Int64 {
        _ = decodePending(final: true, &visitor)
        return validEnd
    }

    /// Decodes `pending`, drops the bytes used and returns their count.
    private mutating func decodePending<V: ReplayVisitor>(final: Bool, _ visitor: inout V) -> Int {
        var carried: [UInt8] = []
        swap(&carried, &pending)
        let used = carried.withUnsafeBytes { decode($0, at: pendingOffset, final: final, &visitor) }
        carried.removeSubrange(0..<used)
        swap(&carried, &pending)
        pendingOffset += Int64(used)
        return used
    }

    /// Decodes what it can of `bytes`, which start at file offset `base`, and returns how many
    /// bytes it used: the rest starts with an incomplete record, unless `final`.
    private mutating func decode<V: ReplayVisitor>(_ bytes: UnsafeRawBufferPointer, at base: Int64, final: Bool, _ visitor: inout V) -> Int {
        var position = 0
        if !headerRead {
            guard bytes.count >= V2Format.headerSize || final else { return 0 }
            let headerDamaged = readHeader(bytes, &visitor)
            position = min(bytes.count, V2Format.headerSize)
            // A header cut short is a torn file start: cut it, and a new header is written.
            // Damaged short bytes are kept.
            validEnd = position == V2Format.headerSize || headerDamaged ? Int64(position) : 0
        }
        if extensionPending {
            guard bytes.count - position >= V2Format.logPositionExtensionSize || final else { return position }
            readLogPosition(bytes, at: position, base: base, &visitor)
            position = min(bytes.count, position + V2Format.logPositionExtensionSize)
        }
        while true {
            switch record(at: position, in: bytes) {
            case .valid(let record, let length):
                closeDamage(at: base + Int64(position), &visitor)
                visitor.record(record, offset: base + Int64(position))
                position += length
                validEnd = base + Int64(position)
                continue
            case .invalid:
                if damageStart == nil {
                    damageStart = base + Int64(position)
                    resyncBudget = Self.resyncBaseBudget
                }
                resyncBudget += Self.resyncBytesPerSkippedByte
                position += 1
                continue
            case .incomplete:
                break
            }
            guard final else { break }
            // At the end of the file: is anything valid after this point?
            // The search is charged to a damaged region's budget, like any resynchronisation.
            let damagedBefore = damageStart != nil
            if !damagedBefore {
                damageStart = base + Int64(position)
                resyncBudget = Self.resyncBaseBudget + Self.resyncBytesPerSkippedByte * (bytes.count - position)
            }
            if let next = nextValidRecord(after: position, in: bytes) {
                position = next
                continue
            }
            if !damagedBefore { damageStart = nil }
            // No. After valid records, what is left is a torn tail: the start of a record whose
            // header is plausible and whose bytes stop at the end of the file (an interrupted
            // append); it is cut. Damage that runs to the end is reported once and kept: it is
            // part of the valid length, never a torn tail.
            if let start = damageStart {
                let end = base + Int64(bytes.count)
                visitor.skipped(offset: start, length: end - start, reason: "damaged records up to the end of the file")
                damageStart = nil
                validEnd = end
            }
            position = bytes.count
            break
        }
        return position
    }

    private enum Candidate {
        case valid(RecordView, length: Int)
        case invalid
        case incomplete
    }

    /// Whether a valid record starts at `position` of `bytes`.
    private mutating func record(at position: Int, in bytes: UnsafeRawBufferPointer) -> Candidate {
        let available = bytes.count - position
        guard available >= V2Format.recordOverhead else { return .incomplete }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
        let type = bytes[position + 4]
        guard length <= V2Format.maxPayload, V2Format.RecordType(rawValue: type) != nil else { return .invalid }
        let total = length + V2Format.recordOverhead
        guard available >= total else { return .incomplete }
        if damageStart != nil {
            guard resyncBudget >= length else { return .invalid }
            resyncBudget -= length
        }
        let covered = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + 5 + length)])
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 5 + length, as: UInt32.self))
        guard CRC32C.checksum(covered) == stored else { return .invalid }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[(position + 5)..<(position + 5 + length)])
        guard let record = V2Format.decodePayloadView(type: type, payload) else { return .invalid }
        return .valid(record, length: total)
    }

    private mutating func nextValidRecord(after position: Int, in bytes: UnsafeRawBufferPointer) -> Int? {
        var candidate = position + 1
        while candidate + V2Format.recordOverhead <= bytes.count {
            if case .valid = record(at: candidate, in: bytes) { return candidate }
            candidate += 1
        }
        return nil
    }

    private mutating func closeDamage<V: ReplayVisitor>(at end: Int64, _ visitor: inout V) {
        guard let start = damageStart else { return }
        visitor.skipped(offset: start, length: end - start, reason: "checksum mismatch")
        damageStart = nil
    }

    /// Reads the header; returns true when it reported it damaged.
    private mutating func readHeader<V: ReplayVisitor>(_ bytes: UnsafeRawBufferPointer, _ visitor: inout V) -> Bool {
        headerRead = true
        let size = V2Format.headerSize
        guard bytes.count >= size else {
            // A file cut short inside its header: the creation of the file was interrupted when
            // what is there is the start of a header; anything else is damage.
            let expected = min(bytes.count, V2Format.magic.count)
            if !bytes[0..<expected].elementsEqual(V2Format.magic.prefix(expected)) {
                visitor.skipped(offset: 0, length: Int64(bytes.count), reason: "damaged header")
                return true
            }
            return false
        }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: size - 4, as: UInt32.self))
        let valid = bytes[0..<8].elementsEqual(V2Format.magic)
            && UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self)) == V2Format.version
            && CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(size - 4)])) == stored
        if valid {
            createdAt = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt64.self))
            // Other flag bits are not checked, as before there were any.
            let flags = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 10, as: UInt16.self))
            extensionPending = flags & V2Format.logPositionFlag != 0
            visitor.ignored(offset: 0)
            return false
        }
        visitor.skipped(offset: 0, length: Int64(size), reason: "damaged header")
        return true
    }

    /// Reads the log position extension at `position` of `bytes` (file offset `base + position`).
    /// A damaged one is reported like a damaged header, and the records after it are read; one
    /// cut short by the end of the file is a torn file start, as a header cut short is.
    private mutating func readLogPosition<V: ReplayVisitor>(_ bytes: UnsafeRawBufferPointer, at position: Int, base: Int64,
                                                            _ visitor: inout V) {
        extensionPending = false
        let end = position + V2Format.logPositionExtensionSize
        guard end <= bytes.count else {
            validEnd = 0
            return
        }
        if let found = V2Format.decodeLogPosition(UnsafeRawBufferPointer(rebasing: bytes[position..<end])) {
            logPosition = found
        } else {
            visitor.skipped(offset: base + Int64(position), length: Int64(V2Format.logPositionExtensionSize),
                            reason: "damaged header extension")
        }
        validEnd = base + Int64(end)
    }
}
