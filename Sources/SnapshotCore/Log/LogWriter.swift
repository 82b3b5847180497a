/// Appends to the write-ahead log: one active segment written at its end with one pwrite(2) a
/// batch, synced with one fdatasync, cut when the next batch would not fit, the next segment
/// prepared meanwhile (`SegmentPreparer`). Records never span segments. Owned by one thread
/// (the engine's writer); every call blocks on the disk.
///
/// A write that fails leaves `end` where it was: the next append overwrites from there, and
/// whatever the failed write may have left past it is overwritten with zeros at once (when that
/// fails too, before the next append or cut), so that no reader finds records taken back and a
/// half-written record never sits after a later valid one (where it would read as damage).
final class LogWriter {
    struct Configuration: Sendable {
        /// Segments are cut at this size (a bigger batch gets a segment of its own).
        var segmentSize: Int64 = 64 << 20
        /// Prepare the next segment on a thread of its own (false: at the cut, inline).
        var prepareInBackground = true
    }

    let directory: String
    let io: any FileIO
    let configuration: Configuration
    /// Segments no longer written to, in log order, until a checkpoint lets them go.
    private(set) var sealed: [LogSegment] = []
    private(set) var active: LogSegment
    private var fd: Int32
    /// The active segment has no header yet: it is written with the first batch, when the
    /// segment's base (the log position it starts at) is known.
    private var fresh = true
    /// Bytes written since the last sync.
    private var unsynced = false
    /// Set after a failed write: bytes up to this offset past `end` may hold what it left.
    private var dirtyUntil: Int64?
    private var next: SegmentPreparer?

    /// The log position after the last record written.
    var end: UInt64 { active.end }
    /// Bytes of every segment the log still holds (sealed and active).
    var bytes: UInt64 { active.end - (sealed.first?.base ?? active.base) }

    /// Starts the log's writing in a new segment `sequence` (never in one from an earlier run,
    /// whose tail may be torn), at log position `base`, prepared before this returns.
    init(directory: String, io: any FileIO, configuration: Configuration, sealed: [LogSegment],
         sequence: UInt64, base: UInt64) throws(FileIOError) {
        self.directory = directory
        self.io = io
        self.configuration = configuration
        self.sealed = sealed
        let first = try SegmentPreparer(directory: directory, sequence: sequence, size: configuration.segmentSize,
                                        io: io, inBackground: false).take().get()
        self.fd = first.fd
        self.active = LogSegment(sequence: sequence, path: first.path, base: base, end: base)
        prepareNext()
    }

    /// The file offset of log position `position` in the active segment.
    private func offset(of position: UInt64) -> Int64 {
        Int64(LogFormat.headerSize) + Int64(position - active.base)
    }

    /// Writes `bytes` (whole log records) after the last record; cuts to a new segment first
    /// when they would not fit. Returns the log position they start at. Not synced.
    @discardableResult
    func append(_ bytes: [UInt8]) throws(FileIOError) -> UInt64 {
        if !fresh && offset(of: active.end) + Int64(bytes.count) > configuration.segmentSize {
            try cut()
        }
        if fresh {
            var header: [UInt8] = []
            LogFormat.header(base: active.base, into: &header)
            dirtyUntil = max(dirtyUntil ?? 0, Int64(header.count))
            try io.writeAll(fd, header, at: 0, path: active.path)
            fresh = false
            dirtyUntil = nil
        }
        let start = active.end
        let at = offset(of: start)
        try scrub(from: at + Int64(bytes.count))
        unsynced = true
        dirtyUntil = at + Int64(bytes.count)  // until the write is whole
        var failure: FileIOError?
        bytes.withUnsafeBytes { raw in
            do throws(FileIOError) { try io.writeAll(fd, raw, at: at, path: active.path) } catch { failure = error }
        }
        if let failure {
            // Zeros over what it left, now (as a rewind does), so that nobody reads records of a
            // batch its submitters are told failed; when even that fails, the next append does it.
            if (try? scrub(from: at)) != nil { dirtyUntil = nil }
            throw failure
        }
        dirtyUntil = nil
        active.end += UInt64(bytes.count)
        return start
    }

    /// fdatasync of the active segment: everything appended is durable when it returns.
    func sync() throws(FileIOError) {
        guard unsynced else { return }
        try io.dataSync(fd, path: active.path)
        unsynced = false
    }

    /// Takes back what was appended from `position` on (its sync failed: the kernel may have
    /// dropped those pages, so they are written again rather than trusted): overwritten with
    /// zeros now, so that nobody reads records that were never acknowledged, or, when even that
    /// fails, by the next append.
    func rewind(to position: UInt64) {
        let target = max(position, active.base)
        guard target < active.end else { return }
        dirtyUntil = max(dirtyUntil ?? 0, offset(of: active.end))
        active.end = target
        unsynced = true
        if (try? scrub(from: offset(of: target))) != nil { dirtyUntil = nil }
    }

    /// The sealed segments whose records all lie before `position`.
    func sealedSegments(before position: UInt64) -> [LogSegment] {
        Array(sealed.prefix { $0.end <= position })
    }

    /// Forgets `segments`: a durable checkpoint covers them and removed their files (off this
    /// thread). Only those it listed when it started: a segment sealed while it ran may end at
    /// its position too, and its file is still there.
    func forget(_ segments: [LogSegment]) {
        sealed.removeAll { segments.contains($0) }
    }

    /// Closes the active segment and drops the one prepared.
    func close() {
        io.close(fd)
        next?.discard(io: io)
        next = nil
    }

    /// Removes every segment file, the active one included: the log is empty (a clean stop,
    /// after a checkpoint of everything). The next run starts a new segment at `end`.
    func removeAll() throws(FileIOError) {
        close()
        for segment in sealed + [active] { try io.remove(segment.path) }
        sealed = []
        try io.syncDirectory(directory)
    }

    // MARK: - Cutting

    /// Seals the active segment (synced, so that the log never has a gap a power loss could
    /// open behind a later segment's records) and moves to the prepared one.
    private func cut() throws(FileIOError) {
        // No later append in this segment will scrub what a failed write or rewind left past its end.
        try scrub(from: offset(of: active.end))
        try sync()
        let preparer = next ?? SegmentPreparer(directory: directory, sequence: active.sequence + 1,
                                               size: configuration.segmentSize, io: io, inBackground: false)
        next = nil
        let prepared: SegmentPreparer.Prepared
        switch preparer.take() {
        case .success(let ready): prepared = ready
        case .failure(let error):
            throw error  // tried again at the next append: a full disk heals when space returns
        }
        io.close(fd)
        sealed.append(active)
        fd = prepared.fd
        active = LogSegment(sequence: prepared.sequence, path: prepared.path, base: active.end, end: active.end)
        fresh = true
        dirtyUntil = nil
        prepareNext()
    }

    private func prepareNext() {
        next = SegmentPreparer(directory: directory, sequence: active.sequence + 1, size: configuration.segmentSize,
                               io: io, inBackground: configuration.prepareInBackground)
    }

    /// After a failed write: zeros over what it may have left past `end`, beyond `from`.
    private func scrub(from: Int64) throws(FileIOError) {
        guard let dirty = dirtyUntil, dirty > from else { return }
        let zeros = [UInt8](repeating: 0, count: Int(dirty - from))
        unsynced = true
        try io.writeAll(fd, zeros, at: from, path: active.path)
    }
}
