import Glibc

/// Reads the write-ahead log back at recovery: every segment of the log directory in sequence
/// order, each mapped whole and decoded (`LogSegmentDecoder`), every valid record handed to the
/// caller with its log position and snapshot. The I/O edge around the segment format.
///
/// What it finds that is not a record is reported, never cut: a damaged segment is first
/// copied to `SEGMENT.damaged-<UTC time>` (as a damaged snapshot file is), and stays in place
/// until a checkpoint covers it; a torn tail is left for the writer, which never appends to a
/// segment from an earlier run. A file of zeros only (or empty) is a segment prepared and never
/// used: it holds nothing and is listed as `unused`.
struct LogReader {
    let directory: String
    let io: any FileIO
    /// Copy damaged segments aside (the engine's open); false for a look that changes nothing.
    var preservesDamage = true

    /// Replays the records of `snapshot` at or after `position` onto `state` (the checkpoint's),
    /// as a snapshot file's records are replayed. A missing directory is an empty log.
    func replay(snapshot: UInt32, after position: UInt64, onto state: inout SnapshotState,
                rejoinAfterLeave: Bool) throws(FileIOError) -> LogReport {
        // The records go through replay's own builder (its alive table, no String a record),
        // started from the checkpoint's state.
        var builder = StateBuilder(rejoinAfterLeave: rejoinAfterLeave, startingFrom: state)
        let report = try replay(snapshot: snapshot, after: position, onto: &builder)
        if report.replayed > 0 { state = builder.finishState() }
        return report
    }

    /// As `replay(snapshot:after:onto:rejoinAfterLeave:)`, onto the builder the checkpoint
    /// replayed into (its alive set is not made Strings and a tree in between).
    func replay(snapshot: UInt32, after position: UInt64, onto builder: inout StateBuilder) throws(FileIOError) -> LogReport {
        guard io.exists(directory) else { return LogReport() }
        var replayed = 0
        let rejoinAfterLeave = builder.rejoinAfterLeave
        var report = try read({ at, owner, record in
            guard owner == snapshot, at >= position else { return }
            builder.record(record, offset: Int64(at))
            replayed += 1
        }, catalog: { at, change in
            // An import replaced the state: it starts again.
            guard change == .reset(id: snapshot), at >= position else { return }
            builder = StateBuilder(rejoinAfterLeave: rejoinAfterLeave)
            replayed += 1
        })
        report.replayed = replayed
        return report
    }

    /// Whether every byte is zero, read forwards a word at a time (a used segment starts with its
    /// header's magic, so this stops at once for it).
    static func isAllZeros(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        // 64 bytes a test (the segment's 64 MB are most of recovery's reads when unused).
        while offset + 64 <= bytes.count {
            var any: UInt64 = 0
            for word in 0..<8 { any |= bytes.loadUnaligned(fromByteOffset: offset + word * 8, as: UInt64.self) }
            if any != 0 { return false }
            offset += 64
        }
        while offset + 8 <= bytes.count {
            if bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != 0 { return false }
            offset += 8
        }
        return bytes[offset...].allSatisfy { $0 == 0 }
    }

    /// Reads every segment, calling `visit(position, snapshot, record)` for each valid record
    /// (borrowed for the visit), and `catalog(position, change)` for each catalog record.
    func read(_ visit: (UInt64, UInt32, RecordView) -> Void,
              catalog: (UInt64, CatalogRecord) -> Void = { _, _ in }) throws(FileIOError) -> LogReport {
        try read(decoding: { segments in
            segments.map { LogSegmentDecoder().decodeViews($0, visit, catalog: catalog) }
        })
    }

