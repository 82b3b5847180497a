import Dispatch
import Foundation
import Synchronization
@testable import SnapshotCore

/// A power-loss workload over many named snapshots of one `SnapshotStore`: creates, first
/// writes that create, events, leaves, deletes (some while a checkpoint of the snapshot is in
/// flight), recreates of deleted names, compactions, reopens.
struct StorePowerLossWorkload: Sendable {
    enum Step: Sendable {
        case create(String, SnapshotOptions)
        case submit(String, [SnapshotEvent])
        case leave(String)
        case delete(String)
        case compact(String)
        case reopen
    }

    static let directory = "/data"
    static var layout: StoreLayout { StoreLayout(dataDirectory: directory) }

    var name: String
    var steps: [Step]

    var configuration: EngineConfiguration {
        var configuration = EngineConfiguration()
        configuration.segmentSize = 1024  // cut often: old segments go with checkpoints
        configuration.preparesSegmentsInBackground = false
        // Recovery replays the log in parts of a few records (`ChunkedLogReplay`) at every crash point.
        configuration.recoveryPartMinimum = 128
        configuration.recoveryThreads = 2  // in parts on any machine
        // And the checkpoint of `default` beside them, when it is v2 (`StoreRecovery`).
        configuration.recoveryParallelCheckpointMinimum = 0
        configuration.durability = .fsync
        configuration.minCompactSize = 256  // rounds start on their own too
        configuration.flushInterval = 3600  // nothing timer-driven
        configuration.compactionRetryInterval = 3600
        return configuration
    }

    static func standard() -> StorePowerLossWorkload {
        func node(_ name: String, _ last: Int) -> Member {
            Member(name: name, address: IPAddress("10.0.0.\(last)") ?? IPAddress(bytes: [0, 0, 0, 0])!, port: 7946)
        }
        let v1 = SnapshotOptions(format: .v1, rejoinAfterLeave: true), v2 = SnapshotOptions(format: .v2)
        let ticks: (UInt64) -> [SnapshotEvent] = { start in
            (start..<(start + 20)).map { .user(ltime: $0, name: "tick", payload: [], coalesce: false) }
        }
        return StorePowerLossWorkload(name: "store", steps: [
            .create("a", v1),
            .create("b", v2),
            .submit("a", [.member(.join, members: [node("x", 1), node("y", 2)], ltime: 3)]),
            .submit("b", [.member(.join, members: [node("p", 3)], ltime: 7), .query(ltime: 4, name: "q")]),
            .submit("default", [.member(.join, members: [node("d", 4)], ltime: nil)]),
            .submit("c", [.member(.join, members: [node("c1", 5)], ltime: 2)]),  // created by its first write
            .compact("a"),
            .submit("a", ticks(10)),  // past the threshold: a round starts (held at the gate)
            .submit("b", [.member(.failed, members: [node("p", 3)], ltime: nil), .member(.join, members: [node("p2", 6)], ltime: nil)]),
            .delete("b"),
            .submit("b", [.member(.join, members: [node("b-new", 7)], ltime: 1)]),  // a new b, default options
            .create("d", v1),
            .submit("c", ticks(40)),  // a round of c
            .delete("c"),  // while c's checkpoint may be in flight
            .leave("a"),
            .submit("a", [.member(.join, members: [node("late", 8)], ltime: nil)]),  // refused: leaving
            .compact("default"),
            .reopen,
            .submit("a", [.member(.join, members: [node("x3", 9)], ltime: nil)]),  // a new life
            .create("c", v2),
            .submit("c", [.member(.join, members: [node("c2", 10)], ltime: nil)]),
            .compact("c"),
            .submit("d", ticks(60)),
            .delete("d"),
            .submit("default", ticks(80)),
            .compact("b"),
            .reopen,
            // Everything checkpointed by the close: two creates, then a batch that cuts a segment,
            // and a round of default alone and the catalog, whose segments then go (the creates
            // are in the catalog file alone).
            .create("f", v2),
            .create("g", v1),
            .submit("default", (100..<180).map { .user(ltime: $0, name: "tick", payload: [], coalesce: false) }),
            .compact("default"),
            .submit("f", [.member(.join, members: [node("f1", 12)], ltime: nil)]),
            .delete("a"),
            .submit("e", [.member(.join, members: [node("e1", 11)], ltime: nil)]),
        ])
    }
}

