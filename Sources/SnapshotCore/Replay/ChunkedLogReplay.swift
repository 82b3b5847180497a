import Foundation
import Synchronization

/// Replays the write-ahead log's segments in parts, on as many threads as there are cores (up
/// to `maxThreads`), each part's records onto deltas of their own (`StateBuilder.delta`),
/// appended in log order at the end: recovery's log pass with the cores it has, where one
/// thread decoding and applying 1,000,000 records took ~50 ms.
///
/// A part is a stretch of one segment between two record starts. Where a segment is cut is a
/// guess (`LogSegmentDecoder.recordStart(near:)`); the part before it proves it: it must decode
/// to its very end with no damage and no torn tail, which is exactly when decoding the segment
/// whole would have found a record there. Its state is then the decoder's from the cut on, so
/// each part reports what the whole decode reports of it.
///
/// It gives up (nil: the caller replays the log in sequence) when a cut is not proven, when a
/// part holds a catalog record (a create, delete or reset changes which snapshot a record is
/// of, and opens files), or when a name is not ASCII (a delta holds ASCII names only). All three
/// are rare on a log of one snapshot's events; nothing of a replay given up is kept.
struct ChunkedLogReplay {
    /// A snapshot the records go to: its id in the log, and the position its file covers
    /// (records before it are in the file already).
    struct Target: Sendable {
        var id: UInt32
        var filePosition: UInt64
        var rejoinAfterLeave: Bool
    }

    /// What the records of each target did, in log order, and each segment's report.
    struct Outcome {
        /// By target index: each part's delta, in order (parts without records of it have none).
        var deltas: [[StateBuilder]]
        /// By target index: the position of its first record replayed.
        var firstReplayed: [UInt64?]
        var replayed: [Int]
        /// Records of snapshots not among the targets.
        var orphans = 0
        /// One per segment, as `LogSegmentDecoder` would have reported it whole.
        var reports: [LogSegmentDecoder.Report]
    }

    let targets: [Target]
    /// Parts are at least this long (a part's deltas cost their names' appends).
    var minimumPart = 4 << 20
    /// Parts a thread takes on average: more, less waiting for a slow thread at the end; fewer,
    /// fewer deltas (each costs a table of its names, and its appending). Measured on a 2-core
    /// host, 1M records over 5,000 names read back 10 times each: 2 fastest (36.8 ms min, against
    /// 37.8 and 38.6 ms with 4 and 8: within noise), 1 slower (one thread often lags the other).
    var partsPerThread = 2
    var maxThreads = Self.defaultThreads
    /// One per core, up to 8 (`EngineConfiguration.recoveryThreads`).
    static let defaultThreads = min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 8)
    /// More snapshots than this: in sequence (each part would hold a delta of each).
    static let maxTargets = 256

    /// One part: `segment`'s records from `lowerBound` to `upperBound` (nil: the segment's end).
    struct Part: Equatable {
        var segment: Int
        var lowerBound: Int
        var upperBound: Int?
    }

    /// Where the segments are cut: into parts of about `total / (threads × partsPerThread)`
    /// bytes, no shorter than `minimumPart`. A segment whose header is damaged is one part.
    func parts(of segments: [UnsafeRawBufferPointer], threads: Int) -> [Part] {
        let total = segments.reduce(0) { $0 + $1.count }
        let size = max(minimumPart, total / max(threads * partsPerThread, 1))
        let decoder = LogSegmentDecoder()
        var parts: [Part] = []
        for (index, segment) in segments.enumerated() {
            var lowerBound = LogFormat.headerSize
            if LogFormat.base(ofHeader: segment) != nil {
                while segment.count - lowerBound > size + size / 2,
                      let cut = decoder.recordStart(near: lowerBound + size, in: segment, before: segment.count) {
                    parts.append(Part(segment: index, lowerBound: lowerBound, upperBound: cut))
                    lowerBound = cut
                }
            }
            parts.append(Part(segment: index, lowerBound: lowerBound, upperBound: nil))
        }
        return parts
    }

    /// Replays `segments` (every used segment's written bytes, in log order); nil when it
    /// gave up, or when the log is too small to be worth the threads.
    func replay(_ segments: [UnsafeRawBufferPointer]) -> Outcome? {
        guard targets.count <= Self.maxTargets else { return nil }
        let threads = maxThreads
        let parts = parts(of: segments, threads: threads)
        guard threads > 1, parts.count > 1 else { return nil }
        let work = Work(segments: segments, parts: parts, targets: targets)
        let helpers = min(threads, parts.count) - 1
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<helpers {
            let thread = Thread {
                work.run()
                done.signal()
            }
            thread.name = "snapshot-recovery"
            thread.start()
        }
        work.run()
        for _ in 0..<helpers { done.wait() }
        return work.outcome()
    }

    /// What one part's records did.
    fileprivate struct PartResult {
        /// By target index; a target's delta counts only where `replayed` is not 0.
        var deltas: [StateBuilder]
        var firstReplayed: [UInt64?]
        var replayed: [Int]
        var orphans = 0
        var report = LogSegmentDecoder.Report()
        /// A catalog record, or a name a delta cannot hold: the replay is given up.
        var givesUp = false
    }
}

