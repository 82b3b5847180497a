import Testing
@testable import SnapshotCore

/// A power loss before a new file's header reached the disk (found by the power-loss sweeps
/// with other seeds): the file may hold the header cut short, filled with zeros or garbage to
/// its length (`CrashModel`), or a v1 header line without its line feed. It holds no record,
/// so the next open starts it again in the configured format: it neither keeps a damaged
/// header that every later open reports as damage, nor reads zeros as v1 text and turns a v2
/// snapshot into a v1 one.
@Suite struct PowerLossTornHeaderTests {
    static let torn: [[UInt8]] = [
        Array(repeating: 0, count: V2Format.headerSize),
        Array(V2Format.magic.prefix(5)) + Array(repeating: 0, count: V2Format.headerSize - 5),
        [0x89] + Array(repeating: 0x41, count: V2Format.headerSize - 1),
        Array(V1Format.headerLine.utf8.prefix(10)),
    ]

    @Test(arguments: [SnapshotFormat.v1, .v2])
    func aHeaderTornBeforeItsFsyncStartsTheFileAgain(format: SnapshotFormat) throws {
        for bytes in Self.torn {
            let fs = PageCacheFileSystem(image: DiskImage(files: [PowerLossWorkload.path: bytes]))
            var configuration = EngineConfiguration()
            // Small segments: cut often, and cheap to model in memory.
            configuration.segmentSize = 1024
            configuration.preparesSegmentsInBackground = false
            configuration.format = format
            configuration.io = fs
            configuration.flushInterval = 3600
            let engine = try SnapshotEngine(path: PowerLossWorkload.path, configuration: configuration)
            engine.closeAndWait()
            let (state, report) = try SnapshotReplayer(io: fs, rejoinAfterLeave: false).replay(path: PowerLossWorkload.path)
            #expect(engine.replayReport.format == format && report.format == format, "\(bytes)")
            #expect(report.isClean && state == SnapshotState(), "\(bytes): \(report)")
        }
    }

    /// A whole header with no record after it is an empty snapshot, kept as it is (a close with
    /// nothing new to checkpoint leaves the file alone).
    @Test func aWholeHeaderIsKept() throws {
        var header: [UInt8] = []
        V2Format.header(into: &header)
        let fs = PageCacheFileSystem(image: DiskImage(files: [PowerLossWorkload.path: header]))
        var configuration = EngineConfiguration()
        // Small segments: cut often, and cheap to model in memory.
        configuration.segmentSize = 1024
        configuration.preparesSegmentsInBackground = false
        configuration.format = .v1
        configuration.io = fs
        let engine = try SnapshotEngine(path: PowerLossWorkload.path, configuration: configuration)
        engine.closeAndWait()
        #expect(engine.replayReport.format == .v2 && fs.contents(PowerLossWorkload.path) == header)
    }
}
