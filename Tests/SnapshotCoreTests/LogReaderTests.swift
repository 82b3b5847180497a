import Foundation
import Testing
@testable import SnapshotCore

/// Reading the log back at recovery (`LogReader`): order, unused segments, damage and its
/// copy, torn tails, files that are not segments, and where the log ends.
@Suite struct LogReaderTests {
    let dir = makeTemporaryDirectory()

    func size(_ records: [SnapshotRecord]) -> UInt64 { UInt64(LogTesting.batch(records).count) }

    /// Sequence order, not the directory's: sequences 1, 2 and 16 (`…10.wal`) created out of order.
    @Test func segmentsAreReadInSequenceOrder() throws {
        let first = LogTesting.alive(0..<3), second = LogTesting.alive(3..<5), third = LogTesting.alive(5..<9)
        let secondBase = size(first), thirdBase = secondBase + size(second)
        try LogTesting.writeSegment(dir, sequence: 16, base: thirdBase, third)
        try LogTesting.writeSegment(dir, sequence: 1, base: 0, first)
        try LogTesting.writeSegment(dir, sequence: 2, base: secondBase, second)
        let (report, seen) = try LogTesting.read(dir)
        #expect(LogTesting.labels(seen) == LogTesting.labels(first + second + third))
        #expect(report.segments.map(\.sequence) == [1, 2, 16] && report.segments.map(\.base) == [0, secondBase, thirdBase])
        #expect(report.segments.map(\.end) == [secondBase, thirdBase, thirdBase + size(third)])
        #expect(report.lastSequence == 16 && report.records == 9 && report.end == thirdBase + size(third))
        // Positions: the base plus the offset after the header.
        #expect(seen.first?.position == 0 && seen[3].position == secondBase && seen[5].position == thirdBase)
    }

    /// A segment of zeros only (prepared, never written) or empty (not preallocated) is unused:
    /// no records, no damage, and it does not move the log's end; its sequence still counts.
    @Test func anAllZeroOrEmptySegmentIsUnused() throws {
        let records = LogTesting.alive(0..<4)
        try LogTesting.writeSegment(dir, sequence: 1, base: 0, records)
        try LogTesting.setBytes(LogTesting.path(dir, 2), [UInt8](repeating: 0, count: 4096))
        try LogTesting.setBytes(LogTesting.path(dir, 3), [])
        let (report, seen) = try LogTesting.read(dir, preservesDamage: true)
        #expect(seen.count == 4 && report.segments.map(\.sequence) == [1])
        #expect(report.unused == [LogTesting.path(dir, 2), LogTesting.path(dir, 3)])
        #expect(!report.isDamaged && report.tornTails.isEmpty && report.preservedCopies.isEmpty)
        #expect(report.lastSequence == 3 && report.end == size(records))
    }

    /// A flipped byte in a record: that record is reported (segment, offset, length), the ones
    /// around it are read, and the segment is copied aside first, byte for byte.
    @Test func aDamagedSegmentIsReportedWithOffsetsAndCopied() throws {
        let records = LogTesting.alive(0..<5)
        let offsets = try LogTesting.writeSegment(dir, sequence: 1, base: 0, records)
        let path = LogTesting.path(dir, 1)
        var bytes = LogTesting.bytes(path)
        bytes[offsets[2] + 12] ^= 0x40
        try LogTesting.setBytes(path, bytes)

        // A look that changes nothing: reported, no copy.
        let (look, _) = try LogTesting.read(dir, preservesDamage: false)
        #expect(look.damaged == [.init(segment: path, offset: offsets[2], length: offsets[3] - offsets[2])])
        #expect(look.preservedCopies.isEmpty && LogTesting.names(dir) == [LogSegment.name(sequence: 1)])

        let (report, seen) = try LogTesting.read(dir, preservesDamage: true)
        #expect(LogTesting.labels(seen) == ["n0", "n1", "n3", "n4"])
        #expect(report.damaged == look.damaged && report.isDamaged && report.tornTails.isEmpty)
        #expect(report.preservedCopies.count == 1)
        let copy = try #require(report.preservedCopies.first)
        #expect(copy.hasPrefix(path + ".damaged-") && LogTesting.bytes(copy) == bytes)
        // The copy is no segment: reading again finds the same log (and makes a second copy).
        let (again, seenAgain) = try LogTesting.read(dir, preservesDamage: false)
        #expect(again.damaged == report.damaged && seenAgain.count == 4 && again.segments.count == 1)
    }

    /// A damaged header costs its whole segment, and only it: the segments after it are read
    /// at their own bases.
    @Test func aDamagedHeaderCostsItsSegmentOnly() throws {
        let first = LogTesting.alive(0..<2), second = LogTesting.alive(2..<4), third = LogTesting.alive(4..<6)
        try LogTesting.writeSegment(dir, sequence: 1, base: 0, first)
        try LogTesting.writeSegment(dir, sequence: 2, base: size(first), second)
        try LogTesting.writeSegment(dir, sequence: 3, base: size(first + second), third)
        var bytes = LogTesting.bytes(LogTesting.path(dir, 2))
        bytes[14] ^= 1
        try LogTesting.setBytes(LogTesting.path(dir, 2), bytes)
        let (report, seen) = try LogTesting.read(dir)
        #expect(LogTesting.labels(seen) == LogTesting.labels(first + third))
        #expect(report.damaged == [.init(segment: LogTesting.path(dir, 2), offset: 0, length: bytes.count)])
        #expect(seen.last?.position == size(first + second) + size([third[0]]))
        #expect(report.end == size(first + second + third))
    }

