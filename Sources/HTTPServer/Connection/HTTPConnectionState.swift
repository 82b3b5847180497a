import Dispatch

/// One connection's protocol logic as a value type with no I/O: it is told what happened
/// (`handle(_:)`, an `HTTPConnectionInput`) and then asked what to do (`nextAction()`, until
/// nil), so that every transition can be tested without sockets. `HTTPConnection` is the shell
/// that performs the actions on a socket, its pool's epoll instance and a Dispatch timer.
///
/// It parses requests, hands them out, keeps their responses in order (`HTTPResponseQueue`),
/// encodes them into one output buffer, holds input back at `maxPipelinedRequests`, enforces
/// the timeouts (`HTTPConnectionPhase`), lingers after the last response and stops gracefully.
struct HTTPConnectionState {
    /// Whether more requests are read.
    enum Intake: Equatable {
        case open
        /// Parsed input waits because `maxPipelinedRequests` responses are pending.
        case heldBack
        /// No further request will be served (close requested, error, EOF, stop): the last
        /// response closes the connection.
        case ended
        /// A response announcing `Connection: close` was encoded: close once it is written.
        case closing

        /// Requests are still being received (possibly held back).
        var accepts: Bool { self == .open || self == .heldBack }
    }

    enum Lifecycle: Equatable {
        case serving(Intake)
        /// Last response written, write side shut down; reading and discarding until EOF.
        /// `pollAt`: while stopping, when to check next whether the peer acknowledged all.
        case lingering(deadline: UInt64, pollAt: UInt64)
        case closed
    }

    /// How long a closing connection keeps reading (and discarding) so that the client gets
    /// the last response before the close; see RFC 9112 §9.6.
    static let lingerNanoseconds: UInt64 = 2_000_000_000
    /// Turns a full read buffer may chain before the other connections of the queue run.
    static let readsPerTurn = 4
    /// Rounds of held-back input a turn serves before yielding.
    static let roundsPerTurn = 16

    private let configuration: HTTPServerConfiguration
    private let hooks: HTTPServerHooks
    private let remoteAddress: String
    private let isRejected: Bool
    private let clock: @Sendable () -> UInt64

    private(set) var lifecycle: Lifecycle = .serving(.open)
    private var parser: HTTPRequestParser
    private var encoder = HTTPResponseEncoder()
    private var responses = HTTPResponseQueue()
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var peerClosed = false
    private var stopRequested = false
    private var requestsSeen = 0

    private let openedAt: UInt64
    /// When the head now being received began (nil when no head is partially received).
    private var headStartedAt: UInt64?
    /// Last read, write progress or return to idle.
    private var lastActivity: UInt64

    /// What the shell was last told (the read source starts resumed, the write source absent).
    private(set) var readInterest = true
    private(set) var writeInterest = false
    /// When the timer fires; it is only moved earlier, and re-arms itself when it fires early.
    private(set) var timerFireAt: UInt64 = .max
    private var closeAnnounced = false

    /// Where the current turn is; `.idle` between turns.
    private enum Step: Equatable {
        case idle
        /// Read (again) if input is wanted; `reads` done in this turn so far.
        case read(reads: Int)
        case awaitingRead(reads: Int)
        /// Turning parsed input into handler calls; then read again or finish the turn.
        case parse(now: UInt64, thenRead: Int?, rounds: Int)
        /// Encode the ready responses, write them, serve held-back input, settle.
        case encode(rounds: Int)
        case awaitingWrite(rounds: Int)
        case afterWrite(rounds: Int)
        /// Close or linger if done, then the read interest and the timer.
        case settle
        case updateTimer
        /// Lingering begins: shut down, read interest and timer, then drain.
        case shutdownWrite
        case lingerSettle
        case drain
        case checkAcknowledged(now: UInt64)
        case awaitingAcknowledgement(now: UInt64)
    }

    private var step = Step.idle

