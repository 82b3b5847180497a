import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One accepted TCP connection: the shell around `HTTPConnectionState`, doing its actions on
/// the socket and the Dispatch sources and feeding it what happens.
///
/// Concurrency: every mutable property is touched only on `queue`, a serial queue that the
/// connection shares with others (see `HTTPListener`): the Dispatch sources' handlers run
/// there, handlers are called there, and the outside world reaches the connection only
/// through `queue.async` (`start`, `beginGracefulStop`) or the inbox (`deliverLater`). Hence
/// the `@unchecked Sendable`.
final class HTTPConnection: @unchecked Sendable {
    let fd: Int32
    /// The peer's numeric address and port (`HTTPRequest.remoteAddress`).
    let remoteAddress: String
    let queue: DispatchQueue
    /// Refused because of `maxConnections`: answers 503 and closes.
    let isRejected: Bool
    /// `HTTPServerConfiguration.errorFormat`, for its responders.
    let errorFormat: HTTPErrorFormat

    private let listener: HTTPListener
    private let handler: HTTPHandler
    private var state: HTTPConnectionState

    /// Shared with the other connections of `queue`; only used within one read call.
    private let readBuffer: UnsafeMutableRawBufferPointer
    private let readBufferOwner: ReadBuffer

    private var readSource: (any DispatchSourceRead)?
    private var readSuspended = false
    private var writeSource: (any DispatchSourceWrite)?
    private var writeSuspended = false
    private var timer: (any DispatchSourceTimer)?
    private var liveIOSources = 0
    private var closed = false

    /// Responses given on other threads (`deliverLater`), waiting for `queue`. A user-data
    /// source, not a `queue.async` per response: signalling it allocates nothing (an async
    /// cost three allocations: its closure, block and continuation), and responses that
    /// arrive together are taken in one turn and written with one send.
    private let inbox: Mutex<[(HTTPResponse, UInt64)]>
    private let responsesArrived: any DispatchSourceUserDataAdd
    /// The inbox's contents while they are fed to the state (swapped with it: no allocation).
    private var arrived: [(HTTPResponse, UInt64)] = []

    init(
        fd: Int32,
        remoteAddress: String,
        queue: DispatchQueue,
        readBuffer: ReadBuffer,
        listener: HTTPListener,
        configuration: HTTPServerConfiguration,
        hooks: HTTPServerHooks,
        handler: @escaping HTTPHandler,
        rejected: Bool
    ) {
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.queue = queue
        self.listener = listener
        self.handler = handler
        self.isRejected = rejected
        self.errorFormat = configuration.errorFormat
        self.state = HTTPConnectionState(configuration: configuration, hooks: hooks, remoteAddress: remoteAddress,
                                         rejected: rejected)
        self.readBufferOwner = readBuffer
        self.readBuffer = readBuffer.bytes
        var inbox: [(HTTPResponse, UInt64)] = []
        inbox.reserveCapacity(4)
        self.inbox = Mutex(inbox)
        arrived.reserveCapacity(4)
        responsesArrived = DispatchSource.makeUserDataAddSource(queue: queue)
    }

    // MARK: - Entry points (each called on `queue`)

    func start() {
        dispatchPrecondition(condition: .onQueue(queue))
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [self] in run(.readable) }
        source.setCancelHandler { [self] in ioSourceCancelled() }
        readSource = source
        liveIOSources += 1
        source.activate()

        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [self] in run(.timerFired) }
        self.timer = timer
        timer.activate()

        responsesArrived.setEventHandler { [self] in takeArrivedResponses() }
        responsesArrived.activate()

        run(.start)
    }

    /// Called by a responder from any thread.
    func deliverLater(_ response: HTTPResponse, slot: UInt64) {
        inbox.withLock { $0.append((response, slot)) }
        responsesArrived.add(data: 1)
    }

    /// Graceful stop: serve what was started, then close; close right away when idle.
    func beginGracefulStop() {
        dispatchPrecondition(condition: .onQueue(queue))
        run(.stopRequested)
    }

    // MARK: - Performing the state's actions

    /// Feeds the responses that arrived, then takes one turn for all of them.
    private func takeArrivedResponses() {
        inbox.withLock { swap(&$0, &arrived) }
        defer { arrived.removeAll(keepingCapacity: true) }
        guard !closed else { return }
        for (response, slot) in arrived {
            state.handle(.responseReady(response, slot: slot))
        }
        performActions()
    }

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
            case .setReadInterest(let wanted): setReadInterest(wanted)
            case .setWriteInterest(let wanted): setWriteInterest(wanted)
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
        let responder = HTTPResponder(connection: self, slot: slot)
        handler(request, responder)
        if let response = responder.takeResponseAfterHandler() {
            state.handle(.responseReady(response, slot: slot))
        }
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

    private func setWriteInterest(_ wanted: Bool) {
        if wanted {
            if let source = writeSource {
                if writeSuspended {
                    source.resume()
                    writeSuspended = false
                }
            } else {
                let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
                source.setEventHandler { [self] in run(.writable) }
                source.setCancelHandler { [self] in ioSourceCancelled() }
                writeSource = source
                liveIOSources += 1
                source.activate()
            }
        } else if let source = writeSource, !writeSuspended {
            source.suspend()
            writeSuspended = true
        }
    }

    private func setReadInterest(_ wanted: Bool) {
        guard let source = readSource else { return }
        if wanted && readSuspended {
            source.resume()
            readSuspended = false
        } else if !wanted && !readSuspended {
            source.suspend()
            readSuspended = true
        }
    }

    // MARK: - Closing

    /// Cancels the sources; the descriptor is closed once they are all cancelled.
    private func closeNow() {
        guard !closed else { return }
        closed = true
        timer?.cancel()
        timer = nil
        responsesArrived.cancel()
        inbox.withLock { $0.removeAll() }
        if let source = readSource {
            source.cancel()
            if readSuspended {
                source.resume()
                readSuspended = false
            }
        }
        if let source = writeSource {
            source.cancel()
            if writeSuspended {
                source.resume()
                writeSuspended = false
            }
        }
        if liveIOSources == 0 {
            finishClose()
        }
    }

    private func ioSourceCancelled() {
        liveIOSources -= 1
        if liveIOSources == 0 && closed {
            finishClose()
        }
    }

    private func finishClose() {
        readSource = nil
        writeSource = nil
        close(fd)
        listener.connectionDidClose(self)
    }
}
