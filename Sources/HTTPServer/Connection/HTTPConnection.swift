import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One accepted TCP connection: the shell around `HTTPConnectionState`, doing its actions on
/// the socket, its pool's epoll instance and its timer, and feeding it what happens.
///
/// Concurrency: every mutable property is touched only on `queue`, the serial queue of the
/// `ConnectionPool` the connection is pinned to: the pool's turns and the timer's handler run
/// there, handlers are called there, and the outside world reaches the connection only
/// through `queue.async` (`start`, `beginGracefulStop`) or the pool's inbox
/// (`deliverLater`). Hence the `@unchecked Sendable`.
final class HTTPConnection: @unchecked Sendable {
    let fd: Int32
    /// The peer's numeric address and port (`HTTPRequest.remoteAddress`).
    let remoteAddress: String
    let pool: ConnectionPool
    var queue: DispatchQueue { pool.queue }
    /// Refused because of `maxConnections`: answers 503 and closes.
    let isRejected: Bool
    /// `HTTPServerConfiguration.errorFormat`, for its responders.
    let errorFormat: HTTPErrorFormat

    private let listener: HTTPListener
    private let handler: HTTPHandler
    private var state: HTTPConnectionState

    private var timer: (any DispatchSourceTimer)?
    private var closed = false
    /// An answered responder, reused for the next request if nobody else holds it by then (the
    /// handler and whatever it passed it to have let go): one allocation fewer a request.
    private var spareResponder: HTTPResponder?
    private var readBuffer: UnsafeMutableRawBufferPointer { pool.readBuffer }

    init(
        fd: Int32,
        remoteAddress: String,
        pool: ConnectionPool,
        listener: HTTPListener,
        configuration: HTTPServerConfiguration,
        hooks: HTTPServerHooks,
        handler: @escaping HTTPHandler,
        rejected: Bool
    ) {
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.pool = pool
        self.listener = listener
        self.handler = handler
        self.isRejected = rejected
        self.errorFormat = configuration.errorFormat
        self.state = HTTPConnectionState(configuration: configuration, hooks: hooks, remoteAddress: remoteAddress,
                                         rejected: rejected)
    }

    // MARK: - Entry points (each called on `queue`)

    func start() {
        dispatchPrecondition(condition: .onQueue(queue))
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [self] in run(.timerFired) }
        self.timer = timer
        timer.activate()
        guard updateWatch() else {
            closeNow()
            return
        }
        run(.start)
    }

    /// Called by a responder from any thread (`from` nil when it is going away).
    func deliverLater(_ response: HTTPResponse, slot: UInt64, from responder: HTTPResponder?) {
        pool.deliver(response, slot: slot, to: self, from: responder)
    }

    /// Graceful stop: serve what was started, then close; close right away when idle.
    func beginGracefulStop() {
        dispatchPrecondition(condition: .onQueue(queue))
        run(.stopRequested)
    }

    /// The pool saw the socket ready (a hang-up or error counts as both).
    func socketReady(input: Bool, output: Bool) {
        if input && state.readInterest { run(.readable) }
        if output && state.writeInterest { run(.writable) }
    }

    /// A response from the pool's inbox; `finishTurn` follows once all are fed.
    func responseArrived(_ response: HTTPResponse, slot: UInt64, from responder: HTTPResponder?) {
        guard !closed else { return }
        if let responder { spareResponder = responder }
        state.handle(.responseReady(response, slot: slot))
    }

    func finishTurn() {
        guard !closed else { return }
        performActions()
    }

    // MARK: - Performing the state's actions

    /// Feeds one input, then does what the state asks until its turn is over.
    private func run(_ input: HTTPConnectionInput) {
        guard !closed else { return }
        state.handle(input)
        performActions()
    }

    private func performActions() {
        while let action = state.nextAction() {
            switch action {
            case .read: performRead()
            case .drain: performDrain()
            case .handle(let request, let slot): call(request, slot: slot)
            case .write: performWrite()
            case .setReadInterest:
                if !updateWatch() { state.handle(.readFailed) }
            case .setWriteInterest:
                if !updateWatch() { state.handle(.writeFailed) }
            case .armTimer(let at):
                timer?.schedule(deadline: DispatchTime(uptimeNanoseconds: at), leeway: .milliseconds(10))
            case .yield:
                queue.async { [self] in run(.resume) }
            case .shutdownWrite:
                shutdown(fd, Int32(SHUT_WR))
            case .checkAcknowledged:
                var count: Int32 = 0
                state.handle(.unacknowledgedBytes(ioctl(fd, UInt(TIOCOUTQ), &count) == 0 ? count : -1))
            case .close:
                closeNow()
            }
        }
    }

    private func performRead() {
        while true {
            let count = read(fd, readBuffer.baseAddress, readBuffer.count)
            if count > 0 {
                state.handle(.bytesRead(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]),
                                        filledBuffer: count == readBuffer.count))
            } else if count == 0 {
                state.handle(.peerClosed)
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                state.handle(.readWouldBlock)
            } else {
                state.handle(.readFailed)
            }
            return
        }
    }

    /// Lingering: reads and discards what is there.
    private func performDrain() {
        for _ in 0..<16 {
            let count = read(fd, readBuffer.baseAddress, readBuffer.count)
            if count > 0 { continue }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            state.handle(count == 0 ? .peerClosed : .readFailed)
            return
        }
    }

    private func call(_ request: HTTPRequest, slot: UInt64) {
        let responder = takeResponder(slot: slot)
        handler(request, responder)
        if let response = responder.takeResponseAfterHandler() {
            spareResponder = responder
            state.handle(.responseReady(response, slot: slot))
        }
    }

    /// The spare responder when only this connection holds it, else a new one.
    private func takeResponder(slot: UInt64) -> HTTPResponder {
        var spare: HTTPResponder?
        swap(&spare, &spareResponder)
        if isKnownUniquelyReferenced(&spare), let spare {
            spare.reuse(slot: slot)
            return spare
        }
        return HTTPResponder(connection: self, slot: slot)
    }

    /// Writes as much of the unsent output as the socket takes.
    private func performWrite() {
        let fd = fd
        let sent = state.withUnsentOutput { bytes -> Int? in
            guard let base = bytes.baseAddress else { return 0 }
            var offset = 0
            while offset < bytes.count {
                let written = send(fd, base + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    break
                } else {
                    return nil
                }
            }
            return offset
        }
        state.handle(sent.map { .wrote($0) } ?? .writeFailed)
    }

    /// Tells the pool what to watch the socket for (the state's read and write interest); false
    /// when epoll refuses.
    private func updateWatch() -> Bool {
        pool.watch(fd, input: state.readInterest, output: state.writeInterest, for: self)
    }

    // MARK: - Closing

    private func closeNow() {
        guard !closed else { return }
        closed = true
        timer?.cancel()
        timer = nil
        spareResponder = nil  // it holds the connection
        pool.forget(fd)
        close(fd)
        listener.connectionDidClose(self)
    }
}
