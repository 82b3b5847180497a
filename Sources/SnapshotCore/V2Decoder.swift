/// Feeds a v2 snapshot through its checksums, one chunk at a time. A record whose checksum
/// fails is reported and skipped, and decoding resynchronises on the next valid record, so
/// one damaged record costs only itself. An incomplete last record is a torn tail.
public struct V2Decoder: SnapshotDecoder {
    private var buffer: [UInt8] = []
    /// File offset of `buffer[0]`.
    private var bufferOffset: Int64 = 0
    private var headerRead = false
    /// Where the damaged bytes now being skipped began.
    private var damageStart: Int64?
    /// End of the last valid record (or of the header).
    private var validEnd: Int64 = 0
    /// The header's creation time, once read and verified.
    public private(set) var createdAt: UInt64?
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
        buffer.append(contentsOf: chunk)
        process(final: false, visit)
    }

    public mutating func finish(_ visit: (ReplayItem) -> Void) -> Int64 {
        process(final: true, visit)
        return validEnd
    }

    private mutating func process(final: Bool, _ visit: (ReplayItem) -> Void) {
        var position = 0
        if !headerRead {
            guard buffer.count >= V2Format.headerSize || final else { return }
            readHeader(visit)
            position = min(buffer.count, V2Format.headerSize)
            // A header cut short is a torn file start: cut it, and a new header is written.
            validEnd = position == V2Format.headerSize ? Int64(position) : 0
        }
        while true {
            switch record(at: position) {
            case .valid(let record, let length):
                closeDamage(at: position, visit)
                visit(.record(record, offset: bufferOffset + Int64(position)))
                position += length
                validEnd = bufferOffset + Int64(position)
                continue
            case .invalid:
                if damageStart == nil {
                    damageStart = bufferOffset + Int64(position)
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
                damageStart = bufferOffset + Int64(position)
                resyncBudget = Self.resyncBaseBudget + Self.resyncBytesPerSkippedByte * (buffer.count - position)
            }
            if let next = nextValidRecord(after: position) {
                position = next
                continue
            }
            if !damagedBefore { damageStart = nil }  // only a torn tail
            // No: what is left is a torn tail (or damage running to the end); either way it
            // is cut, and damage is reported.
            if let start = damageStart {
                let end = bufferOffset + Int64(buffer.count)
                visit(.skipped(offset: start, length: end - start, reason: "damaged records up to the end of the file"))
                damageStart = nil
            }
            position = buffer.count
            break
        }
        buffer.removeSubrange(0..<position)
        bufferOffset += Int64(position)
    }

    private enum Candidate {
        case valid(SnapshotRecord, length: Int)
        case invalid
        case incomplete
    }

    /// Whether a valid record starts at `position`.
    private mutating func record(at position: Int) -> Candidate {
        let available = buffer.count - position
        guard available >= V2Format.recordOverhead else { return .incomplete }
        return buffer.withUnsafeBytes { raw in
            let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
            let type = raw[position + 4]
            guard length <= V2Format.maxPayload, V2Format.RecordType(rawValue: type) != nil else { return .invalid }
            let total = length + V2Format.recordOverhead
            guard available >= total else { return .incomplete }
            if damageStart != nil {
                guard resyncBudget >= length else { return .invalid }
                resyncBudget -= length
            }
            let covered = UnsafeRawBufferPointer(rebasing: raw[position..<(position + 5 + length)])
            let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: position + 5 + length, as: UInt32.self))
            guard CRC32C.checksum(covered) == stored else { return .invalid }
            let payload = UnsafeRawBufferPointer(rebasing: raw[(position + 5)..<(position + 5 + length)])
            guard let record = V2Format.decodePayload(type: type, payload) else { return .invalid }
            return .valid(record, length: total)
        }
    }

    private mutating func nextValidRecord(after position: Int) -> Int? {
        var candidate = position + 1
        while candidate + V2Format.recordOverhead <= buffer.count {
            if case .valid = record(at: candidate) { return candidate }
            candidate += 1
        }
        return nil
    }

    private mutating func closeDamage(at position: Int, _ visit: (ReplayItem) -> Void) {
        guard let start = damageStart else { return }
        let end = bufferOffset + Int64(position)
        visit(.skipped(offset: start, length: end - start, reason: "checksum mismatch"))
        damageStart = nil
    }

    private mutating func readHeader(_ visit: (ReplayItem) -> Void) {
        headerRead = true
        let size = V2Format.headerSize
        guard buffer.count >= size else {
            visit(.skipped(offset: 0, length: Int64(buffer.count), reason: "incomplete header"))
            return
        }
        let valid: Bool = buffer.withUnsafeBytes { raw in
            let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: size - 4, as: UInt32.self))
            return raw[0..<8].elementsEqual(V2Format.magic)
                && UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt16.self)) == V2Format.version
                && CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<(size - 4)])) == stored
        }
        if valid {
            createdAt = buffer.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 12, as: UInt64.self)) }
            visit(.ignored(offset: 0))
        } else {
            visit(.skipped(offset: 0, length: Int64(size), reason: "damaged header"))
        }
    }
}
