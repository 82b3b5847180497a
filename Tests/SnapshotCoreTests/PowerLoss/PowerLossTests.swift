import Foundation
import Testing
import TestSupport
@testable import SnapshotCore

/// Crash tests that include power loss: the real engine on `PageCacheFileSystem`, crashed at
/// its mutating calls, each crashed disk opened by a fresh engine and checked by
/// `PowerLossOracle`. kill -9 (the integration tests) keeps the page cache; these do not.
/// Deterministic: every crash point and seed is fixed, and printed when it fails.
@Suite struct PowerLossTests {
    /// Fixed, so that every run checks the same crashes; POWERLOSS_SEED=N explores others.
    static let seed: UInt64 = ProcessInfo.processInfo.environment["POWERLOSS_SEED"].flatMap { UInt64($0) } ?? 0x5EED_0012
    /// Crash points drawn from the generated workload, per format.
    static let sampled = 400

    /// The seed of crash point `point` of a sweep: what of the unsynced state survives.
    static func crashSeed(_ base: UInt64, _ point: Int) -> UInt64 {
        var generator = SplitMix64(seed: base ^ (UInt64(point) &* 0x9E37_79B9_7F4A_7C15))
        return generator.next()
    }

    struct Sweep {
        var points = 0
        var failures: [PowerLossDriver.Crash] = []
        /// Crash points after which an acknowledged effect was missing.
        var lostAcknowledged = 0
        var acknowledgedEvents = 0
    }

    /// Crashes `workload` at each of `points` (from 1; one past the last call is a crash
    /// after the workload's end) and checks each recovery.
    static func sweep(_ workload: PowerLossWorkload, points: [Int], seed: UInt64, images: Int = 1,
                      between layer: PowerLossDriver.Layer? = nil) -> Sweep {
        var sweep = Sweep()
        for point in points {
            let plan = PageCacheFileSystem.CrashPlan(at: point, seed: crashSeed(seed, point), images: images)
            let crash = PowerLossDriver.crash(workload, at: plan, between: layer)
            sweep.points += 1
            sweep.acknowledgedEvents = max(sweep.acknowledgedEvents, crash.history.acknowledgedEvents)
            if !crash.verdict.lostAcknowledged.isEmpty { sweep.lostAcknowledged += 1 }
            if crash.failed { sweep.failures.append(crash) }
        }
        return sweep
    }

    /// The mutating calls of a whole run of `workload` (with nothing crashing).
    static func calls(_ workload: PowerLossWorkload, between layer: PowerLossDriver.Layer? = nil) -> (calls: Int, history: PowerLossHistory) {
        let fs = PageCacheFileSystem()
        let history = PowerLossDriver.run(workload, on: fs, between: layer)
        return (fs.mutatingCalls, history)
    }

    static func report(_ sweep: Sweep, _ workload: PowerLossWorkload, seed: UInt64, of total: Int) -> Comment {
        let shown = sweep.failures.prefix(12).map { "\n  crash point \($0.plan.at): \($0.summary)" }.joined()
        return Comment(rawValue: "\(workload.name): \(sweep.failures.count) of \(sweep.points) crash points (of \(total + 1)) fail, "
            + "sweep seed \(seed) (POWERLOSS_SEED; crash seed = PowerLossTests.crashSeed(seed, point)); one alone: "
            + "PowerLossDriver.crash(workload, at: .init(at: point, seed: crash seed, killAt: the kill's call, images: n)):\(shown)")
    }

    // MARK: - Every crash point of the small workload

    @Test(arguments: [SnapshotFormat.v1, .v2])
    func everyCrashPointOfTheSmallWorkload(format: SnapshotFormat) throws {
        let workload = PowerLossWorkload.small(format: format)
        let (total, history) = Self.calls(workload)
        #expect(history.unexpected.isEmpty, "\(history.unexpected)")
        #expect(history.acknowledgedEvents > 30)
        let sweep = Self.sweep(workload, points: Array(1...(total + 1)), seed: Self.seed, images: 8)
        #expect(sweep.failures.count == 0, Self.report(sweep, workload, seed: Self.seed, of: total))
        print("power loss: \(workload.name): \(sweep.points) crash points, 8 disks each, "
            + "\(history.acknowledgedEvents) events acknowledged in a whole run")
    }

    // MARK: - A seeded sample of a generated workload

    @Test(arguments: [SnapshotFormat.v1, .v2])
    func sampledCrashPointsOfAGeneratedWorkload(format: SnapshotFormat) throws {
        let workload = PowerLossWorkload.generated(format: format, seed: Self.seed, count: 300)
        let (total, history) = Self.calls(workload)
        #expect(history.unexpected.isEmpty, "\(history.unexpected)")
        var generator = SplitMix64(seed: Self.seed)
        let points = Array((1...(total + 1)).shuffled(using: &generator).prefix(Self.sampled)).sorted()
        let sweep = Self.sweep(workload, points: points, seed: Self.seed, images: 3)
        #expect(sweep.failures.count == 0, Self.report(sweep, workload, seed: Self.seed, of: total))
        print("power loss: \(workload.name): \(sweep.points) of \(total + 1) crash points, 3 disks each, "
            + "\(history.acknowledgedEvents) events acknowledged in a whole run")
    }

