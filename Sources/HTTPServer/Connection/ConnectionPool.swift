import CEpoll
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A serial queue, the connections pinned to it, and a thread of its own that waits for them.
///
/// Why: libdispatch on Linux turns every event of every source into a hand-off from its
/// manager thread (epoll, disarm, `ioctl(SIOCINQ)`, wake a worker, re-arm), and a user-data
/// source into a wake-up of a worker. Here the pool's sockets sit in its own epoll instance,
/// level-triggered, and the pool's thread (not a Dispatch worker: it is made to block there)
/// waits in `epoll_wait` and takes each batch of up to `eventsPerTurn` ready sockets in a turn
/// of `queue` that it runs itself (`sync` on an idle serial queue runs on the calling thread).
/// Responses given on other threads wake the same thread: one inbox for the whole pool and
/// one eventfd in its epoll set, written once for all the responses that arrive before the
/// thread takes them, so a group commit that answers many connections wakes each pool once.
/// One thread a pool reads, answers and writes, as an event loop does; Dispatch still runs the
/// queue (timers, `async` work, handlers that answer later) and nothing it owns blocks.
///
/// Concurrency: the registry and the scratch buffers are touched only on `queue`; the inbox
/// is behind its mutex, the flags are atomics. Hence the `@unchecked Sendable`.
final class ConnectionPool: @unchecked Sendable {
    /// Ready sockets taken per turn of the queue; more wait for the next turn (the level-
    /// triggered instance stays readable), so that no turn runs long.
    static let eventsPerTurn: Int32 = 64
    /// The socket reads land in, shared by the pool's connections (they never run at the same
    /// time, and none keeps a reference into it past the read that filled it), so that an
    /// idle connection holds no read buffer.
    static let readBufferSize = 64 * 1024

    let queue: DispatchQueue
    let readBuffer: UnsafeMutableRawBufferPointer

    private let pollFD: Int32
    /// In the epoll set: written when responses arrive in an empty inbox and by `shutdown`.
    private let wakeFD: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    /// Connections by descriptor; only registered ones.
    private var registered: [HTTPConnection?] = []

    private let inbox: Mutex<[(HTTPConnection, HTTPResponse, UInt64, HTTPResponder?)]>
    /// Set with each delivery, cleared before the inbox is taken: the first delivery after a
    /// take writes `wakeFD`, the rest need not. A turn over ready sockets also takes the
    /// responses between two sockets rather than after its last (a long turn under a flood
    /// would hold them back).
    private let responsesWaiting = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    /// The turn the pool's thread runs on `queue`, made once: `sync` with a closure allocates
    /// twice a call (measured with valgrind: 20,101 allocations for 10,000 calls, against 101
    /// with one work item run again and again, which Dispatch allows).
    private lazy var turn = DispatchWorkItem { [unowned self] in takeReadySockets(count: readyCount) }
    /// The ready events `turn` takes.
    private var readyCount = 0
    /// The inbox's contents while they are handed out (swapped with it: no allocation).
    private var arrived: [(HTTPConnection, HTTPResponse, UInt64, HTTPResponder?)] = []

    init(label: String) throws(HTTPServerError) {
        pollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard pollFD >= 0 else {
            throw HTTPServerError(message: "epoll_create1 failed: \(String(cString: strerror(errno)))")
        }
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        var wakeEvent = epoll_event()
        wakeEvent.events = EPOLLIN.rawValue
        wakeEvent.data.fd = wakeFD
        guard wakeFD >= 0, epoll_ctl(pollFD, EPOLL_CTL_ADD, wakeFD, &wakeEvent) == 0 else {
            let message = String(cString: strerror(errno))
            if wakeFD >= 0 { close(wakeFD) }
            close(pollFD)
            throw HTTPServerError(message: "eventfd failed: \(message)")
        }
        queue = DispatchQueue(label: label, qos: .userInitiated)
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        events = .allocate(capacity: Int(Self.eventsPerTurn))
        var inbox: [(HTTPConnection, HTTPResponse, UInt64, HTTPResponder?)] = []
        inbox.reserveCapacity(64)
        self.inbox = Mutex(inbox)
        arrived.reserveCapacity(64)
        // The thread keeps the pool alive until `shutdown` ends it. Should it fail to start,
        // the pool is fully made, so `deinit` lets go of its descriptors and buffers.
        try PollThread.start { [self] in waitForReadySockets() }
    }