    init(
        configuration: HTTPServerConfiguration,
        hooks: HTTPServerHooks,
        remoteAddress: String,
        rejected: Bool,
        clock: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }
    ) {
        self.configuration = configuration
        self.hooks = hooks
        self.remoteAddress = remoteAddress
        self.isRejected = rejected
        self.clock = clock
        self.parser = HTTPRequestParser(limits: configuration.parserLimits)
        let now = clock()
        self.openedAt = now
        self.lastActivity = now
    }

    // MARK: - Queries

    var isClosed: Bool { lifecycle == .closed }

    /// The output not written yet (for the shell's `.write`). Mutating although it changes
    /// nothing: called on the shell's stored property, a non-mutating call copies the whole
    /// state first (a retain and release of every reference in it; perf showed it per request).
    mutating func withUnsentOutput<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        output.withUnsafeBytes { bytes in
            body(UnsafeRawBufferPointer(rebasing: bytes[outputOffset...]))
        }
    }

    var unsentByteCount: Int { output.count - outputOffset }

    /// What the connection waits for and until when.
    var phase: HTTPConnectionPhase {
        switch lifecycle {
        case .closed:
            return .closed
        case .lingering(let deadline, let pollAt):
            // Stopping: poll until the client has acknowledged everything we sent.
            return stopRequested ? .lingering(deadline: min(deadline, pollAt), polling: true)
                : .lingering(deadline: deadline, polling: false)
        case .serving(let intake):
            if outputOffset < output.count {
                return .writing(deadline: lastActivity &+ nanoseconds(configuration.idleTimeout))
            }
            if let headStartedAt, intake == .open {
                let base = requestsSeen == 0 ? openedAt : headStartedAt
                return .readingHead(deadline: base &+ nanoseconds(configuration.headerTimeout))
            }
            if intake == .open && parser.hasPartialRequest {
                return .readingBody(deadline: lastActivity &+ nanoseconds(configuration.idleTimeout))
            }
            if !responses.isEmpty {
                return .waitingOnHandlers
            }
            if requestsSeen == 0 {
                return .idle(deadline: openedAt &+ nanoseconds(configuration.headerTimeout))
            }
            return .idle(deadline: lastActivity &+ nanoseconds(configuration.idleTimeout))
        }
    }

    private var intake: Intake? {
        if case .serving(let intake) = lifecycle { return intake }
        return nil
    }

    private mutating func setIntake(_ intake: Intake) {
        if case .serving = lifecycle { lifecycle = .serving(intake) }
    }

    /// No further request: the last response closes (a closing response stays closing).
    private mutating func endIntake() {
        if let intake, intake.accepts { setIntake(.ended) }
    }

    /// Whether the connection reads more requests now.
    var wantsInput: Bool {
        intake == .open && !peerClosed && outputOffset == output.count
            && responses.pendingResponses < configuration.maxPipelinedRequests
    }

    private func nanoseconds(_ seconds: Double) -> UInt64 {
        seconds <= 0 ? 0 : seconds >= 1e9 ? UInt64(1e18) : UInt64(seconds * 1e9)
    }

    // MARK: - Inputs

    mutating func handle(_ input: HTTPConnectionInput) {
        switch input {
        case .start:
            if isRejected {
                setIntake(.ended)
                responses.append(configuration.errorFormat(status: 503, "too many connections"), for: .server(receivedAt: openedAt))
            }
            step = .encode(rounds: 0)

        case .readable:
            switch lifecycle {
            case .closed: step = .idle
            case .lingering: step = .drain
            case .serving: step = .read(reads: 0)
            }

        case .bytesRead(let bytes, let filledBuffer):
            guard case .awaitingRead(let reads) = step, intake != nil else { return }
            let now = clock()
            lastActivity = now
            parser.append(bytes)
            let next = filledBuffer && reads + 1 < Self.readsPerTurn ? reads + 1 : nil
            beginParse(now: now, thenRead: next, rounds: 0)

        case .readWouldBlock:
            if case .awaitingRead = step { step = .encode(rounds: 0) }

        case .peerClosed:
            switch lifecycle {
            case .closed:
                return
            case .lingering:
                closeNow()
            case .serving(let intake):
                peerClosed = true
                // A partially received request can never complete.
                if intake == .open { setIntake(.ended) }
                step = .encode(rounds: 0)
            }

        case .readFailed, .writeFailed:
            closeNow()

        case .writable:
            if intake != nil { step = .encode(rounds: 0) }

        case .wrote(let count):
            guard case .awaitingWrite(let rounds) = step else { return }
            if count > 0 {
                outputOffset = min(output.count, outputOffset + count)
                lastActivity = clock()
            }
            if outputOffset == output.count {
                output.removeAll(keepingCapacity: output.capacity <= 256 * 1024)
                outputOffset = 0
            }
            step = .afterWrite(rounds: rounds)

        case .responseReady(let response, let slot):
            guard intake != nil else { return }
            responses.fill(slot, with: response)
            // During a handler's call the turn goes on; later the response starts one.
            if step == .idle { step = .encode(rounds: 0) }

        case .timerFired:
            timerFired()

        case .unacknowledgedBytes(let count):
            guard case .awaitingAcknowledgement(let now) = step,
                  case .lingering(let deadline, _) = lifecycle else { return }
            if count == 0 {
                closeNow()
            } else {
                lifecycle = .lingering(deadline: deadline, pollAt: now &+ 20_000_000)
                step = .updateTimer
            }

        case .stopRequested:
            stop()

        case .resume:
            if intake != nil { step = .encode(rounds: 0) }
        }
    }

    private mutating func stop() {
        stopRequested = true
        switch lifecycle {
        case .closed:
            return
        case .lingering(let deadline, _):
            lifecycle = .lingering(deadline: deadline, pollAt: clock())
            step = .updateTimer
        case .serving:
            if responses.isEmpty && outputOffset == output.count && !parser.hasPartialRequest {
                closeNow()
                return
            }
            // A request partially received and nothing else pending: it is served, with
            // `Connection: close`. Otherwise no new request: the last response in progress
            // closes the connection.
            let servingPartialRequest = parser.hasPartialRequest && responses.isEmpty
            if !servingPartialRequest { endIntake() }
            step = .encode(rounds: 0)
        }
    }

    private mutating func timerFired() {
        timerFireAt = .max
        guard let deadline = phase.deadline else { return }
        let now = clock()
        guard now >= deadline else {
            step = .updateTimer
            return
        }
        switch phase {
        case .idle, .writing, .lingering(_, polling: false):
            closeNow()
        case .lingering(_, polling: true):
            guard case .lingering(let lingerDeadline, _) = lifecycle, now < lingerDeadline else {
                closeNow()
                return
            }
            step = .checkAcknowledged(now: now)
        case .readingHead, .readingBody:
            endIntake()
            parser = HTTPRequestParser(limits: configuration.parserLimits)
            responses.append(configuration.errorFormat(status: 408, "request timeout"), for: .server(receivedAt: now))
            step = .encode(rounds: 0)
        case .waitingOnHandlers, .closed:
            return
        }
    }

    // MARK: - Actions

    /// The next thing to do in the current turn, nil when the turn is over.
    mutating func nextAction() -> HTTPConnectionAction? {
        while true {
            if lifecycle == .closed {
                step = .idle
                if closeAnnounced { return nil }
                closeAnnounced = true
                return .close
            }
            switch step {
            case .idle:
                return nil

            case .read(let reads):
                guard intake != nil, wantsInput else {
                    step = .encode(rounds: 0)
                    continue
                }
                step = .awaitingRead(reads: reads)
                return .read

            case .awaitingRead:
                // The shell did not report the read: as if it would block.
                step = .encode(rounds: 0)

            case .parse(let now, let thenRead, let rounds):
                if let action = nextRequest(now: now) { return action }
                endParse(now: now)
                if let reads = thenRead {
                    step = .read(reads: reads)
                } else {
                    step = .encode(rounds: rounds)
                }

            case .encode(let rounds):
                encodeReadySlots()
                if outputOffset < output.count {
                    step = .awaitingWrite(rounds: rounds)
                    return .write
                }
                step = .afterWrite(rounds: rounds)

            case .awaitingWrite(let rounds):
                step = .afterWrite(rounds: rounds)

            case .afterWrite(let rounds):
                let wanted = outputOffset < output.count
                if wanted != writeInterest {
                    writeInterest = wanted
                    return .setWriteInterest(wanted)
                }
                // Requests already buffered but held back by the pipelining limit go next,
                // once the output is written (so that a client that does not read cannot make
                // us buffer responses without bound).
                guard intake == .heldBack && responses.pendingResponses < configuration.maxPipelinedRequests
                        && outputOffset == output.count else {
                    step = .settle
                    continue
                }
                if rounds == Self.roundsPerTurn {
                    step = .settle
                    return .yield
                }
                beginParse(now: clock(), thenRead: nil, rounds: rounds + 1)

            case .settle:
                if let action = settle() { return action }

            case .updateTimer:
                if let action = timerUpdate() { return action }
                step = .idle

            case .shutdownWrite:
                step = .lingerSettle
                return .shutdownWrite

            case .lingerSettle:
                if let action = readInterestUpdate() ?? timerUpdate() { return action }
                step = .drain

            case .drain:
                step = .idle
                return .drain

            case .checkAcknowledged(let now):
                step = .awaitingAcknowledgement(now: now)
                return .checkAcknowledged

            case .awaitingAcknowledgement:
                // Not reported: unknown, poll again.
                handle(.unacknowledgedBytes(-1))
            }
        }
    }

    // MARK: - Parsing

    private mutating func beginParse(now: UInt64, thenRead: Int?, rounds: Int) {
        if intake == .heldBack { setIntake(.open) }
        step = .parse(now: now, thenRead: thenRead, rounds: rounds)
    }

    /// The next parsed request to hand to the handler, while requests are accepted.
    private mutating func nextRequest(now: UInt64) -> HTTPConnectionAction? {
        while intake == .open {
            if responses.pendingResponses >= configuration.maxPipelinedRequests {
                if parser.bufferedByteCount > 0 { setIntake(.heldBack) }
                return nil
            }
            guard let event = parser.next() else { return nil }
            switch event {
            case .expectContinue:
                responses.appendContinue(receivedAt: now)
            case .request(var request):
                request.receivedAt = now
                request.remoteAddress = remoteAddress
                requestsSeen += 1
                headStartedAt = nil
                let close = stopRequested || !request.keepAlive
                if close { setIntake(.ended) }
                let slot = responses.appendAwaiting(for: HTTPResponseQueue.Request(
                    method: request.method, path: request.path, versionMinor: request.versionMinor,
                    receivedAt: now, close: close))
                return .handle(request, slot: slot)
            case .error(let error):
                setIntake(.ended)
                responses.append(configuration.errorFormat(status: error.status, error.message), for: .server(receivedAt: now))
            }
        }
        return nil
    }

    private mutating func endParse(now: UInt64) {
        let intake = self.intake
        if intake?.accepts == true && parser.isReceivingHead {
            if headStartedAt == nil { headStartedAt = now }
        } else {
            headStartedAt = nil
        }
        if peerClosed && intake == .open { setIntake(.ended) }
    }

    // MARK: - Encoding

    /// Encodes the ready responses at the front of the queue into `output`.
    private mutating func encodeReadySlots() {
        var now: UInt64 = 0
        while let ready = responses.takeReady() {
            switch ready {
            case .interimContinue:
                output.append(contentsOf: HTTPResponseEncoder.continueResponse)
            case .response(let response, let request):
                // When no more requests will be read, the last response announces the close.
                let last = intake == .ended && responses.pendingResponses == 0
                let closing = encoder.encode(
                    response,
                    requestMethod: request.method,
                    close: request.close || last,
                    keepAliveHeader: request.versionMinor == 0,
                    into: &output
                )
                if let responseSent = hooks.responseSent {
                    if now == 0 { now = clock() }
                    let seconds = Double(now &- request.receivedAt) / 1e9
                    responseSent(request.method, request.path, HTTPResponseEncoder.effectiveStatus(response.status),
                                 seconds, remoteAddress)
                }
                if closing {
                    setIntake(.closing)
                    // Nothing after a closing response is sent.
                    responses.removeAll()
                    return
                }
            }
        }
    }

    // MARK: - Settling

    /// After a turn's writes: close or linger when done, else update read interest and timer.
    private mutating func settle() -> HTTPConnectionAction? {
        if outputOffset == output.count, let intake {
            if intake == .closing {
                if peerClosed {
                    closeNow()
                } else {
                    beginLingering()
                }
                return nil
            }
            if !intake.accepts && responses.isEmpty {
                closeNow()
                return nil
            }
        }
        if let action = readInterestUpdate() ?? timerUpdate() { return action }
        step = .idle
        return nil
    }

    private mutating func readInterestUpdate() -> HTTPConnectionAction? {
        let wanted: Bool
        switch lifecycle {
        case .lingering: wanted = true
        case .serving: wanted = wantsInput
        case .closed: return nil
        }
        guard wanted != readInterest else { return nil }
        readInterest = wanted
        return .setReadInterest(wanted)
    }

    /// Moves the timer earlier when needed. It is never moved later here: when it fires
    /// early it re-arms itself for the current deadline, which keeps per-request cost low.
    private mutating func timerUpdate() -> HTTPConnectionAction? {
        guard let deadline = phase.deadline, deadline < timerFireAt else { return nil }
        timerFireAt = deadline
        return .armTimer(at: deadline)
    }

    // MARK: - Closing

    /// After the last response: shut down the write side and read until the client closes
    /// (or the linger time passes), so that unread input does not turn our close into a reset
    /// that could destroy the response in flight.
    private mutating func beginLingering() {
        let now = clock()
        lifecycle = .lingering(deadline: now &+ Self.lingerNanoseconds, pollAt: now &+ 1_000_000)
        parser = HTTPRequestParser(limits: configuration.parserLimits)
        step = .shutdownWrite
    }

    private mutating func closeNow() {
        guard lifecycle != .closed else { return }
        lifecycle = .closed
        responses.removeAll()
        output = []
        outputOffset = 0
        parser = HTTPRequestParser(limits: configuration.parserLimits)
        step = .idle
    }
}
