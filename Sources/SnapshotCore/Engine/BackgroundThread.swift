import Foundation
import Glibc

/// The engine's background work on a thread of its own, at a lower CPU priority than the writer
/// and the HTTP workers: on a small machine it competes with them for the cores, and it is the
/// work that can wait. On Linux a thread's scheduling policy and nice value are its own
/// (sched_setscheduler(2), setpriority(2) with 0: the calling thread).
enum BackgroundThread {
    enum Priority {
        /// SCHED_IDLE (nice 19 where refused): runs when nothing else wants the CPU, preempted
        /// at once when another thread wakes; still progresses on a busy machine, slower. For
        /// checkpoints, which nobody on the acknowledgement path waits for. Measured (make bench's
        /// checkpoint profile, wrk -c16 over 100,000 alive nodes, checkpoints back to back): at
        /// normal priority a checkpoint took half of snapshotd's CPU and durable POSTs fell from
        /// ~41,000/s to ~14,000/s (p99 0.6 to 7 ms); at SCHED_IDLE 33-38k/s, p99 2.2-3.6 ms.
        case idle
        /// nice 10: for work the writer may have to wait for (the next segment), which must not
        /// starve behind a busy CPU.
        case low
    }

    /// Linux's SCHED_IDLE (<sched.h>; not in the Glibc module).
    private static let scheduleIdle: Int32 = 5

    static func start(name: String, priority: Priority, _ work: @escaping @Sendable () -> Void) {
        let thread = Thread {
            switch priority {
            case .idle:
                var parameters = sched_param()
                if sched_setscheduler(0, scheduleIdle, &parameters) != 0 {
                    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
                }
            case .low:
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
            }
            work()
        }
        thread.name = name
        thread.start()
    }
}
