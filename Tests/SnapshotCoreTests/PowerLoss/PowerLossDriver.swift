import Dispatch
import Foundation
import Synchronization
@testable import SnapshotCore

/// What a run of a workload did, as the oracle needs it: every submission and leave with its
/// answer, and the state each engine session replayed when it opened.
struct PowerLossHistory: Sendable {
    enum Outcome: Sendable, Equatable {
        /// Completed with success: its records were on disk (fdatasync) before the answer.
        case acknowledged
        /// Failed because the power went: its records may or may not have reached the disk.
        case failed
        /// Refused without a write (after a leave).
        case refused
    }

    enum Entry: Sendable {
        case events([SnapshotEvent], Outcome)
        case leave(Outcome)
        /// An engine opened and replayed this state.
        case opened(SnapshotState)
    }

    /// What the disk held when the run began (a crashed disk: the state its recovery found).
    var initial = SnapshotState()
    var entries: [Entry] = []
    /// Failures the power loss does not explain.
    var unexpected: [String] = []

    var acknowledgedEvents: Int {
        entries.reduce(0) { count, entry in
            if case .events(let events, .acknowledged) = entry { return count + events.count }
            return count
        }
    }
}

/// Runs a workload against the real `SnapshotEngine` on a `PageCacheFileSystem`, one step at
/// a time (each waits for its answer), and, for one crash point, checks what a fresh engine
/// recovers from the crashed disk.
enum PowerLossDriver {
    /// POWERLOSS_TRACE=1 prints each step with the calls made before it.
    static let trace = ProcessInfo.processInfo.environment["POWERLOSS_TRACE"] != nil
    /// How long any answer may take before the run stops with a message (instead of hanging).
    static let patience: Double = 60
    struct Crash: Sendable {
        var plan: PageCacheFileSystem.CrashPlan
        var call: String
        var killedCall: String?
        var history: PowerLossHistory
        var recovered: SnapshotState?
        var verdict: PowerLossOracle.Verdict

        var failed: Bool { !verdict.violations.isEmpty }

        var summary: String {
            (killedCall.map { "killed at \($0), then " } ?? "") + "crash at \(call) (crash seed \(plan.seed)): "
                + verdict.violations.joined(separator: "; ")
                + " [\(history.acknowledgedEvents) events acknowledged; recovered \(recovered.map(describe) ?? "nothing")]"
        }
    }

    /// A file layer put between the engine and the disk (a bug or a fault).
    typealias Layer = (any FileIO) -> any FileIO

    /// Runs `workload` on `fs` until its end or the crash, with `layer` (if any) between them.
    static func run(_ workload: PowerLossWorkload, on fs: PageCacheFileSystem, from initial: SnapshotState = SnapshotState(),
                    between layer: Layer? = nil) -> PowerLossHistory {
        var history = PowerLossHistory()
        history.initial = initial
        var leaving = false
        let io: any FileIO = layer?(fs) ?? fs

        func open() -> (SnapshotEngine, CompactionGate)? {
            while true {
                let gate = CompactionGate(base: io)
                var configuration = workload.configuration
                configuration.io = gate
                do {
                    let engine = try SnapshotEngine(path: PowerLossWorkload.path, configuration: configuration)
                    history.entries.append(.opened(engine.status.state))
                    leaving = engine.status.state.leaving
                    return (engine, gate)
                } catch {
                    if fs.isKilled {
                        fs.restart()  // killed while opening: the next process opens again
                        continue
                    }
                    if !fs.hasCrashed { history.unexpected.append("open failed without a crash: \(error)") }
                    return nil
                }
            }
        }

        guard let first = open() else { return history }
        var (engine, gate) = first
        steps: for (index, step) in workload.steps.enumerated() {
            if trace { FileHandle.standardError.write(Data("step \(index) \(step) calls \(fs.mutatingCalls)\n".utf8)) }
            switch step {
            case .submit(let events):
                let result = wait { engine.submit(events, completion: $0) }
                let answer = outcome(result, fs, &history)
                history.entries.append(.events(events, answer))
            case .leave:
                let result = wait { engine.leave(completion: $0) }
                let answer = outcome(result, fs, &history)
                history.entries.append(.leave(answer))
                if answer == .acknowledged { leaving = true }
            case .compact:
                let answer = Mutex<Result<CompactionResult, SnapshotError>?>(nil)
                let done = DispatchSemaphore(value: 0)
                engine.compact { [gate] result in
                    answer.withLock { $0 = result }
                    gate.poke()
                    done.signal()
                }
                // The compaction this joins (one the engine started on its own may be waiting at
                // the gate) is known only once the writer has taken the request: a barrier behind
                // it (an empty submission, one fdatasync; a repeated leave, no call, once leaving)
                // says so. Released earlier, that compaction could finish before the request is
                // taken, which would then start another.
                if leaving {
                    _ = wait { engine.leave(completion: $0) }
                } else {
                    _ = wait { engine.submit([], completion: $0) }
                }
                if gate.waitForCompactor(unless: { answer.withLock { $0 != nil } }) { gate.release() }
                waitFor(done, "a compaction")
                if case .failure(let error)? = answer.withLock({ $0 }), !fs.isDown, !(io is any InjectsFaults) {
                    history.unexpected.append("compaction failed without a crash: \(error)")
                }
            case .reopen:
                gate.openForGood()
                close(engine)
                guard let next = open() else { break steps }
                (engine, gate) = next
            }
            if fs.hasCrashed { break }
            if fs.isKilled {
                // kill -9: the process is gone; a new one opens the file and goes on with the
                // next step (the page cache, and so every write made, is kept).
                gate.openForGood()
                close(engine)
                fs.restart()
                guard let next = open() else { break }
                (engine, gate) = next
            }
        }
        gate.openForGood()
        close(engine)
        return history
    }

