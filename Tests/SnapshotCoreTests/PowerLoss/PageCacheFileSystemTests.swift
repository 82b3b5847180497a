import Glibc
import Testing
import TestSupport
@testable import SnapshotCore

/// The page-cache model's rules, one by one, and the determinism the crash sweeps rely on.
@Suite struct PowerLossModelTests {
    let fs = PageCacheFileSystem()

    func write(_ path: String, _ text: String, create: Bool = true) throws -> Int32 {
        let fd = try fs.open(path, create: create, truncate: false)
        try fs.writeAll(fd, Array(text.utf8), path: path)
        return fd
    }

    /// Every disk 32 seeds give after a power loss now.
    func disks() -> [DiskImage] {
        (0..<32).map { fs.imageNow(seed: UInt64($0)) }
    }

    func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// A forwarding layer over the model maps the model's bytes, never a kernel descriptor that
    /// happens to have the same number (that mapped another test's file and died of SIGBUS).
    @Test func aForwardingLayerMapsTheModelsBytes() throws {
        struct Passthrough: ForwardingFileIO { let base: any FileIO }
        let fd = try write("/d/m", "mapped bytes")
        let layer = Passthrough(base: fs)
        let mapped = try #require(layer.map(fd, size: 12))
        #expect(Array(mapped) == Array("mapped bytes".utf8))
        layer.unmap(mapped)
    }

    @Test func syncedBytesSurviveAndUnsyncedOnesSurviveAsAPrefix() throws {
        let fd = try write("/d/f", "durable|")
        try fs.dataSync(fd, path: "/d/f")
        try fs.syncDirectory("/d")
        try fs.writeAll(fd, Array("one|".utf8), path: "/d/f")
        try fs.writeAll(fd, Array("two|".utf8), path: "/d/f")
        let seen = Set(disks().compactMap { $0.files["/d/f"] })
        for content in seen {
            // A prefix of the writes; zeros or garbage may fill the rest of a cut write.
            #expect(content.starts(with: Array("durable|".utf8)) && content.count <= 16, "\(content)")
        }
        let texts = Set(seen.compactMap(text))
        #expect(texts.contains("durable|") && texts.contains("durable|one|two|") && texts.contains("durable|one|"))
        #expect(seen.count > 3)
    }

    @Test func anUnsyncedCreateMayVanishAndAFsyncOfTheFileDoesNotKeepIt() throws {
        let fd = try write("/d/new", "data")
        try fs.sync(fd, path: "/d/new")
        let images = disks()
        #expect(images.contains { $0.files["/d/new"] == nil })
        #expect(images.contains { text($0.files["/d/new"]) == "data" })
        try fs.syncDirectory("/d")
        #expect(disks().allSatisfy { text($0.files["/d/new"]) == "data" })
    }

    @Test func anUnsyncedRenameRevertsToTheOldFile() throws {
        let old = try write("/d/snap", "old")
        try fs.sync(old, path: "/d/snap")
        try fs.syncDirectory("/d")
        let new = try write("/d/snap.compact", "new")
        try fs.sync(new, path: "/d/snap.compact")
        try fs.rename("/d/snap.compact", "/d/snap")
        let images = disks()
        #expect(images.contains { text($0.files["/d/snap"]) == "old" && $0.files["/d/snap.compact"] == nil })
        #expect(images.contains { text($0.files["/d/snap"]) == "new" && $0.files["/d/snap.compact"] == nil })
        #expect(images.allSatisfy { ["old", "new"].contains(text($0.files["/d/snap"])) })
        try fs.syncDirectory("/d")
        #expect(disks().allSatisfy { text($0.files["/d/snap"]) == "new" && $0.files.count == 1 })
    }

    @Test func anUnsyncedUnlinkMayComeBack() throws {
        let fd = try write("/d/stale", "x")
        try fs.sync(fd, path: "/d/stale")
        try fs.syncDirectory("/d")
        try fs.remove("/d/stale")
        #expect(!fs.exists("/d/stale"))
        #expect(disks().contains { text($0.files["/d/stale"]) == "x" })
    }

    @Test func aCrashFailsThatCallAndEveryLaterOne() throws {
        let crashing = PageCacheFileSystem(crash: .init(at: 3, seed: 1))
        let fd = try crashing.open("/d/f", create: true, truncate: false)  // call 1
        try crashing.writeAll(fd, [1, 2, 3], path: "/d/f")  // call 2
        #expect(throws: FileIOError.self) { try crashing.dataSync(fd, path: "/d/f") }  // call 3: lost
        #expect(crashing.hasCrashed && crashing.crashedCall == "call 3: fdatasync /d/f")
        #expect(throws: FileIOError.self) { _ = try crashing.size(fd, path: "/d/f") }
        #expect(throws: FileIOError.self) { try crashing.writeAll(fd, [4], path: "/d/f") }
        #expect(crashing.mutatingCalls == 3)
    }

    @Test func aMountedImageIsDurable() throws {
        let mounted = PageCacheFileSystem(image: DiskImage(files: ["/d/f": Array("abc".utf8)]))
        let fd = try mounted.openReadOnly("/d/f")
        #expect(try mounted.size(fd, path: "/d/f") == 3)
        #expect(mounted.powerOff(seed: 9) == [DiskImage(files: ["/d/f": Array("abc".utf8)])])
    }

    /// Call N is the same call in every run: what makes a crash point reproducible.
    @Test func aWorkloadMakesTheSameCallsInEveryRun() {
        let workload = PowerLossWorkload.generated(format: .v2, seed: 7, count: 120)
        let runs = (0..<3).map { _ in
            let fs = PageCacheFileSystem(recordingCalls: true)
            _ = PowerLossDriver.run(workload, on: fs)
            return fs.calls
        }
        #expect(runs[0].count > 200)
        #expect(runs[0] == runs[1] && runs[1] == runs[2])
        #expect(runs[0].contains { $0.hasPrefix("rename") })
    }
}