/// The store as acknowledged answers say it is: per name, its options and the state a replay of
/// the records the writer wrote for it gives (`PowerLossOracle`'s rule, per snapshot).
struct StoreModel: Sendable, Equatable {
    struct Snapshot: Sendable, Equatable {
        var options: SnapshotOptions
        /// The writer's state and clock (they decide the records) and the replay of those records.
        var memory = SnapshotState()
        var clock = LamportClock()
        var replayed = SnapshotState()
    }

    var snapshots: [String: Snapshot] = ["default": Snapshot(options: SnapshotOptions())]

    func applying(_ events: [SnapshotEvent], to name: String, defaults: SnapshotOptions) -> [StoreModel] {
        var model = self
        var snapshot = snapshots[name] ?? Snapshot(options: defaults)
        var prefixes: [StoreModel] = []
        if snapshots[name] != nil { prefixes.append(self) }
        model.snapshots[name] = snapshot
        prefixes.append(model)  // the create record alone
        var memory = snapshot.memory, clock = snapshot.clock, replayed = snapshot.replayed
        let rejoinAfterLeave = snapshot.options.rejoinAfterLeave
        for event in events {
            memory.apply(event, clock: &clock) { record in
                replayed.replay(record, rejoinAfterLeave: rejoinAfterLeave)
                model.snapshots[name]?.replayed = replayed
                prefixes.append(model)
            }
        }
        snapshot.memory = memory
        snapshot.clock = clock
        snapshot.replayed = replayed
        model.snapshots[name] = snapshot
        if prefixes.last != model { prefixes.append(model) }
        return prefixes
    }

    func leaving(_ name: String) -> StoreModel {
        var model = self
        guard var snapshot = snapshots[name], !snapshot.memory.leaving else { return self }
        snapshot.memory.leaving = true
        if !snapshot.options.rejoinAfterLeave { snapshot.memory.aliveNodes = [:] }
        snapshot.replayed.replay(.leave, rejoinAfterLeave: snapshot.options.rejoinAfterLeave)
        model.snapshots[name] = snapshot
        return model
    }

    /// After a reopen: each snapshot as replayed, not leaving, its clock from the replay.
    func reopened() -> StoreModel {
        var model = self
        for (name, snapshot) in snapshots {
            var clock = LamportClock()
            clock.witness(snapshot.replayed.lastClock)
            model.snapshots[name] = Snapshot(options: snapshot.options, memory: snapshot.replayed, clock: clock,
                                             replayed: snapshot.replayed)
        }
        return model
    }

    /// What a store holds: name to options and state.
    var view: [String: StoreView] { snapshots.mapValues { StoreView(options: $0.options, state: $0.replayed) } }
}

struct StoreView: Sendable, Equatable, CustomStringConvertible {
    var options: SnapshotOptions
    var state: SnapshotState
    var description: String { "\(options.format)\(options.rejoinAfterLeave ? "+rejoin" : "") \(describe(state))" }
}

func describe(_ view: [String: StoreView]) -> String {
    view.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
}

/// Runs a store workload on a `PageCacheFileSystem`, one step at a time, and checks what a fresh
/// store recovers from the crashed disk: every acknowledged create, delete, event and leave, and
/// of the operation the crash cut off all, some or none; nothing else.
enum StorePowerLossDriver {
    struct Crash: Sendable {
        var plan: PageCacheFileSystem.CrashPlan
        var call: String
        var violations: [String]
        var failed: Bool { !violations.isEmpty }
        var summary: String { "crash at \(call) (seed \(plan.seed)): " + violations.joined(separator: "; ") }
    }

    /// The outcome of a run: the model of what was acknowledged, and the states allowed after
    /// a crash now (the in-flight operation's possible effects).
    struct History: Sendable {
        var model = StoreModel()
        var allowed: [StoreModel] = [StoreModel()]
        var unexpected: [String] = []
        var acknowledged = 0
    }

