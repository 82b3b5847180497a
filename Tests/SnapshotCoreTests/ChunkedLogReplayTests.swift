import TestSupport
import Testing
@testable import SnapshotCore

/// The log replayed in parts on several threads (`ChunkedLogReplay`, `StateBuilder.append`)
/// gives what replaying it in sequence gives: each snapshot's state and counts, what was
/// replayed, the orphans, and each segment's report; and it gives up where it must.
struct ChunkedLogReplayTests {
    /// A log in memory: segments of records of snapshots 0-2 and of 9 (no snapshot's: orphans).
    struct Log {
        var segments: [[UInt8]] = []
        /// (position, snapshot, record) in log order.
        var records: [(UInt64, UInt32, SnapshotRecord)] = []

        init(seed: UInt64, segments count: Int, recordsPerSegment: Int, names: Int = 300, leaves: Bool = true) {
            var rng = SplitMix64(seed: seed)
            var base: UInt64 = 0
            for _ in 0..<count {
                var bytes: [UInt8] = []
                LogFormat.header(base: base, into: &bytes)
                for _ in 0..<recordsPerSegment {
                    let snapshot: UInt32 = [0, 0, 0, 1, 1, 2, 9][Int.random(in: 0..<7, using: &rng)]
                    let n = Int.random(in: 0..<names, using: &rng)
                    let record: SnapshotRecord = switch Int.random(in: 0..<1000, using: &rng) {
                    case 0..<550: .alive(name: "node-\(n)", address: "10.0.\(n % 7).\(n % 250):7946")
                    case 550..<650: .alive(name: "node-\(n)", address: "192.168.\(Int.random(in: 0..<9, using: &rng)).1:\(n)")
                    case 650..<900: .notAlive(name: "node-\(n)")
                    case 900..<940: .clock(UInt64(n))
                    case 940..<970: .eventClock(UInt64(n))
                    case 970..<998: .queryClock(UInt64(n))
                    default: leaves ? .leave : .clock(1)
                    }
                    records.append((base + UInt64(bytes.count - LogFormat.headerSize), snapshot, record))
                    LogFormat.encode(record, snapshot: snapshot, into: &bytes)
                }
                base += UInt64(bytes.count - LogFormat.headerSize)
                // Preallocated space after the records: zeros.
                bytes += [UInt8](repeating: 0, count: 100)
                segments.append(bytes)
            }
        }
    }

    static func record(_ record: SnapshotRecord, into builder: inout StateBuilder, at offset: Int64) {
        switch record {
        case .alive(var name, var address):
            name.withUTF8 { name in address.withUTF8 { builder.record(.alive(name: UnsafeRawBufferPointer(name), address: UnsafeRawBufferPointer($0)), offset: offset) } }
        case .notAlive(var name):
            name.withUTF8 { builder.record(.notAlive(name: UnsafeRawBufferPointer($0)), offset: offset) }
        case .clock(let n): builder.record(.clock(.clock, n), offset: offset)
        case .eventClock(let n): builder.record(.clock(.eventClock, n), offset: offset)
        case .queryClock(let n): builder.record(.clock(.queryClock, n), offset: offset)
        case .leave: builder.record(.leave, offset: offset)
        }
    }

    /// Each target's checkpoint: snapshot 0's large enough to be frozen (a base), 1's small.
    static func checkpoints(_ targets: [ChunkedLogReplay.Target]) -> [StateBuilder] {
        targets.map { target in
            var builder = StateBuilder(rejoinAfterLeave: target.rejoinAfterLeave)
            let count = target.id == 0 ? StateBuilder.baseMinimum + 100 : 50
            for i in 0..<count { record(.alive(name: "node-\(i)", address: "172.16.0.\(i % 200):7946"), into: &builder, at: Int64(i)) }
            record(.clock(7), into: &builder, at: 0)
            builder.freezeAliveSet()
            return builder
        }
    }

    /// Replays `log` onto `targets`' checkpoints in sequence and in parts, and expects the same.
    static func expectSame(_ log: Log, _ targets: [ChunkedLogReplay.Target], minimumPart: Int, threads: Int,
                           _ comment: Comment) throws {
        let mapped = log.segments.map { bytes in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
            buffer.copyBytes(from: bytes)
            return UnsafeRawBufferPointer(buffer)
        }
        defer { for buffer in mapped { buffer.deallocate() } }

        // In sequence: each segment whole, the records of each target at or after its position.
        var sequential = checkpoints(targets)
        var replayed = [Int](repeating: 0, count: targets.count), first = [UInt64?](repeating: nil, count: targets.count)
        var orphans = 0
        let reports = mapped.map { segment in
            LogSegmentDecoder().decodeViews(segment, { at, id, record in
                guard let i = targets.firstIndex(where: { $0.id == id }) else { orphans += 1; return }
                guard at >= targets[i].filePosition else { return }
                sequential[i].record(record, offset: Int64(at))
                replayed[i] += 1
                if first[i] == nil { first[i] = at }
            })
        }

        var chunked = ChunkedLogReplay(targets: targets)
        chunked.minimumPart = minimumPart
        chunked.maxThreads = threads
        chunked.partsPerThread = 8  // several parts a segment
        #expect(chunked.parts(of: mapped, threads: threads).count > log.segments.count, "the segments are cut: \(comment)")
        let outcome = try #require(chunked.replay(mapped), comment)
        #expect(outcome.reports == reports, comment)
        #expect(outcome.replayed == replayed, comment)
        #expect(outcome.firstReplayed == first, comment)
        #expect(outcome.orphans == orphans, comment)
        var parallel = checkpoints(targets)
        for i in targets.indices {
            for delta in outcome.deltas[i] { parallel[i].append(delta) }
            let expected = sequential[i].finishState(), state = parallel[i].finishState()
            #expect(state == expected, "snapshot \(targets[i].id): \(comment)")
            #expect(state.aliveNodes.count == expected.aliveNodes.count, comment)
            #expect(state.aliveNodeList().map(\.name) == expected.aliveNodeList().map(\.name), comment)
            #expect(parallel[i].countedReport == sequential[i].countedReport, comment)
        }
    }

