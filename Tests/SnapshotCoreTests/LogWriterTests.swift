import Foundation
import Glibc
import Testing
@testable import SnapshotCore

/// The write-ahead log's writer: positions, cuts, preallocation, forgetting, removing, and what a
/// failed write or sync leaves (read back as recovery reads it).
@Suite struct LogWriterTests {
    let dir = makeTemporaryDirectory()

    @Test func appendsReturnPositionsThatGrowByTheBytesWritten() throws {
        let log = try LogTesting.writer(dir, base: 4096)
        var expected: UInt64 = 4096
        var starts: [UInt64] = []
        var all: [SnapshotRecord] = []
        for i in 0..<40 {
            let records = LogTesting.alive(i * 3..<(i * 3 + 1 + i % 3))
            let bytes = LogTesting.batch(records)
            let at = try log.append(bytes)
            #expect(at == expected)
            starts.append(at)
            all += records
            expected += UInt64(bytes.count)
            #expect(log.end == expected)
        }
        try log.sync()
        #expect(log.bytes == expected - 4096)
        let (report, seen) = try LogTesting.read(dir)
        #expect(LogTesting.labels(seen) == LogTesting.labels(all))
        // Each batch's first record is at the position its append returned, the rest follow it.
        #expect(Set(starts).isSubset(of: Set(seen.map(\.position))))
        for (previous, next) in zip(seen, seen.dropFirst()) {
            #expect(next.position == previous.position + UInt64(LogTesting.batch([previous.record]).count))
        }
        #expect(report.end == expected && report.segmentCount == 1 && !report.isDamaged && report.tornTails.isEmpty)
        log.close()
    }

    @Test func aBatchThatDoesNotFitCutsToTheNextSegment() throws {
        let log = try LogTesting.writer(dir, segmentSize: 256)
        let a = LogTesting.batch(LogTesting.alive(0..<2)), b = LogTesting.batch(LogTesting.alive(2..<4))
        #expect(try log.append(a) == 0)
        #expect(try log.append(b) == UInt64(a.count))
        let cRecords = LogTesting.overflowing(log, segmentSize: 256, from: 4)
        let c = LogTesting.batch(cRecords)
        #expect(LogFormat.headerSize + a.count + b.count + c.count > 256)
        #expect(log.sealed.isEmpty && log.active.sequence == 1)
        // The next segment is prepared (created and preallocated) before it is needed, without a header.
        let second = LogTesting.path(dir, 2)
        #expect(LogTesting.size(second) == 256 && LogTesting.bytes(second).allSatisfy { $0 == 0 })

        let end = UInt64(a.count + b.count)
        #expect(try log.append(c) == end)
        #expect(log.sealed == [LogSegment(sequence: 1, path: LogTesting.path(dir, 1), base: 0, end: end)])
        #expect(log.active.sequence == 2 && log.active.base == end && log.end == end + UInt64(c.count))
        // The header was written with the segment's first batch, naming the old end as its base.
        let header = LogTesting.bytes(second)
        #expect(header.withUnsafeBytes { LogFormat.base(ofHeader: $0) } == end)
        #expect(Array(header[LogFormat.headerSize..<(LogFormat.headerSize + c.count)]) == c)
        try log.sync()
        let (report, seen) = try LogTesting.read(dir)
        #expect(LogTesting.labels(seen) == LogTesting.labels(LogTesting.alive(0..<(4 + cRecords.count))))
        #expect(report.segments.map(\.sequence) == [1, 2] && report.segments.map(\.base) == [0, end])
        // The segment prepared after the cut is not used yet.
        #expect(report.unused == [LogTesting.path(dir, 3)])
        log.close()
    }

