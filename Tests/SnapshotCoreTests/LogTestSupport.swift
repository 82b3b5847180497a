import Foundation
import Glibc
import Synchronization
@testable import SnapshotCore

/// A file layer for the log's tests, over a real (or modelled) file system:
/// - positional writes (the log's pwrite) fail on demand, one queued fault per call: `.half`
///   takes half of what it is given and makes the next call fail, `.fail` fails at once;
/// - fdatasync fails on demand, one queued errno per call;
/// - a segment's create fails, one queued errno per call;
/// - preallocation fails (a file system without fallocate, a full disk);
/// - `kill()`: every later call fails, as for a process killed with kill -9 (the page cache,
///   and so every write made, is kept; descriptors still close, as the kernel closes them).
final class LogFaultIO: ForwardingFileIO {
    enum WriteFault: Sendable, Equatable {
        case half(Int32)
        case fail(Int32)
    }

    struct Faults: Sendable {
        var writes: [WriteFault] = []
        var syncs: [Int32] = []
        var segmentCreates: [Int32] = []
        var preallocationFails = false
        var killed = false
    }

    let base: any FileIO
    let faults = Mutex(Faults())

    init(base: any FileIO = POSIXFileIO()) {
        self.base = base
    }

    func failWrites(_ queued: WriteFault...) { faults.withLock { $0.writes += queued } }
    func failSyncs(_ queued: Int32...) { faults.withLock { $0.syncs += queued } }
    func failSegmentCreates(_ queued: Int32...) { faults.withLock { $0.segmentCreates += queued } }
    func failPreallocation() { faults.withLock { $0.preallocationFails = true } }
    func kill() { faults.withLock { $0.killed = true } }
    var pendingFaults: Int { faults.withLock { $0.writes.count + $0.syncs.count } }

    private func alive(_ path: String) throws(FileIOError) {
        if faults.withLock({ $0.killed }) { throw FileIOError("process killed", path, code: EIO) }
    }

    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(FileIOError) -> Int {
        try alive(path)
        let fault: WriteFault? = faults.withLock { $0.writes.isEmpty ? nil : $0.writes.removeFirst() }
        switch fault {
        case .half(let code)?:
            guard bytes.count > 1 else { throw FileIOError("pwrite", path, code: code) }
            faults.withLock { $0.writes.insert(.fail(code), at: 0) }
            return try base.write(fd, UnsafeRawBufferPointer(rebasing: bytes.prefix(bytes.count / 2)), at: offset, path: path)
        case .fail(let code)?:
            throw FileIOError("pwrite", path, code: code)
        case nil:
            return try base.write(fd, bytes, at: offset, path: path)
        }
    }

    func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
        try alive(path)
        if let code = faults.withLock({ $0.syncs.isEmpty ? nil : $0.syncs.removeFirst() }) {
            throw FileIOError("fdatasync", path, code: code)
        }
        try base.dataSync(fd, path: path)
    }

    func preallocate(_ fd: Int32, length: Int64, path: String) throws(FileIOError) {
        try alive(path)
        if faults.withLock({ $0.preallocationFails }) { throw FileIOError("fallocate", path, code: EOPNOTSUPP) }
        try base.preallocate(fd, length: length, path: path)
    }

    func open(_ path: String, create: Bool, truncate: Bool) throws(FileIOError) -> Int32 {
        try alive(path)
        return try base.open(path, create: create, truncate: truncate)
    }
    func openReadOnly(_ path: String) throws(FileIOError) -> Int32 {
        try alive(path)
        return try base.openReadOnly(path)
    }
    func openSegment(_ path: String, create: Bool) throws(FileIOError) -> Int32 {
        try alive(path)
        if create, let code = faults.withLock({ $0.segmentCreates.isEmpty ? nil : $0.segmentCreates.removeFirst() }) {
            throw FileIOError("open", path, code: code)
        }
        return try base.openSegment(path, create: create)
    }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) -> Int {
        try alive(path)
        return try base.write(fd, bytes, path: path)
    }
    func contentsOfDirectory(_ path: String) throws(FileIOError) -> [String] {
        try alive(path)
        return try base.contentsOfDirectory(path)
    }
    func createDirectory(_ path: String) throws(FileIOError) {
        try alive(path)
        try base.createDirectory(path)
    }
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(FileIOError) -> Int {
        try alive(path)
        return try base.read(fd, into: buffer, path: path)
    }
    func sync(_ fd: Int32, path: String) throws(FileIOError) {
        try alive(path)
        try base.sync(fd, path: path)
    }
    func truncate(_ fd: Int32, to length: Int64, path: String) throws(FileIOError) {
        try alive(path)
        try base.truncate(fd, to: length, path: path)
    }
    func seek(_ fd: Int32, to offset: Int64, path: String) throws(FileIOError) {
        try alive(path)
        try base.seek(fd, to: offset, path: path)
    }
    func size(_ fd: Int32, path: String) throws(FileIOError) -> Int64 {
        try alive(path)
        return try base.size(fd, path: path)
    }
    func rename(_ from: String, _ to: String) throws(FileIOError) {
        try alive(from)
        try base.rename(from, to)
    }
    func remove(_ path: String) throws(FileIOError) {
        try alive(path)
        try base.remove(path)
    }
    func syncDirectory(_ path: String) throws(FileIOError) {
        try alive(path)
        try base.syncDirectory(path)
    }
    func map(_ fd: Int32, size: Int) -> UnsafeRawBufferPointer? {
        faults.withLock { $0.killed } ? nil : base.map(fd, size: size)
    }
}