/// The parts to replay and their results, shared by the threads: each takes the next part
/// (`next`) until none is left or one gave up. The segments' bytes are read only, and stay
/// mapped until `replay` returns (`LogReader.read(decoding:)`); a part's result is written by
/// the one thread that replayed it and read after every thread is done.
private final class Work: @unchecked Sendable {
    let segments: [UnsafeRawBufferPointer]
    let parts: [ChunkedLogReplay.Part]
    let targets: [ChunkedLogReplay.Target]
    let index: [UInt32: Int]
    private let next = Atomic<Int>(0)
    private let gaveUp = Atomic<Bool>(false)
    private let results: Mutex<[ChunkedLogReplay.PartResult?]>

    init(segments: [UnsafeRawBufferPointer], parts: [ChunkedLogReplay.Part], targets: [ChunkedLogReplay.Target]) {
        self.segments = segments
        self.parts = parts
        self.targets = targets
        var index: [UInt32: Int] = [:]
        for (i, target) in targets.enumerated() { index[target.id] = i }
        self.index = index
        results = Mutex([ChunkedLogReplay.PartResult?](repeating: nil, count: parts.count))
    }

    func run() {
        while !gaveUp.load(ordering: .relaxed) {
            let p = next.add(1, ordering: .relaxed).oldValue
            guard p < parts.count else { return }
            let result = replay(parts[p])
            if result.givesUp { gaveUp.store(true, ordering: .relaxed) }
            results.withLock { $0[p] = result }
        }
    }

    private func replay(_ part: ChunkedLogReplay.Part) -> ChunkedLogReplay.PartResult {
        var visitor = PartVisitor(
            result: ChunkedLogReplay.PartResult(
                deltas: targets.map { .delta(rejoinAfterLeave: $0.rejoinAfterLeave) },
                firstReplayed: Array(repeating: nil, count: targets.count), replayed: Array(repeating: 0, count: targets.count)),
            index: index, targets: targets)
        let report = LogSegmentDecoder().decodeViews(segments[part.segment], part: (part.lowerBound, part.upperBound), into: &visitor)
        var result = visitor.finish()
        result.report = report
        if part.upperBound != nil {
            // A cut is proven only by the part before it ending there, whole and undamaged.
            if !report.damaged.isEmpty || report.tornTail > 0 || report.validEnd != part.upperBound || report.base == nil {
                result.givesUp = true
            }
        }
        return result
    }

    /// The parts' results put together; nil when one gave up.
    func outcome() -> ChunkedLogReplay.Outcome? {
        guard !gaveUp.load(ordering: .relaxed) else { return nil }
        let results = results.withLock { $0 }
        var outcome = ChunkedLogReplay.Outcome(
            deltas: Array(repeating: [], count: targets.count), firstReplayed: Array(repeating: nil, count: targets.count),
            replayed: Array(repeating: 0, count: targets.count), reports: Array(repeating: .init(), count: segments.count))
        var started = Set<Int>()
        for (part, result) in zip(parts, results) {
            guard let result, !result.givesUp else { return nil }
            outcome.orphans += result.orphans
            for i in targets.indices where result.replayed[i] > 0 {
                outcome.deltas[i].append(result.deltas[i])
                outcome.replayed[i] += result.replayed[i]
                if outcome.firstReplayed[i] == nil { outcome.firstReplayed[i] = result.firstReplayed[i] }
            }
            // The segment's report: the counts of every part, the rest the last part's.
            let records = started.insert(part.segment).inserted ? 0 : outcome.reports[part.segment].records
            outcome.reports[part.segment] = result.report
            outcome.reports[part.segment].records += records
        }
        return outcome
    }
}

/// One part's records onto its deltas, as the decoder visits them.
private struct PartVisitor: LogVisitor {
    var result: ChunkedLogReplay.PartResult
    let index: [UInt32: Int]
    let targets: [ChunkedLogReplay.Target]
    /// The snapshot of the records in a row is held out of the arrays while its records come
    /// (swapped with a placeholder), so that a record costs no array access.
    private var current = StateBuilder.delta(rejoinAfterLeave: false)
    private var currentIndex = -1, run = 0, filePosition: UInt64 = 0
    private var lastID: UInt32?

    init(result: ChunkedLogReplay.PartResult, index: [UInt32: Int], targets: [ChunkedLogReplay.Target]) {
        self.result = result
        self.index = index
        self.targets = targets
    }

    mutating func record(at position: UInt64, snapshot id: UInt32, _ record: RecordView) {
        guard !result.givesUp else { return }
        if id != lastID {
            lastID = id
            putBack()
            currentIndex = index[id] ?? -1
            if currentIndex >= 0 {
                swap(&current, &result.deltas[currentIndex])
                filePosition = targets[currentIndex].filePosition
            }
        }
        guard currentIndex >= 0 else { result.orphans += 1; return }
        guard position >= filePosition else { return }
        if run == 0 && result.firstReplayed[currentIndex] == nil { result.firstReplayed[currentIndex] = position }
        run += 1
        current.record(record, offset: Int64(position))
        if current.needsSequence { result.givesUp = true }
    }

    mutating func catalog(at position: UInt64, _ change: CatalogRecord) {
        result.givesUp = true
    }

    /// The result, the snapshot in hand put back.
    mutating func finish() -> ChunkedLogReplay.PartResult {
        putBack()
        return result
    }

    private mutating func putBack() {
        if currentIndex >= 0 {
            swap(&current, &result.deltas[currentIndex])
            result.replayed[currentIndex] += run
        }
        currentIndex = -1
        run = 0
    }
}
