import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// kill -9 of a running `snapshotd serve` (fsync mode) in the middle of a flood of POSTs, at
/// random moments, in both formats, with and without constant compaction. After every kill:
/// the file verifies (a torn last record is allowed, damage is not), a restart keeps every
/// acknowledged event, truncates the torn tail and leaves no `PATH.compact`.
///
/// The kill moments come from a seeded generator; the seed is printed, and
/// `SNAPSHOTD_CRASH_SEED=N` replays a run's moments. The number of kills never changes.
@Suite(.serialized) struct CrashTests {
    /// Kills per test run: fixed, so that every run proves the same amount.
    static let kills = 24
    static let clients = 4
    static let batchSize = 50

    static let seed: UInt64 = {
        if let text = ProcessInfo.processInfo.environment["SNAPSHOTD_CRASH_SEED"], let value = UInt64(text) { return value }
        return UInt64.random(in: 0...UInt64.max)
    }()

    /// One kill: its file format, whether compaction runs constantly, and when it happens.
    ///
    /// Go's sizing rule compacts at max(min-compact-size, 256 B × alive nodes), and a join of a
    /// new name adds about 40 B: a flood of new names alone never compacts. So in the
    /// compacting runs the NDJSON batches re-join names already acknowledged (the file grows,
    /// the alive set does not), and every other compacting run also has a client that POSTs
    /// /v1/compact in a loop.
    struct Plan: CustomStringConvertible {
        var index: Int
        var format: String
        var constantCompaction: Bool
        var compactClient: Bool
        var killAfter: Double

        var arguments: [String] {
            ["--format", format] + (constantCompaction ? ["--min-compact-size", "4096"] : [])
        }

        var description: String {
            let compaction = constantCompaction ? ", min-compact-size 4096\(compactClient ? " + /v1/compact loop" : "")" : ""
            return "kill \(index) (\(format)\(compaction), at \(Int(killAfter * 1000)) ms, seed \(CrashTests.seed))"
        }
    }

    /// What one kill showed.
    struct Outcome {
        var problems: [String] = []
        var acknowledged = 0
        var compactionsBeforeKill = 0
        var compactionInFlight = false
        var verifyStatus: Int32 = -1
        var tornTailBytes: Int64 = 0
        var seconds = 0.0
    }

    /// Shared by the flood's client threads.
    final class Flood: Sendable {
        let acknowledged = Mutex<[String]>([])
        let unexpected = Mutex<[String]>([])
        let stopped = Atomic<Bool>(false)
    }

    static func plans() -> [Plan] {
        var rng = SplitMix64(seed: seed)
        return (0..<kills).map { index in
            Plan(index: index, format: index % 2 == 0 ? "v2" : "v1", constantCompaction: index / 2 % 2 == 1,
                 compactClient: index % 8 >= 6, killAfter: Double.random(in: 0.05...0.6, using: &rng))
        }
    }

    /// One client: member joins with unique names, one at a time, and NDJSON batches of 50
    /// (new names; in compacting runs mostly re-joins of names this client had acknowledged),
    /// until the server dies or the flood is stopped.
    static func flood(client index: Int, plan: Plan, baseURL: String, into flood: Flood) {
        let client = CurlClient(baseURL: baseURL)
        client.timeoutMilliseconds = 5000
        var mine: [(name: String, event: String)] = []
        var request = 0
        while !flood.stopped.load(ordering: .relaxed) {
            let events: [(name: String, event: String)]
            // Compacting runs: a batch of new names first, then two re-join batches for every
            // new name. Other runs: every fifth request is a batch of new names.
            let rejoin = plan.constantCompaction && request % 3 != 0 && !mine.isEmpty
            let batch = rejoin || (plan.constantCompaction ? request == 0 : request % 5 == 4)
            if rejoin {
                events = Array(mine.suffix(batchSize))
            } else {
                events = (0..<(batch ? batchSize : 1)).map { item in
                    let name = "k\(plan.index)-c\(index)-\(request)-\(item)"
                    return (name, ToolTests.join(name, "10.\(index).\(request % 256).\(item)", 7946))
                }
            }
            request += 1
            let body = batch ? events.map(\.event).joined(separator: "\n") + "\n" : events.map(\.event).joined()
            let contentType = batch ? "application/x-ndjson" : "application/json"
            guard let response = try? client.post("/v1/events", body: Array(body.utf8), contentType: contentType) else {
                return  // the server is gone
            }
            guard response.status == 200 else {
                flood.unexpected.withLock { $0.append("\(response.status) \(response.text)") }
                return
            }
            if !rejoin {
                mine.append(contentsOf: events)
                flood.acknowledged.withLock { $0.append(contentsOf: events.map(\.name)) }
            }
        }
    }

