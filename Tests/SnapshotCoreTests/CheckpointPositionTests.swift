import Foundation
import Testing
@testable import SnapshotCore

/// A checkpoint's log position (docs/FORMAT.md, "the checkpoint header"): written by
/// `SnapshotFileWriter`, read back by `SnapshotReplayer` in both formats; absent, it is nil; a
/// damaged v2 extension is damage that costs only itself.
@Suite struct CheckpointPositionTests {
    static let state: SnapshotState = {
        var state = SnapshotState()
        for i in 0..<50 { state.replay(.alive(name: "node \(i)", address: "10.0.0.\(i):7946"), rejoinAfterLeave: false) }
        state.replay(.notAlive(name: "node 7"), rejoinAfterLeave: false)
        state.replay(.clock(41), rejoinAfterLeave: false)
        state.replay(.eventClock(42), rejoinAfterLeave: false)
        state.replay(.queryClock(43), rejoinAfterLeave: false)
        return state
    }()

    static func writeAndReplay(format: SnapshotFormat, logPosition: UInt64?) throws -> (SnapshotState, ReplayReport, [UInt8]) {
        let path = makeTemporaryDirectory() + "/snapshot"
        if let logPosition {
            _ = try SnapshotFileWriter.replace(path, with: state, format: format, logPosition: logPosition)
        } else {
            _ = try SnapshotFileWriter.replace(path, with: state, format: format)
        }
        let (replayed, report) = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: path)
        return (replayed, report, Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    /// Replays `bytes` from a file, mapped and in chunks of 1 and 5 bytes: the same each way.
    static func replay(_ bytes: [UInt8]) throws -> (SnapshotState, ReplayReport) {
        let path = makeTemporaryDirectory() + "/snapshot"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var replayer = SnapshotReplayer(rejoinAfterLeave: false)
        let mapped = try replayer.replay(path: path)
        replayer.useMapping = false
        for size in [1, 5] {
            replayer.chunkSize = size
            let read = try replayer.replay(path: path)
            #expect(read.0 == mapped.0 && read.1 == mapped.1, "chunks of \(size)")
        }
        return mapped
    }

    static func v2Checkpoint(_ position: UInt64?, records: [SnapshotRecord] = [.alive(name: "a", address: "1.1.1.1:1"), .clock(9)]) -> [UInt8] {
        var bytes: [UInt8] = []
        V2Format.header(createdAt: 1_700_000_000_000_000_000, logPosition: position, into: &bytes)
        for record in records { V2Format.encode(record, into: &bytes) }
        return bytes
    }

    @Test(arguments: [SnapshotFormat.v1, .v2], [UInt64(0), 1, 4096, UInt64.max])
    func aPositionRoundTrips(format: SnapshotFormat, position: UInt64) throws {
        let (replayed, report, bytes) = try Self.writeAndReplay(format: format, logPosition: position)
        #expect(replayed == Self.state)
        #expect(report.logPosition == position && report.format == format)
        #expect(report.isClean && report.tornTailBytes == 0)
        if format == .v1 {
            #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(V1Format.headerLine + "# snapshotd log position: \(position)\n"))
            #expect(report.ignored == 2)
        } else {
            #expect(bytes[10] == 1 && bytes[11] == 0)
            #expect(report.createdAt != nil && report.ignored == 1)
        }
    }

    @Test(arguments: [SnapshotFormat.v1, .v2])
    func aFileWithoutAPositionHasNone(format: SnapshotFormat) throws {
        let (replayed, report, bytes) = try Self.writeAndReplay(format: format, logPosition: nil)
        #expect(replayed == Self.state && report.isClean && report.logPosition == nil)
        var header: [UInt8] = []
        format.encoder.header(into: &header)
        let compared = format == .v2 ? 12 : header.count  // a v2 header's creation time differs
        #expect(Array(bytes.prefix(compared)) == Array(header.prefix(compared)))
        if format == .v2 { #expect(header.count == V2Format.headerSize && bytes[10] == 0) }
        if format == .v1 { #expect(!String(decoding: bytes, as: UTF8.self).contains("log position")) }
    }

    /// Every bit of the extension flipped: reported where it is, like a damaged header; the
    /// records after it are kept, and no position is claimed.
    @Test func aDamagedV2ExtensionIsDamageAndCostsOnlyItself() throws {
        let clean = Self.v2Checkpoint(77)
        let (expected, _) = try Self.replay(Self.v2Checkpoint(nil))
        for bit in 0..<(V2Format.logPositionExtensionSize * 8) {
            var bytes = clean
            bytes[V2Format.headerSize + bit / 8] ^= 1 << UInt8(bit % 8)
            let (state, report) = try Self.replay(bytes)
            #expect(state == expected, "bit \(bit)")
            #expect(report.logPosition == nil && report.records == 2, "bit \(bit)")
            #expect(report.skipped == [.init(offset: 24, length: 12, reason: "damaged header extension")], "bit \(bit)")
            #expect(report.validLength == Int64(bytes.count) && report.createdAt != nil, "bit \(bit)")
        }
    }

    /// Flag bit 0 flipped either way fails the header's checksum: a damaged header, and the
    /// records are found all the same.
    @Test func aFlippedFlagIsADamagedHeader() throws {
        for var bytes in [Self.v2Checkpoint(77), Self.v2Checkpoint(nil)] {
            bytes[10] ^= 1
            let (state, report) = try Self.replay(bytes)
            #expect(report.logPosition == nil && report.records == 2 && state.lastClock == 9)
            #expect(report.skipped.first == .init(offset: 0, length: 24, reason: "damaged header"))
        }
    }

    /// Flag bits other than bit 0 are not checked, as before there were flags: a header with
    /// them and a valid checksum reads as it always did.
    @Test func otherFlagBitsAreIgnoredAsBefore() throws {
        for flags: UInt16 in [0x0002, 0x8000, 0x0003] {
            var bytes = Self.v2Checkpoint(flags & 1 == 1 ? 5 : nil)
            bytes[10] = UInt8(flags & 0xFF)
            bytes[11] = UInt8(flags >> 8)
            let crc = bytes[0..<20].withUnsafeBytes { CRC32C.checksum($0) }
            withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(20..<24, with: $0) }
            let (state, report) = try Self.replay(bytes)
            #expect(report.isClean && report.records == 2 && state.lastClock == 9, "flags \(flags)")
            #expect(report.logPosition == (flags & 1 == 1 ? 5 : nil), "flags \(flags)")
        }
    }

    /// A checkpoint header cut inside its extension is a torn file start, like a header cut
    /// short: nothing valid is kept, and it is not damage.
    @Test func aCheckpointHeaderCutShortIsATornStart() throws {
        let header = Self.v2Checkpoint(77, records: [])
        #expect(header.count == V2Format.checkpointHeaderSize)
        for length in V2Format.headerSize..<V2Format.checkpointHeaderSize {
            let (_, report) = try Self.replay(Array(header.prefix(length)))
            #expect(!report.isDamaged && report.validLength == 0 && report.logPosition == nil, "\(length) bytes")
            #expect(report.tornTailBytes == Int64(length), "\(length) bytes")
        }
        let (_, whole) = try Self.replay(header)
        #expect(whole.isClean && whole.logPosition == 77 && whole.validLength == 36)
    }

    @Test func theLastV1PositionLineCounts() throws {
        let text = V1Format.headerLine + "# snapshotd log position: 10\n" + "alive: a 1.1.1.1:1\n"
            + "# snapshotd log position: 250\n" + "clock: 3\n" + "# snapshotd log position: x\n"
            + "# another comment\n"
        let (state, report) = try Self.replay(Array(text.utf8))
        #expect(report.logPosition == 250 && report.isClean)
        #expect(report.ignored == 5 && report.records == 2 && state.aliveNodes == ["a": "1.1.1.1:1"])
    }

    /// Only the exact comment counts; Go's files and older snapshotd files have none.
    @Test func otherV1CommentsHoldNoPosition() throws {
        for text in [V1Format.headerLine + "alive: a 1.1.1.1:1\n", "alive: a 1.1.1.1:1\n",
                     "# snapshotd log position:5\n", "# snapshotd log position: \n", "#snapshotd log position: 5\n",
                     "# snapshotd log position: 18446744073709551616\n", "# snapshotd log position: 5 \n"] {
            let (_, report) = try Self.replay(Array(text.utf8))
            #expect(report.logPosition == nil && report.isClean, "\(text)")
        }
    }

    /// A position line torn by a crash is cut with the tail and claims nothing.
    @Test func aTornV1PositionLineClaimsNothing() throws {
        let text = V1Format.headerLine + "# snapshotd log position: 12"
        let (_, report) = try Self.replay(Array(text.utf8))
        #expect(report.logPosition == nil && !report.isDamaged)
        #expect(report.validLength == Int64(V1Format.headerLine.utf8.count))
    }
}
