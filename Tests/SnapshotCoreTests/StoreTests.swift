import Dispatch
import Foundation
import Glibc
import Synchronization
import Testing
@testable import SnapshotCore

/// `SnapshotStore`: many named snapshots on one write-ahead log, each apart (records, clocks,
/// leave, options), created and deleted durably, recovered whole.
@Suite struct StoreTests {
    let dir = makeTemporaryDirectory()
    var layout: StoreLayout { StoreLayout(dataDirectory: dir) }
    var snapshots: String { dir + "/snapshots" }

    func open(_ configure: (inout EngineConfiguration) -> Void = { _ in }) throws -> SnapshotStore {
        try SnapshotStore(layout: layout, configuration: storeConfiguration(configure))
    }

    let a = named("a"), b = named("b")

    // MARK: - Isolation

    @Test func eventsClocksLeaveAndRejoinStayInTheirSnapshot() async throws {
        let store = try open()
        #expect(await store.submit([join(member("x"), ltime: 5), user(7)], to: a).succeeded)
        #expect(await store.submit([join(member("y"), ltime: 9), query(3)], to: b).succeeded)
        #expect(await store.submit([join(member("z")), .clock(ltime: 20)], to: .default).succeeded)

        #expect(store.alive(a) == ["x"])
        #expect(store.alive(b) == ["y"])
        #expect(store.alive(.default) == ["z"])
        #expect(store.state(of: a)?.lastClock == 5)
        #expect(store.state(of: a)?.lastEventClock == 7)
        #expect(store.state(of: a)?.lastQueryClock == 0)
        #expect(store.state(of: b)?.lastClock == 9)
        #expect(store.state(of: b)?.lastEventClock == 0)
        #expect(store.state(of: b)?.lastQueryClock == 3)
        #expect(store.state(of: .default)?.lastClock == 20)
        #expect(store.names == [a, b, .default])

        // A leave is the snapshot's own: the others go on taking events.
        #expect(await store.leave(a).succeeded)
        #expect(store.state(of: a)?.leaving == true)
        #expect(store.alive(a).isEmpty)
        #expect(await store.submit([join(member("x2"))], to: a).failure == .leaving)
        #expect(await store.submit([join(member("y2"))], to: b).succeeded)
        #expect(await store.submit([join(member("z2"))], to: .default).succeeded)
        #expect(store.state(of: b)?.leaving == false)
        #expect(store.alive(b) == ["y", "y2"])

        // A rejoin of b (not leaving) answers b's state and changes nothing of a's.
        #expect(try await store.rejoin(b).get().aliveNodeList().map(\.name) == ["y", "y2"])
        #expect(store.state(of: a)?.leaving == true)
        let rejoined = try await store.rejoin(a).get()
        #expect(rejoined == SnapshotState())
        #expect(await store.submit([join(member("x3"), ltime: 2)], to: a).succeeded)
        #expect(store.alive(a) == ["x3"])
        #expect(store.state(of: a)?.lastClock == 2)  // a new life: its clock started again
        #expect(store.state(of: b)?.lastClock == 9)
        await store.close()

        let reopened = try open()
        #expect(reopened.names == [a, b, .default])
        #expect(reopened.alive(a) == ["x3"])
        #expect(reopened.alive(b) == ["y", "y2"])
        #expect(reopened.alive(.default) == ["z", "z2"])
        #expect(reopened.state(of: b)?.lastQueryClock == 3)
        #expect(reopened.state(of: a)?.lastQueryClock == 0)
        #expect(reopened.state(of: .default)?.lastClock == 20)
        await reopened.close()
    }

