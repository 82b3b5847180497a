import Foundation
import Glibc

/// The engine's background work (checkpoints, segment preparation) on a thread of its own, at
/// a lower CPU priority than the writer and the HTTP workers: on a small machine the checkpoint
/// of a large state competes with them for the cores, and it is the one that can wait (the log
/// holds every record until it is done).
enum BackgroundThread {
    /// The nice value the thread runs at. On Linux the nice value is a thread's own, and
    /// setpriority(PRIO_PROCESS, 0, n) sets the calling thread's (setpriority(2), BUGS).
    static let niceness: Int32 = 10

    static func start(name: String, _ work: @escaping @Sendable () -> Void) {
        let thread = Thread {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
            work()
        }
        thread.name = name
        thread.start()
    }
}
