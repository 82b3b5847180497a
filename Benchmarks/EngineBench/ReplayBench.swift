import Foundation
import SnapshotCore

/// Replay speed of a large file, per format, with buffered read(2) chunks (what the engine
/// does) against one mmap of the whole file.
enum ReplayBench {
    /// Writes a file of `count` records: joins over 5,000 names with every tenth a failure,
    /// and a clock record every 100.
    static func makeFile(_ path: String, format: SnapshotFormat, count: Int) throws {
        var configuration = EngineConfiguration()
        configuration.format = format
        configuration.durability = .buffered
        configuration.minCompactSize = 1 << 40
        let engine = try SnapshotEngine(path: path, configuration: configuration)
        var batch: [SnapshotEvent] = []
        for i in 0..<count {
            let n = i % 5000
            let ip = IPAddress(bytes: [10, 0, UInt8(n / 256), UInt8(n % 256)]) ?? IPAddress(bytes: [0, 0, 0, 0])!
            let member = Member(name: "node-\(n)", address: ip, port: 7946)
            batch.append(.member(i % 10 == 9 ? .failed : .join, members: [member], ltime: i % 100 == 0 ? UInt64(i) : nil))
            if batch.count == 10_000 {
                engine.submit(batch) { _ in }
                batch.removeAll()
            }
        }
        engine.submit(batch) { _ in }
        engine.closeAndWait()
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
