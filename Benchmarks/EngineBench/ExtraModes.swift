import Dispatch
import Foundation
import SnapshotCore
import Synchronization

/// Modes `make bench` needs beyond throughput and `--replay`. Hooked in with one line at the top
/// of main.swift, before the options are parsed:
///
///     if let status = ExtraModes.main(CommandLine.arguments) { exit(status) }
///
/// It returns nil (and does nothing) unless the first argument is one of:
///
///   --write-file PATH --format v1|v2 [--records N]
///       writes the replay bench's file (the records of N events: joins over 5,000 names, every
///       tenth failed, a clock record every 100) to PATH, so Go serf and the engine can replay
///       the same v1 file
///   --replay-file PATH [--runs N]
///       replays PATH with the engine's replayer (as the engine opens a file), one JSON line a run
///   --compaction-stall [--nodes N] [--compactions K] [--mode fsync|buffered] [--in-flight N] [--dir DIR]
///       N alive nodes (default 100,000), continuous single-event submissions, K compactions
///       (default 3) each after 0.5 s of load (the first after 1 s): the gaps between
///       consecutive completions while one runs, against the gaps outside. One JSON line.
///   --alloc-count [--events N] [--workload user|member] [--mode fsync|buffered] [--in-flight N] [--batch N]
///       under LD_PRELOAD=alloccount.so (Benchmarks/tools): heap allocations counted around
///       the throughput loop (engine open, submissions, completions, close; events are built
///       before), for N/5 and N events: the difference over 4N/5 is allocations per event.
///   --recovery-store DIR [--records N] [--checkpoint-nodes K] [--go-file PATH]
///   --recovery-open PATH [--runs R]
///       recovery from a checkpoint and a log against Go serf's replay (RecoveryBench.swift)
///   --recovery-read PATH [--runs R]
///       the store of PATH (a snapshot file, its `wal` beside it) read back R times as its open
///       would recover it, changing nothing (StoreContents): the fastest, the first quartile and
///       the median in ms, one line. For A/B comparisons of recovery on a noisy host (no copy).
enum ExtraModes {
    static func main(_ arguments: [String]) -> Int32? {
        guard arguments.count > 1, ["--write-file", "--replay-file", "--compaction-stall", "--alloc-count", "--recovery-store", "--recovery-open", "--recovery-read"].contains(arguments[1]) else {
            return nil
        }
        var values: [String: String] = [:]
        var it = arguments.dropFirst().makeIterator()
        while let flag = it.next() {
            if flag == "--compaction-stall" || flag == "--alloc-count" { values[flag] = "1"; continue }
            guard flag.hasPrefix("--"), let value = it.next() else {
                FileHandle.standardError.write(Data("snapshot-bench: \(flag) needs a value\n".utf8))
                return 2
            }
            values[flag] = value
        }
        do {
            if let path = values["--write-file"] {
                guard let format = SnapshotFormat(rawValue: values["--format"] ?? "v1") else { return usage("--format must be v1 or v2") }
                let records = Int(values["--records"] ?? "") ?? 1_000_000
                try? FileManager.default.removeItem(atPath: path)
                let written = try ReplayBench.makeFile(path, format: format, count: records)
                print("{\"path\":\"\(path)\",\"format\":\"\(format.rawValue)\",\"events\":\(records),\"records_written\":\(written)}")
            } else if let path = values["--replay-file"] {
                let runs = Int(values["--runs"] ?? "") ?? 1
                for _ in 0..<max(runs, 1) {
                    let replayer = SnapshotReplayer(rejoinAfterLeave: false)  // mmap, as the engine opens
                    let start = DispatchTime.now().uptimeNanoseconds
                    let (state, report) = try replayer.replay(path: path)
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    print("{\"impl\":\"snapshotd\",\"format\":\"\(report.format.rawValue)\",\"records\":\(report.records),\"seconds\":\(seconds),\"records_per_second\":\(Int(Double(report.records) / seconds)),\"alive_nodes\":\(state.aliveNodes.count),\"clean\":\(report.isClean)}")
                }
            } else if let dir = values["--recovery-store"] {
                try RecoveryBench.makeStore(dir: dir, records: Int(values["--records"] ?? "") ?? 1_000_000,
                                            checkpointNodes: Int(values["--checkpoint-nodes"] ?? "") ?? 100_000,
                                            goFile: values["--go-file"])
            } else if let path = values["--recovery-read"] {
                var times: [Double] = []
                for _ in 0..<(Int(values["--runs"] ?? "") ?? 20) {
                    let start = DispatchTime.now().uptimeNanoseconds
                    _ = try StoreContents(layout: StoreLayout(dataDirectory: (path as NSString).deletingLastPathComponent))
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
                times.sort()
                print("min \(times[0]) p25 \(times[times.count / 4]) median \(times[times.count / 2])")
            } else if let path = values["--recovery-open"] {
                try RecoveryBench.open(path: path, runs: Int(values["--runs"] ?? "") ?? 1)
            } else if values["--alloc-count"] != nil {
                return try AllocCount.run(values)
            } else {
                let mode = EngineConfiguration.Durability(rawValue: values["--mode"] ?? "fsync") ?? .fsync
                let dir = values["--dir"] ?? NSTemporaryDirectory()
                try CompactionStall.run(
                    nodes: Int(values["--nodes"] ?? "") ?? 100_000,
                    compactions: max(Int(values["--compactions"] ?? "") ?? 3, 1),
                    mode: mode,
                    inFlight: Int(values["--in-flight"] ?? "") ?? 64,
                    dir: dir)
            }
        } catch {
            FileHandle.standardError.write(Data("snapshot-bench: \(error)\n".utf8))
            return 1
        }
        return 0
    }

    static func usage(_ message: String) -> Int32 {
        FileHandle.standardError.write(Data("snapshot-bench: \(message)\n".utf8))
        return 2
    }
}

/// Ingest stall during compaction: completion timestamps of a continuous single-event load
/// around one compaction of a large alive set.
enum CompactionStall {
    static func member(_ n: Int) -> Member {
        let ip = IPAddress(bytes: [10, UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]) ?? IPAddress(bytes: [0, 0, 0, 0])!
        return Member(name: "node-\(n)", address: ip, port: 7946)
    }

