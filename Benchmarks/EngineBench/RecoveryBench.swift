import Dispatch
import Foundation
import Glibc
import SnapshotCore
import Synchronization

/// Recovery from a checkpoint and a write-ahead log, against Go serf replaying the same records
/// as one v1 file.
///
///   --recovery-store DIR [--records N] [--checkpoint-nodes K] [--go-file PATH]
///       makes a store in DIR (DIR/snapshot and DIR/wal): an engine (fsync, no automatic
///       checkpoint) records K joins and stops cleanly (a checkpoint of K alive nodes, the log
///       emptied); a second engine records the replay workload's N events (joins over 5,000 of
///       those names, every tenth a failure, a clock every 100) in submissions of 10,000, every
///       one acknowledged (durable), and is then abandoned without a close, as a killed process
///       leaves it: the log holds every record after the checkpoint, in its preallocated
///       segment(s), the next segment prepared and unused. PATH gets the same records as one
///       v1 file: the checkpoint's records, then the log's, as the writer made them.
///   --recovery-open PATH [--runs R]
///       copies PATH's store (the file and its wal/) to a fresh directory (not timed, synced),
///       then times `SnapshotEngine(path:)` on the copy: the checkpoint's replay, the log's
///       replay, the new segment's preparation. Then, as a breakdown, times StoreReplayer on
///       the original (the same reads and replay, no repair, no new segment). One JSON line a run.
enum RecoveryBench {
    static func member(_ n: Int) -> Member { CompactionStall.member(n) }