    @Test func aBatchLargerThanASegmentGetsOneOfItsOwn() throws {
        let log = try LogTesting.writer(dir, segmentSize: 256)
        let small = LogTesting.batch(LogTesting.alive(0..<1))
        let big = LogTesting.batch(LogTesting.alive(1..<21))
        #expect(big.count > 256)
        try log.append(small)
        #expect(try log.append(big) == UInt64(small.count))
        #expect(log.active.sequence == 2 && log.active.base == UInt64(small.count))
        #expect(LogTesting.size(LogTesting.path(dir, 2)) == LogFormat.headerSize + big.count)
        // Whatever follows goes to the next segment.
        #expect(try log.append(small) == UInt64(small.count + big.count))
        #expect(log.active.sequence == 3 && log.sealed.map(\.end) == [UInt64(small.count), UInt64(small.count + big.count)])
        // As the very first batch too.
        let other = makeTemporaryDirectory()
        let first = try LogTesting.writer(other, segmentSize: 256)
        #expect(try first.append(big) == 0 && first.active.sequence == 1)
        #expect(try first.append(small) == UInt64(big.count) && first.active.sequence == 2)
        try log.sync()
        try first.sync()
        #expect(try LogTesting.read(dir).1.map(\.record) == LogTesting.alive(0..<21) + LogTesting.alive(0..<1))
        #expect(try LogTesting.read(other).1.map(\.record) == LogTesting.alive(1..<21) + LogTesting.alive(0..<1))
        log.close()
        first.close()
    }

    @Test func sealedSegmentsBeforeAPositionAndForgettingThem() throws {
        let log = try LogTesting.writer(dir, segmentSize: 256, base: 1000)
        let batch = LogTesting.batch(LogTesting.alive(0..<2))
        for _ in 0..<10 { try log.append(batch) }
        let n = UInt64(batch.count), perSegment = UInt64((256 - LogFormat.headerSize) / batch.count)
        let ends = log.sealed.map(\.end)
        #expect(log.sealed.count == Int((10 - 1) / perSegment) && log.sealed.count >= 3 && ends == ends.sorted())
        #expect(log.sealed.first?.base == 1000 && ends.first == 1000 + perSegment * n)
        #expect(log.sealedSegments(before: 1000).isEmpty)
        #expect(log.sealedSegments(before: ends[0] - 1).isEmpty)
        #expect(log.sealedSegments(before: ends[0]) == [log.sealed[0]])
        #expect(log.sealedSegments(before: ends[1]) == Array(log.sealed.prefix(2)))
        // Never the active segment, whatever the position.
        #expect(log.sealedSegments(before: .max) == log.sealed)
        let bytes = log.bytes
        #expect(bytes == log.end - 1000)
        log.forget(log.sealedSegments(before: ends[0] - 1))
        #expect(log.sealed.count == ends.count)
        log.forget(log.sealedSegments(before: ends[0]))
        #expect(log.sealed.map(\.end) == Array(ends.dropFirst()) && log.bytes == log.end - ends[0])
        // Only the segments given (what a checkpoint listed when it started and removed), even
        // when another one ends before the same position.
        let listed = log.sealedSegments(before: .max)
        log.forget([listed[0]])
        #expect(log.sealed == Array(listed.dropFirst()))
        log.forget(log.sealedSegments(before: .max))
        #expect(log.sealed.isEmpty && log.bytes == log.end - log.active.base)
        // Forgetting removes nothing: the checkpoint removes the files.
        #expect(LogTesting.segmentNames(dir).count == ends.count + 2)
        log.close()
    }

    @Test(arguments: [false, true])
    func removeAllLeavesAnEmptyDirectory(inBackground: Bool) throws {
        let log = try LogTesting.writer(dir, segmentSize: 256, inBackground: inBackground)
        for i in 0..<12 { try log.append(LogTesting.batch(LogTesting.alive(i * 2..<(i * 2 + 2)))) }
        try log.sync()
        #expect(log.sealed.count >= 3)
        try log.removeAll()
        #expect(LogTesting.names(dir).isEmpty)
        #expect(openFileDescriptors(in: dir) == 0)
        #expect(try LogTesting.read(dir).0 == LogReport())
    }

