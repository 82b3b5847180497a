import CEpoll
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A serial queue and the connections pinned to it, watched by one epoll instance.
///
/// Why: libdispatch on Linux turns every event of every source into a hand-off from its
/// manager thread (epoll, disarm, `ioctl(SIOCINQ)`, wake a worker, re-arm), so a read source
/// per connection pays that once per request. Here the pool's sockets sit in its own epoll
/// instance, level-triggered, and one Dispatch read source watches that instance's
/// descriptor: one wake-up of the queue takes up to `eventsPerTurn` ready sockets with one
/// non-blocking `epoll_wait`. Responses given on other threads come the same way: one inbox
/// and one user-data source for the whole pool, so a group commit that answers many
/// connections wakes each pool once. Dispatch still runs everything; nothing blocks.
///
/// Concurrency: the registry and the scratch buffers are touched only on `queue`; the inbox
/// is behind its mutex. Hence the `@unchecked Sendable`.
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
    private let events: UnsafeMutablePointer<epoll_event>
    private let readySource: any DispatchSourceRead
    /// Connections by descriptor; only registered ones.
    private var registered: [HTTPConnection?] = []

    private let inbox: Mutex<[(HTTPConnection, HTTPResponse, UInt64, HTTPResponder?)]>
    private let responsesArrived: any DispatchSourceUserDataAdd
    /// Set with each delivery: a turn over ready sockets takes the responses between two
    /// sockets rather than after its last (a long turn under a flood would hold them back).
    private let responsesWaiting = Atomic<Bool>(false)
    /// The inbox's contents while they are handed out (swapped with it: no allocation).
    private var arrived: [(HTTPConnection, HTTPResponse, UInt64, HTTPResponder?)] = []

    init(label: String) throws(HTTPServerError) {
        pollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard pollFD >= 0 else {
            throw HTTPServerError(message: "epoll_create1 failed: \(String(cString: strerror(errno)))")
        }
        queue = DispatchQueue(label: label, qos: .userInitiated)
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        events = .allocate(capacity: Int(Self.eventsPerTurn))
        readySource = DispatchSource.makeReadSource(fileDescriptor: pollFD, queue: queue)
        responsesArrived = DispatchSource.makeUserDataAddSource(queue: queue)
        var inbox: [(HTTPConnection, HTTPResponse, UInt64, HTTPResponder?)] = []
        inbox.reserveCapacity(64)
        self.inbox = Mutex(inbox)
        arrived.reserveCapacity(64)

        // The handlers keep the pool alive until `shutdown` cancels them (Dispatch then lets
        // go of them).
        let pollFD = pollFD
        readySource.setEventHandler { [self] in takeReadySockets() }
        readySource.setCancelHandler { close(pollFD) }
        responsesArrived.setEventHandler { [self] in takeArrivedResponses() }
        readySource.activate()
        responsesArrived.activate()
    }

    deinit {
        events.deallocate()
        readBuffer.deallocate()
    }

    /// Stops watching; the epoll descriptor is closed once Dispatch lets go of it. Called once
    /// no connection of the pool is open (the server has stopped).
    func shutdown() {
        readySource.cancel()
        responsesArrived.cancel()
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
        inbox.withLock { $0.append((connection, response, slot, responder)) }
        responsesWaiting.store(true, ordering: .releasing)
        responsesArrived.add(data: 1)
    }

    // MARK: - Turns (on `queue`)

    private func takeReadySockets() {
        let count = epoll_wait(pollFD, events, Self.eventsPerTurn, 0)
        guard count > 0 else { return }
        for index in 0..<Int(count) {
            let event = events[index]
            let fd = Int(event.data.fd)
            // A connection closed earlier in this turn is gone from the registry.
            guard fd < registered.count, let connection = registered[fd] else { continue }
            connection.socketReady(
                input: event.events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0,
                output: event.events & (EPOLLOUT.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
            )
            if responsesWaiting.load(ordering: .acquiring) { takeArrivedResponses() }
        }
    }

    /// Feeds every connection its responses, then lets each take one turn for all of them.
    private func takeArrivedResponses() {
        responsesWaiting.store(false, ordering: .relaxed)
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