    static func run(_ workload: StorePowerLossWorkload, on fs: PageCacheFileSystem,
                    between layer: PowerLossDriver.Layer? = nil) -> History {
        var history = History()
        let io: any FileIO = layer?(fs) ?? fs
        let defaults = SnapshotOptions(format: workload.configuration.format, rejoinAfterLeave: workload.configuration.rejoinAfterLeave)

        func open() -> (SnapshotStore, CompactionGate)? {
            let gate = CompactionGate(base: io)
            var configuration = workload.configuration
            configuration.io = gate
            do {
                let store = try SnapshotStore(layout: StorePowerLossWorkload.layout, configuration: configuration)
                let found = view(of: store)
                if found != history.model.view {
                    history.unexpected.append("a store opened on {\(describe(found))}, expected {\(describe(history.model.view))}")
                }
                if !store.report.unexplainedFiles.isEmpty { history.unexpected.append("unexplained files \(store.report.unexplainedFiles)") }
                return (store, gate)
            } catch {
                if !fs.hasCrashed { history.unexpected.append("open failed without a crash: \(error)") }
                return nil
            }
        }

        /// Settles an answer: acknowledged moves the model, a failure from the crash allows
        /// `possible`, any other failure is unexpected.
        func settle<T>(_ result: Result<T, SnapshotError>, _ what: String, to next: StoreModel, possible: [StoreModel]) {
            switch result {
            case .success:
                history.model = next
                history.allowed = [next]
                history.acknowledged += 1
            case .failure(let error):
                if fs.isDown {
                    history.allowed = possible
                } else {
                    history.unexpected.append("\(what) failed without a crash: \(error)")
                }
            }
        }

        guard var (store, gate) = open() else { return history }
        steps: for step in workload.steps {
            let model = history.model
            switch step {
            case .create(let name, let options):
                let result = wait { store.create(named(name), options: options, completion: $0) }
                if model.snapshots[name] != nil {
                    if case .success(let created) = result, created { history.unexpected.append("create \(name) created an existing one") }
                } else {
                    var next = model
                    next.snapshots[name] = StoreModel.Snapshot(options: options)
                    settle(result, "create \(name)", to: next, possible: [model, next])
                }
            case .submit(let name, let events):
                let result = wait { store.submit(events, to: named(name), completion: $0) }
                let prefixes = model.applying(events, to: name, defaults: defaults)
                if model.snapshots[name]?.memory.leaving == true {
                    if result.failure != .leaving { history.unexpected.append("submit to \(name) after its leave: \(result)") }
                } else {
                    settle(result, "submit to \(name)", to: prefixes.last ?? model, possible: [model] + prefixes)
                }
            case .leave(let name):
                let result = wait { store.leave(named(name), completion: $0) }
                let next = model.leaving(name)
                settle(result, "leave \(name)", to: next, possible: [model, next])
            case .delete(let name):
                let answer = Mutex<Result<Void, SnapshotError>?>(nil)
                let done = DispatchSemaphore(value: 0)
                store.delete(named(name)) { [gate] result in
                    answer.withLock { $0 = result }
                    gate.poke()
                    done.signal()
                }
                // A delete of a snapshot in the round in flight waits for it: once the writer has
                // taken the delete (a barrier behind it), let the held round go.
                _ = wait { store.submit([], to: .default, completion: $0) }
                while answer.withLock({ $0 == nil }) {
                    if gate.waitForCompactor(unless: { answer.withLock { $0 != nil } }) { gate.releaseOne() }
                }
                waitFor(done)
                var next = model
                next.snapshots[name] = nil
                settle(answer.withLock { $0 } ?? .failure(.closed), "delete \(name)", to: next, possible: [model, next])
            case .compact(let name):
                let answer = Mutex<Result<CompactionResult, SnapshotError>?>(nil)
                let done = DispatchSemaphore(value: 0)
                store.compact(named(name)) { [gate] result in
                    answer.withLock { $0 = result }
                    gate.poke()
                    done.signal()
                }
                _ = wait { store.submit([], to: .default, completion: $0) }
                // Rounds run one at a time, each held at the gate: let each go until this one answers.
                while answer.withLock({ $0 == nil }) {
                    if gate.waitForCompactor(unless: { answer.withLock { $0 != nil } }) { gate.releaseOne() }
                }
                waitFor(done)
                if case .failure(let error)? = answer.withLock({ $0 }), !fs.isDown {
                    history.unexpected.append("compact \(name) failed without a crash: \(error)")
                }
            case .reopen:
                gate.openForGood()
                close(store)
                guard let next = open() else { break steps }
                (store, gate) = next
                history.model = history.model.reopened()
                history.allowed = [history.model]
            }
            if fs.hasCrashed { break }
        }
        gate.openForGood()
        close(store)
        return history
    }