    static func makeStore(dir: String, records: Int, checkpointNodes: Int, goFile: String?) throws {
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/snapshot"
        var configuration = EngineConfiguration()
        configuration.durability = .fsync
        configuration.minCompactSize = 1 << 40  // no checkpoint but the ones asked for

        // The checkpoint: K alive nodes, written by a clean stop.
        let first = try SnapshotEngine(path: path, configuration: configuration)
        try submitAll(first, (0..<checkpointNodes).map { SnapshotEvent.member(.join, members: [member($0)], ltime: nil) }, batch: 1000)
        first.closeAndWait()

        // The log: N events after it, all durable, then abandoned.
        let engine = try SnapshotEngine(path: path, configuration: configuration)
        let checkpointed = engine.status.state
        guard engine.logReport.records == 0, checkpointed.aliveNodes.count == checkpointNodes else {
            throw BenchFileError(what: "the checkpoint does not hold the \(checkpointNodes) nodes", code: EINVAL)
        }
        try submitAll(engine, (0..<records).map { ReplayBench.event($0) }, batch: 10_000)
        let status = engine.status

        // The same records for Go serf: the checkpoint's, then the writer's records of the events.
        var logRecords = 0, fileRecords = 0
        var state = checkpointed
        var clock = LamportClock()
        clock.witness(state.lastClock)  // as the writer starts
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 21)
        let out = try goFile.map { try RecordFile($0) }
        V1Format.header(into: &buffer)
        checkpointed.compactedRecords { record in
            V1Format.encode(record, into: &buffer)
            fileRecords += 1
        }
        for i in 0..<records {
            state.apply(ReplayBench.event(i), clock: &clock) { record in
                V1Format.encode(record, into: &buffer)
                logRecords += 1
            }
            if buffer.count >= 1 << 20 { if let out { try out.write(&buffer) } else { buffer.removeAll(keepingCapacity: true) } }
        }
        if let out { try out.write(&buffer); try out.close() }
        guard state == status.state else {
            throw BenchFileError(what: "the engine's state is not the records' state", code: EINVAL)
        }
        let segments = (try? FileManager.default.contentsOfDirectory(atPath: engine.logDirectory))?.sorted() ?? []
        print("{\"dir\":\"\(dir)\",\"checkpoint_nodes\":\(checkpointNodes),\"checkpoint_records\":\(fileRecords),\"checkpoint_bytes\":\(status.fileBytes),\"events\":\(records),\"log_records\":\(logRecords),\"log_bytes\":\(status.logBytes),\"log_files\":\"\(segments.joined(separator: " "))\",\"alive_nodes\":\(status.state.aliveNodes.count),\"go_file\":\"\(goFile ?? "")\"}")
        // No close: the process exits with the engine as it is (a kill, for the store on disk).
    }

    static func submitAll(_ engine: SnapshotEngine, _ events: [SnapshotEvent], batch: Int) throws {
        let done = DispatchSemaphore(value: 0)
        let failed = Mutex<String?>(nil)
        var submissions = 0
        for start in stride(from: 0, to: events.count, by: batch) {
            engine.submit(Array(events[start..<min(start + batch, events.count)])) { result in
                if case .failure(let error) = result { failed.withLock { $0 = error.description } }
                done.signal()
            }
            submissions += 1
        }
        for _ in 0..<submissions { done.wait() }
        if let error = failed.withLock({ $0 }) { throw BenchFileError(what: "submit: \(error)", code: EIO) }
    }

    static func open(path: String, runs: Int) throws {
        let source = (path as NSString).deletingLastPathComponent
        let fm = FileManager.default
        for _ in 0..<max(runs, 1) {
            let copy = source + ".open-\(getpid())"
            try? fm.removeItem(atPath: copy)
            try fm.createDirectory(atPath: copy + "/wal", withIntermediateDirectories: true)
            try copyFile(path, to: copy + "/snapshot")
            let wal = source + "/wal"
            for name in try fm.contentsOfDirectory(atPath: wal).sorted() { try copyFile(wal + "/" + name, to: copy + "/wal/" + name) }
            sync()

            let start = DispatchTime.now().uptimeNanoseconds
            let engine = try SnapshotEngine(path: copy + "/snapshot")
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let file = engine.replayReport, log = engine.logReport
            let alive = engine.status.state.aliveNodes.count
            engine.closeAndWait()
            try? fm.removeItem(atPath: copy)

            // The breakdown: the same reads and replay, read-only, on the original.
            let readStart = DispatchTime.now().uptimeNanoseconds
            let (state, _, readLog) = try StoreReplayer().replay(path: path)
            let readSeconds = Double(DispatchTime.now().uptimeNanoseconds - readStart) / 1e9
            guard state.aliveNodes.count == alive, readLog.replayed == log.replayed else {
                throw BenchFileError(what: "StoreReplayer and the engine disagree", code: EINVAL)
            }
            let parts = try breakdown(path: path)
            let records = file.records + log.replayed
            print("{\"impl\":\"snapshotd\",\"seconds\":\(seconds),\"checkpoint_replay_seconds\":\(parts.checkpoint),\"log_decode_seconds\":\(parts.decode),\"log_zero_scan_seconds\":\(parts.zeros),\"log_zero_scan_wordwise_seconds\":\(parts.fastZeros),\"log_decoded_records\":\(parts.decoded),\"log_written_bytes\":\(parts.written),\"records\":\(records),\"records_per_second\":\(Int(Double(records) / seconds)),\"checkpoint_records\":\(file.records),\"log_records\":\(log.records),\"log_replayed\":\(log.replayed),\"log_segments\":\(log.segmentCount),\"log_unused\":\(log.unused.count),\"alive_nodes\":\(alive),\"clean\":\(file.isClean && !log.isDamaged && log.tornTails.isEmpty),\"read_only_seconds\":\(readSeconds)}")
        }
    }

    /// Where the time goes, on the original store: the checkpoint file's replay alone
    /// (SnapshotReplayer), the log's segments decoded (LogSegmentDecoder, every record made a
    /// SnapshotRecord, nothing applied), and a scan of each segment for its trailing zeros and
    /// for a nonzero byte (as LogReader does to tell an unused segment).
    static func breakdown(path: String) throws -> (checkpoint: Double, decode: Double, zeros: Double, fastZeros: Double, decoded: Int, written: Int) {
        func time(_ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        let checkpoint = try time { _ = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: path) }
        let wal = (path as NSString).deletingLastPathComponent + "/wal"
        var decode = 0.0, zeros = 0.0, fastZeros = 0.0, decoded = 0, written = 0, fastWritten = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: wal).sorted() where name.hasSuffix(".wal") {
            // Each pass maps the segment afresh (its page faults are part of what it costs).
            var used = false
            zeros += try mapped(wal + "/" + name) { bytes in
                time {
                    // LogReader's test for an unused segment, then the decoder's search for the
                    // trailing zeros (in a used one).
                    used = bytes.contains(where: { $0 != 0 })
                    guard used else { return }
                    var end = bytes.count
                    while end > LogFormat.headerSize && bytes[end - 1] == 0 { end -= 1 }
                    written += end
                }
            }
            // The same two scans eight bytes at a time (what a word-wise scan would cost).
            fastZeros += try mapped(wal + "/" + name) { bytes in
                time {
                    let words = bytes.count / 8
                    let base = bytes.baseAddress!
                    var nonzero = false
                    for i in 0..<words where base.load(fromByteOffset: i * 8, as: UInt64.self) != 0 { nonzero = true; break }
                    guard nonzero else { return }
                    var end = words
                    while end > LogFormat.headerSize / 8 && base.load(fromByteOffset: (end - 1) * 8, as: UInt64.self) == 0 { end -= 1 }
                    fastWritten += end
                }
            }
            guard used else { continue }
            decode += try mapped(wal + "/" + name) { bytes in
                time { decoded += LogSegmentDecoder().decode(bytes) { _, _, _ in }.records }
            }
        }
        precondition(fastWritten * 8 >= written - 8, "the word-wise scan must find the bytes the byte-wise one does")
        return (checkpoint, decode, zeros, fastZeros, decoded, written)
    }

    /// Runs `body` on the whole file at `path`, mapped read-only.
    static func mapped<T>(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw BenchFileError(what: "open \(path)", code: errno) }
        defer { Glibc.close(fd) }
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > 0, let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        defer { munmap(base, size) }
        return try body(UnsafeRawBufferPointer(start: base, count: size))
    }

    /// A copy laid out as the original is: the same size, preallocated (posix_fallocate) as
    /// the log's segments are, and only the original's data extents written, so that the
    /// copy's never-written space is unwritten extents as after a kill, not written zeros.
    static func copyFile(_ from: String, to: String) throws {
        let io = POSIXFileIO()
        let input = try io.openReadOnly(from)
        defer { io.close(input) }
        let size = Int(try io.size(input, path: from))
        // The breakdown's byte scans fault the original's unwritten extents into the page
        // cache, where ext4 counts them as data: drop those clean pages first, so that the
        // extents are the disk's layout, not an artefact of this benchmark's reads.
        _ = posix_fadvise(input, 0, 0, POSIX_FADV_DONTNEED)
        let out = try io.openSegment(to, create: true)
        defer { io.close(out) }
        if size > 0 { try io.preallocate(out, length: Int64(size), path: to) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for extent in io.dataExtents(input, size: size) {
            var offset = extent.lowerBound
            while offset < extent.upperBound {
                let want = min(buffer.count, extent.upperBound - offset)
                let n = buffer.withUnsafeMutableBytes { Glibc.pread(input, $0.baseAddress, want, off_t(offset)) }
                if n < 0 { if errno == EINTR { continue }; throw BenchFileError(what: "read \(from)", code: errno) }
                if n == 0 { break }
                try buffer.withUnsafeBytes { try io.writeAll(out, UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: Int64(offset), path: to) }
                offset += n
            }
        }
        try io.sync(out, path: to)
    }
}
