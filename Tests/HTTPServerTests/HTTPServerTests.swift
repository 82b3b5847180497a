import Dispatch
import Synchronization
import Testing
import HTTPServer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Answers "<method> <path> <body>".
let echo: HTTPHandler = { request, responder in
    let body = Array("\(request.method) \(request.path) ".utf8) + request.body
    responder.respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: body))
}

func startServer(
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    hooks: HTTPServerHooks = HTTPServerHooks(),
    handler: @escaping HTTPHandler = echo
) throws -> (server: HTTPServer, port: UInt16) {
    var configuration = HTTPServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configure(&configuration)
    let server = HTTPServer(configuration: configuration, hooks: hooks, handler: handler)
    let bound = try server.start()
    #expect(bound.port != 0)
    return (server, bound.port)
}

func get(_ path: String, _ extra: String = "") -> String {
    "GET \(path) HTTP/1.1\r\nHost: test\r\n\(extra)\r\n"
}

func nowSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Socket tests run one at a time: they count descriptors and use timeouts.
@Suite(.serialized) struct HTTPServerTests {
    @Test func keepAliveReusesTheConnection() async throws {
        let opened = Atomic<Int>(0)
        let closed = Atomic<Int>(0)
        var hooks = HTTPServerHooks()
        hooks.connectionOpened = { opened.add(1, ordering: .relaxed) }
        hooks.connectionClosed = { closed.add(1, ordering: .relaxed) }
        let (server, port) = try startServer(hooks: hooks)
        let client = try TestClient(port: port)
        for index in 0..<5 {
            client.send("POST /echo/\(index) HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc")
            let response = try #require(client.readResponse())
            #expect(response.status == 200)
            #expect(response.bodyText == "POST /echo/\(index) abc")
            #expect(response.header("Connection") == nil)
            #expect(response.header("Date")?.hasSuffix(" GMT") == true)
            #expect(response.header("Content-Type") == "text/plain")
        }
        #expect(server.openConnections == 1)
        let openedCount = opened.load(ordering: .relaxed)
        #expect(openedCount == 1)
        await server.stop()
        #expect(client.waitForClose())
        #expect(server.openConnections == 0)
        let closedCount = closed.load(ordering: .relaxed)
        #expect(closedCount == 1)
    }

    /// A connection reuses an answered responder only once nobody else holds it: a handler
    /// that keeps its responders gets a new one each request, and a late second answer through
    /// a kept one changes nothing; one that lets go gets the same one back.
    @Test func respondersAreReusedOnlyWhenNobodyHoldsThem() async throws {
        let kept = Mutex<[HTTPResponder]>([])
        let seen = Mutex<[ObjectIdentifier]>([])
        let handler: HTTPHandler = { request, responder in
            seen.withLock { $0.append(ObjectIdentifier(responder)) }
            if request.path == "/keep" { kept.withLock { $0.append(responder) } }
            responder.respond(HTTPResponse(status: 200, body: Array(request.path.utf8)))
        }
        let (server, port) = try startServer(handler: handler)
        let client = try TestClient(port: port)
        for _ in 0..<3 {
            client.send(get("/keep"))
            let response = try #require(client.readResponse())
            #expect(response.bodyText == "/keep")
        }
        #expect(Set(seen.withLock { $0 }).count == 3)
        // A late answer through a kept responder is ignored, even once responders are reused.
        for responder in kept.withLock({ $0 }) {
            responder.respond(HTTPResponse(status: 500, body: Array("late".utf8)))
        }
        kept.withLock { $0.removeAll() }
        seen.withLock { $0.removeAll() }
        for index in 0..<4 {
            client.send(get("/let-go/\(index)"))
            let response = try #require(client.readResponse())
            #expect(response.status == 200)
            #expect(response.bodyText == "/let-go/\(index)")
        }
        // The first of these may still meet a kept responder's last reference going away; after
        // it, one responder serves them all.
        #expect(Set(seen.withLock { $0.dropFirst() }).count == 1)
        await server.stop()
    }