    /// Where fallocate fails, segments are created empty and grow with their appends; the log
    /// reads back the same.
    @Test func withoutPreallocationSegmentsGrow() throws {
        let io = LogFaultIO()
        io.failPreallocation()
        let log = try LogTesting.writer(dir, io: io, segmentSize: 256)
        #expect(LogTesting.size(LogTesting.path(dir, 1)) == 0 && LogTesting.size(LogTesting.path(dir, 2)) == 0)
        let batch = LogTesting.batch(LogTesting.alive(0..<2))
        try log.append(batch)
        try log.sync()
        #expect(LogTesting.size(LogTesting.path(dir, 1)) == LogFormat.headerSize + batch.count)
        for _ in 0..<5 { try log.append(batch) }
        try log.sync()
        #expect(log.active.sequence > 1)
        for segment in log.sealed {
            #expect(LogTesting.size(segment.path) == LogFormat.headerSize + Int(segment.end - segment.base))
        }
        let (report, seen) = try LogTesting.read(dir)
        #expect(seen.count == 12 && !report.isDamaged && report.tornTails.isEmpty && report.end == log.end)
        // The prepared, still empty, segment is unused.
        #expect(report.unused == [LogTesting.path(dir, log.active.sequence + 1)])
        log.close()
    }

    @Test func aPreallocatedSegmentIsTheSegmentSize() throws {
        let log = try LogTesting.writer(dir, segmentSize: 4096)
        #expect(LogTesting.size(LogTesting.path(dir, 1)) == 4096 && LogTesting.size(LogTesting.path(dir, 2)) == 4096)
        try log.append(LogTesting.batch(LogTesting.alive(0..<10)))
        try log.sync()
        #expect(LogTesting.size(LogTesting.path(dir, 1)) == 4096)
        log.close()
        // Closing drops the prepared segment and keeps the active one.
        #expect(LogTesting.segmentNames(dir) == [LogSegment.name(sequence: 1)])
    }

    // MARK: - Failures

    /// A pwrite that takes half of a batch and then fails leaves whole records of it past the
    /// log's end; when the zeros written over them at once fail too, the next (shorter) append
    /// writes them before its batch, so that reading back finds only what was written after,
    /// and no damage.
    @Test func aHalfWrittenAppendIsScrubbedByTheNextOne() throws {
        let io = LogFaultIO()
        let log = try LogTesting.writer(dir, io: io)
        let a = LogTesting.batch(LogTesting.alive(0..<3))
        try log.append(a)
        try log.sync()
        io.failWrites(.half(EIO), .fail(EIO))  // and the zeros over it
        let failed = LogTesting.batch(LogTesting.alive(100..<120))
        #expect(throws: FileIOError.self) { try log.append(failed) }
        #expect(log.end == UInt64(a.count))
        let shorter = LogTesting.batch([LogTesting.alive(3)])
        #expect(try log.append(shorter) == UInt64(a.count))
        try log.sync()
        let (report, seen) = try LogTesting.read(dir)
        #expect(LogTesting.labels(seen) == LogTesting.labels(LogTesting.alive(0..<4)))
        #expect(!report.isDamaged && report.tornTails.isEmpty, "\(report)")
        let file = LogTesting.bytes(LogTesting.path(dir, 1))
        let after = LogFormat.headerSize + a.count + shorter.count
        #expect(file[after..<(LogFormat.headerSize + a.count + failed.count)].allSatisfy { $0 == 0 })
        log.close()
    }

    /// A failed write takes its batch back at once, as a failed sync's rewind does: the whole
    /// records it left past the end are zeros before the writer returns, so that no reader (a
    /// tool on the served store, a recovery after a kill) finds records its submitters were told
    /// failed.
    @Test func aFailedWriteIsScrubbedAtOnce() throws {
        let io = LogFaultIO()
        let log = try LogTesting.writer(dir, io: io)
        try log.append(LogTesting.batch(LogTesting.alive(0..<3)))
        try log.sync()
        io.failWrites(.half(ENOSPC))
        #expect(throws: FileIOError.self) { try log.append(LogTesting.batch(LogTesting.alive(100..<120))) }
        let (report, seen) = try LogTesting.read(dir)
        #expect(LogTesting.labels(seen) == LogTesting.labels(LogTesting.alive(0..<3)))
        #expect(!report.isDamaged && report.tornTails.isEmpty, "\(report)")
        log.close()
    }