    // MARK: - kill -9, a restart, then a power loss

    /// The process is killed at each call of the small workload (the page cache survives), a
    /// new engine opens the file and goes on, and then the power goes at one of a few later calls.
    @Test(arguments: [SnapshotFormat.v1, .v2])
    func killAtEveryCallThenPowerLoss(format: SnapshotFormat) throws {
        let workload = PowerLossWorkload.small(format: format)
        let (total, _) = Self.calls(workload)
        var sweep = Sweep()
        for kill in 1...total {
            for (index, after) in [1, 2, 3, 5, 8, 13, Int.max - kill].enumerated() {
                let plan = PageCacheFileSystem.CrashPlan(at: kill + after, seed: Self.crashSeed(Self.seed, kill * 100 + index), killAt: kill)
                let crash = PowerLossDriver.crash(workload, at: plan)
                sweep.points += 1
                if crash.failed { sweep.failures.append(crash) }
            }
        }
        #expect(sweep.failures.count == 0, Self.report(sweep, workload, seed: Self.seed, of: total))
        print("power loss: \(workload.name): killed at each of \(total) calls, then \(sweep.points) power losses")
    }

    // MARK: - A power loss during the recovery from one

    /// Each crash point of the small workload gives a disk; a new engine opens it (repairing
    /// what the crash left) and goes on, and the power goes at each call of that.
    @Test(arguments: [SnapshotFormat.v1, .v2])
    func powerLossWhileRecoveringFromOne(format: SnapshotFormat) throws {
        let first = PowerLossWorkload.small(format: format), second = PowerLossWorkload.afterCrash(format: format)
        let (total, _) = Self.calls(first)
        var sweep = Sweep()
        for point in 1...(total + 1) {
            let seed = Self.crashSeed(Self.seed, point)
            let fs = PageCacheFileSystem(crash: .init(at: point, seed: seed))
            _ = PowerLossDriver.run(first, on: fs)
            guard let image = fs.powerOff(seed: seed).first else { continue }
            let initial = try PowerLossDriver.recover(image, first)  // checked by the sweeps above
            let counting = PageCacheFileSystem(image: image)
            _ = PowerLossDriver.run(second, on: counting, from: initial)
            for again in 1...(counting.mutatingCalls + 1) {
                let plan = PageCacheFileSystem.CrashPlan(at: again, seed: Self.crashSeed(seed, again))
                let crash = PowerLossDriver.crash(second, at: plan, on: (image, initial))
                sweep.points += 1
                if crash.failed { sweep.failures.append(crash) }
            }
        }
        #expect(sweep.failures.count == 0, Self.report(sweep, second, seed: Self.seed, of: total))
        print("power loss: \(second.name): after each of \(total + 1) crashes, \(sweep.points) more")
    }

    // MARK: - It catches a missing sync

    /// With one sync dropped (between the engine and the disk), some crash point loses an
    /// acknowledged event; with it, none does.
    @Test(arguments: DroppedSync.Sync.allCases)
    func catchesADroppedSync(sync: DroppedSync.Sync) throws {
        let workload = PowerLossWorkload.small(format: .v2)
        let layer: PowerLossDriver.Layer = { DroppedSync(base: $0, dropping: sync, snapshotPath: PowerLossWorkload.path) }
        let (total, _) = Self.calls(workload, between: layer)
        let points = Array(1...(total + 1))
        let broken = Self.sweep(workload, points: points, seed: Self.seed, images: 4, between: layer)
        #expect(broken.lostAcknowledged > 0, "\(sync) dropped: no crash point lost an acknowledged event")
        let sound = Self.sweep(workload, points: Array(1...(Self.calls(workload).calls + 1)), seed: Self.seed, images: 4)
        #expect(sound.lostAcknowledged == 0 && sound.failures.count == 0, Self.report(sound, workload, seed: Self.seed, of: total))
        print("power loss: \(sync) dropped: \(broken.lostAcknowledged) of \(broken.points) crash points (4 disks each) lost acknowledged events; "
            + "with it: \(sound.lostAcknowledged) of \(sound.points)")
    }

    // MARK: - A directory fsync that fails

    /// The directory fsync after a checkpoint's rename fails once (EIO, a disk's transient error;
    /// no crash), then the power goes at each later call: no acknowledged event may be lost, so
    /// the log's segments must stay until a checkpoint's rename is known to be on disk.
    @Test(arguments: [SnapshotFormat.v1, .v2])
    func aFailedDirectorySyncIsMadeGoodBeforeTheNextAcknowledgement(format: SnapshotFormat) throws {
        let workload = PowerLossWorkload.small(format: format)
        let layer: PowerLossDriver.Layer = { FailingDirectorySync(base: $0) }
        let (total, history) = Self.calls(workload, between: layer)
        #expect(history.unexpected.isEmpty, "\(history.unexpected)")
        let sweep = Self.sweep(workload, points: Array(1...(total + 1)), seed: Self.seed, images: 4, between: layer)
        #expect(sweep.failures.count == 0, Self.report(sweep, workload, seed: Self.seed, of: total))
    }
}