    @Test func pipelinedResponsesKeepRequestOrder() async throws {
        // Earlier requests answer later, from other threads.
        let handler: HTTPHandler = { request, responder in
            let delay = Int(request.query["delay"] ?? "0") ?? 0
            let response = HTTPResponse(status: 200, body: Array(request.target.utf8))
            if delay == 0 {
                responder.respond(response)
            } else {
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delay)) { responder.respond(response) }
            }
        }
        let (server, port) = try startServer(handler: handler)
        let client = try TestClient(port: port)
        let targets = ["/1?delay=150", "/2?delay=50", "/3", "/4?delay=100", "/5"]
        client.send(targets.map { get($0) }.joined())
        for target in targets {
            let response = try #require(client.readResponse())
            #expect(response.bodyText == target)
        }
        await server.stop()
    }

    @Test func manyPipelinedRequestsBeyondTheLimit() async throws {
        let handler: HTTPHandler = { request, responder in
            DispatchQueue.global().async { responder.respond(HTTPResponse(status: 200, body: Array(request.path.utf8))) }
        }
        let (server, port) = try startServer({ $0.maxPipelinedRequests = 4 }, handler: handler)
        let client = try TestClient(port: port)
        client.send((0..<100).map { get("/\($0)") }.joined())
        for index in 0..<100 {
            let response = try #require(client.readResponse())
            #expect(response.bodyText == "/\(index)")
        }
        await server.stop()
    }

    @Test func thousandsOfPipelinedRequestsInOneWrite() async throws {
        let (server, port) = try startServer()
        let client = try TestClient(port: port)
        let count = 3000
        client.send((0..<count).map { _ in "GET / HTTP/1.1\r\nHost: h\r\n\r\n" }.joined())
        var received = 0
        while received < count, let response = client.readResponse() {
            #expect(response.status == 200)
            received += 1
        }
        #expect(received == count)
        await server.stop()
    }

    @Test func handlerHeadersAreSanitized() async throws {
        let handler: HTTPHandler = { _, responder in
            responder.respond(HTTPResponse(status: 200, headers: [
                ("X-Good", "yes"), ("X-Bad", "a\r\nInjected: 1"), ("Bad Name", "x"),
                ("Content-Length", "999"), ("Transfer-Encoding", "chunked"),
            ], body: Array("ok".utf8)))
        }
        let (server, port) = try startServer(handler: handler)
        let client = try TestClient(port: port)
        client.send(get("/"))
        let response = try #require(client.readResponse())
        #expect(response.header("X-Good") == "yes")
        #expect(response.header("X-Bad") == nil)
        #expect(response.header("Injected") == nil)
        #expect(response.header("Content-Length") == "2")
        #expect(response.header("Transfer-Encoding") == nil)
        #expect(response.bodyText == "ok")
        // A handler's own Connection: close closes the connection.
        let closing: HTTPHandler = { _, responder in
            responder.respond(HTTPResponse(status: 200, headers: [("Connection", "close")]))
        }
        let (other, otherPort) = try startServer(handler: closing)
        let second = try TestClient(port: otherPort)
        second.send(get("/"))
        #expect(second.readResponse()?.header("Connection") == "close")
        #expect(second.waitForClose())
        await server.stop()
        await other.stop()
    }

    @Test func connectionCloseClosesAfterTheResponse() async throws {
        let (server, port) = try startServer()
        let client = try TestClient(port: port)
        // The request after the closing one is not served.
        client.send(get("/a", "Connection: close\r\n") + get("/b"))
        let response = try #require(client.readResponse())
        #expect(response.bodyText == "GET /a ")
        #expect(response.header("Connection") == "close")
        #expect(client.readResponse() == nil)
        #expect(client.sawEOF)
        await server.stop()
    }

    @Test func http10ClosesUnlessKeepAlive() async throws {
        let (server, port) = try startServer()
        let keepAlive = try TestClient(port: port)
        keepAlive.send("GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let first = try #require(keepAlive.readResponse())
        #expect(first.header("Connection") == "keep-alive")
        keepAlive.send("GET /k2 HTTP/1.0\r\n\r\n")
        let second = try #require(keepAlive.readResponse())
        #expect(second.bodyText == "GET /k2 ")
        #expect(second.header("Connection") == "close")
        #expect(keepAlive.waitForClose())
        await server.stop()
    }

    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        let (server, port) = try startServer { $0.maxBodyBytes = 100 }
        let client = try TestClient(port: port)
        client.send("POST /up HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        let interim = try #require(client.readResponse())
        #expect(interim.status == 100)
        client.send("hello")
        let response = try #require(client.readResponse())
        #expect(response.status == 200)
        #expect(response.bodyText == "POST /up hello")

        // Too large: 413 instead of 100, then close.
        client.send("POST /up HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n")
        let refused = try #require(client.readResponse())
        #expect(refused.status == 413)
        #expect(refused.header("Connection") == "close")
        #expect(client.waitForClose())
        await server.stop()
    }

    @Test func errorsOverTheWire() async throws {
        let cases: [(String, Int)] = [
            ("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n", 413),
            ("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + String(repeating: "x", count: 2000) + "\r\n\r\n", 431),
            ("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("GET / HTTP/2.0\r\n\r\n", 505),
            ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
            ("GET / HTTP/1.1\nHost: t\n\n", 400),
        ]
        let (server, port) = try startServer {
            $0.maxHeaderBytes = 1024
            $0.maxBodyBytes = 1000
        }
        for (request, status) in cases {
            let client = try TestClient(port: port)
            client.send(request)
            let response = try #require(client.readResponse(), "\(request.debugDescription)")
            #expect(response.status == status, "\(request.debugDescription)")
            #expect(response.header("Connection") == "close")
            #expect(response.header("Content-Type") == "text/plain; charset=utf-8")
            #expect(!response.bodyText.isEmpty && response.bodyText.hasSuffix("\n"))
            #expect(client.waitForClose())
        }
        // A TLS ClientHello: 400 and close, without waiting for a line end.
        let tls = try TestClient(port: port)
        tls.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03] + [UInt8](repeating: 0xAB, count: 200))
        #expect(tls.readResponse()?.status == 400)
        #expect(tls.waitForClose())
        await server.stop()
    }

    /// The server's own errors (a parse error, a router's 404, an abandoned handler's 500) are
    /// worded by the configured errorFormat.
    @Test func errorsInTheConfiguredFormat() async throws {
        var router = Router()
        router.add("GET", "/abandon") { _, _ in }
        let (server, port) = try startServer({
            $0.errorFormat = HTTPErrorFormat { status, message, headers in
                HTTPResponse(status: status, headers: headers + [("Content-Type", "x/test")], body: Array("<\(message)>".utf8))
            }
        }, handler: router.handler)
        let client = try TestClient(port: port)
        client.send(get("/nothing"))
        let notFound = try #require(client.readResponse())
        #expect(notFound.status == 404 && notFound.bodyText == "<not found>" && notFound.header("Content-Type") == "x/test")
        client.send(get("/abandon"))
        let abandoned = try #require(client.readResponse())
        #expect(abandoned.status == 500 && abandoned.bodyText == "<the handler did not respond>")
        client.send("GET / HTTP/1.1\nHost: t\n\n")
        let malformed = try #require(client.readResponse())
        #expect(malformed.status == 400 && malformed.bodyText == "<bare LF in request head>")
        #expect(client.waitForClose())
        await server.stop()
    }

    @Test func bodyTooLargeWhileTheClientKeepsSending() async throws {
        // The 413 must arrive even though the client is still sending a large chunked body.
        let (server, port) = try startServer { $0.maxBodyBytes = 1000 }
        let client = try TestClient(port: port)
        client.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = "400\r\n" + String(repeating: "z", count: 1024) + "\r\n"
        client.send(String(repeating: chunk, count: 100))
        let response = try #require(client.readResponse())
        #expect(response.status == 413)
        #expect(client.waitForClose())
        await server.stop()
    }

    @Test func routerNotFoundAndMethodNotAllowed() async throws {
        var router = Router()
        router.add("GET", "/thing") { _, responder in responder.respond(.json(status: 200, Array("{}".utf8))) }
        router.add("POST", "/thing") { _, responder in responder.respond(.json(status: 201, Array("{}".utf8))) }
        let (server, port) = try startServer(handler: router.handler)
        let client = try TestClient(port: port)
        client.send(get("/nothing"))
        let notFound = try #require(client.readResponse())
        #expect(notFound.status == 404)
        #expect(notFound.bodyText == "not found\n")
        client.send("DELETE /thing HTTP/1.1\r\nHost: t\r\n\r\n")
        let notAllowed = try #require(client.readResponse())
        #expect(notAllowed.status == 405)
        #expect(notAllowed.header("Allow") == "GET, POST")
        client.send(get("/thing?x=1"))
        #expect(client.readResponse()?.status == 200)
        client.send("HEAD /thing HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try #require(client.readResponse(toHead: true))
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == "2")
        #expect(head.body.isEmpty)
        client.send(get("/thing"))
        #expect(client.readResponse()?.bodyText == "{}") // nothing was left over from HEAD
        await server.stop()
    }

    @Test func headerTimeoutAnswers408() async throws {
        let (server, port) = try startServer { $0.headerTimeout = 0.3 }
        let client = try TestClient(port: port)
        let start = nowSeconds()
        client.send("GET / HTTP/1.1\r\nHost: t\r\n")
        let response = try #require(client.readResponse())
        let elapsed = nowSeconds() - start
        #expect(response.status == 408)
        #expect(response.header("Connection") == "close")
        #expect(elapsed >= 0.25 && elapsed < 2, "after \(elapsed) s")
        #expect(client.waitForClose())

        // A head that trickles in too slowly on a kept-alive connection also gets 408.
        let slow = try TestClient(port: port)
        slow.send(get("/first"))
        #expect(slow.readResponse()?.status == 200)
        for byte in "GET /second HTTP/1.1\r\n".utf8 {
            slow.send([byte])
            usleep(30_000)
            if slow.sawEOF { break }
        }
        #expect(slow.readResponse()?.status == 408)
        await server.stop()
    }

    @Test func idleConnectionsAreClosed() async throws {
        let (server, port) = try startServer {
            $0.idleTimeout = 0.3
            $0.headerTimeout = 0.3
        }
        // Keep-alive idle after a request: plain close.
        let client = try TestClient(port: port)
        client.send(get("/"))
        #expect(client.readResponse()?.status == 200)
        let start = nowSeconds()
        #expect(client.waitForClose())
        let elapsed = nowSeconds() - start
        #expect(elapsed >= 0.25 && elapsed < 2, "after \(elapsed) s")
        #expect(client.unreadBytes == 0)

        // A new connection that never sends anything: plain close, no 408.
        let silent = try TestClient(port: port)
        #expect(silent.waitForClose())
        #expect(silent.unreadBytes == 0)
        #expect(eventually { server.openConnections == 0 })
        await server.stop()
    }

    @Test func connectionCapAnswers503() async throws {
        let (server, port) = try startServer { $0.maxConnections = 2 }
        let first = try TestClient(port: port)
        first.send(get("/1"))
        #expect(first.readResponse()?.status == 200)
        let second = try TestClient(port: port)
        second.send(get("/2"))
        #expect(second.readResponse()?.status == 200)
        #expect(server.openConnections == 2)

        let third = try TestClient(port: port)
        third.send(get("/3"))
        let refused = try #require(third.readResponse())
        #expect(refused.status == 503)
        #expect(refused.header("Connection") == "close")
        #expect(refused.bodyText == "too many connections\n")
        #expect(third.waitForClose())

        // Room again once a connection is gone.
        first.shutdownWrite()
        #expect(first.waitForClose())
        #expect(eventually { server.openConnections == 1 })
        let fourth = try TestClient(port: port)
        fourth.send(get("/4"))
        #expect(fourth.readResponse()?.status == 200)
        await server.stop()
    }

    /// Refusals hold descriptors too: beyond maxRejectedConnections a new connection waits in
    /// the backlog, unanswered, until a refused one closes.
    @Test func refusalsAreBoundedToo() async throws {
        let (server, port) = try startServer {
            $0.maxConnections = 1
            $0.maxRejectedConnections = 1
        }
        let first = try TestClient(port: port)
        first.send(get("/1"))
        #expect(first.readResponse()?.status == 200)
        let second = try TestClient(port: port)
        #expect(second.readResponse()?.status == 503)  // lingers until we close (2 s at most)
        let third = try TestClient(port: port, timeout: 0.5)
        #expect(third.readResponse()?.status == nil)
        second.shutdownWrite()
        #expect(second.waitForClose())
        #expect(third.readResponse()?.status == 503)
        await server.stop()
    }

    @Test func gracefulStopWaitsForAParkedRequest() async throws {
        let parked = Mutex<HTTPResponder?>(nil)
        let handler: HTTPHandler = { request, responder in
            if request.path == "/park" {
                parked.withLock { $0 = responder }
            } else {
                responder.respond(HTTPResponse(status: 200))
            }
        }
        let (server, port) = try startServer(handler: handler)
        let idle = try TestClient(port: port)
        idle.send(get("/idle"))
        #expect(idle.readResponse()?.status == 200)
        let client = try TestClient(port: port)
        client.send(get("/park"))
        #expect(eventually { parked.withLock { $0 != nil } })

        let stopped = Atomic<Bool>(false)
        server.stop { stopped.store(true, ordering: .sequentiallyConsistent) }
        // The idle connection is closed right away; the parked one stays.
        #expect(idle.waitForClose())
        usleep(100_000)
        let stoppedEarly = stopped.load(ordering: .sequentiallyConsistent)
        #expect(!stoppedEarly)
        // New connections are refused.
        #expect(throws: (any Error).self) { try TestClient(port: port) }

        parked.withLock { $0?.respond(HTTPResponse(status: 202, body: Array("late".utf8))) }
        let response = try #require(client.readResponse())
        #expect(response.status == 202)
        #expect(response.bodyText == "late")
        #expect(response.header("Connection") == "close")
        #expect(client.waitForClose())
        let stoppedInTime = eventually { stopped.load(ordering: .sequentiallyConsistent) }
        #expect(stoppedInTime)
        #expect(server.openConnections == 0)
    }

    @Test func noDescriptorLeaksOverStartStopCycles() async throws {
        // Warm up Dispatch's own descriptors first.
        do {
            let (server, port) = try startServer()
            let client = try TestClient(port: port)
            client.send(get("/"))
            _ = client.readResponse()
            // The check below does see the server's sockets.
            #expect(!ownSocketInodes().isDisjoint(with: tcpSocketInodes(localPort: port)))
            await server.stop()
        }
        let before = openFileDescriptorCount()
        var leakedSockets: [UInt16] = []
        for cycle in 0..<50 {
            let (server, port) = try startServer()
            do {
                let client = try TestClient(port: port)
                client.send(get("/\(cycle)"))
                #expect(client.readResponse()?.status == 200)
                if cycle % 2 == 0 {
                    // Leave a request half sent.
                    client.send("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\npartial")
                }
                if cycle % 3 == 0 {
                    _ = try TestClient(port: port) // connected, silent
                }
            }
            await server.stop()
            // Exact: no descriptor of this process is a socket on the server's port.
            if !ownSocketInodes().isDisjoint(with: tcpSocketInodes(localPort: port)) {
                leakedSockets.append(port)
            }
        }
        #expect(leakedSockets.isEmpty)
        // Total count: other suites may run in parallel in the same process, so allow a
        // little noise; a leak would add at least 50.
        let after = openFileDescriptorCount()
        #expect(after <= before + 8, "descriptors: \(before) before, \(after) after")
    }

    /// Connections are spread over the pools; each pool's thread serves its own, and wakes for
    /// responses given later on other threads.
    @Test func everyPoolServesItsConnections() async throws {
        let handler: HTTPHandler = { request, responder in
            let body = Array("late \(request.path)".utf8)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(request.path.count % 3)) {
                responder.respond(HTTPResponse(status: 200, body: body))
            }
        }
        let (server, port) = try startServer({ $0.connectionPools = 3 }, handler: handler)
        let clients = try (0..<9).map { _ in try TestClient(port: port) }
        for round in 0..<3 {
            for (index, client) in clients.enumerated() {
                client.send(get("/\(index)/\(round)"))
            }
            for (index, client) in clients.enumerated() {
                let response = try #require(client.readResponse())
                #expect(response.status == 200)
                #expect(response.bodyText == "late /\(index)/\(round)")
            }
        }
        #expect(server.openConnections == 9)
        await server.stop()
        for client in clients {
            #expect(client.waitForClose())
        }
    }

    /// Each pool's thread ends with its server (a leak would add four threads a cycle).
    @Test func poolThreadsEndWithTheServer() async throws {
        func threadCount() -> Int {
            guard let directory = opendir("/proc/self/task") else { return -1 }
            defer { closedir(directory) }
            var count = 0
            while readdir(directory) != nil { count += 1 }
            return count
        }
        let before = threadCount()
        for cycle in 0..<20 {
            let (server, port) = try startServer { $0.connectionPools = 4 }
            let client = try TestClient(port: port)
            client.send(get("/\(cycle)"))
            #expect(client.readResponse()?.status == 200)
            await server.stop()
        }
        // Other suites may run in the same process and Dispatch keeps idle workers a while.
        let settled = eventually(timeout: 5) { threadCount() <= before + 8 }
        #expect(settled, "threads: \(before) before, \(threadCount()) after")
    }

    @Test func hooksSeeEveryResponse() async throws {
        struct Seen: Sendable, Equatable {
            var method: String
            var path: String
            var status: Int
        }
        let seen = Mutex<[Seen]>([])
        let seconds = Mutex<[Double]>([])
        var hooks = HTTPServerHooks()
        hooks.responseSent = { method, path, status, elapsed, _ in
            seen.withLock { $0.append(Seen(method: method, path: path, status: status)) }
            seconds.withLock { $0.append(elapsed) }
        }
        let handler: HTTPHandler = { request, responder in
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                responder.respond(HTTPResponse(status: 201))
            }
        }
        let (server, port) = try startServer(hooks: hooks, handler: handler)
        let client = try TestClient(port: port)
        client.send("POST /x?y=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\nBROKEN\r\n\r\n")
        #expect(client.readResponse()?.status == 201)
        #expect(client.readResponse()?.status == 400)
        await server.stop()
        #expect(seen.withLock { $0 } == [Seen(method: "POST", path: "/x", status: 201), Seen(method: "", path: "", status: 400)])
        let first = seconds.withLock { $0.first ?? 0 }
        #expect(first >= 0.04 && first < 2)
    }

    /// Handlers and hooks know the client's address (for logs: refused credentials, access log).
    @Test func requestsCarryTheClientAddress() async throws {
        let seen = Mutex<[String]>([])
        var hooks = HTTPServerHooks()
        hooks.responseSent = { _, _, _, _, client in seen.withLock { $0.append("hook " + client) } }
        let handler: HTTPHandler = { request, responder in
            seen.withLock { $0.append("request " + request.remoteAddress) }
            responder.respond(HTTPResponse(status: 204))
        }
        let (server, port) = try startServer(hooks: hooks, handler: handler)
        let client = try TestClient(port: port)
        client.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(client.readResponse()?.status == 204)
        await server.stop()
        let lines = seen.withLock { $0 }
        #expect(lines.count == 2)
        let address = lines.first.map { String($0.dropFirst("request ".count)) } ?? ""
        #expect(address.hasPrefix("127.0.0.1:") && (UInt16(address.dropFirst("127.0.0.1:".count)) ?? 0) > 0, "\(lines)")
        #expect(lines.last == "hook " + address)
    }

    @Test func largeBodiesBothWays() async throws {
        // Larger than the socket buffers: the response needs the write source.
        let size = 2 * 1024 * 1024 + 17
        let payload = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            for index in 0..<size { buffer[index] = UInt8(truncatingIfNeeded: index % 251) }
            count = size
        }
        let handler: HTTPHandler = { request, responder in
            if request.method == "GET" {
                responder.respond(HTTPResponse(status: 200, body: payload))
            } else {
                let same = request.body == payload
                responder.respond(HTTPResponse(status: 200, body: Array("\(request.body.count) \(same)".utf8)))
            }
        }
        let (server, port) = try startServer(handler: handler)
        let client = try TestClient(port: port)
        client.send(get("/big") + get("/big"))
        for _ in 0..<2 {
            let response = try #require(client.readResponse())
            #expect(response.body.count == size)
            #expect(response.body == payload)
        }
        client.send(Array("PUT /up HTTP/1.1\r\nHost: t\r\nContent-Length: \(size)\r\n\r\n".utf8) + payload)
        let echoed = try #require(client.readResponse())
        #expect(echoed.bodyText == "\(size) true")
        await server.stop()
    }

    @Test func abandonedResponderAnswers500() async throws {
        let (server, port) = try startServer(handler: { _, _ in })
        let client = try TestClient(port: port)
        client.send(get("/"))
        let response = try #require(client.readResponse())
        #expect(response.status == 500)
        await server.stop()
    }

    @Test func clientHalfCloseStillGetsResponses() async throws {
        let handler: HTTPHandler = { request, responder in
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                responder.respond(HTTPResponse(status: 200, body: Array(request.path.utf8)))
            }
        }
        let (server, port) = try startServer(handler: handler)
        let client = try TestClient(port: port)
        client.send(get("/a") + get("/b"))
        client.shutdownWrite()
        #expect(client.readResponse()?.bodyText == "/a")
        let last = try #require(client.readResponse())
        #expect(last.bodyText == "/b")
        #expect(last.header("Connection") == "close")
        #expect(client.waitForClose())
        #expect(eventually { server.openConnections == 0 })
        await server.stop()
    }

    @Test func startErrors() async throws {
        let (server, port) = try startServer()
        var configuration = HTTPServerConfiguration()
        configuration.port = port
        let clash = HTTPServer(configuration: configuration, handler: echo)
        #expect {
            try clash.start()
        } throws: { error in
            guard let error = error as? HTTPServerError else { return false }
            return error.errno == EADDRINUSE && error.message.contains("\(port)")
        }
        #expect(throws: HTTPServerError.self) { try server.start() }

        configuration.port = 0
        for host in ["256.1.1.1", "::zz", "1.2.3.4.5"] {
            configuration.host = host
            #expect {
                try HTTPServer(configuration: configuration, handler: echo).start()
            } throws: { error in
                (error as? HTTPServerError)?.message.contains(host) == true
            }
        }
        // An address this machine does not have.
        configuration.host = "192.0.2.1"
        #expect {
            try HTTPServer(configuration: configuration, handler: echo).start()
        } throws: { error in
            (error as? HTTPServerError)?.errno == EADDRNOTAVAIL
        }
        await server.stop()
        await clash.stop()
    }

    @Test func ipv6() async throws {
        var configuration = HTTPServerConfiguration()
        configuration.host = "::1"
        configuration.port = 0
        let server = HTTPServer(configuration: configuration, handler: echo)
        guard let bound = try? server.start() else {
            return // no IPv6 loopback on this machine
        }
        #expect(bound.host == "::1")
        let client = try TestClient(port: bound.port, host: "::1")
        client.send(get("/six"))
        #expect(client.readResponse()?.bodyText == "GET /six ")
        await server.stop()
    }
}
