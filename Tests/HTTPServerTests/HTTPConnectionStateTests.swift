import Synchronization
import Testing
@testable import HTTPServer

/// A clock the tests move by hand (nanoseconds of uptime).
final class ManualClock: Sendable {
    private let value = Atomic<UInt64>(1_000_000_000_000)
    var now: UInt64 { value.load(ordering: .relaxed) }
    func advance(seconds: Double) { value.add(UInt64(seconds * 1e9), ordering: .relaxed) }
}

/// Plays the shell for `HTTPConnectionState`: a socket made of an inbox and an outbox, and a
/// handler that answers at once (or parks). Actions are logged as short strings; times in
/// timer actions are milliseconds from the connection's opening.
struct ConnectionDriver {
    let clock = ManualClock()
    let origin: UInt64
    var state: HTTPConnectionState
    var inbox: [UInt8] = []
    var peerEOF = false
    var readFails = false
    var written: [UInt8] = []
    /// Bytes the socket takes before it would block (nil: all).
    var writeBudget: Int?
    var writeFails = false
    var unacknowledged: Int32 = 0
    /// The handler's answer; nil parks the request.
    var answer: ((HTTPRequest) -> HTTPResponse?)? = { _ in HTTPResponse(status: 204) }
    var handled: [(request: HTTPRequest, slot: UInt64)] = []

    init(configure: (inout HTTPServerConfiguration) -> Void = { _ in }, rejected: Bool = false) {
        var configuration = HTTPServerConfiguration()
        configure(&configuration)
        let clock = clock
        origin = clock.now
        state = HTTPConnectionState(configuration: configuration, hooks: HTTPServerHooks(), remoteAddress: "peer",
                                    rejected: rejected, clock: { clock.now })
    }

    var output: String { String(decoding: written, as: UTF8.self) }

    mutating func send(_ text: String) -> [String] {
        inbox.append(contentsOf: text.utf8)
        return run(.readable)
    }

    @discardableResult
    mutating func run(_ input: HTTPConnectionInput) -> [String] {
        state.handle(input)
        var log: [String] = []
        while let action = state.nextAction() {
            switch action {
            case .read:
                log.append("read")
                if readFails {
                    state.handle(.readFailed)
                } else if !inbox.isEmpty {
                    let bytes = inbox
                    inbox = []
                    bytes.withUnsafeBytes { state.handle(.bytesRead($0, filledBuffer: false)) }
                } else {
                    state.handle(peerEOF ? .peerClosed : .readWouldBlock)
                }
            case .drain:
                log.append("drain")
                inbox = []
                if peerEOF { state.handle(.peerClosed) }
            case .handle(let request, let slot):
                log.append("handle \(request.method) \(request.target)")
                handled.append((request, slot))
                if let response = answer?(request) {
                    state.handle(.responseReady(response, slot: slot))
                }
            case .write:
                log.append("write")
                if writeFails {
                    state.handle(.writeFailed)
                } else {
                    let bytes = state.withUnsentOutput { Array($0) }
                    let count = min(bytes.count, writeBudget ?? bytes.count)
                    written.append(contentsOf: bytes[0..<count])
                    if let budget = writeBudget { writeBudget = budget - count }
                    state.handle(.wrote(count))
                }
            case .setReadInterest(let wanted):
                log.append("readInterest(\(wanted))")
            case .setWriteInterest(let wanted):
                log.append("writeInterest(\(wanted))")
            case .armTimer(let at):
                log.append("timer(\((at - origin) / 1_000_000))")
            case .yield:
                log.append("yield")
            case .shutdownWrite:
                log.append("shutdown")
            case .checkAcknowledged:
                log.append("checkAcknowledged")
                state.handle(.unacknowledgedBytes(unacknowledged))
            case .close:
                log.append("close")
            }
        }
        return log
    }

    /// Responds to the request handled `index`-th.
    mutating func respond(_ index: Int, _ response: HTTPResponse = HTTPResponse(status: 200)) -> [String] {
        run(.responseReady(response, slot: handled[index].slot))
    }

