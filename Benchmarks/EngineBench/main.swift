// Engine benchmark: events a second the SnapshotCore engine takes, in-process, per durability
// mode and workload. Not a test: `make bench` runs it (release build).
//
//   snapshot-bench [--events N] [--in-flight N] [--batch N] [--mode fsync|buffered|both]
//                  [--workload user|member|both] [--dir DIR]
//   snapshot-bench --replay N      replay N records, v1 and v2, read(2) against mmap
import Dispatch
import Foundation
import SnapshotCore
import Synchronization

struct Options {
    var events = 1_000_000
    var inFlight = 64
    var batch = 1
    var modes: [EngineConfiguration.Durability] = [.fsync, .buffered]
    var workloads = ["user", "member"]
    var dir = NSTemporaryDirectory() + "snapshot-bench-\(getpid())"
    var json = false
    var replay = 0

    init(_ arguments: [String]) {
        var it = arguments.dropFirst().makeIterator()
        while let flag = it.next() {
            let value = it.next() ?? ""
            switch flag {
            case "--events": events = Int(value) ?? events
            case "--in-flight": inFlight = Int(value) ?? inFlight
            case "--batch": batch = Int(value) ?? batch
            case "--mode": modes = value == "both" ? [.fsync, .buffered] : [EngineConfiguration.Durability(rawValue: value) ?? .fsync]
            case "--workload": workloads = value == "both" ? ["user", "member"] : [value]
            case "--dir": dir = value
            case "--json": json = value == "1" || value == "true"
            case "--replay": replay = Int(value) ?? 0
            default:
                FileHandle.standardError.write(Data("unknown flag \(flag)\n".utf8))
                exit(2)
            }
        }
    }
}

/// User events with rising Lamport times, or member events over 5,000 names with 10% failed.
func makeEvents(_ workload: String, count: Int) -> [SnapshotEvent] {
    var events: [SnapshotEvent] = []
    events.reserveCapacity(count)
    let names = (0..<5000).map { "node-\($0)" }
    var rng = SystemRandomNumberGenerator()
    for i in 0..<count {
        if workload == "user" {
            events.append(.user(ltime: UInt64(i + 1), name: "deploy", payload: [], coalesce: false))
        } else {
            let n = Int.random(in: 0..<names.count, using: &rng)
            let ip = IPAddress(bytes: [10, 0, UInt8(n / 256), UInt8(n % 256)]) ?? IPAddress(bytes: [0, 0, 0, 0])!
            let member = Member(name: names[n], address: ip, port: 7946)
            let kind: MemberEventKind = i % 10 == 9 ? .failed : .join
            events.append(.member(kind, members: [member], ltime: UInt64(i + 1)))
        }
    }
    return events
}

/// Keeps `inFlight` submissions of `batch` events outstanding until all are acknowledged.
func run(_ events: [SnapshotEvent], mode: EngineConfiguration.Durability, options: Options) throws -> (seconds: Double, syncs: Int) {
    let path = options.dir + "/\(mode.rawValue)-\(UUID().uuidString)"
    var configuration = EngineConfiguration()
    configuration.durability = mode
    configuration.minCompactSize = 1 << 40  // measure appends, not compaction
    let counter = SyncCounter()
    configuration.observer = counter
    let engine = try SnapshotEngine(path: path, configuration: configuration)
    let batches = stride(from: 0, to: events.count, by: options.batch).map { Array(events[$0..<min($0 + options.batch, events.count)]) }
    let window = DispatchSemaphore(value: options.inFlight)
    let done = Atomic<Int>(0)
    let finished = DispatchSemaphore(value: 0)
    let failures = Atomic<Int>(0)
    let start = DispatchTime.now().uptimeNanoseconds
    // The producer (this thread) keeps at most `inFlight` submissions outstanding, as many
    // concurrent clients would; completions open the window again.
    for batch in batches {
        window.wait()
        engine.submit(batch) { result in
            if case .failure = result { failures.add(1, ordering: .relaxed) }
            if done.add(1, ordering: .relaxed).newValue == batches.count { finished.signal() }
            window.signal()
        }
    }
    finished.wait()
    engine.closeAndWait()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    try? FileManager.default.removeItem(atPath: path)
    if failures.load(ordering: .relaxed) > 0 { throw BenchError.failures(failures.load(ordering: .relaxed)) }
    return (seconds, counter.syncs.load(ordering: .relaxed))
}

enum BenchError: Error { case failures(Int) }

final class SyncCounter: EngineObserver {
    let syncs = Atomic<Int>(0)
    func synced(seconds: Double) { syncs.add(1, ordering: .relaxed) }
}

if let status = ExtraModes.main(CommandLine.arguments) { exit(status) }
let options = Options(CommandLine.arguments)
try FileManager.default.createDirectory(atPath: options.dir, withIntermediateDirectories: true)
if options.replay > 0 {
    try ReplayBench.run(dir: options.dir, count: options.replay, runs: 5)
    try? FileManager.default.removeItem(atPath: options.dir)
    exit(0)
}
for workload in options.workloads {
    let events = makeEvents(workload, count: options.events)
    for mode in options.modes {
        let (seconds, syncs) = try run(events, mode: mode, options: options)
        let rate = Double(events.count) / seconds
        if options.json {
            print("{\"workload\":\"\(workload)\",\"mode\":\"\(mode.rawValue)\",\"events\":\(events.count),\"seconds\":\(seconds),\"events_per_second\":\(Int(rate)),\"syncs\":\(syncs),\"in_flight\":\(options.inFlight),\"batch\":\(options.batch)}")
        } else {
            print(String(format: "%-6@ %-8@ %9d events  %7.3f s  %10.0f events/s  %7d syncs  (in flight %d, batch %d)",
                         workload, mode.rawValue, events.count, seconds, rate, syncs, options.inFlight, options.batch))
        }
    }
}
try? FileManager.default.removeItem(atPath: options.dir)