    /// Maps every segment, hands the written bytes of the used ones, in log order, to `decode`
    /// (which decodes them, a report each, in the same order: `LogSegmentDecoder`, or
    /// `ChunkedLogReplay`), then makes the log's report of those reports. The mappings stay
    /// valid until `decode` returns.
    func read(decoding decode: ([UnsafeRawBufferPointer]) -> [LogSegmentDecoder.Report]) throws(FileIOError) -> LogReport {
        var report = LogReport()
        let names = try io.contentsOfDirectory(directory)
        let segments = names.compactMap { name in LogSegment.sequence(ofName: name).map { ($0, name) } }.sorted { $0.0 < $1.0 }
        var opened: [(fd: Int32, bytes: UnsafeRawBufferPointer?)] = []
        defer {
            for (fd, bytes) in opened {
                if let bytes { io.unmap(bytes) }
                io.close(fd)
            }
        }
        var used: [(sequence: UInt64, path: String, written: UnsafeRawBufferPointer)] = []
        for (sequence, name) in segments {
            let path = directory + "/" + name
            report.lastSequence = max(report.lastSequence, sequence)
            let fd = try io.openReadOnly(path)
            opened.append((fd, nil))
            let size = Int(try io.size(fd, path: path))
            guard size > 0, let bytes = io.map(fd, size: size) else {
                if size == 0 { report.unused.append(path); continue }
                throw FileIOError("mmap", path, code: EIO)
            }
            opened[opened.count - 1].bytes = bytes
            // Only the data extents can hold anything but zeros: a prepared segment is all
            // holes (nothing read), and the decoder stops at the end of the last extent (the
            // preallocated rest reads as zeros; reading it would only fault in zeroed pages).
            let extents = io.dataExtents(fd, size: size)
            if extents.allSatisfy({ Self.isAllZeros(UnsafeRawBufferPointer(rebasing: bytes[$0])) }) {
                report.unused.append(path)
                continue
            }
            used.append((sequence, path, UnsafeRawBufferPointer(rebasing: bytes[0..<(extents.last?.upperBound ?? size)])))
        }
        let reports = decode(used.map(\.written))
        precondition(reports.count == used.count, "a report for each segment")
        for ((sequence, path, _), decoded) in zip(used, reports) {
            var segment = LogSegment(sequence: sequence, path: path, base: report.end, end: report.end)
            if let base = decoded.base {
                segment.base = base
                segment.end = base + UInt64(decoded.validEnd - LogFormat.headerSize)
                // Everything written, torn or damaged bytes included, lies before the next base.
                report.end = max(report.end, base + UInt64(max(decoded.writtenEnd, decoded.validEnd) - LogFormat.headerSize))
            }
            report.records += decoded.records
            report.segments.append(segment)
            if decoded.tornTail > 0 {
                report.tornTails.append(LogReport.Damage(segment: path, offset: decoded.validEnd, length: decoded.tornTail))
            }
            if !decoded.damaged.isEmpty {
                report.damaged += decoded.damaged.map { LogReport.Damage(segment: path, offset: $0.offset, length: $0.length) }
                if preservesDamage { report.preservedCopies.append(try DamagedCopy.preserve(path, io: io)) }
            }
        }
        return report
    }
}

/// What reading the write-ahead log back found (`LogReader`).
public struct LogReport: Sendable, Equatable {
    public struct Damage: Sendable, Equatable {
        public var segment: String
        public var offset: Int
        public var length: Int
    }

    /// The segments holding records (or damage), in log order.
    var segments: [LogSegment] = []
    /// Prepared segments never written to.
    public var unused: [String] = []
    /// Valid records in the log, of every snapshot.
    public var records = 0
    /// Records replayed onto the snapshot (those after its checkpoint's position).
    public var replayed = 0
    public var damaged: [Damage] = []
    /// Torn tails (interrupted appends, no acknowledged record in them).
    public var tornTails: [Damage] = []
    /// Copies of damaged segments, kept before anything else happens to them.
    public var preservedCopies: [String] = []
    /// The highest segment sequence seen (0 when the log is empty).
    public var lastSequence: UInt64 = 0
    /// The log position after everything any segment holds: where the next segment starts.
    public var end: UInt64 = 0

    public var segmentCount: Int { segments.count }
    public var isDamaged: Bool { !damaged.isEmpty }

    public init() {}
}
