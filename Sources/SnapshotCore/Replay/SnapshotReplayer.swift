/// Reads a snapshot file and rebuilds its state. The I/O edge around the format decoders.
public struct SnapshotReplayer {
    public var io: any FileIO
    public var rejoinAfterLeave: Bool
    /// How many bytes each read(2) asks for, when the file is read rather than mapped.
    public var chunkSize = 1 << 20
    /// Map the whole file instead of reading it in chunks (the faster way here).
    public var useMapping = true
    /// The format reported for an empty file (the one a new snapshot gets).
    public var defaultFormat: SnapshotFormat

    public init(io: any FileIO = POSIXFileIO(), rejoinAfterLeave: Bool, defaultFormat: SnapshotFormat = .v2) {
        self.io = io
        self.rejoinAfterLeave = rejoinAfterLeave
        self.defaultFormat = defaultFormat
    }

    /// Replays the file open at `fd` from its start. The file offset is left at the end.
    ///
    /// The format is decided by the content: a file read as v1 (its first bytes are not the v2
    /// magic) that has damage is decoded as v2 too, and is a damaged v2 file when that recovers
    /// more records (a v2 file whose header was wiped). A non-empty file in which neither format
    /// finds anything valid is refused with `.notASnapshot`.
    public func replay(fd: Int32, path: String) throws(SnapshotFileError) -> (SnapshotState, ReplayReport) {
        var (builder, report) = try replayBuilder(fd: fd, path: path)
        return (builder.finishState(), report)
    }

    /// As `replay(fd:path:)`, the state left in its builder (not yet made Strings and a tree),
    /// so that the log's records can go on onto it.
    func replayBuilder(fd: Int32, path: String) throws(SnapshotFileError) -> (StateBuilder, ReplayReport) {
        let size: Int64
        var (builder, report): (StateBuilder, ReplayReport)
        do throws(FileIOError) {
            size = try io.size(fd, path: path)
            (builder, report) = try replay(fd: fd, path: path, size: size, as: nil)
            if report.format == .v1 && !report.skipped.isEmpty {
                let (v2Builder, v2Report) = try replay(fd: fd, path: path, size: size, as: .v2)
                if v2Report.records > report.records { (builder, report) = (v2Builder, v2Report) }
            }
        } catch {
            throw .io(error)
        }
        if size > 0 && report.records == 0 && report.ignored == 0 && !report.skipped.isEmpty {
            let interrupted = try isInterruptedCreation(fd: fd, path: path, size: size)
            if !interrupted { throw .notASnapshot(path: path, bytes: size) }
        }
        return (builder, report)
    }

