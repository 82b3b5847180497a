import Testing
@testable import SnapshotCore
import TestSupport

/// The v2 format's promises: every flipped bit is detected, one damaged record costs only
/// itself, and a file cut anywhere keeps every complete record.
@Suite struct V2FormatTests {
    static let records: [SnapshotRecord] = (0..<300).map { i in
        switch i % 6 {
        case 0: .alive(name: "node \(i)", address: "[fe80::\(i)]:7946")
        case 1: .notAlive(name: "node \(i - 1)")
        case 2: .clock(UInt64(i))
        case 3: .eventClock(UInt64(i) << 40)
        case 4: .queryClock(UInt64.max - UInt64(i))
        default: .leave
        }
    }

    /// The file and where each record starts.
    static func file(_ records: [SnapshotRecord] = records) -> ([UInt8], [Int]) {
        var bytes: [UInt8] = []
        V2Format.header(createdAt: 1_700_000_000_000_000_000, into: &bytes)
        var offsets: [Int] = []
        for record in records {
            offsets.append(bytes.count)
            V2Format.encode(record, into: &bytes)
        }
        return (bytes, offsets)
    }

    struct Decoded {
        var records: [(SnapshotRecord, Int64)] = []
        var skipped: [(Int64, Int64)] = []
        var headerOK = false
        var validLength: Int64 = 0
    }

    static func decode(_ bytes: [UInt8], chunk: Int = 4096) -> Decoded {
        var decoder = V2Decoder()
        var result = Decoded()
        func visit(_ item: ReplayItem) {
            switch item {
            case .record(let record, let offset): result.records.append((record, offset))
            case .ignored(let offset): if offset == 0 { result.headerOK = true }
            case .skipped(let offset, let length, _): result.skipped.append((offset, length))
            }
        }
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            bytes[start..<end].withUnsafeBytes { decoder.feed($0, visit) }
            start = end
        }
        result.validLength = decoder.finish(visit)
        return result
    }

    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.usesHardware)
    }

    /// The instruction's path (8-byte words, then a 4-, 2- and 1-byte tail) against the
    /// polynomial bit by bit, at every length to 80 and every alignment to 8, and continued.
    @Test func crc32cMatchesTheBitwiseDefinition() {
        func bitwise(_ bytes: ArraySlice<UInt8>, _ start: UInt32 = 0) -> UInt32 {
            var crc = ~start
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = (crc >> 1) ^ (0x82F6_3B78 & (0 &- (crc & 1))) }
            }
            return ~crc
        }
        var rng = SplitMix64(seed: 32)
        let bytes = (0..<96).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for offset in 0..<8 {
            for length in 0...80 {
                let slice = bytes[offset..<(offset + length)]
                #expect(slice.withUnsafeBytes { CRC32C.checksum($0) } == bitwise(slice), "offset \(offset), length \(length)")
                let first = bitwise(slice.prefix(length / 3))
                #expect(slice.dropFirst(length / 3).withUnsafeBytes { CRC32C.checksum($0, continuing: first) } == bitwise(slice))
            }
        }
    }

    @Test func roundTripsInAnyChunking() {
        let (bytes, offsets) = Self.file()
        #expect(SnapshotFormat.detect(bytes) == .v2)
        for chunk in [1, 7, 64, 4096, bytes.count] {
            let decoded = Self.decode(bytes, chunk: chunk)
            #expect(decoded.headerOK)
            #expect(decoded.skipped.isEmpty)
            #expect(decoded.records.map(\.0) == Self.records)
            #expect(decoded.records.map(\.1) == offsets.map(Int64.init))
            #expect(decoded.validLength == Int64(bytes.count))
        }
    }

    /// Every single-bit flip, at every bit of a file of 300 records, is detected, and every
    /// record but the damaged one is recovered.
    @Test func everySingleBitFlipIsDetected() {
        let (bytes, offsets) = Self.file()
        let ends = Array(offsets.dropFirst()) + [bytes.count]
        var undetected = 0, wrongRecovery = 0
        for byte in 0..<bytes.count {
            // The record (or the header) the byte belongs to.
            let index = offsets.lastIndex { $0 <= byte }
            for bit in 0..<8 {
                var damaged = bytes
                damaged[byte] ^= 1 << bit
                let decoded = Self.decode(damaged, chunk: 1 << 20)
                let expected = Self.records.enumerated().filter { $0.offset != index }.map(\.element)
                if let index {
                    // The damaged record is gone, and reported (skipped, or cut as the tail).
                    let reported = !decoded.skipped.isEmpty || decoded.validLength < Int64(ends[index])
                    if !reported || !decoded.headerOK { undetected += 1 }
                    if decoded.records.map(\.0) != expected { wrongRecovery += 1 }
                } else {
                    if decoded.headerOK || decoded.skipped.first?.0 != 0 { undetected += 1 }
                    if decoded.records.map(\.0) != Self.records { wrongRecovery += 1 }
                    #expect(SnapshotFormat.detect(damaged) == .v2)
                }
            }
        }
        #expect(undetected == 0)
        #expect(wrongRecovery == 0)
    }

    /// A file cut at any byte of its last records keeps every complete record.
    @Test func truncationAnywhereKeepsCompleteRecords() {
        let (bytes, offsets) = Self.file()
        let ends = Array(offsets.dropFirst()) + [bytes.count]
        for cut in offsets[offsets.count - 10]...bytes.count {
            let decoded = Self.decode(Array(bytes[0..<cut]))
            let complete = ends.filter { $0 <= cut }.count
            #expect(decoded.records.count == complete, "cut at \(cut)")
            #expect(decoded.skipped.isEmpty, "cut at \(cut)")
            #expect(decoded.validLength == Int64(complete == 0 ? V2Format.headerSize : ends[complete - 1]))
        }
    }

    /// Garbage in the middle costs only the bytes it covers.
    @Test func resynchronisesAfterGarbage() {
        let (bytes, offsets) = Self.file()
        var damaged = Array(bytes[0..<offsets[100]])
        damaged += [UInt8](repeating: 0xAB, count: 37)
        damaged += bytes[offsets[100]...]
        let decoded = Self.decode(damaged)
        #expect(decoded.records.map(\.0) == Self.records)
        #expect(decoded.skipped.count == 1)
        #expect(decoded.skipped.first?.0 == Int64(offsets[100]) && decoded.skipped.first?.1 == 37)
    }

    /// A crafted file where every offset looks like the start of a large record: replay does
    /// bounded work, reports the region, and still finds the valid record after it.
    @Test func craftedPlausibleLengthsStayCheap() {
        var bytes: [UInt8] = []
        V2Format.header(createdAt: 0, into: &bytes)
        for _ in 0..<(256 * 1024 / 5) { bytes += [0x00, 0x00, 0x01, 0x00, 0x01] }  // length 64 KiB, type alive
        let garbageEnd = bytes.count
        V2Format.encode(.clock(42), into: &bytes)
        let decoded = Self.decode(bytes)
        #expect(decoded.records.map(\.0) == [.clock(42)])
        #expect(decoded.skipped.first?.0 == Int64(V2Format.headerSize))
        #expect(decoded.skipped.first.map { $0.0 + $0.1 } == Int64(garbageEnd))
    }

    @Test func v1AndV2AreToldApart() {
        #expect(SnapshotFormat.detect(Array("alive: a 1.2.3.4:5\n".utf8)) == .v1)
        #expect(SnapshotFormat.detect(Array(V1Format.headerLine.utf8)) == .v1)
        #expect(SnapshotFormat.detect([UInt8]()) == nil)
        #expect(SnapshotFormat.detect(V2Format.magic) == .v2)
    }
}