/// Records, batches and read-backs for the log's tests.
enum LogTesting {
    static func alive(_ i: Int, _ tag: String = "n") -> SnapshotRecord {
        .alive(name: "\(tag)\(i)", address: "10.0.\(i / 250).\(i % 250):7946")
    }

    static func alive(_ range: Range<Int>, _ tag: String = "n") -> [SnapshotRecord] {
        range.map { alive($0, tag) }
    }

    /// `records` as one batch of log records (what the writer hands `LogWriter.append`).
    static func batch(_ records: [SnapshotRecord], snapshot: UInt32 = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        for record in records { LogFormat.encode(record, snapshot: snapshot, into: &bytes) }
        return bytes
    }

    /// Records from `start` on whose batch does not fit in what is left of the active segment,
    /// and fits in a fresh one: the next append cuts.
    static func overflowing(_ log: LogWriter, segmentSize: Int, from start: Int) -> [SnapshotRecord] {
        let left = segmentSize - LogFormat.headerSize - Int(log.end - log.active.base)
        var records: [SnapshotRecord] = []
        while batch(records).count <= left { records.append(alive(start + records.count)) }
        precondition(LogFormat.headerSize + batch(records).count <= segmentSize, "a segment too small for the test")
        return records
    }

    static func writer(_ directory: String, io: any FileIO = POSIXFileIO(), segmentSize: Int64 = 1 << 16,
                       inBackground: Bool = false, sequence: UInt64 = 1, base: UInt64 = 0) throws -> LogWriter {
        try LogWriter(directory: directory, io: io,
                      configuration: .init(segmentSize: segmentSize, prepareInBackground: inBackground),
                      sealed: [], sequence: sequence, base: base)
    }

    /// Every valid record of the log in `directory`, with its position and snapshot, as recovery reads it.
    static func read(_ directory: String, io: any FileIO = POSIXFileIO(),
                     preservesDamage: Bool = false) throws -> (LogReport, [(position: UInt64, snapshot: UInt32, record: SnapshotRecord)]) {
        var seen: [(position: UInt64, snapshot: UInt32, record: SnapshotRecord)] = []
        let report = try LogReader(directory: directory, io: io, preservesDamage: preservesDamage).read { seen.append(($0, $1, $2.record)) }
        return (report, seen)
    }

    /// A record in a few characters (`n3`, `-n3`, `c9`, `e9`, `q9`, `leave`), for short failure messages.
    static func label(_ record: SnapshotRecord) -> String {
        switch record {
        case .alive(let name, _): return name
        case .notAlive(let name): return "-" + name
        case .clock(let n): return "c\(n)"
        case .eventClock(let n): return "e\(n)"
        case .queryClock(let n): return "q\(n)"
        case .leave: return "leave"
        }
    }

    static func labels(_ records: [SnapshotRecord]) -> [String] { records.map(label) }
    static func labels(_ seen: [(position: UInt64, snapshot: UInt32, record: SnapshotRecord)]) -> [String] {
        seen.map { label($0.record) }
    }

    static func path(_ directory: String, _ sequence: UInt64) -> String {
        directory + "/" + LogSegment.name(sequence: sequence)
    }

    /// A segment file written by hand: header (base), records, then `zeros` preallocated bytes.
    /// Returns each record's file offset.
    @discardableResult
    static func writeSegment(_ directory: String, sequence: UInt64, base: UInt64, _ records: [SnapshotRecord],
                             zeros: Int = 256) throws -> [Int] {
        var bytes: [UInt8] = []
        LogFormat.header(base: base, into: &bytes)
        var offsets: [Int] = []
        for record in records {
            offsets.append(bytes.count)
            LogFormat.encode(record, snapshot: 0, into: &bytes)
        }
        try Data(bytes + [UInt8](repeating: 0, count: zeros)).write(to: URL(fileURLWithPath: path(directory, sequence)))
        return offsets
    }

    static func bytes(_ path: String) -> [UInt8] {
        (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
    }

    static func setBytes(_ path: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
    }

    static func names(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    static func segmentNames(_ directory: String) -> [String] {
        names(directory).filter { LogSegment.sequence(ofName: $0) != nil }
    }
}