    static func crash(_ workload: StorePowerLossWorkload, at plan: PageCacheFileSystem.CrashPlan,
                      between layer: PowerLossDriver.Layer? = nil) -> Crash {
        let fs = PageCacheFileSystem(crash: plan)
        let history = run(workload, on: fs, between: layer)
        let images = fs.powerOff(seed: plan.seed)
        var violations = history.unexpected
        let allowed = history.allowed.map(\.view)
        for (index, image) in images.enumerated() {
            let tag = images.count > 1 ? "disk \(index + 1) of \(images.count): " : ""
            do {
                let found = try recover(image, workload)
                if !allowed.contains(found) {
                    violations.append(tag + "recovered {\(describe(found))}, expected one of "
                        + allowed.map { "{\(describe($0))}" }.joined(separator: " or "))
                }
            } catch {
                violations.append(tag + "the crashed disk does not open: \(error)")
            }
        }
        return Crash(plan: plan, call: fs.crashedCall ?? "?", violations: violations)
    }

    /// Opens the crashed disk, closes it, opens it again: both opens must find the same store
    /// and nothing unexplained; a clean close leaves no segment.
    static func recover(_ image: DiskImage, _ workload: StorePowerLossWorkload) throws -> [String: StoreView] {
        let fs = PageCacheFileSystem(image: image)
        var configuration = workload.configuration
        configuration.io = fs
        let store = try SnapshotStore(layout: StorePowerLossWorkload.layout, configuration: configuration)
        let found = view(of: store)
        let unexplained = store.report.unexplainedFiles
        close(store)
        let again = try SnapshotStore(layout: StorePowerLossWorkload.layout, configuration: configuration)
        let second = view(of: again)
        let segments = again.report.log.segmentCount
        close(again)
        guard unexplained.isEmpty, second == found, segments == 0 else {
            throw PowerLossDriver.RecoveryError(description: "first open {\(describe(found))} unexplained \(unexplained); "
                + "after a close {\(describe(second))} with \(segments) segments")
        }
        return found
    }

    static func view(of store: SnapshotStore) -> [String: StoreView] {
        var view: [String: StoreView] = [:]
        for name in store.names {
            guard let options = store.options(of: name), let state = store.state(of: name) else { continue }
            var replayedForm = state
            replayedForm.leaving = false
            view[name.rawValue] = StoreView(options: options, state: replayedForm)
        }
        return view
    }

    private static func wait<T: Sendable>(_ start: (@escaping @Sendable (T) -> Void) -> Void) -> T {
        let answer = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        start { value in
            answer.withLock { $0 = value }
            done.signal()
        }
        waitFor(done)
        guard let value = answer.withLock({ $0 }) else { preconditionFailure("answered without a value") }
        return value
    }

    private static func close(_ store: SnapshotStore) {
        let done = DispatchSemaphore(value: 0)
        store.close { done.signal() }
        waitFor(done)
    }

    private static func waitFor(_ done: DispatchSemaphore) {
        if done.wait(timeout: .now() + PowerLossDriver.patience) == .timedOut {
            preconditionFailure("store power-loss driver: no answer within \(PowerLossDriver.patience) s")
        }
    }
}
