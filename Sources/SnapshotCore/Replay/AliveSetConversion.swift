import Dispatch
import Foundation
import HashTreeCollections
import Synchronization

/// An alive table made a `TreeDictionary` on a thread of its own, while recovery goes on
/// replaying the log onto the table on the calling thread: with a large checkpoint, turning
/// its alive set into Strings and a persistent tree costs as much as decoding a million log
/// records (recovery's profile, 100,000 alive nodes: 28% of its instructions), and the two
/// need not wait for each other. `StateBuilder` then applies what the log changed
/// (`AliveTable.forEachChange(since:)`) to the tree.
///
/// At most one conversion fewer than the CPUs runs at a time (at least one): a store of many
/// large snapshots does not start a thread each; the others convert on the calling thread, as
/// before.
final class AliveSetConversion: Sendable {
    private let result = Mutex<TreeDictionary<String, String>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    private static let running = Atomic<Int>(0)
    private static let limit = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)

    private init() {}

    /// Starts converting `table`'s alive set; nil (nothing started) when as many conversions
    /// are running as the limit allows.
    static func start(_ table: AliveTable) -> AliveSetConversion? {
        var current = running.load(ordering: .relaxed)
        while true {
            guard current < limit else { return nil }
            let (exchanged, original) = running.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
        let conversion = AliveSetConversion()
        let thread = Thread {
            let nodes = table.aliveNodes()
            conversion.result.withLock { $0 = nodes }
            running.subtract(1, ordering: .releasing)
            conversion.done.signal()
        }
        thread.name = "snapshot-recovery-alive-set"
        thread.start()
        return conversion
    }

    /// The converted alive set (blocks until it is ready).
    func wait() -> TreeDictionary<String, String> {
        done.wait()
        done.signal()  // a second wait sees the same result
        guard let nodes = result.withLock({ $0 }) else { preconditionFailure("an alive-set conversion signalled without its result") }
        return nodes
    }
}
