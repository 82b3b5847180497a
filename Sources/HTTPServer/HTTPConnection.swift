import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One accepted TCP connection: reads and parses requests, calls the handler, writes the
/// responses in request order, enforces timeouts, and closes gracefully.
///
/// Concurrency: every mutable property is touched only on `queue`, a serial queue that the
/// connection shares with others (see `HTTPListener`): the Dispatch sources' handlers run
/// there, handlers are called there, and the outside world reaches the connection only
/// through `queue.async` (`start`, `deliverLater`, `beginGracefulStop`). Hence the
/// `@unchecked Sendable`.
///
/// Responses: each request (and each interim `100 Continue`) gets a slot in a FIFO; a
/// handler may fill its slot at any time, and slots are encoded into the output buffer only
/// from the front, so responses leave in request order. All responses ready in one turn are
/// written with one `send`; the write source is armed only when the socket would block.
final class HTTPConnection: @unchecked Sendable {
    let fd: Int32
    /// The peer's numeric address and port (`HTTPRequest.remoteAddress`).
    let remoteAddress: String
    let queue: DispatchQueue
    /// Refused because of `maxConnections`: answers 503 and closes.
    let isRejected: Bool

    private let listener: HTTPListener
    private let configuration: HTTPServerConfiguration
    private let hooks: HTTPServerHooks
    private let handler: HTTPHandler

    /// How long a closing connection keeps reading (and discarding) so that the client gets
    /// the last response before the close; see RFC 9112 §9.6.
    static let lingerNanoseconds: UInt64 = 2_000_000_000

    private var parser: HTTPRequestParser
    private var encoder = HTTPResponseEncoder()
    /// Shared with the other connections of `queue`; only used within one read call.
    private let readBuffer: UnsafeMutableRawBufferPointer
    private let readBufferOwner: ReadBuffer

    private var readSource: (any DispatchSourceRead)?
    private var readSuspended = false
    private var writeSource: (any DispatchSourceWrite)?
    private var writeSuspended = false
    private var timer: (any DispatchSourceTimer)?
    private var timerFireAt: UInt64 = .max
    private var liveIOSources = 0

    private struct Slot {
        enum Kind {
            case interimContinue
            case response(HTTPResponse?)
        }

        var id: UInt64
        var kind: Kind
        var method: String
        var path: String
        var versionMinor: Int
        var receivedAt: UInt64
        var close: Bool
    }

    private var slots: [Slot] = []
    private var slotHead = 0
    private var nextSlotID: UInt64 = 0
    /// Final responses queued in `slots` and not encoded yet.
    private var pendingResponses = 0

    private var output: [UInt8] = []
    private var outputOffset = 0

    private enum Phase {
        case open
        /// Last response written, write side shut down; reading and discarding until EOF.
        case lingering
        case closed
    }

    private var phase = Phase.open
    /// False once no further request will be served (close requested, error, EOF, stop).
    private var acceptingRequests = true
    /// Parsed input is held back because `maxPipelinedRequests` responses are pending.
    private var inputHeldBack = false
    /// A response announcing `Connection: close` was encoded: close once it is written.
    private var closeAfterFlush = false
    private var peerClosed = false
    private var stopping = false
    private var requestsSeen = 0