    /// A failed fdatasync, then `rewind`: the batch's bytes are zeros at once, the next append
    /// overwrites them, and reading back finds exactly the acknowledged records.
    @Test func aFailedSyncIsRewoundToZerosAndOverwritten() throws {
        let io = LogFaultIO()
        let log = try LogTesting.writer(dir, io: io)
        let a = LogTesting.batch(LogTesting.alive(0..<3))
        try log.append(a)
        try log.sync()
        let b = LogTesting.batch(LogTesting.alive(100..<110))
        let start = try log.append(b)
        io.failSyncs(EIO)
        #expect(throws: FileIOError.self) { try log.sync() }
        log.rewind(to: start)
        #expect(log.end == start)
        let at = LogFormat.headerSize + Int(start)
        #expect(LogTesting.bytes(LogTesting.path(dir, 1))[at..<(at + b.count)].allSatisfy { $0 == 0 })
        let (during, seenDuring) = try LogTesting.read(dir)
        #expect(LogTesting.labels(seenDuring) == LogTesting.labels(LogTesting.alive(0..<3)) && !during.isDamaged && during.tornTails.isEmpty)
        let c = LogTesting.batch(LogTesting.alive(3..<5))
        #expect(try log.append(c) == start)
        try log.sync()
        let (report, seen) = try LogTesting.read(dir)
        #expect(LogTesting.labels(seen) == LogTesting.labels(LogTesting.alive(0..<5)))
        #expect(!report.isDamaged && report.tornTails.isEmpty && report.end == log.end)
        log.close()
    }

    /// The rewind's zeros may fail to be written too: then the next append writes them, in the
    /// same segment, and so (when it cuts to the next one) does the cut.
    @Test func aRewindWhoseZerosFailedIsScrubbedByTheNextAppend() throws {
        for cuts in [false, true] {
            let dir = makeTemporaryDirectory()
            let io = LogFaultIO()
            let log = try LogTesting.writer(dir, io: io, segmentSize: 1024)
            try log.append(LogTesting.batch(LogTesting.alive(0..<3)))
            try log.sync()
            let start = try log.append(LogTesting.batch(LogTesting.alive(100..<110)))
            io.failSyncs(EIO)
            #expect(throws: FileIOError.self) { try log.sync() }
            io.failWrites(.fail(EIO))
            log.rewind(to: start)
            #expect(io.pendingFaults == 0 && log.end == start)
            // Short enough to stay in the segment, or too long for what is left of it.
            let next = cuts ? LogTesting.overflowing(log, segmentSize: 1024, from: 3) : [LogTesting.alive(3)]
            try log.append(LogTesting.batch(next))
            try log.sync()
            #expect(log.active.sequence == (cuts ? 2 : 1))
            let (report, seen) = try LogTesting.read(dir)
            #expect(LogTesting.labels(seen) == LogTesting.labels(LogTesting.alive(0..<3) + next), "cut: \(cuts)")
            #expect(!report.isDamaged && report.tornTails.isEmpty, "cut: \(cuts): \(report)")
            log.close()
        }
    }

    /// A batch half written before a failure leaves whole records of it past the segment's
    /// end, and the zeros over them fail too. When the next batch does not fit and cuts to a
    /// new segment, the old one is sealed with those records in it unless they are zeroed
    /// first: recovery would replay records whose submitters were told the write failed.
    @Test func aFailedWriteBeforeACutLeavesNothingInTheSealedSegment() throws {
        let io = LogFaultIO()
        let log = try LogTesting.writer(dir, io: io, segmentSize: 1024)
        try log.append(LogTesting.batch(LogTesting.alive(0..<3)))
        try log.sync()
        io.failWrites(.half(ENOSPC), .fail(ENOSPC))  // and the zeros over it
        #expect(throws: FileIOError.self) { try log.append(LogTesting.batch(LogTesting.alive(100..<110))) }
        let next = LogTesting.overflowing(log, segmentSize: 1024, from: 3)
        try log.append(LogTesting.batch(next))
        try log.sync()
        #expect(log.active.sequence == 2)
        let (report, seen) = try LogTesting.read(dir)
        #expect(LogTesting.labels(seen) == LogTesting.labels(LogTesting.alive(0..<3) + next))
        #expect(!report.isDamaged && report.tornTails.isEmpty, "\(report)")
        log.close()
    }