    static func run(nodes: Int, compactions: Int, mode: EngineConfiguration.Durability, inFlight: Int, dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/stall-\(getpid())-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".compact")
        }
        var configuration = EngineConfiguration()
        configuration.durability = mode
        configuration.minCompactSize = 1 << 40  // only the compaction this bench asks for
        let engine = try SnapshotEngine(path: path, configuration: configuration)

        // The alive set, written in batches of 1,000 (not timed).
        let populated = DispatchSemaphore(value: 0)
        var batches = 0
        for start in stride(from: 0, to: nodes, by: 1000) {
            let batch = (start..<min(start + 1000, nodes)).map { SnapshotEvent.member(.join, members: [member($0)], ltime: UInt64($0 + 1)) }
            engine.submit(batch) { _ in populated.signal() }
            batches += 1
        }
        for _ in 0..<batches { populated.wait() }

        // Completion timestamps, recorded lock-free into a preallocated buffer.
        let capacity = 16 << 20
        let stamps = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        defer { stamps.deallocate() }
        let stampAddress = UInt(bitPattern: stamps)
        let recorded = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let window = DispatchSemaphore(value: inFlight)
        let outstanding = Atomic<Int>(0)
        let drained = DispatchSemaphore(value: 0)
        let producerDone = Atomic<Bool>(false)

        // Producer: keeps `inFlight` single-event submissions outstanding: joins and failures
        // (every tenth) over the alive set, so the state changes while compaction copies it.
        let producer = Thread {
            var i = 0
            while !stop.load(ordering: .relaxed) {
                window.wait()
                let n = (i &* 7919) % nodes
                let kind: MemberEventKind = i % 10 == 9 ? .failed : .join
                outstanding.add(1, ordering: .relaxed)
                engine.submit([.member(kind, members: [member(n)], ltime: UInt64(nodes + i + 1))]) { result in
                    let now = DispatchTime.now().uptimeNanoseconds
                    if case .failure = result { failures.add(1, ordering: .relaxed) }
                    let slot = recorded.add(1, ordering: .relaxed).oldValue
                    if slot < capacity { UnsafeMutablePointer<UInt64>(bitPattern: stampAddress)![slot] = now }
                    window.signal()
                    if outstanding.subtract(1, ordering: .acquiringAndReleasing).newValue == 0,
                       producerDone.load(ordering: .acquiring) {
                        drained.signal()
                    }
                }
                i += 1
            }
            producerDone.store(true, ordering: .releasing)
            if outstanding.load(ordering: .acquiring) == 0 { drained.signal() }
        }
        producer.start()

        Thread.sleep(forTimeInterval: 0.5)  // warm-up
        var windows: [(start: UInt64, end: UInt64)] = []
        var results: [Result<CompactionResult, SnapshotError>] = []
        for _ in 0..<compactions {
            Thread.sleep(forTimeInterval: 0.5)  // load without compaction
            let compactStart = DispatchTime.now().uptimeNanoseconds
            let compacted = DispatchSemaphore(value: 0)
            let outcome = Mutex<Result<CompactionResult, SnapshotError>?>(nil)
            engine.compact { result in
                outcome.withLock { $0 = result }
                compacted.signal()
            }
            compacted.wait()
            windows.append((compactStart, DispatchTime.now().uptimeNanoseconds))
            results.append(outcome.withLock { $0 } ?? .failure(.compactionFailed("no result")))
        }
        Thread.sleep(forTimeInterval: 0.3)
        stop.store(true, ordering: .relaxed)
        drained.wait()
        engine.closeAndWait()