    /// The start of a record cut short after the last valid one is a torn tail: reported, not
    /// damage, nothing copied; the log's end is past its bytes.
    @Test func aTornTailIsReportedNotDamage() throws {
        let records = LogTesting.alive(0..<4)
        var bytes: [UInt8] = []
        LogFormat.header(base: 500, into: &bytes)
        bytes += LogTesting.batch(Array(records.prefix(3)))
        let validEnd = bytes.count
        let last = LogTesting.batch([records[3]])
        bytes += last.prefix(last.count - 5)
        try LogTesting.setBytes(LogTesting.path(dir, 1), bytes + [UInt8](repeating: 0, count: 1000))
        let (report, seen) = try LogTesting.read(dir, preservesDamage: true)
        #expect(seen.count == 3 && !report.isDamaged && report.preservedCopies.isEmpty)
        #expect(report.tornTails == [.init(segment: LogTesting.path(dir, 1), offset: validEnd, length: last.count - 5)])
        #expect(report.segments.first?.end == 500 + UInt64(validEnd - LogFormat.headerSize))
        #expect(report.end == 500 + UInt64(bytes.count - LogFormat.headerSize))
        #expect(LogTesting.names(dir) == [LogSegment.name(sequence: 1)])
    }

    /// Only `<16 hex digits>.wal` is a segment: copies, temporaries, other names and lengths are
    /// never read (were they, their garbage would be damage).
    @Test func filesThatAreNotSegmentsAreIgnored() throws {
        try LogTesting.writeSegment(dir, sequence: 1, base: 0, LogTesting.alive(0..<2))
        let garbage = [UInt8](repeating: 0xA5, count: 300)
        for name in ["README", "0000000000000001.wal.damaged-20261201T203015Z", "000000000000002.wal",
                     "00000000000000003.wal", "0000000000000004.tmp", "zzzzzzzzzzzzzzzz.wal", "0000000000000005.WAL"] {
            try LogTesting.setBytes(dir + "/" + name, garbage)
        }
        let (report, seen) = try LogTesting.read(dir, preservesDamage: true)
        #expect(seen.count == 2 && report.segments.map(\.sequence) == [1] && report.lastSequence == 1)
        #expect(!report.isDamaged && report.unused.isEmpty && report.preservedCopies.isEmpty)
    }

    /// `end` (where the next run's first segment starts) is past every byte any segment holds:
    /// valid records, a torn tail, damage running to the end of a segment.
    @Test func theEndIsPastEverythingWritten() throws {
        let first = LogTesting.alive(0..<3)
        try LogTesting.writeSegment(dir, sequence: 1, base: 0, first, zeros: 0)
        let secondBase = size(first)
        var bytes: [UInt8] = []
        LogFormat.header(base: secondBase, into: &bytes)
        bytes += LogTesting.batch(LogTesting.alive(3..<5))
        bytes += [UInt8](repeating: 0xEE, count: 77)  // damage to the end of the file, no zeros
        try LogTesting.setBytes(LogTesting.path(dir, 2), bytes)
        let (report, seen) = try LogTesting.read(dir)
        #expect(seen.count == 5 && report.isDamaged)
        #expect(report.end == secondBase + UInt64(bytes.count - LogFormat.headerSize))
        #expect(report.segments.last?.end == secondBase + size(LogTesting.alive(3..<5)))

        // A new run's log starts there: its positions never meet the old ones.
        let log = try LogTesting.writer(dir, sequence: report.lastSequence + 1, base: report.end)
        #expect(try log.append(LogTesting.batch([LogTesting.alive(9)])) == report.end)
        try log.sync()
        log.close()
        let (after, seenAfter) = try LogTesting.read(dir)
        #expect(Set(seenAfter.map(\.position)).count == seenAfter.count && seenAfter.count == 6)
        #expect(after.segments.map(\.sequence) == [1, 2, 3] && seenAfter.last?.position == report.end)
    }

    /// A missing directory is an empty log to `replay` (a store that never had one).
    @Test func aMissingDirectoryIsAnEmptyLog() throws {
        var state = SnapshotState()
        let report = try LogReader(directory: dir + "/wal", io: POSIXFileIO()).replay(
            snapshot: 0, after: 0, onto: &state, rejoinAfterLeave: false)
        #expect(report == LogReport() && state == SnapshotState())
    }

    /// `replay` applies only the snapshot's records at or after the position.
    @Test func replayTakesTheSnapshotsRecordsFromThePosition() throws {
        var bytes: [UInt8] = []
        LogFormat.header(base: 0, into: &bytes)
        LogFormat.encode(.alive(name: "a", address: "10.0.0.1:1"), snapshot: 0, into: &bytes)
        let position = UInt64(bytes.count - LogFormat.headerSize)
        LogFormat.encode(.alive(name: "b", address: "10.0.0.2:1"), snapshot: 0, into: &bytes)
        LogFormat.encode(.alive(name: "other", address: "10.0.0.3:1"), snapshot: 7, into: &bytes)
        LogFormat.encode(.notAlive(name: "a"), snapshot: 7, into: &bytes)
        LogFormat.encode(.clock(9), snapshot: 0, into: &bytes)
        try LogTesting.setBytes(LogTesting.path(dir, 1), bytes)
        var state = SnapshotState()
        state.aliveNodes["a"] = "10.0.0.1:1"
        let report = try LogReader(directory: dir, io: POSIXFileIO()).replay(snapshot: 0, after: position, onto: &state,
                                                                          rejoinAfterLeave: false)
        #expect(report.records == 5 && report.replayed == 2)
        #expect(state.aliveNodes == ["a": "10.0.0.1:1", "b": "10.0.0.2:1"] && state.lastClock == 9)
    }
}