    /// POST /v1/compact in a loop, until the server dies or the flood is stopped.
    static func compactLoop(baseURL: String, into flood: Flood) {
        let client = CurlClient(baseURL: baseURL)
        client.timeoutMilliseconds = 5000
        while !flood.stopped.load(ordering: .relaxed) {
            guard let response = try? client.post("/v1/compact", body: []) else { return }
            guard response.status == 200 else {
                flood.unexpected.withLock { $0.append("compact: \(response.status) \(response.text)") }
                return
            }
        }
    }

    /// The value of an unlabelled series in Prometheus text, or nil.
    static func metric(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    static func run(_ plan: Plan) -> Outcome {
        var outcome = Outcome()
        let started = Date()
        do {
            try killOnce(plan, &outcome)
        } catch {
            outcome.problems.append("error: \(error)")
        }
        outcome.seconds = Date().timeIntervalSince(started)
        return outcome
    }

    private static func killOnce(_ plan: Plan, _ outcome: inout Outcome) throws {
        func check(_ condition: Bool, _ problem: @autoclosure () -> String) {
            if !condition { outcome.problems.append(problem()) }
        }
        let (process, _, path) = try ServiceTests.start(nil, plan.arguments)
        let baseURL = process.baseURL
        let flood = Flood()
        let group = DispatchGroup()
        let floodStarted = Date()
        for index in 0..<clients {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                Self.flood(client: index, plan: plan, baseURL: baseURL, into: flood)
            }
        }
        if plan.compactClient {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                Self.compactLoop(baseURL: baseURL, into: flood)
            }
        }
        // The flood is on once the first event is acknowledged and, in compacting runs, once
        // the first compaction is done (on a busy machine that can take longer than the
        // earliest kill moment); the kill comes at a random moment after that.
        let scrape = CurlClient(baseURL: baseURL)
        while Date().timeIntervalSince(floodStarted) < 15 && process.isRunning {
            if flood.acknowledged.withLock({ !$0.isEmpty }) {
                if !plan.constantCompaction { break }
                if let text = try? scrape.get("/metrics").text, (metric("snapshotd_compactions_total", in: text) ?? 0) > 0 { break }
            }
            Thread.sleep(forTimeInterval: 0.002)
        }
        Thread.sleep(forTimeInterval: plan.killAfter)
        // The compaction counter as late as possible before the kill.
        let metrics = (try? scrape.get("/metrics").text) ?? ""
        check(process.isRunning, "the server died before the kill: \(process.stderrText.suffix(2000))")
        process.kill9()
        outcome.compactionInFlight = ToolTests.exists(path + ".compact")
        flood.stopped.store(true, ordering: .relaxed)
        let status = try process.waitForExit(timeout: 10)
        check(status == 128 + SIGKILL, "the server ended with \(status), not by SIGKILL")
        outcome.compactionsBeforeKill = Int(metric("snapshotd_compactions_total", in: metrics) ?? -1)
        if plan.constantCompaction {
            check(outcome.compactionsBeforeKill > 0, "no compaction before the kill (snapshotd_compactions_total \(outcome.compactionsBeforeKill))")
        }
        check(group.wait(timeout: .now() + 15) == .success, "the flood's clients did not stop")
        let acknowledged = flood.acknowledged.withLock { $0 }
        outcome.acknowledged = acknowledged.count
        check(!acknowledged.isEmpty, "nothing was acknowledged before the kill")
        let unexpected = flood.unexpected.withLock { $0 }
        check(unexpected.isEmpty, "answers other than 200 before the kill: \(unexpected.prefix(3))")