    /// Each snapshot keeps its own format and rejoin-after-leave, in memory and at rest: after a
    /// close a v1 snapshot's file is a v1 file Go serf (and `SnapshotReplayer`) reads.
    @Test func optionsArePerSnapshotAndFilesAtRestAreInTheirFormat() async throws {
        let store = try open { $0.format = .v2 }
        let v1 = SnapshotOptions(format: .v1, rejoinAfterLeave: true)
        let v2 = SnapshotOptions(format: .v2, rejoinAfterLeave: false)
        #expect(try await store.create(a, options: v1).get() == true)
        #expect(try await store.create(b, options: v2).get() == true)
        for snapshot in [a, b, .default] {
            #expect(await store.submit([join(member("m1"), ltime: 4), join(member("m2", "10.0.0.2", 7946)), user(11)],
                                       to: snapshot).succeeded)
        }
        #expect(await store.leave(a).succeeded)
        #expect(await store.leave(b).succeeded)
        // Rejoin-after-leave keeps the alive set across the leave; without it the set is cleared.
        #expect(store.alive(a) == ["m1", "m2"])
        #expect(store.alive(b).isEmpty)
        #expect(store.options(of: a) == v1)
        #expect(store.options(of: b) == v2)
        #expect(store.options(of: .default) == store.defaultOptions)
        await store.close()

        let text = readFile(snapshots + "/a")
        #expect(text.hasPrefix(V1Format.headerLine), "a v1 snapshot's file at rest: \(text.prefix(80))")
        #expect(text.contains("alive: m2 10.0.0.2:7946"))
        let (fromA, reportA) = try SnapshotReplayer(rejoinAfterLeave: true).replay(path: snapshots + "/a")
        #expect(reportA.format == .v1 && reportA.isClean)
        #expect(fromA.aliveNodeList().map(\.name) == ["m1", "m2"])
        #expect(fromA.lastEventClock == 11)
        let (fromB, reportB) = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: snapshots + "/b")
        #expect(reportB.format == .v2 && reportB.isClean)
        #expect(fromB.aliveNodes.isEmpty)
        let (fromDefault, reportDefault) = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: dir + "/snapshot")
        #expect(reportDefault.format == .v2)
        #expect(fromDefault.aliveNodeList().map(\.name) == ["m1", "m2"])

        // The options come back with the catalog, and the replay of each file follows them.
        let reopened = try open()
        #expect(reopened.options(of: a) == v1)
        #expect(reopened.options(of: b) == v2)
        #expect(reopened.alive(a) == ["m1", "m2"])  // the replayed leave is ignored
        #expect(reopened.alive(b).isEmpty)
        #expect(reopened.state(of: a)?.leaving == false)
        await reopened.close()
        #expect(readFile(snapshots + "/a").hasPrefix(V1Format.headerLine))
    }

    /// A snapshot created by a first write gets the store's configured options.
    @Test func aFirstWriteCreatesWithTheDefaultOptions() async throws {
        let store = try open { $0.format = .v1; $0.rejoinAfterLeave = true }
        #expect(await store.submit([join(member("x"))], to: a).succeeded)
        #expect(store.options(of: a) == SnapshotOptions(format: .v1, rejoinAfterLeave: true))
        #expect(await store.create(a, options: SnapshotOptions(format: .v1, rejoinAfterLeave: true)).succeeded)
        #expect(await store.create(a, options: SnapshotOptions(format: .v2)).failure?.kind == "conflict")
        await store.close()
        #expect(readFile(snapshots + "/a").hasPrefix(V1Format.headerLine))
    }

    // MARK: - Create and delete

    @Test func createAnswersCreatedExistedOrConflict() async throws {
        let store = try open()
        let options = SnapshotOptions(format: .v1, rejoinAfterLeave: false)
        #expect(try await store.create(a, options: options).get() == true)
        #expect(try await store.create(a, options: options).get() == false)
        #expect(await store.create(a, options: SnapshotOptions(format: .v2)).failure?.kind == "conflict")
        #expect(await store.create(a, options: SnapshotOptions(format: .v1, rejoinAfterLeave: true)).failure?.kind == "conflict")
        #expect(store.snapshotCount == 2)
        await store.close()

        // Created durably, with its options: known after a restart though nothing was written to it.
        let reopened = try open()
        #expect(reopened.names == [a, .default])
        #expect(try await reopened.create(a, options: options).get() == false)
        #expect(await reopened.create(a, options: SnapshotOptions()).failure?.kind == "conflict")
        #expect(reopened.state(of: a) == SnapshotState())
        await reopened.close()
    }

    /// A create whose sync failed did not happen: the name is not taken, and the next create
    /// of it creates it (durably), rather than answering that it exists.
    @Test func aCreateWhoseSyncFailedIsNotTakenForAnExistingSnapshot() async throws {
        let io = LogFaultIO()
        let store = try open { $0.io = io }
        io.failSyncs(EIO)
        #expect(await store.create(a).failure?.kind == "write_failed")
        #expect(!store.names.contains(a))
        #expect(try await store.create(a).get() == true)
        // Its first write failing too (the create record and the events in one sync each).
        io.failSyncs(EIO, EIO)
        #expect(await store.submit([join(member("x"))], to: b).failure?.kind == "write_failed")
        #expect(!store.names.contains(b))
        #expect(try await store.create(b).get() == true)
        #expect(await store.submit([join(member("y"))], to: b, creating: false).succeeded)
        await store.close()
        let reopened = try open()
        #expect(reopened.names == [a, b, .default])
        #expect(reopened.alive(b) == ["y"])
        await reopened.close()
    }

    @Test func theDefaultSnapshotIsNeverDeleted() async throws {
        let store = try open()
        #expect(await store.submit([join(member("x"))], to: .default).succeeded)
        #expect(await store.delete(.default).failure?.kind == "conflict")
        #expect(store.alive(.default) == ["x"])
        await store.close()
        #expect(fileExists(dir + "/snapshot"))
    }

    @Test func unknownNamesAreRefused() async throws {
        let store = try open()
        let ghost = named("ghost")
        #expect(await store.submit([join(member("x"))], to: ghost, creating: false).failure == .unknownSnapshot("ghost"))
        #expect(await store.leave(ghost).failure == .unknownSnapshot("ghost"))
        #expect(await store.rejoin(ghost).failure == .unknownSnapshot("ghost"))
        #expect(await store.compact(ghost).failure == .unknownSnapshot("ghost"))
        #expect(await store.delete(ghost).failure == .unknownSnapshot("ghost"))
        #expect(store.status(of: ghost) == nil)
        #expect(store.options(of: ghost) == nil)
        #expect(store.names == [.default])
        // None of that created it.
        await store.close()
        #expect(!fileExists(snapshots + "/ghost"))
        let reopened = try open()
        #expect(reopened.names == [.default])
        await reopened.close()
    }

    @Test func deleteRemovesTheFileAndTheName() async throws {
        let store = try open()
        #expect(await store.submit([join(member("x"))], to: a).succeeded)
        #expect(await store.submit([join(member("y"))], to: b).succeeded)
        #expect(await store.compact(a).succeeded)
        #expect(fileExists(snapshots + "/a"))
        #expect(await store.delete(a).succeeded)
        #expect(!fileExists(snapshots + "/a"))
        #expect(!fileExists(snapshots + "/.a.checkpoint"))
        #expect(store.names == [b, .default])
        #expect(store.status(of: a) == nil)
        #expect(await store.submit([join(member("x"))], to: a, creating: false).failure == .unknownSnapshot("a"))
        #expect(await store.delete(a).failure == .unknownSnapshot("a"))
        await store.close()
        #expect(!fileExists(snapshots + "/a"))
        #expect(directoryNames(snapshots).filter { !$0.hasPrefix(".") } == ["b"])

        let reopened = try open()
        #expect(reopened.names == [b, .default])
        #expect(reopened.report.unexplainedFiles.isEmpty)
        await reopened.close()
    }

    enum Checkpoints: String, CaseIterable, Sendable {
        /// Nothing checkpointed: the old snapshot's records and both catalog records in the log.
        case none
        /// The old snapshot checkpointed before its delete (its file existed).
        case beforeDelete
        /// The new one checkpointed too, after the recreate.
        case beforeAndAfter
        /// A restart between the delete and the recreate.
        case restartBetween
        /// The old one checkpointed, then the store stopped without a close (a kill), twice.
        case killed
    }

    /// A deleted name created again starts empty: no record of the old snapshot comes back,
    /// live or after a restart.
    @Test(arguments: Checkpoints.allCases)
    func deleteThenRecreateStartsEmpty(checkpoints: Checkpoints) async throws {
        var store = try open()
        #expect(await store.submit([join(member("old1"), ltime: 50), user(40), query(30)], to: a).succeeded)
        #expect(await store.submit([join(member("old2"))], to: a).succeeded)
        if checkpoints != .none { #expect(await store.compact(a).succeeded) }
        #expect(await store.submit([join(member("old3"))], to: a).succeeded)  // in the log past the checkpoint
        #expect(await store.delete(a).succeeded)
        #expect(!fileExists(snapshots + "/a"))
        if checkpoints == .restartBetween {
            await store.close()
            store = try open()
            #expect(store.names == [.default])
        }
        #expect(try await store.create(a, options: SnapshotOptions(format: .v1)).get() == true)
        #expect(store.state(of: a) == SnapshotState())
        #expect(await store.submit([join(member("new1"), ltime: 2)], to: a).succeeded)
        #expect(store.alive(a) == ["new1"])
        if checkpoints == .beforeAndAfter { #expect(await store.compact(a).succeeded) }
        #expect(await store.submit([join(member("new2"))], to: a).succeeded)

        let expected = store.state(of: a)
        #expect(expected?.aliveNodeList().map(\.name) == ["new1", "new2"])
        #expect(expected?.lastEventClock == 0 && expected?.lastQueryClock == 0 && expected?.lastClock == 2)
        if checkpoints == .killed {
            // Reopen on a copy of the directory as the running store left it (the page cache of a
            // killed process), twice over: no close checkpoints anything.
            let copy = makeTemporaryDirectory() + "/data"
            try FileManager.default.copyItem(atPath: dir, toPath: copy)
            await store.close()
            let killed = try SnapshotStore(layout: StoreLayout(dataDirectory: copy), configuration: storeConfiguration())
            #expect(killed.state(of: a) == expected)
            #expect(killed.options(of: a) == SnapshotOptions(format: .v1))
            #expect(killed.report.staleFiles.isEmpty)
            await killed.close()
            let again = try SnapshotStore(layout: StoreLayout(dataDirectory: copy), configuration: storeConfiguration())
            #expect(again.state(of: a) == expected)
            await again.close()
            return
        }
        await store.close()
        let reopened = try open()
        #expect(reopened.state(of: a) == expected, "\(describe(reopened.state(of: a) ?? SnapshotState()))")
        #expect(reopened.options(of: a) == SnapshotOptions(format: .v1))
        await reopened.close()
        let (atRest, report) = try SnapshotReplayer(rejoinAfterLeave: false).replay(path: snapshots + "/a")
        #expect(report.format == .v1)
        #expect(atRest.aliveNodeList().map(\.name) == ["new1", "new2"])
    }

    @Test func theSnapshotLimitIsKept() async throws {
        let store = try open { $0.maxSnapshots = 3 }
        #expect(try await store.create(a).get() == true)
        #expect(await store.submit([join(member("x"))], to: b).succeeded)
        let c = named("c")
        #expect(await store.create(c).failure == .tooManySnapshots(limit: 3))
        #expect(await store.submit([join(member("x"))], to: c).failure == .tooManySnapshots(limit: 3))
        #expect(store.names == [a, b, .default])
        // An existing name is still answered (no new identity needed).
        #expect(try await store.create(a).get() == false)
        #expect(await store.delete(a).succeeded)
        #expect(try await store.create(c).get() == true)
        #expect(await store.create(a).failure == .tooManySnapshots(limit: 3))
        await store.close()

        let reopened = try open { $0.maxSnapshots = 3 }
        #expect(reopened.names == [b, c, .default])
        #expect(await reopened.create(a).failure == .tooManySnapshots(limit: 3))
        await reopened.close()
    }

    // MARK: - Files nothing explains

    /// A file in the snapshots directory that is no snapshot of the store: reported at every
    /// open, never removed or overwritten, and its name cannot be created.
    @Test func aStrayFileIsKeptAndItsNameRefused() async throws {
        try FileManager.default.createDirectory(atPath: snapshots, withIntermediateDirectories: true)
        let stray = snapshots + "/stray"
        let bytes = Data("not a snapshot of this store\n".utf8)
        try bytes.write(to: URL(fileURLWithPath: stray))

        let store = try open()
        #expect(store.report.unexplainedFiles == [stray])
        #expect(store.report.removedFiles.isEmpty)
        #expect(!store.names.contains(named("stray")))
        #expect(await store.create(named("stray")).failure?.kind == "conflict")
        #expect(await store.submit([join(member("x"))], to: named("stray")).failure?.kind == "conflict")
        #expect(store.names == [.default])
        #expect(await store.submit([join(member("y"))], to: a).succeeded)
        await store.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: stray)) == bytes)

        let reopened = try open()
        #expect(reopened.report.unexplainedFiles == [stray])
        #expect(reopened.names == [a, .default])
        await reopened.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: stray)) == bytes)
    }

    // MARK: - Recovery

    @Test func manySnapshotsSurviveACloseAndReopen() async throws {
        let count = 200
        let store = try open()
        let names = (0..<count).map { named(String(format: "s%03d", $0)) }
        await withTaskGroup(of: Void.self) { group in
            for (i, snapshot) in names.enumerated() {
                group.addTask {
                    _ = await store.submit([join(member("n\(i)", "10.0.\(i / 250).\(i % 250)"), ltime: UInt64(i + 1)),
                                            user(UInt64(1000 + i))], to: snapshot)
                    if i % 3 == 0 { _ = await store.submit([query(UInt64(i))], to: snapshot) }
                }
            }
        }
        #expect(store.snapshotCount == count + 1)
        await store.close()

        let reopened = try open()
        #expect(reopened.names == (names + [.default]).sorted())
        for (i, snapshot) in names.enumerated() {
            let state = reopened.state(of: snapshot)
            #expect(state?.aliveNodeList().map(\.name) == ["n\(i)"], "\(snapshot)")
            #expect(state?.lastClock == UInt64(i + 1))
            #expect(state?.lastEventClock == UInt64(1000 + i))
            #expect(state?.lastQueryClock == (i % 3 == 0 ? UInt64(i) : 0))
        }
        #expect(reopened.list(after: "s100", limit: 3).map(\.name.rawValue) == ["s101", "s102", "s103"])
        #expect(reopened.list(limit: 1, including: { $0 != .default }).first?.aliveCount == 1)
        await reopened.close()
    }

    /// A store opened on what a running one left (no close: the page cache of a killed
    /// process) replays the log: catalog records and events of every snapshot.
    @Test func aReopenWithoutACloseReplaysTheLog() async throws {
        let store = try open()
        #expect(try await store.create(a, options: SnapshotOptions(format: .v1)).get())
        #expect(await store.submit([join(member("x"), ltime: 3)], to: a).succeeded)
        #expect(await store.submit([join(member("y"))], to: b).succeeded)
        #expect(await store.submit([join(member("z"))], to: .default).succeeded)
        #expect(await store.compact(b).succeeded)  // the catalog file holds a and b as of here
        let c = named("c")
        #expect(await store.submit([join(member("w"))], to: c).succeeded)
        #expect(await store.submit([failed(member("y")), join(member("y2"))], to: b).succeeded)
        #expect(await store.delete(a).succeeded)
        #expect(await store.leave(c).succeeded)

        let copy = makeTemporaryDirectory() + "/data"
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        let expectedB = store.state(of: b)
        await store.close()

        let reopened = try SnapshotStore(layout: StoreLayout(dataDirectory: copy), configuration: storeConfiguration())
        #expect(reopened.names == [b, c, .default])
        #expect(reopened.state(of: b) == expectedB)
        #expect(reopened.alive(b) == ["y2"])
        #expect(reopened.alive(.default) == ["z"])
        // A replayed leave clears the state; a new process is not leaving.
        #expect(reopened.state(of: c) == SnapshotState())
        #expect(reopened.report.log.records > 0)
        #expect(reopened.report.unexplainedFiles.isEmpty)
        #expect(!fileExists(copy + "/snapshots/a"))
        await reopened.close()
        let again = try SnapshotStore(layout: StoreLayout(dataDirectory: copy), configuration: storeConfiguration())
        #expect(again.names == [b, c, .default])
        #expect(again.state(of: b) == expectedB)
        await again.close()
    }

    /// A catalog file with a damaged record: reported, copied aside, its valid records kept;
    /// the snapshot whose record was lost is a file nothing explains (kept, not removed).
    @Test func aDamagedCatalogIsReportedAndCopiedAside() async throws {
        let store = try open()
        #expect(await store.submit([join(member("x"))], to: a).succeeded)
        #expect(await store.submit([join(member("y"))], to: b).succeeded)
        await store.close()
        let catalog = snapshots + "/.catalog"
        var bytes = LogTesting.bytes(catalog)
        let original = bytes
        #expect(bytes.count > CatalogFile.headerSize)
        bytes[bytes.count - 1] ^= 0xFF  // the last record's name (b's): its checksum fails
        try LogTesting.setBytes(catalog, bytes)

        let reopened = try open()
        #expect(reopened.report.catalogDamaged)
        let copies = reopened.report.preservedCopies.filter { $0.hasPrefix(snapshots + "/.catalog") }
        #expect(copies.count == 1)
        if let copy = copies.first { #expect(LogTesting.bytes(copy) == bytes) }
        #expect(reopened.names == [a, .default])
        #expect(reopened.alive(a) == ["x"])
        #expect(reopened.report.unexplainedFiles == [snapshots + "/b"])
        #expect(fileExists(snapshots + "/b"))
        #expect(await reopened.create(b).failure?.kind == "conflict")
        await reopened.close()
        #expect(fileExists(snapshots + "/b"))
        #expect(original != bytes)
    }

    /// A catalog file whose header is damaged: nothing of it can be trusted; reported, copied
    /// aside, and every named file kept (unexplained).
    @Test func aCatalogWithADamagedHeaderLosesNoFile() async throws {
        let store = try open()
        #expect(await store.submit([join(member("x"))], to: a).succeeded)
        await store.close()
        let catalog = snapshots + "/.catalog"
        var bytes = LogTesting.bytes(catalog)
        bytes[2] ^= 0x01
        try LogTesting.setBytes(catalog, bytes)
        let reopened = try open()
        #expect(reopened.report.catalogDamaged)
        #expect(reopened.report.preservedCopies.contains { $0.hasPrefix(snapshots + "/.catalog") })
        #expect(reopened.report.unexplainedFiles == [snapshots + "/a"])
        #expect(reopened.report.removedFiles.isEmpty)
        await reopened.close()
        #expect(fileExists(snapshots + "/a"))
    }

    /// A delete whose record is in the log and whose file is still there (the process stopped
    /// between the two): the next open removes the file.
    @Test func aFileLeftByADeleteIsRemoved() async throws {
        let io = StopBeforeRemoving(target: snapshots + "/a")
        let store = try open { $0.io = io }
        #expect(await store.submit([join(member("x"))], to: a).succeeded)
        #expect(await store.submit([join(member("y"))], to: b).succeeded)
        #expect(await store.compact(a).succeeded)
        #expect(fileExists(snapshots + "/a"))
        let copy = makeTemporaryDirectory() + "/data"
        io.onStop = { [dir] in try? FileManager.default.copyItem(atPath: dir, toPath: copy) }
        _ = await store.delete(a)  // stopped at the unlink: the delete record is synced
        await store.close()
        #expect(fileExists(copy + "/snapshots/a"))

        let reopened = try SnapshotStore(layout: StoreLayout(dataDirectory: copy), configuration: storeConfiguration())
        #expect(reopened.report.removedFiles == [copy + "/snapshots/a"])
        #expect(reopened.report.unexplainedFiles.isEmpty)
        #expect(!fileExists(copy + "/snapshots/a"))
        #expect(reopened.names == [b, .default])
        #expect(try await reopened.create(a).get() == true)
        #expect(reopened.state(of: a) == SnapshotState())
        await reopened.close()
    }

    // MARK: - The log's segments

    /// Many snapshots, each with few events (none passes the compaction threshold): the
    /// laggards are checkpointed, so the log's segments do not pile up.
    @Test func segmentsStayBoundedWithManyQuietSnapshots() async throws {
        let segmentSize: Int64 = 1024
        let store = try open {
            $0.segmentSize = segmentSize
            $0.laggardLogBytes = 2 * segmentSize  // the default's floor (4 × min-compact-size) is far above this log
            $0.flushInterval = 0.005  // the laggard rule runs at the writer's tick
        }
        let names = (0..<40).map { named("q\($0)") }
        var peak: UInt64 = 0
        for round in 0..<15 {
            // One submission to each snapshot, all at once (a few group commits).
            let acknowledged = await withTaskGroup(of: Bool.self) { group in
                for (i, snapshot) in names.enumerated() {
                    group.addTask { await store.submit([join(member("n\(i)-\(round % 3)"))], to: snapshot).succeeded }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(acknowledged == names.count)
            peak = max(peak, store.storeStatus.logBytes)
        }
        let written = store.storeStatus.logPosition
        #expect(written > 16 * UInt64(segmentSize), "the workload writes \(written) bytes of log")
        // Rounds run on the writer's tick: wait for the log to come down after the writes.
        // Wait for both the writer's accounting and the files (a round removes them on its own
        // thread); 8 segments' worth of bytes can be 8 files besides the active one and the one
        // prepared ahead.
        let bounded = eventually(timeout: 20) {
            store.storeStatus.logBytes <= UInt64(8 * segmentSize) && LogTesting.segmentNames(dir + "/wal").count <= 10
        }
        let segments = LogTesting.segmentNames(dir + "/wal").count
        #expect(segments <= 10)
        #expect(bounded, "log bytes \(store.storeStatus.logBytes) (\(segments) segments) after \(written) written; peak \(peak)")
        #expect(store.storeStatus.checkpointRounds > 0)
        for (i, snapshot) in names.enumerated() { #expect(store.alive(snapshot) == ["n\(i)-0", "n\(i)-1", "n\(i)-2"]) }
        await store.close()
        let reopened = try open()
        for (i, snapshot) in names.enumerated() { #expect(reopened.alive(snapshot) == ["n\(i)-0", "n\(i)-1", "n\(i)-2"]) }
        await reopened.close()
    }
}

/// A file layer that stops the process (every later call fails, as after kill -9) at the
/// unlink of `target`, after calling `onStop` (which can copy the page cache's state).
final class StopBeforeRemoving: ForwardingFileIO, @unchecked Sendable {  // onStop is set before use
    let base: any FileIO = POSIXFileIO()
    let target: String
    private let stopped = Mutex(false)
    var onStop: (@Sendable () -> Void)?

    init(target: String) {
        self.target = target
    }

    private func alive(_ path: String) throws(FileIOError) {
        if stopped.withLock({ $0 }) { throw FileIOError("process killed", path, code: EIO) }
    }

    func remove(_ path: String) throws(FileIOError) {
        try alive(path)
        if path == target {
            onStop?()
            stopped.withLock { $0 = true }
            throw FileIOError("process killed", path, code: EIO)
        }
        try base.remove(path)
    }

    func open(_ path: String, create: Bool, truncate: Bool) throws(FileIOError) -> Int32 {
        try alive(path)
        return try base.open(path, create: create, truncate: truncate)
    }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(FileIOError) -> Int {
        try alive(path)
        return try base.write(fd, bytes, at: offset, path: path)
    }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileIOError) -> Int {
        try alive(path)
        return try base.write(fd, bytes, path: path)
    }
    func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
        try alive(path)
        try base.dataSync(fd, path: path)
    }
    func sync(_ fd: Int32, path: String) throws(FileIOError) {
        try alive(path)
        try base.sync(fd, path: path)
    }
    func rename(_ from: String, _ to: String) throws(FileIOError) {
        try alive(from)
        try base.rename(from, to)
    }
    func syncDirectory(_ path: String) throws(FileIOError) {
        try alive(path)
        try base.syncDirectory(path)
    }
    func truncate(_ fd: Int32, to length: Int64, path: String) throws(FileIOError) {
        try alive(path)
        try base.truncate(fd, to: length, path: path)
    }
    func openSegment(_ path: String, create: Bool) throws(FileIOError) -> Int32 {
        try alive(path)
        return try base.openSegment(path, create: create)
    }
    func preallocate(_ fd: Int32, length: Int64, path: String) throws(FileIOError) {
        try alive(path)
        try base.preallocate(fd, length: length, path: path)
    }
}
