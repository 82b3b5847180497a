import Foundation
import Testing
import TestSupport
@testable import SnapshotCore

/// Damage never makes snapshotd throw data away: only a provable torn tail is cut; anything
/// else replay cannot explain is reported with its offsets, the good records around it are
/// recovered, and the engine keeps the file as it was before it repairs it.
@Suite struct DamageTests {
    let dir = makeTemporaryDirectory()
    var path: String { dir + "/snapshot" }

    func replay(_ bytes: [UInt8]) throws -> (SnapshotState, ReplayReport) {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try SnapshotReplayer(rejoinAfterLeave: false).replay(path: path)
    }

    func copies() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("snapshot.damaged-") }.sorted()
    }

    /// A v2 file written by the engine with `events`.
    func v2File(_ events: [SnapshotEvent]) async throws -> [UInt8] {
        let engine = try SnapshotEngine(path: path)
        _ = try await engine.submit(events)
        await engine.close()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        try FileManager.default.removeItem(atPath: path)
        return bytes
    }

    // MARK: - Format by content

    /// The defect seen on main: a v2 file with its 24 header bytes zeroed was read as v1 with a
    /// torn tail and truncated to nothing. It is a damaged v2 file: every record is recovered.
    @Test func zeroedV2HeaderIsDamagedV2() async throws {
        var bytes = try await v2File([join(member("a")), join(member("b")), user(9)])
        for i in 0..<24 { bytes[i] = 0 }
        let (state, report) = try replay(bytes)
        #expect(report.format == .v2)
        #expect(state.aliveNodes.count == 2 && state.lastEventClock == 9)
        #expect(report.skipped.first?.offset == 0 && report.skipped.first?.reason == "damaged header")
        #expect(report.tornTailBytes == 0)

        // The engine keeps the damaged file before rewriting it, and loses nothing.
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let engine = try SnapshotEngine(path: path)
        #expect(engine.replayReport.preservedCopy != nil)
        #expect(engine.aliveNodes().map(\.name) == ["a", "b"])
        _ = try await engine.submit([user(10)])
        await engine.close()
        #expect(copies().count == 1)
        if let copy = copies().first {
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + copy))) == bytes)
        }
        let (after, afterReport) = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: path)
        #expect(afterReport.isClean && afterReport.format == .v2)
        #expect(after.aliveNodes.count == 2 && after.lastEventClock == 10)
    }

    /// Neither format finds anything: refused, the file left exactly as it was.
    /// (Seeded: about one random file in fifty holds, after a control byte, text starting with
    /// `#`, which is a v1 comment line, a valid record of sorts, and the file then opens.)
    @Test(arguments: [1, 2, 3] as [UInt64])
    func fileThatIsNeitherIsRefusedUnchanged(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let garbage = (0..<3000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        try Data(garbage).write(to: URL(fileURLWithPath: path))
        #expect(throws: SnapshotFileError.notASnapshot(path: path, bytes: 3000)) { try SnapshotEngine(path: path) }
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == garbage)
        #expect(copies().isEmpty)
    }

    // MARK: - v1 resynchronisation

    /// NULs left by a power loss glued to a valid line: Go loses the line, snapshotd keeps it.
    @Test func v1ResynchronisesAfterNULs() throws {
        let text = Array("alive: a 1.1.1.1:1\n".utf8) + [UInt8](repeating: 0, count: 600) + Array("alive: b 2.2.2.2:2\nclock: 7\n".utf8)
        let (state, report) = try replay(text)
        #expect(report.format == .v1)
        #expect(state.aliveNodes.keys.sorted() == ["a", "b"] && state.lastClock == 7)
        #expect(report.skipped.count == 1)
        #expect(report.skipped.first?.offset == 19 && report.skipped.first?.length == 600)
        #expect(report.tornTailBytes == 0)
    }

    /// NULs at the end, where delayed allocation leaves them: damage, kept (not a torn tail);
    /// the engine keeps a copy, rewrites the file, and what it checkpoints stays readable by Go.
    @Test func v1TrailingNULsAreDamageNotATornTail() async throws {
        let text = Array("# serf snapshot v1 (snapshotd)\nalive: a 1.1.1.1:1\n".utf8) + [UInt8](repeating: 0, count: 4096)
        let (_, report) = try replay(text)
        #expect(report.skipped.count == 1 && report.tornTailBytes == 0 && report.validLength == Int64(text.count))
        var configuration = EngineConfiguration()
        configuration.format = .v2  // an existing file keeps its own format
        let engine = try SnapshotEngine(path: path, configuration: configuration)
        _ = try await engine.submit([join(member("c"))])
        await engine.close()
        #expect(copies().count == 1)
        let file = readFile(path)
        #expect(file.hasPrefix("# serf snapshot v1") && file.contains("alive: a 1.1.1.1:1\n")
                && file.contains("alive: c 127.0.0.1:5000\n") && !file.contains("\0"))
    }

    /// Only what an interrupted append leaves is a torn tail: the start of a record line.
    @Test func v1TornTailMustStartLikeARecord() throws {
        let good = Array("alive: a 1.1.1.1:1\n".utf8)
        let (_, torn) = try replay(good + Array("alive: b 2.2".utf8))
        #expect(torn.skipped.isEmpty && torn.tornTailBytes == 12)
        let (_, tornKeyword) = try replay(good + Array("not-al".utf8))
        #expect(tornKeyword.skipped.isEmpty && tornKeyword.tornTailBytes == 6)
        let (_, damage) = try replay(good + Array("xyzzy".utf8))
        #expect(damage.skipped.count == 1 && damage.tornTailBytes == 0)
    }

    // MARK: - v2

    /// Damage running to the end of a v2 file is reported once (not also as a torn tail) and kept.
    @Test func v2DamageToTheEndIsReportedOnceAndKept() async throws {
        let bytes = try await v2File([join(member("a")), user(3)])
        let damaged = bytes + [UInt8](repeating: 0, count: 100)
        let (state, report) = try replay(damaged)
        #expect(state.aliveNodes.count == 1 && state.lastEventClock == 3)
        #expect(report.skipped.count == 1 && report.skipped.first?.offset == Int64(bytes.count))
        #expect(report.tornTailBytes == 0 && report.validLength == Int64(damaged.count))
        // A record cut short is a torn tail, and only that.
        let (_, torn) = try replay(Array(bytes.dropLast(2)))
        #expect(torn.skipped.isEmpty && torn.tornTailBytes > 0)
    }
}
