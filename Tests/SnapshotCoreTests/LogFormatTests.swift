import Testing
import TestSupport
@testable import SnapshotCore

/// The write-ahead log's segment format: records of many snapshots round-trip with their log
/// positions; preallocated zeros are unwritten space, not damage; an append cut anywhere is a
/// torn tail; a flipped bit anywhere costs only its record.
@Suite struct LogFormatTests {
    static let records: [(UInt32, SnapshotRecord)] = [
        (0, .alive(name: "a", address: "10.0.0.1:7946")), (7, .clock(5)), (0, .notAlive(name: "a")),
        (3, .alive(name: "node with spaces", address: "[fe80::1]:7946")), (7, .eventClock(9)),
        (3, .queryClock(0)), (0, .leave), (1, .clock(0)),
    ]

    /// A segment of `records` at base 4096, with `zeros` bytes of preallocated space after them.
    static func segment(zeros: Int = 0) -> (bytes: [UInt8], ends: [Int]) {
        var bytes: [UInt8] = []
        LogFormat.header(base: 4096, into: &bytes)
        var ends: [Int] = []
        for (snapshot, record) in records {
            LogFormat.encode(record, snapshot: snapshot, into: &bytes)
            ends.append(bytes.count)
        }
        return (bytes + [UInt8](repeating: 0, count: zeros), ends)
    }

    static func decode(_ bytes: [UInt8]) -> (LogSegmentDecoder.Report, [(UInt64, UInt32, SnapshotRecord)]) {
        var seen: [(UInt64, UInt32, SnapshotRecord)] = []
        let report = bytes.withUnsafeBytes { LogSegmentDecoder().decode($0) { seen.append(($0, $1, $2)) } }
        return (report, seen)
    }

    @Test func roundTripsWithPositionsAndSnapshots() {
        let (bytes, ends) = Self.segment(zeros: 4096)
        let (report, seen) = Self.decode(bytes)
        #expect(report.base == 4096 && report.records == Self.records.count && report.damaged.isEmpty && report.tornTail == 0)
        #expect(report.validEnd == ends.last && report.writtenEnd == ends.last)
        #expect(seen.map(\.1) == Self.records.map(\.0))
        #expect(seen.map(\.2) == Self.records.map(\.1))
        let starts = [LogFormat.headerSize] + ends.dropLast()
        #expect(seen.map(\.0) == starts.map { 4096 + UInt64($0 - LogFormat.headerSize) })
    }

    /// An append cut at any byte, into preallocated zeros or at the end of the file: the
    /// records before it and a torn tail, never damage.
    @Test func anAppendCutAnywhereIsATornTail() {
        let (whole, ends) = Self.segment()
        let lastStart = ends[ends.count - 2]
        for cut in lastStart..<whole.count {
            for zeros in [0, 512] {
                let bytes = Array(whole[..<cut]) + [UInt8](repeating: 0, count: whole.count - cut + zeros)
                let (report, seen) = Self.decode(bytes)
                #expect(report.damaged.isEmpty, "cut at \(cut), \(zeros) zeros: \(report)")
                #expect(seen.count == Self.records.count - 1, "cut at \(cut)")
                #expect(report.validEnd == lastStart)
            }
        }
    }

    /// Every single-bit flip after the header is detected and costs at most the record it hits.
    @Test func everyBitFlipCostsOnlyItsRecord() {
        let (whole, ends) = Self.segment(zeros: 64)
        let starts = [LogFormat.headerSize] + ends.dropLast()
        for offset in LogFormat.headerSize..<ends[ends.count - 1] {
            for bit in 0..<8 {
                var bytes = whole
                bytes[offset] ^= UInt8(1 << bit)
                let (report, seen) = Self.decode(bytes)
                guard let hit = starts.lastIndex(where: { $0 <= offset }) else { continue }
                var expected = Self.records.map(\.1)
                expected.remove(at: hit)
                let last = hit == Self.records.count - 1
                // A flip in the last record is damage or (when its length grew) a torn tail.
                #expect(!report.damaged.isEmpty || (last && report.tornTail > 0), "flip at \(offset).\(bit): \(report)")
                #expect(seen.map(\.2) == expected, "flip at \(offset).\(bit)")
            }
        }
    }

