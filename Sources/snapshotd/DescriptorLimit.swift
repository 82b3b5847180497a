import Foundation
import Logging

/// The open-file limit (RLIMIT_NOFILE) against `--max-connections`. Each connection holds a
/// descriptor, and one that cannot be accepted waits in the listen backlog: a limit below what
/// `--max-connections` promises made clients hang. So at start the soft limit is raised to the
/// hard one (as Go's runtime and nginx's `worker_rlimit_nofile` do), and a `--max-connections`
/// the limit still cannot hold is lowered, with a warning.
enum DescriptorLimit {
    /// Descriptors kept for everything but connections: stdio, the listener, the snapshot and its
    /// compaction file and directory, Dispatch's epoll and event descriptors, and the connections
    /// being refused with 503 above `--max-connections` (at most
    /// `HTTPServerConfiguration.maxRejectedConnections`, 32).
    static let reserved = 64

    struct TooLow: Error, CustomStringConvertible {
        var limit: UInt64
        var description: String {
            "the open-file limit is \(limit), too low to serve: snapshotd keeps \(DescriptorLimit.reserved) descriptors "
                + "for itself plus one per connection (raise it with ulimit -n)"
        }
    }

    /// Raises the soft limit to the hard one; returns the limit in force afterwards (the old one
    /// when raising fails), and what it was before.
    static func raise() -> (before: UInt64, now: UInt64) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (.max, .max) }
        let before = UInt64(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return (before, UInt64(raised.rlim_cur)) }
        return (before, before)
    }

    /// The connections to serve: `requested`, or fewer when the limit (after raising it) cannot
    /// hold them, with a warning; throws when it cannot hold even one.
    static func connections(_ requested: Int, logger: Logger) throws -> Int {
        let (before, now) = raise()
        if now > before {
            logger.info("raised the open-file limit to the hard limit", metadata: ["from": "\(before)", "to": "\(now)"])
        }
        let capacity = now > UInt64(Int.max) ? Int.max : Int(now) - reserved
        guard capacity >= 1 else { throw TooLow(limit: now) }
        guard requested > capacity else { return requested }
        logger.warning("--max-connections \(requested) lowered to \(capacity): the open-file limit is \(now) and \(reserved) descriptors are kept for the snapshot, the listener and connections refused with 503; raise the hard limit (ulimit -Hn) to serve more")
        return capacity
    }
}