        let count = min(recorded.load(ordering: .relaxed), capacity)
        var times = Array(UnsafeBufferPointer(start: stamps, count: count))
        times.sort()
        // Gaps between consecutive completions whose interval overlaps [from, to] (during a
        // compaction), or lies wholly inside it (outside one: a gap that ends after a
        // compaction finished belongs to the compaction, and is not counted twice).
        func gaps(from: UInt64, to: UInt64, wholly: Bool = false) -> [UInt64] {
            var found: [UInt64] = []
            for k in 1..<max(times.count, 1) {
                let inside = wholly ? times[k - 1] >= from && times[k] <= to : times[k] >= from && times[k - 1] <= to
                if inside { found.append(times[k] - times[k - 1]) }
            }
            return found.sorted()
        }
        func summary(_ g: [UInt64]) -> String {
            func ms(_ v: UInt64) -> String { String(format: "%.3f", Double(v) / 1e6) }
            guard let last = g.last else { return "{\"gaps\":0}" }
            let p99 = g[min(g.count - 1, g.count * 99 / 100)], p50 = g[g.count / 2]
            let over = g.filter { $0 > 1_000_000 }.count
            return "{\"gaps\":\(g.count),\"p50_ms\":\(ms(p50)),\"p99_ms\":\(ms(p99)),\"max_ms\":\(ms(last)),\"over_1ms\":\(over)}"
        }
        let firstStamp = times.first ?? 0
        var during: [UInt64] = []
        var outside = gaps(from: firstStamp + 300_000_000, to: windows[0].start, wholly: true)  // skip 0.3 s of warm-up
        for (k, window) in windows.enumerated() {
            during += gaps(from: window.start, to: window.end)
            outside += gaps(from: window.end, to: k + 1 < windows.count ? windows[k + 1].start : window.end + 250_000_000, wholly: true)
        }
        during.sort()
        outside.sort()
        var ok = true
        var compactionFields: [String] = []
        for (k, result) in results.enumerated() {
            if case .success(let r) = result {
                compactionFields.append("{\"seconds\":\(Double(windows[k].end - windows[k].start) / 1e9),\"bytes_before\":\(r.bytesBefore),\"bytes_after\":\(r.bytesAfter)}")
            } else {
                ok = false
            }
        }
        print("{\"mode\":\"\(mode.rawValue)\",\"alive_nodes\":\(nodes),\"in_flight\":\(inFlight),\"compaction_ok\":\(ok),\"compactions\":[\(compactionFields.joined(separator: ","))],\"max_gap_during_ms\":\(Double(during.last ?? 0) / 1e6),\"max_gap_outside_ms\":\(Double(outside.last ?? 0) / 1e6),\"during\":\(summary(during)),\"outside\":\(summary(outside)),\"completions_total\":\(count),\"failures\":\(failures.load(ordering: .relaxed))}")
        if !ok || failures.load(ordering: .relaxed) > 0 { throw StallError.failed }
    }

    enum StallError: Error { case failed }
}

/// Allocations per event on the engine's ingest path, with Benchmarks/tools/alloccount.so.
enum AllocCount {
    static func run(_ values: [String: String]) throws -> Int32 {
        guard let symbol = dlsym(nil, "alloccount_get") else {
            return ExtraModes.usage("--alloc-count needs LD_PRELOAD=alloccount.so (Benchmarks/tools/alloccount.c)")
        }
        let allocations = unsafeBitCast(symbol, to: (@convention(c) () -> UInt64).self)
        let events = Int(values["--events"] ?? "") ?? 100_000
        let workload = values["--workload"] ?? "member"
        let mode = values["--mode"] ?? "fsync"
        var arguments = ["snapshot-bench", "--mode", mode, "--workload", workload]
        for flag in ["--in-flight", "--batch", "--dir"] { if let v = values[flag] { arguments += [flag, v] } }
        let options = Options(arguments)
        try FileManager.default.createDirectory(atPath: options.dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: options.dir) }
        var counts: [(events: Int, allocations: UInt64)] = []
        for n in [max(events / 5, 1), events] {
            let built = makeEvents(workload, count: n)
            let before = allocations()
            _ = try throughputRun(built, mode: options.modes[0], options: options)
            counts.append((n, allocations() - before))
        }
        let perEvent = Double(counts[1].allocations - counts[0].allocations) / Double(counts[1].events - counts[0].events)
        print("{\"workload\":\"\(workload)\",\"mode\":\"\(mode)\",\"in_flight\":\(options.inFlight),\"batch\":\(options.batch),\"events_small\":\(counts[0].events),\"allocations_small\":\(counts[0].allocations),\"events\":\(counts[1].events),\"allocations\":\(counts[1].allocations),\"allocations_per_event\":\(perEvent)}")
        return 0
    }
}

/// main.swift's throughput loop `run`, reachable from inside types that have a `run` of their own.
func throughputRun(_ events: [SnapshotEvent], mode: EngineConfiguration.Durability, options: Options) throws -> (seconds: Double, syncs: Int) {
    try run(events, mode: mode, options: options)
}