    /// Whether a file with nothing valid in it is what a power loss during the creation of a
    /// new snapshot leaves: no longer than a v2 header (which is synced before any record is
    /// written), and not lines of text (a v2 header starts with 0x89; zeros and a cut header line
    /// hold no line feed). The engine starts such a file again, keeping a copy.
    private func isInterruptedCreation(fd: Int32, path: String, size: Int64) throws(SnapshotFileError) -> Bool {
        guard size <= Int64(V2Format.headerSize) else { return false }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: V2Format.headerSize, alignment: 1)
        defer { buffer.deallocate() }
        let n: Int
        do throws(FileIOError) {
            try io.seek(fd, to: 0, path: path)
            n = try io.read(fd, into: buffer, path: path)
            try io.seek(fd, to: size, path: path)
        } catch {
            throw .io(error)
        }
        let bytes = buffer.prefix(n)
        return bytes.first == 0x89 || !bytes.contains(0x0A)
    }

    /// One pass over the file, in the format its first bytes name or in `format`.
    private func replay(fd: Int32, path: String, size: Int64, as format: SnapshotFormat?) throws(FileIOError) -> (StateBuilder, ReplayReport) {
        try io.seek(fd, to: 0, path: path)
        // A checkpoint is mostly alive records of about this many bytes (v2: 13 bytes of framing,
        // a name, an address; v1 the same in text): its alive table is made that large at once.
        let expectedNames = Int(size / 36)
        var replay = Replay(rejoinAfterLeave: rejoinAfterLeave, format: format, expectedNames: expectedNames)
        if useMapping, let mapped = io.map(fd, size: Int(size)) {
            // One mapping of the whole file, decoded in place: no copy at all.
            defer { io.unmap(mapped) }
            replay.feed(mapped)
            try io.seek(fd, to: size, path: path)
        } else {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = try io.read(fd, into: buffer, path: path)
                if n == 0 { break }
                replay.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
        }
        var (builder, report) = replay.finish()
        report.format = replay.format ?? defaultFormat
        report.tornTailBytes = size - report.validLength
        return (builder, report)
    }

    /// Replays a whole snapshot file held in memory (an import's body), as `replay(fd:path:)`
    /// does a file; nil when the bytes are not empty and neither format finds anything valid.
    public func replay(bytes: [UInt8]) -> (SnapshotState, ReplayReport)? {
        func pass(_ format: SnapshotFormat?) -> (SnapshotState, ReplayReport) {
            var replay = Replay(rejoinAfterLeave: rejoinAfterLeave, format: format)
            bytes.withUnsafeBytes { replay.feed($0) }
            var (builder, report) = replay.finish()
            let state = builder.finishState()
            report.format = replay.format ?? defaultFormat
            report.tornTailBytes = Int64(bytes.count) - report.validLength
            return (state, report)
        }
        var result = pass(nil)
        if result.1.format == .v1 && !result.1.skipped.isEmpty {
            let v2 = pass(.v2)
            if v2.1.records > result.1.records { result = v2 }
        }
        if !bytes.isEmpty && result.1.records == 0 && result.1.ignored == 0 && !result.1.skipped.isEmpty { return nil }
        return result
    }

    /// Opens `path` read-only and replays it (for the offline tools).
    public func replay(path: String) throws(SnapshotFileError) -> (SnapshotState, ReplayReport) {
        var (builder, report) = try replayBuilder(path: path)
        return (builder.finishState(), report)
    }

    /// The log position a v2 file's header names, read from its first bytes as its whole
    /// replay reads them (`.some(nil)`: a v2 file whose header names none or is damaged); nil
    /// when the file is missing, smaller than `minimumSize`, or not v2 (a v1 file's position is
    /// in a comment line anywhere in it). Recovery replays a large checkpoint beside the log's
    /// parts, which need its position first.
    func v2LogPosition(path: String, minimumSize: Int64) -> UInt64?? {
        guard io.exists(path), let fd = try? io.openReadOnly(path) else { return nil }
        defer { io.close(fd) }
        guard let size = try? io.size(fd, path: path), size >= minimumSize else { return nil }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: V2Format.checkpointHeaderSize, alignment: 8)
        defer { buffer.deallocate() }
        guard let count = try? io.read(fd, into: buffer, path: path), count == buffer.count,
              SnapshotFormat.detect(buffer) == .v2 else { return nil }
        var decoder = V2Decoder()
        decoder.feed(UnsafeRawBufferPointer(buffer)) { _ in }
        return .some(decoder.logPosition)
    }

    /// As `replay(path:)`, the state left in its builder.
    func replayBuilder(path: String) throws(SnapshotFileError) -> (StateBuilder, ReplayReport) {
        let fd: Int32
        do { fd = try io.openReadOnly(path) } catch { throw .io(error) }
        defer { io.close(fd) }
        return try replayBuilder(fd: fd, path: path)
    }
}

/// One replay: the decoder of the file's format (chosen from its first bytes, or forced) feeding a
/// `StateBuilder`. The decoders are concrete, so that decoding specialises for the builder.
private struct Replay {
    private var builder: StateBuilder
    private var v1: V1Decoder?
    private var v2: V2Decoder?
    private(set) var format: SnapshotFormat?

    init(rejoinAfterLeave: Bool, format: SnapshotFormat?, expectedNames: Int = 0) {
        builder = StateBuilder(rejoinAfterLeave: rejoinAfterLeave, expectedNames: expectedNames)
        forced = format
    }

    /// The format to decode in, whatever the first bytes say.
    private let forced: SnapshotFormat?

    mutating func feed(_ chunk: UnsafeRawBufferPointer) {
        if format == nil {
            let detected = forced ?? SnapshotFormat.detect(chunk) ?? .v1
            format = detected
            switch detected {
            case .v1: v1 = V1Decoder()
            case .v2: v2 = V2Decoder()
            }
        }
        v1?.feed(chunk, into: &builder)
        v2?.feed(chunk, into: &builder)
    }

    /// Ends the input: the builder holding the state, and the report with the valid length,
    /// creation time and log position.
    mutating func finish() -> (StateBuilder, ReplayReport) {
        let validLength = v1?.finish(into: &builder) ?? v2?.finish(into: &builder) ?? 0
        var report = builder.countedReport
        report.validLength = validLength
        report.createdAt = v2?.createdAt
        report.logPosition = v1?.logPosition ?? v2?.logPosition
        return (builder, report)
    }
}