    func started() -> ConnectionDriver {
        var started = self
        started.run(.start)
        return started
    }
}

let simpleGet = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

@Suite struct HTTPConnectionStateTests {
    @Test func startArmsTheHeaderTimeout() {
        var driver = ConnectionDriver()
        #expect(driver.run(.start) == ["timer(10000)"])
        #expect(driver.state.phase == .idle(deadline: driver.origin + 10_000_000_000))
        #expect(driver.state.readInterest)
    }

    @Test func aRequestIsHandledAndAnsweredThenIdleTimeoutIsArmed() {
        var driver = ConnectionDriver().started()
        #expect(driver.send(simpleGet) == ["read", "handle GET /", "write"])
        #expect(driver.output.hasPrefix("HTTP/1.1 204 No Content\r\n"))
        #expect(!driver.output.contains("Connection: close"))
        // The idle deadline (60 s) is later than the armed one: the timer is not moved.
        #expect(driver.state.phase == .idle(deadline: driver.origin + 60_000_000_000))
        // It fires early and re-arms for the idle deadline.
        driver.clock.advance(seconds: 10)
        #expect(driver.run(.timerFired) == ["timer(60000)"])
        driver.clock.advance(seconds: 50)
        #expect(driver.run(.timerFired) == ["close"])
        #expect(driver.state.isClosed)
    }

    @Test func aParkedRequestWaitsWithoutDeadlineAndIsAnsweredLater() {
        var driver = ConnectionDriver().started()
        driver.answer = nil
        #expect(driver.send(simpleGet) == ["read", "handle GET /"])
        #expect(driver.state.phase == .waitingOnHandlers)
        #expect(driver.respond(0) == ["write"])
        #expect(driver.output.hasPrefix("HTTP/1.1 200 OK\r\n"))
        // A second answer to the same slot is ignored.
        #expect(driver.respond(0, HTTPResponse(status: 500)) == [])
        #expect(!driver.output.contains("500"))
    }

