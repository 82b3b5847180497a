import Foundation
import HashTreeCollections
import TestSupport
import Testing
@testable import SnapshotCore

/// Replay's fast path (borrowed record views into an `AliveTable`, decoding in place) against
/// the record-by-record path it replaces (`ReplayItem`s from the public decoder API applied with
/// `SnapshotState.replay`): the same state, to the bytes of every name and address, and the same
/// report, for random files of both formats, clean and damaged, mapped and read in odd chunks.
@Suite struct FastReplayTests {
    /// A record as raw bytes: names need not be valid UTF-8 (both formats carry bytes).
    enum Raw {
        case alive([UInt8], [UInt8])
        case notAlive([UInt8])
        case clock(UInt8, UInt64)  // v2 type 3, 4 or 5
        case leave
        /// v1 only: a comment, a coordinate line or a line Go skips.
        case text(String)
    }

    /// ASCII names, names that equal others only as Strings (Kelvin sign and K, composed and
    /// decomposed é, two invalid bytes that both decode to U+FFFD), an empty name, long names.
    static let names: [[UInt8]] = {
        var names = (0..<40).map { Array("node-\($0)".utf8) }
        names += [Array("K".utf8), Array("\u{212A}".utf8), Array("caf\u{E9}".utf8), Array("cafe\u{301}".utf8),
                  [0x6E, 0xFF], [0x6E, 0xFE], [], Array("a node with spaces".utf8),
                  Array(String(repeating: "long-name-", count: 7).utf8), Array("x".utf8), Array("xyz".utf8)]
        return names
    }()

    static let addresses: [[UInt8]] = ["10.0.0.1:7946", "10.0.0.22:7946", "[fe80::1]:7946", "1.2.3.4:1", "", "[2001:db8::ff00:42:8329]:65535"].map { Array($0.utf8) }

    /// `count` records; `asciiOnly` leaves out the names that are not ASCII.
    static func records(_ count: Int, seed: UInt64, asciiOnly: Bool, v1: Bool) -> [Raw] {
        var rng = SplitMix64(seed: seed)
        let pool = asciiOnly ? names.filter { $0.allSatisfy { $0 < 0x80 } } : names
        return (0..<count).map { _ in
            let roll = Int.random(in: 0..<100, using: &rng)
            let name = pool.randomElement(using: &rng) ?? []
            switch roll {
            case 0..<55: return .alive(name, addresses.randomElement(using: &rng) ?? [])
            case 55..<75: return .notAlive(name)
            case 75..<90: return .clock(UInt8.random(in: 3...5, using: &rng), UInt64.random(in: 0...UInt64.max, using: &rng))
            case 90..<93: return .leave
            default: return v1 ? .text(["# comment", "coordinate: {}", "bogus line", "clock: x"].randomElement(using: &rng) ?? "") : .leave
            }
        }
    }

    static func v1File(_ records: [Raw], logPosition: UInt64? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        V1Format.header(logPosition: logPosition, into: &bytes)
        for record in records {
            switch record {
            case .alive(let name, let address):
                bytes += Array("alive: ".utf8) + name + [0x20] + address
            case .notAlive(let name):
                bytes += Array("not-alive: ".utf8) + name
            case .clock(let type, let n):
                bytes += Array("\(type == 3 ? "clock" : type == 4 ? "event-clock" : "query-clock"): \(n)".utf8)
            case .leave:
                bytes += Array("leave".utf8)
            case .text(let line):
                bytes += Array(line.utf8)
            }
            bytes.append(0x0A)
        }
        return bytes
    }

    static func v2File(_ records: [Raw], logPosition: UInt64? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        V2Format.header(createdAt: 1_700_000_000_000_000_000, logPosition: logPosition, into: &bytes)
        for record in records {
            var type: UInt8 = 6
            var payload: [UInt8] = []
            switch record {
            case .alive(let name, let address):
                type = 1
                withUnsafeBytes(of: UInt32(name.count).littleEndian) { payload += $0 }
                payload += name + address
            case .notAlive(let name):
                type = 2
                payload = name
            case .clock(let t, let n):
                type = t
                withUnsafeBytes(of: n.littleEndian) { payload += $0 }
            case .leave, .text:
                break
            }
            let start = bytes.count
            withUnsafeBytes(of: UInt32(payload.count).littleEndian) { bytes += $0 }
            bytes.append(type)
            bytes += payload
            let crc = bytes[start...].withUnsafeBytes { CRC32C.checksum($0) }
            withUnsafeBytes(of: crc.littleEndian) { bytes += $0 }
        }
        return bytes
    }

