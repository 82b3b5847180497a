import Foundation
import Synchronization
@testable import SnapshotCore

/// A fresh directory under /tmp for one test.
func makeTemporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "snapshotd-test-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func readFile(_ path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
}

func member(_ name: String, _ addr: String = "127.0.0.1", _ port: UInt16 = 5000) -> Member {
    Member(name: name, address: IPAddress(addr) ?? IPAddress(bytes: [0, 0, 0, 0])!, port: port)
}

func join(_ members: Member..., ltime: UInt64? = nil) -> SnapshotEvent {
    .member(.join, members: members, ltime: ltime)
}

func failed(_ members: Member...) -> SnapshotEvent {
    .member(.failed, members: members, ltime: nil)
}

func user(_ ltime: UInt64) -> SnapshotEvent { .user(ltime: ltime, name: "bar", payload: [], coalesce: false) }
func query(_ ltime: UInt64) -> SnapshotEvent { .query(ltime: ltime, name: "uptime") }

/// Open file descriptors of this process that point into `directory`, from /proc (other
/// tests run in parallel, so only this test's own files are counted).
func openFileDescriptors(in directory: String) -> Int {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return fds.filter { fd in
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd)) ?? ""
        return target.hasPrefix(directory)
    }.count
}

func threadCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? -1
}

/// Collects what the engine reports, for assertions.
final class RecordingObserver: EngineObserver {
    struct Counts: Sendable {
        var accepted = 0
        var refused: [String: Int] = [:]
        var writes = 0
        var syncs = 0
        var compactions: [CompactionResult] = []
        var failures: [SnapshotError] = []
    }
    let counts = Mutex(Counts())
    func accepted(_ events: [SnapshotEvent]) { counts.withLock { $0.accepted += events.count } }
    func refused(count: Int, reason: SnapshotError) { counts.withLock { $0.refused[reason.reason.label, default: 0] += count } }
    func wrote(records: Int, bytes: Int, seconds: Double) { counts.withLock { $0.writes += 1 } }
    func synced(seconds: Double) { counts.withLock { $0.syncs += 1 } }
    func compacted(_ result: CompactionResult) { counts.withLock { $0.compactions.append(result) } }
    func failed(_ error: SnapshotError) { counts.withLock { $0.failures.append(error) } }
    var snapshot: Counts { counts.withLock { $0 } }
}

/// A file layer that holds every data sync until the test opens the gate: a disk as slow as
/// the test wants, without timing.
final class GatedFileIO: ForwardingFileIO {
    let base: any FileIO = POSIXFileIO()
    let gate = Mutex(false)
    let condition = NSCondition()
    let syncs = Mutex(0)

    func open() {
        condition.lock()
        gate.withLock { $0 = true }
        condition.broadcast()
        condition.unlock()
    }

    func dataSync(_ fd: Int32, path: String) throws(FileIOError) {
        condition.lock()
        while !gate.withLock({ $0 }) { condition.wait() }
        condition.unlock()
        syncs.withLock { $0 += 1 }
        try base.dataSync(fd, path: path)
    }

}

/// Waits (polling, bounded) until `condition` holds; returns whether it did.
func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        usleep(2000)
    }
    return condition()
}
