import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Hostile clients against the real snapshotd binary over raw sockets (RawConnection): malformed
/// and ambiguous requests with the answer RFC 9112 requires, slow clients (slowloris), and more
/// load than the disk can take.
@Suite(.serialized) struct HostileTests {
    // MARK: - The corpus

    /// One hostile request: the bytes (in one write each), what the server must answer, in
    /// order (none: it closes without an answer), and whether it then closes the connection.
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var writes: [[UInt8]]
        /// Seconds between writes.
        var pause: Double = 0
        /// End our side after the writes (the server then sees end of file).
        var halfClose = false
        var statuses: [Int]
        var closes = true

        init(_ name: String, _ text: String, _ statuses: [Int], closes: Bool = true) {
            self.name = name
            writes = [Array(text.utf8)]
            self.statuses = statuses
            self.closes = closes
        }

        init(_ name: String, bytes: [UInt8], _ statuses: [Int], closes: Bool = true) {
            self.name = name
            writes = [bytes]
            self.statuses = statuses
            self.closes = closes
        }

        var description: String { name }
    }

    static let host = "Host: x\r\n"
    static let event = #"{"type":"clock","ltime":1}"#  // 26 bytes, 0x1a
    static func post(_ headers: String, _ body: String = "") -> String {
        "POST /v1/events HTTP/1.1\r\n\(host)Content-Type: application/json\r\n\(headers)\r\n\(body)"
    }

    static let corpus: [Case] = {
        var cases: [Case] = [
            // Message framing (RFC 9112 §6): anything ambiguous is a 400 and a close (§6.3).
            Case("Content-Length with Transfer-Encoding", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), [400]),
            Case("Transfer-Encoding then Content-Length", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"), [400]),
            Case("two different Content-Length lines", post("Content-Length: 26\r\nContent-Length: 27\r\n", event), [400]),
            Case("Content-Length list of different values", post("Content-Length: 26, 27\r\n", event), [400]),
            Case("two equal Content-Length lines (one length)", post("Content-Length: 26\r\nContent-Length: 26\r\n", event), [200], closes: false),
            Case("negative Content-Length", post("Content-Length: -1\r\n"), [400]),
            Case("Content-Length with a plus sign", post("Content-Length: +26\r\n", event), [400]),
            Case("hexadecimal Content-Length", post("Content-Length: 0x1a\r\n", event), [400]),
            Case("Content-Length with trailing letters", post("Content-Length: 26abc\r\n", event), [400]),
            Case("empty Content-Length", post("Content-Length: \r\n", event), [400]),
            Case("Content-Length beyond 64 bits", post("Content-Length: 100000000000000000000000\r\n", event), [400]),
            Case("Content-Length beyond the body limit", post("Content-Length: 99999999999\r\n", event), [413]),
            Case("chunk size not hexadecimal", post("Transfer-Encoding: chunked\r\n", "zz\r\n\(event)\r\n0\r\n\r\n"), [400]),
            Case("chunk size beyond 64 bits", post("Transfer-Encoding: chunked\r\n", "10000000000000001a\r\n\(event)\r\n0\r\n\r\n"), [400]),
            Case("negative chunk size", post("Transfer-Encoding: chunked\r\n", "-1a\r\n\(event)\r\n0\r\n\r\n"), [400]),
            Case("chunk longer than its size", post("Transfer-Encoding: chunked\r\n", "3\r\n\(event)\r\n0\r\n\r\n"), [400]),
            Case("bare LF after a chunk size", post("Transfer-Encoding: chunked\r\n", "1a\n\(event)\r\n0\r\n\r\n"), [400]),
            Case("control character in a chunk extension", post("Transfer-Encoding: chunked\r\n", "1a;a\u{1}\r\n\(event)\r\n0\r\n\r\n"), [400]),
            Case("chunks beyond the body limit", post("Transfer-Encoding: chunked\r\n", "500000\r\n"), [413]),
            Case("chunked applied twice", post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"), [400]),
            Case("chunked not the final coding", post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"), [400]),
            Case("unknown coding before chunked", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), [501]),
            Case("Transfer-Encoding in HTTP/1.0", "POST /v1/events HTTP/1.0\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", [400]),
            Case("obs-fold in a trailer", post("Transfer-Encoding: chunked\r\n", "1a\r\n\(event)\r\n0\r\nT: a\r\n b\r\n\r\n"), [400]),
            Case("valid chunked body with extension and trailer", post("Transfer-Encoding: chunked\r\n", "1a;x=\"y\"\r\n\(event)\r\n0\r\nT: a\r\n\r\n"), [200], closes: false),
            Case("smuggled request behind Content-Length and chunked",
                 post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nGET /v1/snapshot HTTP/1.1\r\n\(host)\r\n"), [400]),
            Case("pipelined garbage after a good request", "GET /healthz HTTP/1.1\r\n\(host)\r\nGARBAGE\r\n\r\n", [200, 400]),

            // Field syntax (RFC 9112 §5, §2.2; RFC 9110 §5.5).
            Case("obs-fold in a header", "GET /healthz HTTP/1.1\r\n\(host)X-A: a\r\n b\r\n\r\n", [400]),
            Case("whitespace before the first header", "GET /healthz HTTP/1.1\r\n \(host)\r\n", [400]),
            Case("space between field name and colon", "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", [400]),
            Case("tab between field name and colon", "GET /healthz HTTP/1.1\r\n\(host)X-A\t: b\r\n\r\n", [400]),
            Case("empty field name", "GET /healthz HTTP/1.1\r\n\(host): b\r\n\r\n", [400]),
            Case("non-token character in a field name", "GET /healthz HTTP/1.1\r\n\(host)X(A): b\r\n\r\n", [400]),
            Case("bare CR in a field value", "GET /healthz HTTP/1.1\r\n\(host)X-A: a\rb\r\n\r\n", [400]),
            Case("NUL in a field value", "GET /healthz HTTP/1.1\r\n\(host)X-A: a\u{0}b\r\n\r\n", [400]),
            Case("bare LF line ends", "GET /healthz HTTP/1.1\n\(host.replacingOccurrences(of: "\r", with: ""))\n", [400]),
            Case("bare LF ending the head", "GET /healthz HTTP/1.1\r\n\(host)\n", [400]),
            Case("field value with obs-text", bytes: Array("GET /healthz HTTP/1.1\r\n\(host)X-A: caf".utf8) + [0xE9] + Array("\r\n\r\n".utf8),
                 [200], closes: false),
            Case("missing Host in HTTP/1.1", "GET /healthz HTTP/1.1\r\n\r\n", [400]),
            Case("two Host lines", "GET /healthz HTTP/1.1\r\n\(host)\(host)\r\n", [400]),
            Case("HTTP/1.0 without Host", "GET /healthz HTTP/1.0\r\n\r\n", [200]),
            Case("header section beyond the limit", "GET /healthz HTTP/1.1\r\n\(host)X-A: \(String(repeating: "a", count: 20_000))\r\n\r\n", [431]),
            Case("too many header lines", "GET /healthz HTTP/1.1\r\n\(host)\(String(repeating: "X-A: b\r\n", count: 3000))\r\n", [431]),
            Case("Expect 100-continue for a body beyond the limit", post("Expect: 100-continue\r\nContent-Length: 5000000\r\n"), [413]),

            // Request line (RFC 9112 §3).
            Case("non-ASCII in the method", bytes: [0x47, 0xC3, 0x89, 0x54] + Array(" /healthz HTTP/1.1\r\n\(host)\r\n".utf8), [400]),
            Case("control character in the method", "G\u{1}ET /healthz HTTP/1.1\r\n\(host)\r\n", [400]),
            Case("lowercase method (methods are case-sensitive)", "get /healthz HTTP/1.1\r\n\(host)\r\n", [405], closes: false),
            Case("whitespace before the request line", " GET /healthz HTTP/1.1\r\n\(host)\r\n", [400]),
            Case("two spaces after the method", "GET  /healthz HTTP/1.1\r\n\(host)\r\n", [400]),
            Case("space inside the target", "GET /health z HTTP/1.1\r\n\(host)\r\n", [400]),
            Case("non-ASCII in the target", bytes: Array("GET /h".utf8) + [0xC3, 0xA9] + Array(" HTTP/1.1\r\n\(host)\r\n".utf8), [400]),
            Case("DEL in the target", "GET /heal\u{7F}thz HTTP/1.1\r\n\(host)\r\n", [400]),
            Case("bare CR in the request line", "GET /healthz\rHTTP/1.1\r\n\(host)\r\n", [400]),
            Case("missing HTTP version", "GET /healthz\r\n\(host)\r\n", [400]),
            Case("lowercase HTTP version", "GET /healthz http/1.1\r\n\(host)\r\n", [400]),
            Case("malformed HTTP version", "GET /healthz HTTP/1.10\r\n\(host)\r\n", [400]),
            Case("unsupported major version", "GET /healthz HTTP/2.0\r\n\(host)\r\n", [505]),
            Case("higher minor version (served as HTTP/1.1)", "GET /healthz HTTP/1.2\r\n\(host)\r\n", [200], closes: false),
            Case("absolute-form target", "GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: elsewhere\r\n\r\n", [200], closes: false),
            Case("absolute-form target with https, port and query", "GET https://x:8080/v1/snapshot?order=random HTTP/1.1\r\n\(host)\r\n", [200], closes: false),
            Case("absolute-form target without authority", "GET http:///healthz HTTP/1.1\r\n\(host)\r\n", [400]),
            Case("authority-form target on GET", "GET 127.0.0.1:80 HTTP/1.1\r\n\(host)\r\n", [400]),
            Case("asterisk-form target on GET", "GET * HTTP/1.1\r\n\(host)\r\n", [400]),
            Case("request target beyond the limit", "GET /\(String(repeating: "a", count: 20_000)) HTTP/1.1\r\n\(host)\r\n", [414]),
            Case("empty lines before the request", "\(String(repeating: "\r\n", count: 20_000))GET /healthz HTTP/1.1\r\n\(host)\r\n", [200], closes: false),

            // Other protocols on the plain port.
            Case("HTTP/2 connection preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", [505]),
            Case("TLS ClientHello", bytes: [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03] + Array(repeating: 0x42, count: 160), [400]),
        ]
        // Incomplete requests whose sender gives up: closed without an answer.
        var cut = Case("chunked body without its last chunk, then end of input", post("Transfer-Encoding: chunked\r\n", "1a\r\n\(event)\r\n"), [])
        cut.halfClose = true
        cases.append(cut)
        var short = Case("body shorter than Content-Length, then end of input", post("Content-Length: 100\r\n", event), [])
        short.halfClose = true
        cases.append(short)
        var head = Case("request head cut short, then end of input", "GET /healthz HTTP/1.1\r\nHo", [])
        head.halfClose = true
        cases.append(head)
        // The same request in many small writes.
        let request = Array("GET /healthz HTTP/1.1\r\n\(host)\r\n".utf8)
        var trickle = Case("request line and head in one-byte writes", "", [200], closes: false)
        trickle.writes = request.map { [$0] }
        trickle.pause = 0.002
        cases.append(trickle)
        var pieces = Case("request split inside tokens and line ends", "", [200], closes: false)
        pieces.writes = [Array("GE".utf8), Array("T /hea".utf8), Array("lthz HTTP/1".utf8), Array(".1\r".utf8), Array("\nHost: x\r\n\r".utf8), [0x0A]]
        pieces.pause = 0.02
        cases.append(pieces)
        return cases
    }()

    @Test func corpusIsLargeAndNamed() {
        #expect(Self.corpus.count >= 30)
        #expect(Set(Self.corpus.map(\.name)).count == Self.corpus.count)
    }

    /// Every case gets its answer, the connection closes when it must (and stays usable when
    /// not), and a normal request on a new connection is served afterwards.
    @Test func hostileRequestsGetTheirAnswers() throws {
        let (process, _, _) = try ServiceTests.start()
        var failures: [String] = []
        for hostile in Self.corpus {
            let problems = Self.run(hostile, port: process.port)
            failures += problems.map { "\(hostile.name): \($0)" }
            // The server still serves a normal request, on a new connection.
            let normal = try RawConnection(port: process.port)
            normal.send("GET /healthz HTTP/1.1\r\n\(Self.host)\r\n")
            let status = normal.readResponse()?.status
            if status != 200 { failures.append("\(hostile.name): the next normal request got \(status.map(String.init) ?? "no answer")") }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(Self.corpus.count) cases failed:\n\(failures.joined(separator: "\n"))")
        #expect(process.isRunning)
        #expect(try ServiceTests.stop(process) == 0)
    }

    /// Runs one case; returns what went wrong.
    static func run(_ hostile: Case, port: Int) -> [String] {
        guard let connection = try? RawConnection(port: port) else { return ["cannot connect"] }
        for (index, write) in hostile.writes.enumerated() {
            if index > 0 && hostile.pause > 0 { Thread.sleep(forTimeInterval: hostile.pause) }
            // The server may answer and close before it has read everything: that is fine.
            if !connection.send(write) { break }
        }
        if hostile.halfClose { connection.shutdownWrite() }
        var problems: [String] = []
        var statuses: [Int] = []
        var interim: [Int] = []
        var last: RawResponse?
        while statuses.count < hostile.statuses.count, let response = connection.readResponse(interim: &interim) {
            statuses.append(response.status)
            last = response
        }
        if statuses != hostile.statuses { problems.append("answered \(statuses), expected \(hostile.statuses)") }
        if !interim.isEmpty && hostile.statuses.first.map({ $0 >= 400 }) == true {
            problems.append("sent \(interim) before an error")
        }
        if let last, last.status >= 400, last.header("content-type") != "application/json" {
            problems.append("error without a JSON body")
        }
        if hostile.closes {
            if let last, last.header("connection")?.lowercased() != "close" {
                problems.append("last answer lacks Connection: close")
            }
            if !connection.waitForClose() { problems.append("connection not closed") }
            if !connection.unreadBytes.isEmpty {
                problems.append("\(connection.unreadBytes.count) bytes after the last answer: \(String(decoding: connection.unreadBytes.prefix(80), as: UTF8.self).debugDescription)")
            }
        } else {
            // Still open: the connection serves the next request.
            connection.send("GET /healthz HTTP/1.1\r\n\(host)\r\n")
            let next = connection.readResponse()
            if next?.status != 200 { problems.append("connection not reusable: \(next.map { String($0.status) } ?? "no answer")") }
        }
        return problems
    }

    // MARK: - Slow clients

    /// 500 connections trickle a request head at one byte a second (slowloris). A normal client
    /// is still served promptly, and the slow ones are answered 408 and closed at the header
    /// timeout (3 s here, `--header-timeout`), not before.
    @Test func slowlorisNeitherStarvesOthersNorStaysOpen() throws {
        let slowCount = 500
        let headerTimeout = 3.0
        #expect(raiseOpenFileLimit(to: 4 * slowCount) >= 2 * slowCount)
        let (process, _, _) = try ServiceTests.start(nil, ["--header-timeout", String(headerTimeout)])
        let baselineDescriptors = openDescriptors(pid: process.pid) ?? 0
        let head = Array("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 100)

        let opened = DispatchTime.now()
        var slow: [RawConnection] = []
        for _ in 0..<slowCount {
            let connection = try RawConnection(port: process.port, timeout: 1)
            connection.send([head[0]])
            slow.append(connection)
        }
        let openSeconds = Self.seconds(since: opened)

        // A normal client meanwhile, on new connections and on one kept alive.
        let latencies = Mutex<[Double]>([])
        let failures = Mutex<[String]>([])
        let port = process.port
        let normalDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { normalDone.signal() }
            let until = DispatchTime.now().uptimeNanoseconds + UInt64((headerTimeout - 0.8) * 1e9)
            let kept = try? RawConnection(port: port)
            var index = 0
            while DispatchTime.now().uptimeNanoseconds < until {
                index += 1
                let start = DispatchTime.now()
                let fresh = try? RawConnection(port: port)
                fresh?.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                let health = fresh?.readResponse()
                let body = #"{"type":"user","ltime":\#(index),"name":"n"}"#
                kept?.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                let posted = kept?.readResponse()
                let elapsed = HostileTests.seconds(since: start)
                latencies.withLock { $0.append(elapsed) }
                if health?.status != 200 || posted?.status != 200 {
                    failures.withLock { $0.append("round \(index): \(health?.status ?? 0) \(posted?.status ?? 0)") }
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }

        // One more byte a second on every slow connection, until the timeout has passed.
        var sent = 1
        var closedEarly = 0
        while Self.seconds(since: opened) < headerTimeout + 1.5 {
            Thread.sleep(forTimeInterval: 1)
            if Self.seconds(since: opened) < headerTimeout - 0.5 {
                closedEarly += Self.readable(slow)
            }
            for connection in slow { connection.send([head[sent]]) }
            sent += 1
        }
        normalDone.wait()

        var answered408 = 0
        var closed = 0
        for connection in slow {
            if connection.readResponse()?.status == 408 { answered408 += 1 }
            if connection.waitForClose() { closed += 1 }
        }
        let measured = latencies.withLock { $0 }.sorted()
        let median = measured.isEmpty ? 0 : measured[measured.count / 2]
        let worst = measured.last ?? 0
        let descriptorsAfter = openDescriptors(pid: process.pid) ?? 0
        print("slowloris: \(slowCount) slow connections opened in \(String(format: "%.2f", openSeconds)) s; normal client: \(measured.count) rounds, median \(String(format: "%.1f", median * 1000)) ms, worst \(String(format: "%.1f", worst * 1000)) ms; closed at the \(headerTimeout) s header timeout: \(closed)/\(slowCount) (\(answered408) with 408); server descriptors \(baselineDescriptors) before, \(descriptorsAfter) after")

        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        #expect(measured.count >= 10)
        #expect(worst < 1.0, "a normal request took \(worst) s among slow clients")
        #expect(closedEarly == 0, "slow connections closed before the header timeout")
        #expect(closed == slowCount)
        #expect(answered408 == slowCount)
        #expect(descriptorsAfter <= baselineDescriptors + 5)
        #expect(try ServiceTests.stop(process) == 0)
    }

    /// How many of the connections have something to read (data or end of file) right now.
    static func readable(_ connections: [RawConnection]) -> Int {
        var fds = connections.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        guard poll(&fds, nfds_t(fds.count), 0) > 0 else { return 0 }
        return fds.filter { $0.revents != 0 }.count
    }

    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    // MARK: - Overload

    /// More events than a slow disk can sync (20 ms a sync, 64 queued events, 50 ms wait):
    /// the excess gets 503 with Retry-After, memory stays bounded, every acknowledged event is
    /// in the snapshot (also after a restart), no refused one is, and the server recovers.
    @Test func overloadSheds503AndLosesNothingAcknowledged() throws {
        let (process, _, path) = try ServiceTests.start(nil, [
            "--simulate-sync-delay-ms", "20", "--queue-capacity", "64", "--queue-wait", "0.05",
        ])
        let port = process.port
        let pid = process.pid
        let baseline = residentBytes(pid: pid) ?? 0

        struct Tally: Sendable {
            var acknowledged: [String] = []
            var refused: [String] = []
            var statuses: [Int: Int] = [:]
            var badRetryAfter = 0
            var transportErrors = 0
        }
        let tally = Mutex(Tally())
        let rss = Mutex<[Int]>([])
        let stop = Atomic<Bool>(false)
        let clients = 24
        let batch = 16
        let loadSeconds = 4.0
        let group = DispatchGroup()

        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            while !stop.load(ordering: .relaxed) {
                if let bytes = residentBytes(pid: pid) { rss.withLock { $0.append(bytes) } }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        let started = DispatchTime.now()
        for client in 0..<clients {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var connection = try? RawConnection(port: port, timeout: 10)
                var round = 0
                while HostileTests.seconds(since: started) < loadSeconds {
                    round += 1
                    let names = (0..<batch).map { "c\(client)-r\(round)-e\($0)" }
                    let events = names.map { #"{"type":"member-join","members":[{"name":"\#($0)","addr":"10.0.0.1","port":7946}]}"# }
                    let body = "[" + events.joined(separator: ",") + "]"
                    if connection == nil { connection = try? RawConnection(port: port, timeout: 10) }
                    connection?.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                    guard let response = connection?.readResponse() else {
                        // Unknown outcome: neither counted as acknowledged nor as refused.
                        tally.withLock { $0.transportErrors += 1 }
                        connection = nil
                        continue
                    }
                    tally.withLock {
                        $0.statuses[response.status, default: 0] += 1
                        switch response.status {
                        case 200: $0.acknowledged += names
                        case 503:
                            $0.refused += names
                            if Int(response.header("retry-after") ?? "") == nil { $0.badRetryAfter += 1 }
                        default: break
                        }
                    }
                    if response.header("connection") == "close" { connection = nil }
                }
            }
        }
        // Wait for the clients, then stop sampling.
        while HostileTests.seconds(since: started) < loadSeconds + 0.5 { Thread.sleep(forTimeInterval: 0.1) }
        Thread.sleep(forTimeInterval: 0.5)
        stop.store(true, ordering: .relaxed)
        group.wait()
        let result = tally.withLock { $0 }
        let samples = rss.withLock { $0 }
        let peak = samples.max() ?? 0

        // Recovery: once the load is gone, requests are served at once.
        let recoveryStart = DispatchTime.now()
        let probe = try RawConnection(port: port)
        let body = #"{"type":"member-join","members":[{"name":"after-load","addr":"10.0.0.2","port":1}]}"#
        probe.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let recovered = probe.readResponse()
        let recoverySeconds = HostileTests.seconds(since: recoveryStart)
        probe.send("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        let ready = probe.readResponse()

        let client = CurlClient(baseURL: process.baseURL)
        let alive = Set(try ServiceTests.snapshot(client).alive_nodes.map(\.name))
        let lost = result.acknowledged.filter { !alive.contains($0) }
        let refusedButRecorded = result.refused.filter { alive.contains($0) }
        let mb = { (bytes: Int) in String(format: "%.1f", Double(bytes) / 1_048_576) }
        print("overload: \(clients) clients x \(batch)-event batches for \(loadSeconds) s: statuses \(result.statuses.sorted { $0.key < $1.key }), \(result.acknowledged.count) events acknowledged, \(result.refused.count) refused, \(result.transportErrors) transport errors; RSS \(mb(baseline)) MB before, peak \(mb(peak)) MB over \(samples.count) samples; first request after the load: \(recovered?.status ?? 0) in \(String(format: "%.1f", recoverySeconds * 1000)) ms")

        #expect(result.statuses[503, default: 0] > 0, "no request was shed: the load was too light")
        #expect(result.statuses[200, default: 0] > 0)
        #expect(Set(result.statuses.keys).isSubset(of: [200, 503]), "\(result.statuses)")
        #expect(result.badRetryAfter == 0, "503 without a numeric Retry-After")
        #expect(result.transportErrors == 0)
        #expect(lost.isEmpty, "acknowledged but missing: \(lost.prefix(5))")
        #expect(refusedButRecorded.isEmpty, "refused with 503 but recorded: \(refusedButRecorded.prefix(5))")
        #expect(peak < max(2 * baseline, baseline + 64 << 20), "RSS grew from \(mb(baseline)) MB to \(mb(peak)) MB")
        #expect(recovered?.status == 200 && recoverySeconds < 1, "after the load: \(recovered?.status ?? 0) in \(recoverySeconds) s")
        #expect(ready?.status == 200)
        #expect(try ServiceTests.stop(process) == 0)

        // Durable: the acknowledged events survive a restart.
        let (again, client2, _) = try ServiceTests.start(path)
        let replayed = Set(try ServiceTests.snapshot(client2).alive_nodes.map(\.name))
        #expect(result.acknowledged.allSatisfy { replayed.contains($0) })
        #expect(replayed.contains("after-load"))
        #expect(try ServiceTests.stop(again) == 0)
    }
}