    /// Crashes a run of `workload` at `plan` and checks the recovery. The run starts on an
    /// empty disk, or on `disk` (a crashed one, whose recovery found `initial`).
    static func crash(_ workload: PowerLossWorkload, at plan: PageCacheFileSystem.CrashPlan,
                      on disk: (image: DiskImage, initial: SnapshotState)? = nil, between layer: Layer? = nil) -> Crash {
        let fs = disk.map { PageCacheFileSystem(image: $0.image, crash: plan) } ?? PageCacheFileSystem(crash: plan)
        let history = run(workload, on: fs, from: disk?.initial ?? SnapshotState(), between: layer)
        let images = fs.powerOff(seed: plan.seed)
        let call = fs.crashedCall ?? "?"
        var verdict = PowerLossOracle.Verdict()
        verdict.violations += history.unexpected
        var recovered: SnapshotState?
        for (index, image) in images.enumerated() {
            let tag = images.count > 1 ? "disk \(index + 1) of \(images.count): " : ""
            do {
                let state = try recover(image, workload)
                recovered = recovered ?? state
                var check = PowerLossOracle.check(history, recovered: state)
                check.violations = check.violations.map { tag + $0 }
                check.lostAcknowledged = check.lostAcknowledged.map { tag + $0 }
                verdict.merge(check)
            } catch {
                verdict.violations.append(tag + "the crashed disk does not open: \(error)")
            }
        }
        return Crash(plan: plan, call: call, killedCall: fs.killedCall, history: history, recovered: recovered, verdict: verdict)
    }

    /// Opens the crashed disk with a fresh engine on a file system that does not crash, and
    /// checks that what the engine repaired at open leaves a clean file.
    static func recover(_ image: DiskImage, _ workload: PowerLossWorkload) throws -> SnapshotState {
        let fs = PageCacheFileSystem(image: image)
        var configuration = workload.configuration
        configuration.io = fs
        let engine = try SnapshotEngine(path: PowerLossWorkload.path, configuration: configuration)
        let state = engine.status.state
        close(engine)
        // A clean close checkpoints everything and empties the log: the file alone is the snapshot.
        let (again, report) = try SnapshotReplayer(io: fs, rejoinAfterLeave: false).replay(path: PowerLossWorkload.path)
        let (stored, _, log) = try StoreReplayer(io: fs).replay(path: PowerLossWorkload.path)
        guard report.isClean, again == state, stored == state, log.segmentCount == 0 else {
            throw RecoveryError(description: "after the open the file replays \(describe(again)) with \(report), the store "
                + "\(describe(stored)) with \(log.segmentCount) segments left")
        }
        return state
    }

    struct RecoveryError: Error, CustomStringConvertible {
        var description: String
    }

    private static func outcome(_ result: Result<Acknowledgement, SnapshotError>, _ fs: PageCacheFileSystem,
                                _ history: inout PowerLossHistory) -> PowerLossHistory.Outcome {
        switch result {
        case .success: return .acknowledged
        case .failure(.leaving): return .refused
        case .failure(let error):
            if !fs.isDown { history.unexpected.append("a submission failed without a crash: \(error)") }
            return .failed
        }
    }

    /// Starts a call that answers through a completion, and waits for the answer.
    private static func wait<T: Sendable>(_ start: (@escaping @Sendable (T) -> Void) -> Void) -> T {
        let answer = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        start { value in
            answer.withLock { $0 = value }
            done.signal()
        }
        waitFor(done, "a submission or leave")
        guard let value = answer.withLock({ $0 }) else { preconditionFailure("answered without a value") }
        return value
    }

    private static func close(_ engine: SnapshotEngine) {
        let done = DispatchSemaphore(value: 0)
        engine.close { done.signal() }
        waitFor(done, "a close")
    }

    /// Waits for `done`; a hang would cost CI its whole time, so after `patience` it stops with a message.
    private static func waitFor(_ done: DispatchSemaphore, _ what: String) {
        if done.wait(timeout: .now() + patience) == .timedOut {
            preconditionFailure("power-loss driver: \(what) was not answered within \(patience) s")
        }
    }
}

/// A state in a line: alive nodes, clocks, leaving.
func describe(_ state: SnapshotState) -> String {
    let alive = state.aliveNodeList().map { "\($0.name)@\($0.address)" }.joined(separator: ",")
    return "{alive [\(alive)] clock \(state.lastClock) event \(state.lastEventClock) query \(state.lastQueryClock)"
        + (state.leaving ? " leaving}" : "}")
}