    /// The cut's zeros are synced with the sealed segment even when nothing else is left to
    /// sync: a failed write (its zeros failing too), then a sync of nothing new (an empty
    /// submission) that makes what the write left durable, then a cut. A power loss after it
    /// (every disk a page cache can leave, `PageCacheFileSystem`) finds only the records
    /// acknowledged.
    @Test func theCutsZerosAreDurable() throws {
        for seed: UInt64 in 1...4 {
            let fs = PageCacheFileSystem(crash: .init(at: .max, seed: seed, images: 8))
            try fs.createDirectory("/wal")
            let io = LogFaultIO(base: fs)
            let log = try LogTesting.writer("/wal", io: io, segmentSize: 1024)
            try log.append(LogTesting.batch(LogTesting.alive(0..<3)))
            try log.sync()
            io.failWrites(.half(EIO), .fail(EIO))  // and the zeros over it
            #expect(throws: FileIOError.self) { try log.append(LogTesting.batch(LogTesting.alive(100..<110))) }
            try log.sync()
            let next = LogTesting.overflowing(log, segmentSize: 1024, from: 3)
            try log.append(LogTesting.batch(next))
            try log.sync()
            for image in fs.powerOff(seed: seed) {
                let (_, seen) = try LogTesting.read("/wal", io: PageCacheFileSystem(image: image))
                #expect(LogTesting.labels(seen) == LogTesting.labels(LogTesting.alive(0..<3) + next), "seed \(seed)")
            }
        }
    }

    /// A header write that fails is written again with the next batch.
    @Test func aFailedHeaderWriteIsWrittenAgain() throws {
        let io = LogFaultIO()
        let log = try LogTesting.writer(dir, io: io, base: 77)
        io.failWrites(.half(EIO))
        #expect(throws: FileIOError.self) { try log.append(LogTesting.batch(LogTesting.alive(0..<2))) }
        #expect(try log.append(LogTesting.batch(LogTesting.alive(2..<3))) == 77)
        try log.sync()
        let (report, seen) = try LogTesting.read(dir)
        #expect(LogTesting.labels(seen) == LogTesting.labels([LogTesting.alive(2)]) && seen.first?.position == 77)
        #expect(!report.isDamaged && report.tornTails.isEmpty, "\(report)")
        log.close()
    }

    /// The next segment cannot be prepared (a full disk): the cut fails before anything is
    /// written, and the next append prepares it again and goes on.
    @Test func aCutWhoseSegmentCouldNotBePreparedIsTriedAgain() throws {
        let io = LogFaultIO()
        let log = try LogTesting.writer(dir, io: io, segmentSize: 256)
        io.failSegmentCreates(ENOSPC)  // the one prepared at the cut to segment 2: segment 3
        let batch = LogTesting.batch(LogTesting.alive(0..<3))
        while log.active.sequence == 1 { try log.append(batch) }
        #expect(!FileManager.default.fileExists(atPath: LogTesting.path(dir, 3)))
        while LogFormat.headerSize + Int(log.end - log.active.base) + batch.count <= 256 { try log.append(batch) }
        let end = log.end, sealed = log.sealed
        #expect(throws: FileIOError.self) { try log.append(batch) }
        #expect(log.end == end && log.sealed == sealed && log.active.sequence == 2)
        #expect(try log.append(batch) == end)
        #expect(log.active.sequence == 3)
        try log.sync()
        let (report, seen) = try LogTesting.read(dir)
        #expect(seen.count == Int(log.end / UInt64(batch.count)) * 3 && !report.isDamaged && report.tornTails.isEmpty)
        log.close()
    }
}