    static func targets(rejoin: Bool, positions: [UInt64] = [0, 0, 0]) -> [ChunkedLogReplay.Target] {
        (0..<3).map { ChunkedLogReplay.Target(id: UInt32($0), filePosition: positions[$0], rejoinAfterLeave: rejoin) }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func partsGiveWhatASequenceGives(seed: UInt64) throws {
        let log = Log(seed: seed, segments: 3, recordsPerSegment: 4000)
        for rejoin in [false, true] {
            for threads in [2, 3] {
                try Self.expectSame(log, Self.targets(rejoin: rejoin), minimumPart: 2000, threads: threads,
                                    "seed \(seed), rejoin \(rejoin), \(threads) threads")
            }
        }
        // Checkpoints that cover part of the log: their records before it are not replayed.
        let middle = log.records[log.records.count / 2].0
        try Self.expectSame(log, Self.targets(rejoin: false, positions: [middle, 0, middle + 1]), minimumPart: 2000, threads: 2,
                            "positions, seed \(seed)")
    }

    /// Without leaves, every delta is one on top of the one before (none replaces the rest).
    @Test func deltasWithoutALeaveAddUp() throws {
        try Self.expectSame(Log(seed: 9, segments: 2, recordsPerSegment: 6000, names: 5000, leaves: false),
                            Self.targets(rejoin: false), minimumPart: 1000, threads: 2, "no leaves")
    }

    /// Damage after the last cut is reported as decoding the segment whole reports it.
    @Test func damageInTheLastPartIsReportedAsAWholeDecodeReportsIt() throws {
        var log = Log(seed: 5, segments: 1, recordsPerSegment: 4000)
        let count = log.segments[0].count
        log.segments[0][count - 300] ^= 0xFF
        // And a torn tail: the last record cut short (the bytes after it zeros).
        for i in (count - 110)..<(count - 100) { log.segments[0][i] = 0 }
        try Self.expectSame(log, Self.targets(rejoin: false), minimumPart: 40_000, threads: 2, "damaged end")
    }

    static func outcome(_ log: Log, minimumPart: Int = 2000) -> (ChunkedLogReplay.Outcome?, parts: Int) {
        let mapped = log.segments.map { bytes in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
            buffer.copyBytes(from: bytes)
            return UnsafeRawBufferPointer(buffer)
        }
        defer { for buffer in mapped { buffer.deallocate() } }
        var chunked = ChunkedLogReplay(targets: targets(rejoin: false))
        chunked.minimumPart = minimumPart
        chunked.maxThreads = 2
        chunked.partsPerThread = 8
        return (chunked.replay(mapped), chunked.parts(of: mapped, threads: 2).count)
    }

    /// Damage before a cut: the cut is not proven (the part before it does not end there
    /// whole), so the replay gives up and the caller replays in sequence.
    @Test func damageBeforeACutGivesUp() {
        var log = Log(seed: 6, segments: 1, recordsPerSegment: 4000)
        log.segments[0][LogFormat.headerSize + 500] ^= 0xFF
        let (outcome, parts) = Self.outcome(log)
        #expect(parts > 2)
        #expect(outcome == nil)
    }

    /// A catalog record, or a name a delta cannot hold: in sequence.
    @Test func aCatalogRecordOrANameThatIsNotASCIIGivesUp() {
        for extra in [0, 1] {
            var log = Log(seed: 7, segments: 2, recordsPerSegment: 3000)
            var bytes: [UInt8] = []
            if extra == 0 {
                LogFormat.encode(CatalogRecord.reset(id: 1), into: &bytes)
            } else {
                LogFormat.encode(.alive(name: "caf\u{E9}", address: "1.1.1.1:1"), snapshot: 0, into: &bytes)
            }
            let end = log.segments[1].count - 100
            log.segments[1].replaceSubrange(end..<end, with: bytes)
            #expect(Self.outcome(log).0 == nil, "extra \(extra)")
        }
    }

    /// A log of one part is left to the sequence.
    @Test func aShortLogIsNotCut() {
        let log = Log(seed: 8, segments: 1, recordsPerSegment: 100)
        let (outcome, parts) = Self.outcome(log, minimumPart: 1 << 20)
        #expect(parts == 1)
        #expect(outcome == nil)
    }
}