        // The file as the kill left it: clean, or clean but for a torn last record.
        let verify = try ToolTests.run(["verify", path])
        outcome.verifyStatus = verify.status
        let report = try ToolTests.inspect(path)
        outcome.tornTailBytes = report.torn_tail_bytes
        check(report.format == plan.format, "format \(report.format)")
        check(report.damaged.isEmpty, "damaged regions after the kill: \(report.damaged)")
        switch (verify.exited, verify.status) {
        case (true, 0):
            check(report.clean && report.torn_tail_bytes == 0, "verify exit 0 but inspect says \(report.damaged), torn \(report.torn_tail_bytes)")
        case (true, 1):
            check(report.torn_tail_bytes > 0, "verify exit 1 without a torn tail: \(verify)")
        default:
            check(false, "verify: \(verify)")
        }

        // Restart: every acknowledged event is there, the torn tail is gone, and so is the
        // compaction's temporary file.
        let (again, client, _) = try ServiceTests.start(path, plan.arguments)
        check(!ToolTests.exists(path + ".compact"), "\(path).compact left after the restart")
        let snapshot = try ServiceTests.snapshot(client)
        let alive = Set(snapshot.alive_nodes.map(\.name))
        let lost = acknowledged.filter { !alive.contains($0) }
        check(lost.isEmpty, "\(lost.count) of \(acknowledged.count) acknowledged events lost, e.g. \(lost.prefix(5))")
        check(alive == Set(report.alive_nodes.map(\.name)), "the server replayed \(alive.count) alive nodes, inspect \(report.alive_nodes.count)")
        let restarted = try client.get("/metrics").text
        check(metric("snapshotd_replay_torn_tail_bytes", in: restarted) == Double(report.torn_tail_bytes),
              "replay_torn_tail_bytes \(metric("snapshotd_replay_torn_tail_bytes", in: restarted) ?? -1), inspect \(report.torn_tail_bytes)")
        check(metric("snapshotd_replay_skipped_records", in: restarted) == 0, "replay skipped records")
        check(try ServiceTests.stop(again) == 0, "the restarted server did not stop cleanly: \(again.stderrText.suffix(2000))")
        let after = try ToolTests.run(["verify", path])
        check(after.exited && after.status == 0, "verify after the restart: \(after)")
    }

    @Test func kill9DuringFloodLosesNoAcknowledgedEvent() throws {
        print("CrashTests: seed \(Self.seed) (replay with SNAPSHOTD_CRASH_SEED=\(Self.seed)), \(Self.kills) kills")
        let started = Date()
        var passed = 0, torn = 0, inFlight = 0, acknowledged = 0
        for plan in Self.plans() {
            let outcome = Self.run(plan)
            if outcome.problems.isEmpty { passed += 1 }
            if outcome.tornTailBytes > 0 { torn += 1 }
            if outcome.compactionInFlight { inFlight += 1 }
            acknowledged += outcome.acknowledged
            print("CrashTests: \(plan): \(outcome.acknowledged) acknowledged, \(outcome.compactionsBeforeKill) compactions"
                + "\(outcome.compactionInFlight ? " (one in flight)" : ""), verify \(outcome.verifyStatus), torn tail \(outcome.tornTailBytes) bytes,"
                + " \(String(format: "%.2f", outcome.seconds)) s\(outcome.problems.isEmpty ? "" : ": FAILED")")
            #expect(outcome.problems.isEmpty, "\(plan): \(outcome.problems.joined(separator: "; "))")
        }
        print("CrashTests: \(passed)/\(Self.kills) kills passed; \(acknowledged) events acknowledged, \(torn) torn tails,"
            + " \(inFlight) kills during a compaction; seed \(Self.seed); \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        #expect(passed == Self.kills, "seed \(Self.seed)")
    }
}