    /// The descriptors close here, not when the thread ends: a responder answering late may
    /// still write `wakeFD`, and it holds the pool (through its connection) until then.
    deinit {
        close(wakeFD)
        close(pollFD)
        events.deallocate()
        readBuffer.deallocate()
    }

    /// Ends the pool's thread and drops what the inbox holds (and what arrives later). Called
    /// once no connection of the pool is open (the server has stopped).
    func shutdown() {
        stopping.store(true, ordering: .releasing)
        _ = eventfd_write(wakeFD, 1)
        inbox.withLock { $0.removeAll() }
    }

    // MARK: - Interest (on `queue`)

    /// Watches `fd` for input and/or output for `connection`, replacing what it watched;
    /// neither stops watching it (so that a hang-up it does not want cannot wake the queue).
    /// Returns false when epoll refuses (out of memory or descriptors).
    func watch(_ fd: Int32, input: Bool, output: Bool, for connection: HTTPConnection) -> Bool {
        dispatchPrecondition(condition: .onQueue(queue))
        let index = Int(fd)
        let known = index < registered.count && registered[index] != nil
        guard input || output else {
            if known { forget(fd) }
            return true
        }
        var event = epoll_event()
        event.events = (input ? EPOLLIN.rawValue : 0) | (output ? EPOLLOUT.rawValue : 0)
        event.data.fd = fd
        guard epoll_ctl(pollFD, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &event) == 0 else { return false }
        if index >= registered.count {
            registered.append(contentsOf: repeatElement(nil, count: max(index + 1, registered.count * 2) - registered.count))
        }
        registered[index] = connection
        return true
    }

    /// Stops watching `fd` (before it is closed).
    func forget(_ fd: Int32) {
        dispatchPrecondition(condition: .onQueue(queue))
        let index = Int(fd)
        guard index < registered.count, registered[index] != nil else { return }
        registered[index] = nil
        _ = epoll_ctl(pollFD, EPOLL_CTL_DEL, fd, nil)
    }

    // MARK: - Responses from other threads

    /// Called by a responder from any thread.
    func deliver(_ response: HTTPResponse, slot: UInt64, to connection: HTTPConnection, from responder: HTTPResponder?) {
        let taken = inbox.withLock { inbox in
            // After `shutdown` nothing takes the inbox, and what it held would keep its
            // connection, and so the pool, alive.
            guard !stopping.load(ordering: .acquiring) else { return false }
            inbox.append((connection, response, slot, responder))
            return true
        }
        if taken, !responsesWaiting.exchange(true, ordering: .acquiringAndReleasing) {
            _ = eventfd_write(wakeFD, 1)
        }
    }

    // MARK: - The pool's thread

    /// Waits for ready sockets and arrived responses and takes each batch in a turn of
    /// `queue`, run right here, until `shutdown`.
    private func waitForReadySockets() {
        while true {
            let count = epoll_wait(pollFD, events, Self.eventsPerTurn, -1)
            if count < 0 {
                if errno == EINTR { continue }
                // EBADF, EFAULT, EINVAL: nothing left to wait on (never seen; not for input).
                break
            }
            if (0..<Int(count)).contains(where: { events[$0].data.fd == wakeFD }) {
                var value: eventfd_t = 0
                _ = eventfd_read(wakeFD, &value)
                if stopping.load(ordering: .acquiring) { break }
            }
            readyCount = Int(count)
            queue.sync(execute: turn)
        }
    }

    // MARK: - Turns (on `queue`)

    private func takeReadySockets(count: Int) {
        for index in 0..<count {
            let event = events[index]
            let fd = Int(event.data.fd)
            // A connection closed earlier in this turn is gone from the registry (and the
            // wake-up descriptor was never in it).
            guard fd < registered.count, let connection = registered[fd] else { continue }
            connection.socketReady(
                input: event.events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0,
                output: event.events & (EPOLLOUT.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
            )
            if responsesWaiting.load(ordering: .acquiring) { takeArrivedResponses() }
        }
        if responsesWaiting.load(ordering: .acquiring) { takeArrivedResponses() }
    }

    /// Feeds every connection its responses, then lets each take one turn for all of them.
    private func takeArrivedResponses() {
        responsesWaiting.store(false, ordering: .releasing)
        inbox.withLock { swap(&$0, &arrived) }
        defer { arrived.removeAll(keepingCapacity: true) }
        for (connection, response, slot, responder) in arrived {
            connection.responseArrived(response, slot: slot, from: responder)
        }
        for (connection, _, _, _) in arrived {
            connection.finishTurn()
        }
    }
}