    private let openedAt: UInt64
    /// When the head now being received began (nil when no head is partially received).
    private var headStartedAt: UInt64?
    /// Last read, write progress or return to idle.
    private var lastActivity: UInt64
    private var lingerDeadline: UInt64 = 0
    /// While stopping, when a lingering connection next checks whether it can close.
    private var lingerPollAt: UInt64 = 0

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
        self.configuration = configuration
        self.hooks = hooks
        self.handler = handler
        self.isRejected = rejected
        self.parser = HTTPRequestParser(limits: configuration.parserLimits)
        self.readBufferOwner = readBuffer
        self.readBuffer = readBuffer.bytes
        let now = DispatchTime.now().uptimeNanoseconds
        self.openedAt = now
        self.lastActivity = now
    }

    // MARK: - Entry points (each called on `queue`)

    func start() {
        dispatchPrecondition(condition: .onQueue(queue))
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [self] in readable() }
        source.setCancelHandler { [self] in ioSourceCancelled() }
        readSource = source
        liveIOSources += 1
        source.activate()

        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [self] in timerFired() }
        self.timer = timer
        timer.activate()

        if isRejected {
            acceptingRequests = false
            appendSlot(.response(.error(status: 503, "too many connections")), method: "", path: "", versionMinor: 1,
                       receivedAt: openedAt, close: true)
        }
        finishTurn()
    }

    /// Called by a responder from any thread.
    func deliverLater(_ response: HTTPResponse, slot: UInt64) {
        queue.async { [self] in
            guard phase == .open else { return }
            setResponse(response, slot: slot)
            finishTurn()
        }
    }

    /// Graceful stop: serve what was started, then close; close right away when idle.
    func beginGracefulStop() {
        dispatchPrecondition(condition: .onQueue(queue))
        stopping = true
        if phase == .lingering {
            lingerPollAt = DispatchTime.now().uptimeNanoseconds
            updateTimer()
            return
        }
        guard phase == .open else { return }
        if slotHead == slots.count && outputOffset == output.count && !parser.hasPartialRequest {
            closeNow()
            return
        }
        if !(parser.hasPartialRequest && slotHead == slots.count) {
            // No new request: the last response in progress closes the connection.
            acceptingRequests = false
            inputHeldBack = false
        }
        // Otherwise a request is partially received: it is served, with `Connection: close`.
        finishTurn()
    }

    // MARK: - Reading

    private func readable() {
        switch phase {
        case .closed: return
        case .lingering: drain(); return
        case .open: break
        }
        let now = DispatchTime.now().uptimeNanoseconds
        var reads = 0
        reading: while phase == .open && wantsInput {
            let count = read(fd, readBuffer.baseAddress, readBuffer.count)
            if count > 0 {
                lastActivity = now
                parser.append(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
                processInput(now: now)
                reads += 1
                // A short read drained the socket; a full one may have left more. Bound the
                // loop so that one busy connection does not starve the others on the queue.
                if count < readBuffer.count || reads >= 4 { break }
            } else if count == 0 {
                peerDidClose()
                break
            } else {
                switch errno {
                case EINTR: continue reading
                case EAGAIN, EWOULDBLOCK: break reading
                default:
                    closeNow()
                    return
                }
            }
        }
        finishTurn()
    }

    private var wantsInput: Bool {
        acceptingRequests && !peerClosed && !inputHeldBack && outputOffset == output.count
            && pendingResponses < configuration.maxPipelinedRequests
    }

    /// Turns parsed input into handler calls while allowed.
    private func processInput(now: UInt64) {
        inputHeldBack = false
        while acceptingRequests {
            if pendingResponses >= configuration.maxPipelinedRequests {
                inputHeldBack = parser.bufferedByteCount > 0
                break
            }
            guard let event = parser.next() else { break }
            switch event {
            case .expectContinue:
                appendSlot(.interimContinue, method: "", path: "", versionMinor: 1, receivedAt: now, close: false)
            case .request(var request):
                request.receivedAt = now
                request.remoteAddress = remoteAddress
                requestsSeen += 1
                headStartedAt = nil
                let close = stopping || !request.keepAlive
                if close { acceptingRequests = false }
                let slot = appendSlot(.response(nil), method: request.method, path: request.path,
                                      versionMinor: request.versionMinor, receivedAt: now, close: close)
                let responder = HTTPResponder(connection: self, slot: slot)
                handler(request, responder)
                if let response = responder.takeResponseAfterHandler() {
                    setResponse(response, slot: slot)
                }
            case .error(let error):
                acceptingRequests = false
                appendSlot(.response(.error(status: error.status, error.message)), method: "", path: "",
                           versionMinor: 1, receivedAt: now, close: true)
            }
        }
        if acceptingRequests && parser.isReceivingHead {
            if headStartedAt == nil { headStartedAt = now }
        } else {
            headStartedAt = nil
        }
        if peerClosed && !inputHeldBack {
            acceptingRequests = false
        }
    }

    private func peerDidClose() {
        peerClosed = true
        if !inputHeldBack {
            // A partially received request can never complete.
            acceptingRequests = false
        }
    }

    // MARK: - Response slots

    @discardableResult
    private func appendSlot(_ kind: Slot.Kind, method: String, path: String, versionMinor: Int,
                            receivedAt: UInt64, close: Bool) -> UInt64 {
        let id = nextSlotID
        nextSlotID += 1
        if case .response = kind { pendingResponses += 1 }
        slots.append(Slot(id: id, kind: kind, method: method, path: path, versionMinor: versionMinor,
                          receivedAt: receivedAt, close: close))
        return id
    }

    private func setResponse(_ response: HTTPResponse, slot id: UInt64) {
        guard slotHead < slots.count, id >= slots[slotHead].id else { return }
        let index = slotHead + Int(id - slots[slotHead].id)
        guard index < slots.count, case .response(nil) = slots[index].kind else { return }
        slots[index].kind = .response(response)
    }

    /// Encodes the ready slots at the front of the FIFO into `output`.
    private func encodeReadySlots() {
        var now: UInt64 = 0
        while slotHead < slots.count {
            let slot = slots[slotHead]
            switch slot.kind {
            case .interimContinue:
                output.append(contentsOf: HTTPResponseEncoder.continueResponse)
            case .response(nil):
                return
            case .response(let response?):
                pendingResponses -= 1
                // When no more requests will be read, the last response announces the close.
                let last = !acceptingRequests && !inputHeldBack && pendingResponses == 0
                let closing = encoder.encode(
                    response,
                    requestMethod: slot.method,
                    close: slot.close || last,
                    keepAliveHeader: slot.versionMinor == 0,
                    into: &output
                )
                if let responseSent = hooks.responseSent {
                    if now == 0 { now = DispatchTime.now().uptimeNanoseconds }
                    let seconds = Double(now &- slot.receivedAt) / 1e9
                    responseSent(slot.method, slot.path, HTTPResponseEncoder.effectiveStatus(response.status), seconds,
                                 remoteAddress)
                }
                if closing {
                    closeAfterFlush = true
                    acceptingRequests = false
                    // Nothing after a closing response is sent.
                    slots.removeAll()
                    slotHead = 0
                    pendingResponses = 0
                    return
                }
            }
            slots[slotHead].kind = .interimContinue // drop the response body early
            slotHead += 1
        }
        slots.removeAll(keepingCapacity: slots.capacity <= 64)
        slotHead = 0
    }

    // MARK: - Writing

    /// Encodes what is ready, writes it, then decides what comes next: more buffered input,
    /// closing, and the read interest and timer.
    private func finishTurn() {
        var rounds = 0
        while phase == .open {
            encodeReadySlots()
            flush()
            guard phase == .open else { return }
            // Requests already buffered but held back by the pipelining limit go next, once
            // the output is written (so that a client that does not read cannot make us
            // buffer responses without bound).
            guard inputHeldBack && pendingResponses < configuration.maxPipelinedRequests
                    && outputOffset == output.count else { break }
            if rounds == 16 {
                // Let the other connections of this queue run, then continue.
                queue.async { [self] in
                    if phase == .open { finishTurn() }
                }
                break
            }
            rounds += 1
            processInput(now: DispatchTime.now().uptimeNanoseconds)
        }
        guard phase == .open else { return }
        if outputOffset == output.count {
            if closeAfterFlush {
                if peerClosed { closeNow() } else { beginLingering() }
                return
            }
            if !acceptingRequests && slotHead == slots.count {
                closeNow()
                return
            }
        }
        updateReadInterest()
        updateTimer()
    }

    /// Writes as much of `output` as the socket takes.
    private func flush() {
        guard outputOffset < output.count else { return }
        let total = output.count
        var offset = outputOffset
        var failed = false
        output.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            while offset < total {
                let written = send(fd, base + offset, total - offset, Int32(MSG_NOSIGNAL))
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    break
                } else {
                    failed = true
                    break
                }
            }
        }
        if failed {
            closeNow()
            return
        }
        if offset > outputOffset {
            lastActivity = DispatchTime.now().uptimeNanoseconds
        }
        if offset == total {
            output.removeAll(keepingCapacity: output.capacity <= 256 * 1024)
            outputOffset = 0
            setWriteInterest(false)
        } else {
            outputOffset = offset
            setWriteInterest(true)
        }
    }

    private func writable() {
        guard phase == .open else { return }
        finishTurn()
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
                source.setEventHandler { [self] in writable() }
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

    private func updateReadInterest() {
        guard let source = readSource else { return }
        let wanted = phase == .lingering || (phase == .open && wantsInput)
        if wanted && readSuspended {
            source.resume()
            readSuspended = false
        } else if !wanted && !readSuspended {
            source.suspend()
            readSuspended = true
        }
    }

    // MARK: - Timeouts

    private enum Timeout {
        /// No request ever started on a fresh connection, or keep-alive idle: plain close.
        case idle
        /// The head (or body) of a request did not arrive in time: 408.
        case request
        /// The client does not read our output, or a lingering close lasts too long: close.
        case stalled
        /// While stopping, a lingering connection closes as soon as all it sent is acknowledged.
        case lingerPoll
    }

    private func nanoseconds(_ seconds: Double) -> UInt64 {
        seconds <= 0 ? 0 : seconds >= 1e9 ? UInt64(1e18) : UInt64(seconds * 1e9)
    }

    /// The next deadline in the current state, if any.
    private func currentDeadline() -> (at: UInt64, kind: Timeout)? {
        switch phase {
        case .closed:
            return nil
        case .lingering:
            if stopping {
                // Stopping: poll until the client has acknowledged everything we sent.
                return (min(lingerDeadline, lingerPollAt), .lingerPoll)
            }
            return (lingerDeadline, .stalled)
        case .open:
            if outputOffset < output.count {
                return (lastActivity &+ nanoseconds(configuration.idleTimeout), .stalled)
            }
            if let headStartedAt, acceptingRequests, !inputHeldBack {
                let base = requestsSeen == 0 ? openedAt : headStartedAt
                return (base &+ nanoseconds(configuration.headerTimeout), .request)
            }
            if acceptingRequests && parser.hasPartialRequest && !inputHeldBack {
                return (lastActivity &+ nanoseconds(configuration.idleTimeout), .request)
            }
            if slotHead < slots.count {
                return nil // waiting for handlers: no timeout
            }
            if requestsSeen == 0 {
                return (openedAt &+ nanoseconds(configuration.headerTimeout), .idle)
            }
            return (lastActivity &+ nanoseconds(configuration.idleTimeout), .idle)
        }
    }

    /// Moves the timer earlier when needed. It is never moved later here: when it fires
    /// early it re-arms itself for the current deadline, which keeps per-request cost low.
    private func updateTimer() {
        guard let timer, let deadline = currentDeadline() else { return }
        if deadline.at < timerFireAt {
            timerFireAt = deadline.at
            timer.schedule(deadline: DispatchTime(uptimeNanoseconds: deadline.at), leeway: .milliseconds(10))
        }
    }

    private func timerFired() {
        timerFireAt = .max
        guard phase != .closed, let deadline = currentDeadline() else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now >= deadline.at else {
            updateTimer()
            return
        }
        switch deadline.kind {
        case .idle, .stalled:
            closeNow()
        case .lingerPoll:
            if now >= lingerDeadline || unacknowledgedBytes() == 0 {
                closeNow()
            } else {
                lingerPollAt = now &+ 20_000_000
                updateTimer()
            }
        case .request:
            acceptingRequests = false
            parser = HTTPRequestParser(limits: configuration.parserLimits)
            appendSlot(.response(.error(status: 408, "request timeout")), method: "", path: "", versionMinor: 1,
                       receivedAt: now, close: true)
            finishTurn()
        }
    }

    // MARK: - Closing

    /// After the last response: shut down the write side and read until the client closes
    /// (or the linger time passes), so that unread input does not turn our close into a reset
    /// that could destroy the response in flight.
    private func beginLingering() {
        phase = .lingering
        shutdown(fd, Int32(SHUT_WR))
        parser = HTTPRequestParser(limits: configuration.parserLimits)
        let now = DispatchTime.now().uptimeNanoseconds
        lingerDeadline = now &+ Self.lingerNanoseconds
        lingerPollAt = now &+ 1_000_000
        updateReadInterest()
        updateTimer()
        drain()
    }

    /// Bytes sent but not acknowledged by the peer yet (SIOCOUTQ), or -1 when unknown.
    private func unacknowledgedBytes() -> Int32 {
        var count: Int32 = 0
        return ioctl(fd, UInt(TIOCOUTQ), &count) == 0 ? count : -1
    }

    private func drain() {
        for _ in 0..<16 {
            let count = read(fd, readBuffer.baseAddress, readBuffer.count)
            if count > 0 { continue }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            closeNow()
            return
        }
    }

    /// Cancels the sources; the descriptor is closed once they are all cancelled.
    private func closeNow() {
        guard phase != .closed else { return }
        phase = .closed
        timer?.cancel()
        timer = nil
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
        slots = []
        slotHead = 0
        output = []
        outputOffset = 0
        parser = HTTPRequestParser(limits: configuration.parserLimits)
        if liveIOSources == 0 {
            finishClose()
        }
    }

    private func ioSourceCancelled() {
        liveIOSources -= 1
        if liveIOSources == 0 && phase == .closed {
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