    @Test func aDamagedHeaderReadsNothingAndSaysSo() {
        var (bytes, _) = Self.segment()
        bytes[3] ^= 0x10
        let (report, seen) = Self.decode(bytes)
        #expect(report.base == nil && seen.isEmpty && report.damaged == [.init(offset: 0, length: bytes.count)])
        let (empty, _) = Self.decode([])
        #expect(empty.damaged.isEmpty && empty.base == nil)
    }

    /// A segment's first write (its header, then its first batch) cut inside the header: in the
    /// preallocated zeros, nothing after the header's bytes. No record can be in it: a torn
    /// tail, not damage, whatever the cut left of the header (a prefix, or garbage to its length).
    @Test func aFirstWriteCutInsideTheHeaderIsATornTail() {
        var header: [UInt8] = []
        LogFormat.header(base: 4096, into: &header)
        for length in 1..<LogFormat.headerSize {
            for filler in [UInt8(0), 0x5A] {
                var bytes = Array(header.prefix(length)) + [UInt8](repeating: filler, count: LogFormat.headerSize - length)
                bytes += [UInt8](repeating: 0, count: 4096)
                let (report, seen) = Self.decode(bytes)
                let written = filler == 0 ? bytes.prefix(length).lastIndex { $0 != 0 }.map { $0 + 1 } ?? 0 : LogFormat.headerSize
                #expect(seen.isEmpty && report.damaged.isEmpty && report.base == nil, "cut at \(length), filler \(filler)")
                #expect(report.tornTail == written && report.validEnd == 0, "cut at \(length), filler \(filler): \(report)")
            }
        }
        // A header damaged in front of records is damage still (the records are not lost silently).
        var (bytes, _) = Self.segment()
        bytes[5] ^= 0x01
        #expect(Self.decode(bytes).0.damaged == [.init(offset: 0, length: bytes.count)])
    }

    /// A preallocated segment nobody wrote into yet: unwritten, clean.
    @Test func aFreshPreallocatedSegmentIsEmpty() {
        var bytes: [UInt8] = []
        LogFormat.header(base: 0, into: &bytes)
        bytes += [UInt8](repeating: 0, count: 1 << 16)
        let (report, seen) = Self.decode(bytes)
        #expect(seen.isEmpty && report.damaged.isEmpty && report.tornTail == 0)
        #expect(report.validEnd == LogFormat.headerSize && report.writtenEnd == LogFormat.headerSize)
    }

    /// Random bytes between valid records: reported as one region, the records after it kept.
    @Test func garbageInTheMiddleResynchronises() {
        var rng = SplitMix64(seed: 0x106_F0A7)
        let (whole, ends) = Self.segment()
        let garbage = (0..<300).map { _ in UInt8.random(in: 1...255, using: &rng) }
        let bytes = Array(whole[..<ends[2]]) + garbage + Array(whole[ends[2]...])
        let (report, seen) = Self.decode(bytes)
        #expect(seen.map(\.2) == Self.records.map(\.1))
        #expect(report.damaged == [.init(offset: ends[2], length: 300)])
    }

    /// The zero scans (64 bytes a test, then words, then bytes) against a byte scan: one
    /// nonzero byte at every position of a buffer, every start and length.
    @Test func zeroScansMatchAByteScan() {
        for count in [0, 1, 7, 8, 63, 64, 65, 130, 200] {
            var bytes = [UInt8](repeating: 0, count: count)
            for position in -1..<count {
                if position >= 0 { bytes[position] = 0x01 << UInt8(position % 8) }
                bytes.withUnsafeBytes { raw in
                    #expect(LogReader.isAllZeros(raw) == (position < 0))
                    for start in [0, 1, 9, 24, 70] where start <= count {
                        let expected = position >= start ? position + 1 : start
                        #expect(LogSegmentDecoder.endOfNonZero(raw, notBefore: start) == expected,
                                "count \(count), nonzero at \(position), start \(start)")
                    }
                }
                if position >= 0 { bytes[position] = 0 }
            }
        }
    }
}