    @Test func pipelinedResponsesLeaveInRequestOrder() {
        var driver = ConnectionDriver().started()
        driver.answer = nil
        #expect(driver.send("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
                == ["read", "handle GET /a", "handle GET /b"])
        #expect(driver.respond(1, HTTPResponse(status: 202)) == [])
        #expect(driver.written.isEmpty)
        #expect(driver.respond(0) == ["write"])
        let output = driver.output
        let first = output.range(of: "200 OK")?.lowerBound
        let second = output.range(of: "202 Accepted")?.lowerBound
        #expect(first != nil && second != nil && first! < second!)
    }

    @Test func thePipeliningLimitHoldsInputBackAndResumesIt() {
        var driver = ConnectionDriver { $0.maxPipelinedRequests = 2 }.started()
        driver.answer = nil
        let three = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(driver.send(three) == ["read", "handle GET /1", "handle GET /2", "readInterest(false)"])
        #expect(driver.state.phase == .waitingOnHandlers)
        #expect(!driver.state.wantsInput)
        // One answer frees a place: the held-back request is served in the same turn.
        #expect(driver.respond(0) == ["write", "handle GET /3"])
        // Two pending again: one more answer reopens the intake.
        #expect(driver.respond(1) == ["write", "readInterest(true)"])
        #expect(driver.respond(2) == ["write"])
        #expect(driver.state.phase == .idle(deadline: driver.clock.now + 60_000_000_000))
    }

    @Test func heldBackRoundsYieldAfterSixteen() {
        var driver = ConnectionDriver { $0.maxPipelinedRequests = 1 }.started()
        let many = String(repeating: simpleGet, count: 20)
        let log = driver.send(many)
        #expect(log.filter { $0 == "handle GET /" }.count == 17)
        #expect(log.contains("yield"))
        let rest = driver.run(.resume)
        #expect(rest.filter { $0 == "handle GET /" }.count == 3)
        #expect(driver.output.components(separatedBy: "204 No Content").count - 1 == 20)
    }

    @Test func connectionCloseLingersThenClosesOnEOF() {
        var driver = ConnectionDriver().started()
        #expect(driver.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                == ["read", "handle GET /", "write", "shutdown", "timer(2000)", "drain"])
        #expect(driver.output.contains("Connection: close\r\n"))
        #expect(driver.state.phase == .lingering(deadline: driver.origin + 2_000_000_000, polling: false))
        driver.peerEOF = true
        #expect(driver.run(.readable) == ["drain", "close"])
    }

    @Test func lingeringEndsAtItsDeadline() {
        var driver = ConnectionDriver().started()
        _ = driver.send("GET / HTTP/1.0\r\n\r\n")
        driver.clock.advance(seconds: 2)
        #expect(driver.run(.timerFired) == ["close"])
    }

    @Test func http10GetsKeepAliveOnlyWhenAsked() {
        var driver = ConnectionDriver().started()
        #expect(driver.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == ["read", "handle GET /", "write"])
        #expect(driver.output.contains("Connection: keep-alive\r\n"))
    }

    @Test func anIncompleteHeadIsAnswered408AtTheHeaderTimeout() {
        var driver = ConnectionDriver().started()
        #expect(driver.send("GET / HT") == ["read"])
        #expect(driver.state.phase == .readingHead(deadline: driver.origin + 10_000_000_000))
        driver.clock.advance(seconds: 10)
        #expect(driver.run(.timerFired) == ["write", "shutdown", "timer(12000)", "drain"])
        #expect(driver.output.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
    }

    @Test func aStalledBodyIsAnswered408AtTheIdleTimeout() {
        var driver = ConnectionDriver { $0.idleTimeout = 5 }.started()
        #expect(driver.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc") == ["read", "timer(5000)"])
        #expect(driver.state.phase == .readingBody(deadline: driver.origin + 5_000_000_000))
        driver.clock.advance(seconds: 1)
        #expect(driver.run(.timerFired) == ["timer(5000)"])
        driver.clock.advance(seconds: 4)
        #expect(driver.run(.timerFired).first == "write")
        #expect(driver.output.contains("408"))
    }

    @Test func expectContinueIsAnsweredBeforeTheBody() {
        var driver = ConnectionDriver().started()
        #expect(driver.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
                == ["read", "write"])
        #expect(driver.output == "HTTP/1.1 100 Continue\r\n\r\n")
        #expect(driver.send("abc") == ["read", "handle POST /", "write"])
        #expect(driver.handled.first?.request.body == Array("abc".utf8))
    }

    @Test func aMalformedRequestIsAnsweredAndTheConnectionLingers() {
        var driver = ConnectionDriver().started()
        #expect(driver.send("GET / HTTP/1.1\nHost: a\r\n\r\n") == ["read", "write", "shutdown", "timer(2000)", "drain"])
        #expect(driver.output.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(driver.handled.isEmpty)
    }

    @Test func aBlockedWriteWaitsForWritableAndStopsReading() {
        var driver = ConnectionDriver().started()
        driver.writeBudget = 10
        #expect(driver.send(simpleGet) == ["read", "handle GET /", "write", "writeInterest(true)", "readInterest(false)"])
        #expect(driver.state.phase == .writing(deadline: driver.clock.now + 60_000_000_000))
        driver.writeBudget = nil
        #expect(driver.run(.writable) == ["write", "writeInterest(false)", "readInterest(true)"])
        #expect(driver.output.hasPrefix("HTTP/1.1 204"))
        #expect(driver.state.unsentByteCount == 0)
    }

    @Test func aClientThatDoesNotReadIsClosedAtTheIdleTimeout() {
        var driver = ConnectionDriver().started()
        driver.writeBudget = 0
        _ = driver.send(simpleGet)
        driver.clock.advance(seconds: 60)
        #expect(driver.run(.timerFired) == ["close"])
    }

    @Test func writeAndReadFailuresClose() {
        var writing = ConnectionDriver().started()
        writing.writeFails = true
        #expect(writing.send(simpleGet) == ["read", "handle GET /", "write", "close"])
        var reading = ConnectionDriver().started()
        reading.readFails = true
        #expect(reading.send("x") == ["read", "close"])
        // Nothing happens after the close.
        #expect(reading.run(.readable) == [])
        #expect(reading.run(.timerFired) == [])
    }

    @Test func peerCloseMidHeadCloses() {
        var driver = ConnectionDriver().started()
        #expect(driver.send("GET / HT") == ["read"])
        driver.peerEOF = true
        #expect(driver.run(.readable) == ["read", "close"])
    }

    @Test func peerCloseAfterARequestServesItThenCloses() {
        var driver = ConnectionDriver().started()
        driver.answer = nil
        driver.peerEOF = true
        #expect(driver.send(simpleGet) == ["read", "handle GET /"])
        #expect(driver.run(.readable) == ["read", "readInterest(false)"])
        #expect(driver.respond(0) == ["write", "close"])
        #expect(driver.output.contains("Connection: close"))
    }

    @Test func stopWhenIdleClosesAtOnce() {
        var driver = ConnectionDriver().started()
        _ = driver.send(simpleGet)
        #expect(driver.run(.stopRequested) == ["close"])
    }

    @Test func stopServesTheParkedRequestWithConnectionClose() {
        var driver = ConnectionDriver().started()
        driver.answer = nil
        _ = driver.send(simpleGet)
        #expect(driver.run(.stopRequested) == ["readInterest(false)"])
        // Stopping: the linger timer polls for the peer's acknowledgement from 1 ms on.
        #expect(driver.respond(0) == ["write", "shutdown", "readInterest(true)", "timer(1)", "drain"])
        #expect(driver.output.contains("Connection: close"))
    }

    @Test func stopServesAPartialRequestWithConnectionClose() {
        var driver = ConnectionDriver().started()
        _ = driver.send("GET / HTTP/1.1\r\n")
        #expect(driver.run(.stopRequested) == [])
        #expect(driver.send("Host: a\r\n\r\n") == ["read", "handle GET /", "write", "shutdown", "timer(1)", "drain"])
        #expect(driver.output.contains("Connection: close"))
    }

    @Test func stopWhileLingeringPollsUntilAcknowledged() {
        var driver = ConnectionDriver().started()
        _ = driver.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(driver.run(.stopRequested) == ["timer(0)"])
        driver.unacknowledged = 100
        #expect(driver.run(.timerFired) == ["checkAcknowledged", "timer(20)"])
        driver.clock.advance(seconds: 0.02)
        driver.unacknowledged = 0
        #expect(driver.run(.timerFired) == ["checkAcknowledged", "close"])
    }

    @Test func aRejectedConnectionIsAnswered503AndLingers() {
        var driver = ConnectionDriver(rejected: true)
        #expect(driver.run(.start) == ["write", "shutdown", "timer(2000)", "drain"])
        #expect(driver.output.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(driver.output.contains("Connection: close"))
    }

    @Test func aLateResponseAfterTheCloseIsIgnored() {
        var driver = ConnectionDriver().started()
        driver.answer = nil
        _ = driver.send(simpleGet)
        driver.readFails = true
        #expect(driver.run(.readable) == ["read", "close"])
        #expect(driver.respond(0) == [])
        #expect(driver.written.isEmpty)
    }

    @Test func aHandlersConnectionCloseHeaderDropsTheRest() {
        var driver = ConnectionDriver().started()
        driver.answer = { _ in HTTPResponse(status: 200, headers: [("Connection", "close")]) }
        let log = driver.send(simpleGet + simpleGet)
        #expect(log == ["read", "handle GET /", "handle GET /", "write", "shutdown", "timer(2000)", "drain"])
        #expect(driver.output.components(separatedBy: "HTTP/1.1 200").count - 1 == 1)
    }
}
