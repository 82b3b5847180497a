import Foundation
import Synchronization
import Testing
@testable import SnapshotCore

/// A checkpoint file goes to the disk as it is written (`FileIO.startWriteback` after each MiB),
/// not all at once when it is synced: the ranges asked for are the file's bytes in order, each
/// once, all of them before the sync, and the file reads back whole.
@Suite struct CheckpointWritebackTests {
    final class RecordingIO: ForwardingFileIO {
        let base: any FileIO = POSIXFileIO()
        enum Call: Equatable {
            case write(Int)
            case writeback(offset: Int64, length: Int64)
            case sync
        }
        let calls = Mutex<[Call]>([])

        func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) -> Int {
            let n = try base.write(fd, bytes, path: path)
            calls.withLock { $0.append(.write(n)) }
            return n
        }

        func startWriteback(_ fd: Int32, offset: Int64, length: Int64) {
            calls.withLock { $0.append(.writeback(offset: offset, length: length)) }
            base.startWriteback(fd, offset: offset, length: length)
        }

        func sync(_ fd: Int32, path: String) throws(FileIOError) {
            calls.withLock { $0.append(.sync) }
            try base.sync(fd, path: path)
        }
    }

    @Test(arguments: [SnapshotFormat.v1, .v2])
    func aLargeCheckpointIsWrittenBackInPiecesAsItIsWritten(format: SnapshotFormat) throws {
        var state = SnapshotState()
        for n in 0..<100_000 { state.aliveNodes["node-\(n)"] = "10.0.\(n / 256 % 256).\(n % 256):7946" }
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let io = RecordingIO()
        let path = dir + "/snapshot"
        let (fd, size) = try SnapshotFileWriter.write(state, format: format, to: path, io: io, logPosition: 7)
        io.close(fd)

        let calls = io.calls.withLock { $0 }
        let ranges = calls.compactMap { if case .writeback(let offset, let length) = $0 { (offset, length) } else { nil } }
        #expect(ranges.count >= 2, "a file of \(size) bytes: \(ranges.count) ranges")
        var next: Int64 = 0
        for (offset, length) in ranges {
            #expect(offset == next && length >= 1 << 20)
            next = offset + length
        }
        #expect(next <= size)
        // Each range is asked for once its bytes are written, and all before the sync.
        var written: Int64 = 0
        for call in calls {
            switch call {
            case .write(let n): written += Int64(n)
            case .writeback(let offset, let length): #expect(offset + length <= written)
            case .sync: #expect(written == size)
            }
        }
        #expect(calls.last == .sync)

        let (replayed, report) = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: path)
        #expect(replayed.aliveNodes == state.aliveNodes && report.isClean && report.logPosition == 7)
    }
}
