import Foundation
import Testing
import TestSupport
@testable import SnapshotCore

/// Recovery's replay of the log (`LogReader.replay`): the records of one snapshot at or after
/// the checkpoint's position, applied on top of the checkpoint's state through replay's alive
/// table, give exactly what replaying them record by record gives.
@Suite struct LogReplayTests {
    let dir = makeTemporaryDirectory()

    /// Writes `records` (snapshot, record) as one segment at base 0; returns each record's position.
    func writeSegment(_ records: [(UInt32, SnapshotRecord)]) throws -> [UInt64] {
        var bytes: [UInt8] = []
        LogFormat.header(base: 0, into: &bytes)
        var positions: [UInt64] = []
        for (snapshot, record) in records {
            positions.append(UInt64(bytes.count - LogFormat.headerSize))
            LogFormat.encode(record, snapshot: snapshot, into: &bytes)
        }
        try FileManager.default.createDirectory(atPath: dir + "/wal", withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/wal/" + LogSegment.name(sequence: 1)))
        return positions
    }

    static func randomRecords(seed: UInt64, count: Int) -> [(UInt32, SnapshotRecord)] {
        var generator = SplitMix64(seed: seed)
        func draw(_ n: Int) -> Int { Int(generator.next() % UInt64(n)) }
        let names = ["a", "b", "c", "node with spaces", "ünïcödé", "日本", "z"]
        return (0..<count).map { _ in
            let snapshot = UInt32(draw(3))  // other snapshots' records are passed over
            let name = names[draw(names.count)]
            let record: SnapshotRecord = switch draw(12) {
            case 0..<5: .alive(name: name, address: "10.0.0.\(draw(9)):7946")
            case 5..<8: .notAlive(name: name)
            case 8: .clock(UInt64(draw(100)))
            case 9: .eventClock(UInt64(draw(100)))
            case 10: .queryClock(UInt64(draw(100)))
            default: draw(4) == 0 ? .leave : .clock(UInt64(draw(100)))
            }
            return (snapshot, record)
        }
    }

    @Test(arguments: [(1, false), (2, true), (3, false), (4, true)] as [(UInt64, Bool)])
    func theLogReplaysOnTheCheckpointAsRecordByRecord(seed: UInt64, rejoinAfterLeave: Bool) throws {
        let records = Self.randomRecords(seed: seed, count: 400)
        let positions = try writeSegment(records)
        let covered = positions[150]
        // The checkpoint: what the records before `covered` give (an ASCII and a non-ASCII name in it).
        var checkpoint = SnapshotState()
        for (snapshot, record) in records.prefix(150) where snapshot == 0 {
            checkpoint.replay(record, rejoinAfterLeave: rejoinAfterLeave)
        }
        checkpoint.aliveNodes["kept"] = "10.9.9.9:1"
        var expected = checkpoint
        for (snapshot, record) in records.dropFirst(150) where snapshot == 0 {
            expected.replay(record, rejoinAfterLeave: rejoinAfterLeave)
        }
        var state = checkpoint
        let report = try LogReader(directory: dir + "/wal", io: POSIXFileIO()).replay(
            snapshot: 0, after: covered, onto: &state, rejoinAfterLeave: rejoinAfterLeave)
        #expect(state == expected)
        #expect(report.replayed == records.dropFirst(150).filter { $0.0 == 0 }.count)
        #expect(report.records == records.count && !report.isDamaged)
    }

    /// Replaying from an earlier position than the checkpoint's gives the same state (records are
    /// in order and the last one wins): why a lost position may read as 0.
    @Test func replayingFromEarlierGivesTheSameState() throws {
        let records = Self.randomRecords(seed: 9, count: 300)  // leaves included: one clears, whatever came before it
        let positions = try writeSegment(records)
        var checkpoint = SnapshotState()
        for (snapshot, record) in records.prefix(200) where snapshot == 0 { checkpoint.replay(record, rejoinAfterLeave: false) }
        var fromCheckpoint = checkpoint, fromZero = checkpoint
        let reader = LogReader(directory: dir + "/wal", io: POSIXFileIO())
        _ = try reader.replay(snapshot: 0, after: positions[200], onto: &fromCheckpoint, rejoinAfterLeave: false)
        _ = try reader.replay(snapshot: 0, after: 0, onto: &fromZero, rejoinAfterLeave: false)
        #expect(fromCheckpoint == fromZero)
    }
}
