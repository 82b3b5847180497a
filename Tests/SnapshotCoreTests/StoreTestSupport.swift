import Dispatch
import Foundation
@testable import SnapshotCore

/// A snapshot name the test knows is valid.
func named(_ text: String) -> SnapshotName {
    guard let name = try? SnapshotName(text) else { preconditionFailure("not a snapshot name: \(text)") }
    return name
}

/// `async` forms of the store's completion calls, answering the `Result` itself so that a test
/// can look at refusals as values.
extension SnapshotStore {
    func create(_ snapshot: SnapshotName, options: SnapshotOptions = SnapshotOptions()) async -> Result<Bool, SnapshotError> {
        await withCheckedContinuation { continuation in
            create(snapshot, options: options) { continuation.resume(returning: $0) }
        }
    }

    func delete(_ snapshot: SnapshotName) async -> Result<Void, SnapshotError> {
        await withCheckedContinuation { continuation in
            delete(snapshot) { continuation.resume(returning: $0) }
        }
    }

    func submit(_ events: [SnapshotEvent], to snapshot: SnapshotName, creating: Bool = true,
                deadline: DispatchTime = .distantFuture) async -> Result<Acknowledgement, SnapshotError> {
        await withCheckedContinuation { continuation in
            submit(events, to: snapshot, creating: creating, deadline: deadline) { continuation.resume(returning: $0) }
        }
    }

    func leave(_ snapshot: SnapshotName) async -> Result<Acknowledgement, SnapshotError> {
        await withCheckedContinuation { continuation in
            leave(snapshot) { continuation.resume(returning: $0) }
        }
    }

    func rejoin(_ snapshot: SnapshotName) async -> Result<SnapshotState, SnapshotError> {
        await withCheckedContinuation { continuation in
            rejoin(snapshot) { continuation.resume(returning: $0) }
        }
    }

    func compact(_ snapshot: SnapshotName) async -> Result<CompactionResult, SnapshotError> {
        await withCheckedContinuation { continuation in
            compact(snapshot) { continuation.resume(returning: $0) }
        }
    }

    /// The state of `snapshot`, or nil when the store has none of that name.
    func state(of snapshot: SnapshotName) -> SnapshotState? { status(of: snapshot)?.state }

    /// Alive node names of `snapshot`, sorted.
    func alive(_ snapshot: SnapshotName) -> [String] {
        state(of: snapshot)?.aliveNodeList().map(\.name) ?? []
    }
}

extension Result {
    /// The failure, or nil on success: `#expect(result.failure == .conflict(...))` reads well.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }

    var succeeded: Bool {
        if case .success = self { return true }
        return false
    }
}

extension SnapshotError {
    /// The kind of error, without its message (conflict texts are for people).
    var kind: String { reason.label }
}

/// A store configuration for tests: fsync mode, no timer-driven work unless asked.
func storeConfiguration(_ configure: (inout EngineConfiguration) -> Void = { _ in }) -> EngineConfiguration {
    var configuration = EngineConfiguration()
    configuration.flushInterval = 3600
    configuration.compactionRetryInterval = 3600
    configuration.preparesSegmentsInBackground = false
    configure(&configuration)
    return configuration
}

func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

func directoryNames(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}