    /// The record-by-record replay, as `SnapshotReplayer` did it before the fast path.
    static func slowReplay(_ bytes: [UInt8], rejoin: Bool, chunk: Int) -> (SnapshotState, ReplayReport) {
        var state = SnapshotState()
        var report = ReplayReport()
        func visit(_ item: ReplayItem) {
            switch item {
            case .record(let record, _):
                state.replay(record, rejoinAfterLeave: rejoin)
                report.records += 1
                report.recordsByKind[record.kind, default: 0] += 1
            case .ignored:
                report.ignored += 1
            case .skipped(let offset, let length, let reason):
                report.skipped.append(.init(offset: offset, length: length, reason: reason))
            }
        }
        guard let format = SnapshotFormat.detect(bytes) else {
            report.format = .v2
            return (state, report)
        }
        report.format = format
        var v1 = V1Decoder(), v2 = V2Decoder()
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            bytes[start..<end].withUnsafeBytes { piece in
                if format == .v1 { v1.feed(piece, visit) } else { v2.feed(piece, visit) }
            }
            start = end
        }
        report.validLength = format == .v1 ? v1.finish(visit) : v2.finish(visit)
        report.createdAt = format == .v1 ? nil : v2.createdAt
        report.logPosition = format == .v1 ? v1.logPosition : v2.logPosition
        report.tornTailBytes = Int64(bytes.count) - report.validLength
        return (state, report)
    }

    /// The alive set as bytes, sorted: String equality would hide which bytes a key kept.
    static func aliveBytes(_ state: SnapshotState) -> [[UInt8]] {
        state.aliveNodes.map { Array($0.key.utf8) + [0] + Array($0.value.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Replays `bytes` from a file: mapped, and with read(2) in chunks of each size.
    static func fastReplays(_ bytes: [UInt8], rejoin: Bool, chunkSizes: [Int]) throws -> [(String, SnapshotState, ReplayReport)] {
        let path = makeTemporaryDirectory() + "/snapshot"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var results: [(String, SnapshotState, ReplayReport)] = []
        var replayer = SnapshotReplayer(rejoinAfterLeave: rejoin)
        let (state, report) = try replayer.replay(path: path)
        results.append(("mapped", state, report))
        replayer.useMapping = false
        for size in chunkSizes {
            replayer.chunkSize = size
            let (state, report) = try replayer.replay(path: path)
            results.append(("read(2) chunks of \(size)", state, report))
        }
        return results
    }

    static func expectSameReplay(_ bytes: [UInt8], rejoin: Bool, chunkSizes: [Int] = [1, 7, 4093, 1 << 20],
                                 _ what: String) throws {
        let (state, report) = slowReplay(bytes, rejoin: rejoin, chunk: bytes.count + 1)
        for (way, fastState, fastReport) in try fastReplays(bytes, rejoin: rejoin, chunkSizes: chunkSizes) {
            #expect(fastState == state, "\(what), \(way)")
            #expect(aliveBytes(fastState) == aliveBytes(state), "\(what), \(way)")
            #expect(fastReport == report, "\(what), \(way)")
        }
    }

    /// Flips `flips` random bits, then maybe cuts the file short.
    static func damaged(_ bytes: [UInt8], seed: UInt64, flips: Int, truncate: Bool) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var bytes = bytes
        for _ in 0..<flips where !bytes.isEmpty {
            bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 1 << UInt8.random(in: 0...7, using: &rng)
        }
        if truncate && !bytes.isEmpty { bytes.removeLast(Int.random(in: 1...min(bytes.count, 40), using: &rng)) }
        return bytes
    }

    @Test(arguments: [SnapshotFormat.v1, .v2], [false, true])
    func randomFilesReplayTheSame(format: SnapshotFormat, rejoin: Bool) throws {
        for seed in UInt64(1)...12 {
            let records = Self.records(Int(seed) * 37, seed: seed, asciiOnly: seed % 3 != 0, v1: format == .v1)
            let position = seed % 2 == 0 ? seed << 20 : nil  // checkpoints too
            let bytes = format == .v1 ? Self.v1File(records, logPosition: position) : Self.v2File(records, logPosition: position)
            try Self.expectSameReplay(bytes, rejoin: rejoin, "seed \(seed)")
        }
    }

    @Test(arguments: [SnapshotFormat.v1, .v2])
    func damagedFilesReplayTheSame(format: SnapshotFormat) throws {
        for seed in UInt64(100)...130 {
            let records = Self.records(200, seed: seed, asciiOnly: seed % 2 == 0, v1: format == .v1)
            let position = seed % 3 == 0 ? seed : nil  // checkpoints too
            let clean = format == .v1 ? Self.v1File(records, logPosition: position) : Self.v2File(records, logPosition: position)
            let bytes = Self.damaged(clean, seed: seed, flips: Int(seed % 6), truncate: seed % 4 == 1)
            try Self.expectSameReplay(bytes, rejoin: seed % 5 == 0, chunkSizes: [1, 13, 1000], "seed \(seed)")
        }
    }

    /// A damaged header, a file cut inside its header, an empty file, a lone torn record.
    @Test func edgeFilesReplayTheSame() throws {
        let v2 = Self.v2File([.alive(Array("a".utf8), Array("1.1.1.1:1".utf8)), .clock(3, 9)])
        var badHeader = v2
        badHeader[10] ^= 0x40
        let checkpoint = Self.v2File([.alive(Array("a".utf8), Array("1.1.1.1:1".utf8))], logPosition: 99)
        var badExtension = checkpoint
        badExtension[30] ^= 0x08
        for bytes in [[], Array(v2[..<10]), Array(v2[..<24]), Array(v2[..<30]), badHeader, v2, Array(Self.v1File([.leave]).dropLast()),
                      Array(checkpoint[..<24]), Array(checkpoint[..<35]), badExtension, checkpoint] {
            try Self.expectSameReplay(bytes, rejoin: false, chunkSizes: [1, 5], "\(bytes.count) bytes")
        }
    }

    /// Large enough for records to straddle the 1 MiB chunks of the read(2) path, with garbage
    /// between records so that resynchronisation crosses chunk boundaries too.
    @Test func recordsAcrossLargeChunksReplayTheSame() throws {
        let records = Self.records(60_000, seed: 7, asciiOnly: true, v1: false)
        var bytes = Self.v2File(records)
        var rng = SplitMix64(seed: 99)
        for _ in 0..<40 { bytes[Int.random(in: 24..<bytes.count, using: &rng)] ^= 0x10 }
        try Self.expectSameReplay(bytes, rejoin: false, chunkSizes: [65_557, 1 << 20], "v2 with 40 flips")
        try Self.expectSameReplay(Self.v1File(Self.records(60_000, seed: 8, asciiOnly: true, v1: true)), rejoin: true,
                                  chunkSizes: [65_557, 1 << 20], "v1")
    }

    /// The table on its own: names that only String equality joins fall back to Strings.
    @Test func aliveTableRefusesNamesThatAreNotASCII() {
        var table = AliveTable()
        let kelvin = Array("\u{212A}".utf8), k = Array("K".utf8), addr = Array("1.1.1.1:1".utf8)
        #expect(k.withUnsafeBytes { name in addr.withUnsafeBytes { table.setAlive(name, address: $0) } })
        #expect(!kelvin.withUnsafeBytes { table.setNotAlive($0) })
        #expect(table.aliveNodes() == ["K": "1.1.1.1:1"])
        for i in 0..<10_000 {
            let name = Array("n\(i % 3000)".utf8), address = Array(String(repeating: "a", count: i % 17).utf8)
            #expect(name.withUnsafeBytes { name in address.withUnsafeBytes { table.setAlive(name, address: $0) } })
        }
        let nodes = table.aliveNodes()
        #expect(nodes.count == 3001)
        #expect(nodes["n5"] == String(repeating: "a", count: 9005 % 17))
        table.removeAll()
        #expect(table.aliveNodes().isEmpty)
    }

    /// The table against a Dictionary on random workloads: growth, addresses that shrink and
    /// grow (written over or moved), not-alive and alive again, a leave, and the longest names
    /// and addresses it keeps (longer ones are refused, nothing changed).
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func aliveTableMatchesADictionary(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var table = AliveTable()
        var model: [String: String] = [:]
        let names = (0..<Int.random(in: 50...3000, using: &rng)).map { i in
            String(repeating: "n", count: Int.random(in: 0...20, using: &rng)) + "\(i)"
        }
        for step in 0..<40_000 {
            let name = names[Int.random(in: 0..<names.count, using: &rng)]
            let nameBytes = Array(name.utf8)
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<60:
                let address = String(repeating: "1", count: Int.random(in: 0...30, using: &rng))
                #expect(nameBytes.withUnsafeBytes { n in Array(address.utf8).withUnsafeBytes { table.setAlive(n, address: $0) } })
                model[name] = address
            case 60..<95:
                #expect(nameBytes.withUnsafeBytes { table.setNotAlive($0) })
                model[name] = nil
            case 95..<98:
                // Too long: refused, nothing changed; a not-alive of it changes nothing either.
                let long = Array(String(repeating: "x", count: AliveTable.maxNameCount + 1).utf8)
                let longAddress = Array(String(repeating: "1", count: AliveTable.maxAddressCount + 1).utf8)
                #expect(!long.withUnsafeBytes { n in [UInt8]("a".utf8).withUnsafeBytes { table.setAlive(n, address: $0) } })
                #expect(!nameBytes.withUnsafeBytes { n in longAddress.withUnsafeBytes { table.setAlive(n, address: $0) } })
                #expect(long.withUnsafeBytes { table.setNotAlive($0) })
                let longest = Array(String(repeating: "y", count: AliveTable.maxNameCount).utf8)
                let longestAddress = Array(String(repeating: "2", count: AliveTable.maxAddressCount).utf8)
                #expect(longest.withUnsafeBytes { n in longestAddress.withUnsafeBytes { table.setAlive(n, address: $0) } })
                model[String(decoding: longest, as: UTF8.self)] = String(decoding: longestAddress, as: UTF8.self)
            default:
                if step % 7 == 0 {
                    table.removeAll()
                    model = [:]
                }
            }
        }
        let nodes = table.aliveNodes()
        #expect(nodes.count == model.count)
        for (name, address) in model { #expect(nodes[name] == address) }
    }
}
