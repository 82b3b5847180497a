import Foundation
import Glibc
import SnapshotCore

/// Replay speed of a large file, per format, with buffered read(2) chunks (what the engine
/// does) against one mmap of the whole file.
enum ReplayBench {
    /// The replay workload's `i`-th event: a join over 5,000 names, every tenth a failure, with
    /// a Lamport time every 100 (a `clock` record then).
    static func event(_ i: Int) -> SnapshotEvent {
        let n = i % 5000
        let ip = IPAddress(bytes: [10, 0, UInt8(n / 256), UInt8(n % 256)]) ?? IPAddress(bytes: [0, 0, 0, 0])!
        let member = Member(name: "node-\(n)", address: ip, port: 7946)
        return .member(i % 10 == 9 ? .failed : .join, members: [member], ltime: i % 100 == 0 ? UInt64(i) : nil)
    }

    /// Writes a file of `count` events' records (joins over 5,000 names with every tenth a
    /// failure, and a clock record every 100): the records the engine's writer makes of those
    /// events (`SnapshotState.apply`), encoded straight into the file. (It used to run them
    /// through an engine; with the write-ahead log that leaves only the checkpoint a clean close
    /// writes, a few thousand records.) Returns the number of records.
    @discardableResult
    static func makeFile(_ path: String, format: SnapshotFormat, count: Int) throws -> Int {
        let encoder: any SnapshotEncoder.Type = format == .v1 ? V1Format.self : V2Format.self
        let out = try RecordFile(path)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 21)
        encoder.header(into: &buffer)
        var state = SnapshotState()
        var clock = LamportClock()
        var records = 0
        for i in 0..<count {
            state.apply(event(i), clock: &clock) { record in
                encoder.encode(record, into: &buffer)
                records += 1
            }
            if buffer.count >= 1 << 20 { try out.write(&buffer) }
        }
        try out.write(&buffer)
        try out.close()
        return records
    }

    /// The engine's replayer, reading 1 MiB chunks with read(2) or mapping the whole file.
    static func replay(_ path: String, mapped: Bool) throws -> (Int, Double) {
        var replayer = SnapshotReplayer(rejoinAfterLeave: false)
        replayer.useMapping = mapped
        let start = DispatchTime.now().uptimeNanoseconds
        let (_, report) = try replayer.replay(path: path)
        return (report.records, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    static func run(dir: String, count: Int, runs: Int) throws {
        for format in SnapshotFormat.allCases {
            let path = dir + "/replay-\(format.rawValue)"
            try makeFile(path, format: format, count: count)
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            var bufferedTimes: [Double] = [], mappedTimes: [Double] = []
            var records = 0
            for _ in 0..<runs {
                let (r1, t1) = try replay(path, mapped: false)
                let (r2, t2) = try replay(path, mapped: true)
                precondition(r1 == r2, "both ways must see the same records")
                records = r1
                bufferedTimes.append(t1)
                mappedTimes.append(t2)
            }
            let b = bufferedTimes.sorted()[runs / 2], m = mappedTimes.sorted()[runs / 2]
            print(String(format: "replay %@ %d records %d bytes: read(2) 1 MiB chunks %.3f s (%.2fM records/s), mmap %.3f s (%.2fM records/s), medians of %d",
                         format.rawValue, records, size, b, Double(records) / b / 1e6, m, Double(records) / m / 1e6, runs))
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

/// A file written in large chunks, synced at close (so that its write-back is not what a later
/// timed run measures).
final class RecordFile {
    let path: String
    private var fd: Int32

    init(_ path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw BenchFileError(what: "open \(path)", code: errno) }
    }

    /// Writes all of `buffer` and empties it.
    func write(_ buffer: inout [UInt8]) throws {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 { if errno == EINTR { continue }; throw BenchFileError(what: "write \(path)", code: errno) }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        defer { Glibc.close(fd); fd = -1 }
        if fsync(fd) != 0 { throw BenchFileError(what: "fsync \(path)", code: errno) }
    }
}

struct BenchFileError: Error, CustomStringConvertible {
    var what: String
    var code: Int32
    var description: String { "\(what): \(String(cString: strerror(code)))" }
}
