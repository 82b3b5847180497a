/// Reads a snapshot file and rebuilds its state. The I/O edge around the format decoders.
public struct SnapshotReplayer {
    public var io: any FileIO
    public var rejoinAfterLeave: Bool
    /// How many bytes each read(2) asks for.
    public var chunkSize = 1 << 20

    public init(io: any FileIO = POSIXFileIO(), rejoinAfterLeave: Bool) {
        self.io = io
        self.rejoinAfterLeave = rejoinAfterLeave
    }

    /// Replays the file open at `fd` from its start. The file offset is left at the end.
    public func replay(fd: Int32, path: String) throws(FileIOError) -> (SnapshotState, ReplayReport) {
        try io.seek(fd, to: 0, path: path)
        let size = try io.size(fd, path: path)
        var state = SnapshotState()
        var report = ReplayReport()
        var decoder = V1Decoder()
        let rejoin = rejoinAfterLeave
        func visit(_ item: ReplayItem) {
            switch item {
            case .record(let record, _):
                state.replay(record, rejoinAfterLeave: rejoin)
                report.records += 1
                report.recordsByKind[record.kind, default: 0] += 1
            case .ignored:
                report.ignored += 1
            case .skipped(let offset, let length, let reason):
                report.skipped.append(.init(offset: offset, length: length, reason: reason))
            }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try io.read(fd, into: buffer, path: path)
            if n == 0 { break }
            decoder.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), visit)
        }
        report.validLength = decoder.finish(visit)
        report.tornTailBytes = size - report.validLength
        return (state, report)
    }

    /// Opens `path` read-only and replays it (for the offline tools).
    public func replay(path: String) throws(FileIOError) -> (SnapshotState, ReplayReport) {
        let fd = try io.openReadOnly(path)
        defer { io.close(fd) }
        return try replay(fd: fd, path: path)
    }
}
