import Foundation
import Glibc
import Testing
@testable import SnapshotCore

/// `FileIO.dataExtents` (SEEK_DATA/SEEK_HOLE) and recovery's use of it: whatever the file
/// system reports, every byte that is not zero lies in an extent, and the log reads back the
/// same with extents as without (the whole file as data).
@Suite struct DataExtentsTests {
    let dir = makeTemporaryDirectory()

    /// A file layer that knows nothing of extents: the whole file is data (today's full scan).
    struct WholeFileIO: ForwardingFileIO {
        let base: any FileIO = POSIXFileIO()
        func dataExtents(_ fd: Int32, size: Int) -> [Range<Int>] { size > 0 ? [0..<size] : [] }
    }

    /// A preallocated file of `size` bytes with `bytes` written at their offsets.
    func preallocated(_ name: String, size: Int, writing bytes: [(offset: Int, bytes: [UInt8])]) throws -> String {
        let path = dir + "/" + name
        let io = POSIXFileIO()
        let fd = try io.openSegment(path, create: true)
        defer { io.close(fd) }
        if size > 0 { try io.preallocate(fd, length: Int64(size), path: path) }
        for (offset, data) in bytes { try io.writeAll(fd, data, at: Int64(offset), path: path) }
        return path
    }

    func extents(_ path: String) throws -> (extents: [Range<Int>], size: Int) {
        let io = POSIXFileIO()
        let fd = try io.openReadOnly(path)
        defer { io.close(fd) }
        let size = Int(try io.size(fd, path: path))
        return (io.dataExtents(fd, size: size), size)
    }

    @Test func everyNonzeroByteIsInAnExtent() throws {
        let size = 4 << 20
        let writes = [(offset: 0, bytes: [UInt8](repeating: 7, count: 100)), (offset: 1_500_000, bytes: [9]),
                      (offset: size - 1, bytes: [1])]
        let path = try preallocated("mixed", size: size, writing: writes)
        let (found, total) = try extents(path)
        #expect(total == size)
        for (offset, data) in writes {
            for index in offset..<(offset + data.count) {
                #expect(found.contains { $0.contains(index) }, "byte \(index) outside every extent \(found)")
            }
        }
        // In order, apart, inside the file.
        #expect(zip(found, found.dropFirst()).allSatisfy { $0.upperBound <= $1.lowerBound })
        #expect(found.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= size && !$0.isEmpty })
        #expect(try extents(preallocated("empty", size: 0, writing: [])).extents.isEmpty)
    }

    /// Segments as the log leaves them (records, then preallocated space; a prepared one never
    /// written; a byte of damage far past the records, after a hole): the same report and
    /// records whether the reader uses the extents or scans everything.
    @Test func theLogReadsTheSameWithAndWithoutExtents() throws {
        let records = LogTesting.alive(0..<50)
        var used: [UInt8] = []
        LogFormat.header(base: 0, into: &used)
        for record in records { LogFormat.encode(record, snapshot: 0, into: &used) }
        let segmentSize = 8 << 20
        _ = try preallocated(LogSegment.name(sequence: 1), size: segmentSize, writing: [(0, used)])
        _ = try preallocated(LogSegment.name(sequence: 2), size: segmentSize, writing: [])
        let (withExtents, seenWith) = try LogTesting.read(dir)
        let (without, seenWithout) = try LogTesting.read(dir, io: WholeFileIO())
        #expect(withExtents == without && LogTesting.labels(seenWith) == LogTesting.labels(seenWithout))
        #expect(seenWith.count == 50 && !withExtents.isDamaged && withExtents.tornTails.isEmpty)
        #expect(withExtents.unused == [LogTesting.path(dir, 2)])

        // One stray byte 5 MiB in, far past the records and the zeros after them: damage, seen
        // both ways (the extent it lies in ends the decoded range).
        let stray = try POSIXFileIO().openSegment(LogTesting.path(dir, 1), create: false)
        try POSIXFileIO().writeAll(stray, [0x5A], at: 5 << 20, path: LogTesting.path(dir, 1))
        POSIXFileIO().close(stray)
        // And one in the prepared segment: no longer unused.
        let other = try POSIXFileIO().openSegment(LogTesting.path(dir, 2), create: false)
        try POSIXFileIO().writeAll(other, [0x01], at: 3 << 20, path: LogTesting.path(dir, 2))
        POSIXFileIO().close(other)
        let (damagedWith, _) = try LogTesting.read(dir)
        let (damagedWithout, _) = try LogTesting.read(dir, io: WholeFileIO())
        #expect(damagedWith.isDamaged && damagedWith.damaged.contains { $0.segment == LogTesting.path(dir, 1) })
        #expect(damagedWith.damaged.contains { $0.segment == LogTesting.path(dir, 2) } && damagedWith.unused.isEmpty)
        #expect(damagedWith == damagedWithout)
    }
}
