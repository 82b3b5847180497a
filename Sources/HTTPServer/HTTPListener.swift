import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine behind `HTTPServer`: owns the listening socket, accepts connections, keeps the
/// registry of open connections and runs the graceful stop.
///
/// Concurrency: all mutable state is confined to the serial `queue` (accept source handlers
/// run there, and connections report their close through `queue.async`); the connection count
/// is mirrored in an atomic for `HTTPServer.openConnections`. Hence the `@unchecked Sendable`.
final class HTTPListener: @unchecked Sendable {
    let queue = DispatchQueue(label: "HTTPServer.listener")
    private let configuration: HTTPServerConfiguration
    private let hooks: HTTPServerHooks
    private let handler: HTTPHandler

    /// Connection pools (`HTTPServerConfiguration.connectionPools`), each a serial queue with
    /// its own epoll instance and thread, and each connection is pinned to one of them (round
    /// robin). A connection's state is confined to its pool's queue, so it needs no lock.
    /// Measured against one serial queue per connection (each targeting a concurrent queue), a
    /// few shared queues cost less CPU per request: on Linux every Dispatch source event is a
    /// hand-off between threads, and a pool's thread takes all its ready sockets without one
    /// (see `ConnectionPool`). Nothing is created per request. The price: a handler that runs
    /// long on the queue (it should not; it can park the request and respond later) delays the
    /// other connections of its pool.
    /// Made by `start`.
    private var pools: [ConnectionPool] = []
    private var nextPool = 0

    private enum State {
        case idle, running, stopping, stopped
    }

    private var state = State.idle
    private var fd: Int32 = -1
    private var acceptSource: (any DispatchSourceRead)?
    private var acceptSuspended = false
    private var listenerClosed = false
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    /// Served (not rejected) connections.
    private var servedCount = 0
    /// Connections being answered 503 because of `maxConnections`, not closed yet.
    private var rejectedCount = 0
    private let servedCountMirror = Atomic<Int>(0)
    private var stopCompletions: [@Sendable () -> Void] = []

    init(configuration: HTTPServerConfiguration, hooks: HTTPServerHooks, handler: @escaping HTTPHandler) {
        self.configuration = configuration
        self.hooks = hooks
        self.handler = handler
    }

    var openConnections: Int { servedCountMirror.load(ordering: .relaxed) }

    // MARK: - Start

    /// Binds and listens; called on `queue`.
    func start() throws(HTTPServerError) -> (host: String, port: UInt16) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard state == .idle else {
            throw HTTPServerError(message: state == .running ? "the server is already running" : "a stopped server cannot be restarted")
        }
        let bound = try Socket.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        let count = max(1, configuration.connectionPools ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        do {
            for index in 0..<count {
                pools.append(try ConnectionPool(label: "HTTPServer.connections.\(index)"))
            }
        } catch {
            close(bound.fd)
            pools.forEach { $0.shutdown() }
            pools = []
            throw error
        }
        fd = bound.fd
        let source = DispatchSource.makeReadSource(fileDescriptor: bound.fd, queue: queue)
        source.setEventHandler { [self] in acceptReady() }
        source.setCancelHandler { [self] in
            close(fd)
            fd = -1
            listenerClosed = true
            acceptSource = nil
            finishStopIfDone()
        }
        acceptSource = source
        state = .running
        source.activate()
        return (bound.host, bound.port)
    }

    // MARK: - Accepting

    private func acceptReady() {
        guard state == .running else { return }
        for _ in 0..<64 {
            if servedCount >= configuration.maxConnections && rejectedCount >= configuration.maxRejectedConnections {
                // Refusing more would hold more descriptors: leave them in the backlog until a
                // connection closes (or for a moment).
                pauseAccepting()
                return
            }
            let (client, peer) = Socket.accept(fd)
            if client < 0 {
                let code = errno
                switch code {
                case EAGAIN, EWOULDBLOCK:
                    return
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EPERM:
                    hooks.acceptFailed?(code)
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: the pending connection would make the
                    // source fire in a loop; pause accepting for a moment.
                    hooks.acceptFailed?(code)
                    pauseAccepting()
                    return
                default:
                    hooks.acceptFailed?(code)
                    return
                }
            }
            Socket.setNoDelay(client)
            let rejected = servedCount >= configuration.maxConnections
            let connection = HTTPConnection(
                fd: client,
                remoteAddress: peer,
                pool: pools[nextPool],
                listener: self,
                configuration: configuration,
                hooks: hooks,
                handler: handler,
                rejected: rejected
            )
            nextPool = (nextPool + 1) % pools.count
            connections[ObjectIdentifier(connection)] = connection
            if rejected {
                rejectedCount += 1
            } else {
                servedCount += 1
                servedCountMirror.store(servedCount, ordering: .relaxed)
                hooks.connectionOpened?()
            }
            connection.queue.async { connection.start() }
        }
    }

    private func pauseAccepting() {
        guard let source = acceptSource, !acceptSuspended else { return }
        source.suspend()
        acceptSuspended = true
        queue.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in resumeAccepting() }
    }

    /// Ends a pause early or on time (a later pause then re-arms its own timer).
    private func resumeAccepting() {
        guard acceptSuspended, state == .running, let source = acceptSource else { return }
        acceptSuspended = false
        source.resume()
    }

    /// Called by a connection (on its queue) once its descriptor is closed.
    func connectionDidClose(_ connection: HTTPConnection) {
        queue.async { [self] in
            guard connections.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
            if connection.isRejected {
                rejectedCount -= 1
            } else {
                servedCount -= 1
                servedCountMirror.store(servedCount, ordering: .relaxed)
                hooks.connectionClosed?()
            }
            // A descriptor is free again: a pause for lack of them need not wait out its timer.
            resumeAccepting()
            finishStopIfDone()
        }
    }

    // MARK: - Stop

    func stop(completion: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            switch state {
            case .idle, .stopped:
                state = .stopped
                completion()
            case .stopping:
                stopCompletions.append(completion)
            case .running:
                state = .stopping
                stopCompletions.append(completion)
                if let source = acceptSource {
                    source.cancel()
                    if acceptSuspended {
                        acceptSuspended = false
                        source.resume()
                    }
                }
                for connection in connections.values {
                    connection.queue.async { connection.beginGracefulStop() }
                }
                finishStopIfDone()
            }
        }
    }

    private func finishStopIfDone() {
        guard state == .stopping, listenerClosed, connections.isEmpty else { return }
        state = .stopped
        pools.forEach { $0.shutdown() }
        pools = []
        let completions = stopCompletions
        stopCompletions = []
        for completion in completions {
            completion()
        }
    }
}
