import Testing
import HTTPServer

/// A comparable digest of a parse event.
enum ParsedEvent: Equatable, CustomStringConvertible {
    case request(method: String, target: String, path: String, query: [String: String], minor: Int,
                 headers: [String], body: [UInt8])
    case expectContinue
    case error(Int)

    init(_ event: HTTPParseEvent) {
        switch event {
        case .request(let request):
            self = .request(method: request.method, target: request.target, path: request.path, query: request.query,
                            minor: request.versionMinor, headers: request.headers.map { "\($0.name): \($0.value)" },
                            body: request.body)
        case .expectContinue:
            self = .expectContinue
        case .error(let error):
            self = .error(error.status)
        }
    }

    var description: String {
        switch self {
        case .request(let method, let target, _, _, _, let headers, let body):
            return "request(\(method) \(target) \(headers) body=\(body.count))"
        case .expectContinue:
            return "100-continue"
        case .error(let status):
            return "error(\(status))"
        }
    }
}

func drain(_ parser: inout HTTPRequestParser) -> [ParsedEvent] {
    var events: [ParsedEvent] = []
    while let event = parser.next() {
        events.append(ParsedEvent(event))
    }
    return events
}

/// Parses `bytes` fed in pieces of the given sizes (the rest in one piece).
func parse(_ bytes: [UInt8], pieces: [Int] = [], limits: HTTPParserLimits = HTTPParserLimits()) -> [ParsedEvent] {
    var parser = HTTPRequestParser(limits: limits)
    var events: [ParsedEvent] = []
    var offset = 0
    for size in pieces where offset < bytes.count {
        let end = min(bytes.count, offset + size)
        parser.append(bytes[offset..<end])
        events += drain(&parser)
        offset = end
    }
    if offset < bytes.count {
        parser.append(Array(bytes[offset...]))
        events += drain(&parser)
    }
    return events
}

func parse(_ text: String, limits: HTTPParserLimits = HTTPParserLimits()) -> [ParsedEvent] {
    parse(Array(text.utf8), limits: limits)
}

/// The status of the first error event, if any.
func errorStatus(_ text: String, limits: HTTPParserLimits = HTTPParserLimits()) -> Int? {
    for event in parse(text, limits: limits) {
        if case .error(let status) = event { return status }
    }
    return nil
}

func requests(_ events: [ParsedEvent]) -> Int {
    events.filter { if case .request = $0 { return true } else { return false } }.count
}

/// Asserts that every way of splitting `bytes` gives the same events as parsing it whole.
func expectSplitInvariant(_ bytes: [UInt8], limits: HTTPParserLimits = HTTPParserLimits(),
                          sourceLocation: SourceLocation = #_sourceLocation) {
    let whole = parse(bytes, limits: limits)
    for split in 0...bytes.count {
        let events = parse(bytes, pieces: [split], limits: limits)
        if events != whole {
            Issue.record("split at \(split): \(events) != \(whole)", sourceLocation: sourceLocation)
            return
        }
    }
    let byteByByte = parse(bytes, pieces: Array(repeating: 1, count: bytes.count), limits: limits)
    #expect(byteByByte == whole, "byte by byte", sourceLocation: sourceLocation)
}

@Suite struct HTTPRequestParserTests {
    @Test func simpleGet() throws {
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        parser.append(Array("GET /v1/snapshot?order=random&x=a%20b HTTP/1.1\r\nHost: example\r\nX-Multi: 1\r\nx-multi: 2\r\n\r\n".utf8))
        guard case .request(let request) = parser.next() else {
            Issue.record("no request")
            return
        }
        #expect(request.method == "GET")
        #expect(request.target == "/v1/snapshot?order=random&x=a%20b")
        #expect(request.path == "/v1/snapshot")
        #expect(request.query == ["order": "random", "x": "a b"])
        #expect(request.versionMinor == 1)
        #expect(request.headers["HOST"] == "example")
        #expect(request.headers.values("X-MULTI") == ["1", "2"])
        #expect(request.headers["missing"] == nil)
        #expect(request.body.isEmpty)
        #expect(request.keepAlive)
        #expect(parser.next() == nil)
        #expect(!parser.hasPartialRequest)
    }

    @Test func contentLengthBodyAndPipelining() {
        let text = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            + "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
            + "PUT /c HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
        let events = parse(text)
        #expect(events.count == 3)
        guard events.count == 3 else { return }
        #expect(events[0] == .request(method: "POST", target: "/a", path: "/a", query: [:], minor: 1,
                                      headers: ["Host: h", "Content-Length: 5"], body: Array("hello".utf8)))
        #expect(events[1] == .request(method: "GET", target: "/b", path: "/b", query: [:], minor: 1,
                                      headers: ["Host: h"], body: []))
        #expect(events[2] == .request(method: "PUT", target: "/c", path: "/c", query: [:], minor: 1,
                                      headers: ["Host: h", "Content-Length: 0"], body: []))
    }

    /// One parser reuses its field storage from head to head, and shares the text of common
    /// long header values: each request must still get exactly its own fields, as sent.
    @Test func headsOfDifferentSizesOnOneParserKeepTheirOwnFields() {
        let heads: [[String]] = [
            ["Host: h", "Content-Type: application/json", "A: 1", "B: 2", "C: 3", "D: 4"],
            ["Host: h"],
            ["Host: h", "Content-Type: application/jsoN", "X-Long: application/x-ndjsoX", "Content-Encoding: identity"],
            ["Host: h", "content-type: Application/JSON", "User-Agent: Go-http-client/1.1",
             "Transfer-Encoding: chunked", "E: 5", "F: 6", "G: 7", "H: 8", "I: 9"],
            ["Host: h", "X: application/x-ndjson", "Y: application/ndjson"],
        ]
        var text = ""
        for (index, fields) in heads.enumerated() {
            let body = fields.contains("Transfer-Encoding: chunked") ? "0\r\n\r\n" : ""
            text += "POST /\(index) HTTP/1.1\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\n" + body
        }
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        for round in 0..<3 {
            parser.append(Array(text.utf8))
            let events = drain(&parser)
            #expect(events.count == heads.count, "round \(round)")
            for (event, fields) in zip(events, heads) {
                guard case .request(_, _, _, _, _, let headers, _) = event else {
                    Issue.record("round \(round): \(event)")
                    continue
                }
                #expect(headers == fields, "round \(round)")
            }
        }
    }

    @Test func splitAtEveryByteBoundary() {
        let text = "\r\nPOST /events?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nX-Value:  padded \t\r\n\r\nhello world"
            + "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        let bytes = Array(text.utf8)
        #expect(requests(parse(bytes)) == 2)
        expectSplitInvariant(bytes)
    }

    @Test func chunkedBody() {
        let text = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5\r\nhello\r\n"
            + "6;name=value;other\r\n world\r\n"
            + "A \t; ext\r\n0123456789\r\n"
            + "0\r\nTrailer-One: x\r\nTrailer-Two: y\r\n\r\n"
            + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
        let events = parse(text)
        #expect(requests(events) == 2)
        if case .request(_, _, _, _, _, _, let body) = events.first {
            #expect(String(decoding: body, as: UTF8.self) == "hello world0123456789")
        } else {
            Issue.record("no chunked request: \(events)")
        }
        expectSplitInvariant(Array(text.utf8))
    }

    @Test func chunkedWithoutTrailers() {
        let events = parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        #expect(events.count == 1)
        if case .request(_, _, _, _, _, _, let body) = events.first {
            #expect(body == Array("abc".utf8))
        }
    }

    @Test func expectContinue() {
        let text = "POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
        let events = parse(text)
        #expect(events.count == 2)
        #expect(events.first == .expectContinue)
        #expect(requests(events) == 1)
        expectSplitInvariant(Array(text.utf8))

        // Emitted as soon as the head is complete, before any body byte.
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        parser.append(Array("POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
        #expect(drain(&parser) == [.expectContinue])
        parser.append(Array("1\r\nx\r\n0\r\n\r\n".utf8))
        #expect(requests(drain(&parser)) == 1)

        // Not for a bodiless request, nor for HTTP/1.0.
        #expect(parse("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n").count == 1)
        #expect(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx").count == 1)

        // A declared body over the limit is refused instead.
        let limits = HTTPParserLimits(maxHeaderBytes: 1024, maxBodyBytes: 10)
        #expect(parse("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n", limits: limits) == [.error(413)])
    }

    @Test func http10() {
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        parser.append(Array("GET /old HTTP/1.0\r\n\r\nGET /old HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n".utf8))
        guard case .request(let first) = parser.next(), case .request(let second) = parser.next() else {
            Issue.record("expected two requests")
            return
        }
        #expect(first.versionMinor == 0)
        #expect(!first.keepAlive)
        #expect(second.keepAlive)
    }

    @Test func keepAliveFromConnectionHeader() {
        let request = HTTPRequest(method: "GET", target: "/", headers: HTTPHeaders([("Connection", "Upgrade, CLOSE")]))
        #expect(!request.keepAlive)
        #expect(HTTPRequest(method: "GET", target: "/").keepAlive)
    }

    @Test func absoluteForm() {
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        parser.append(Array("GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8))
        guard case .request(let request) = parser.next() else {
            Issue.record("no request")
            return
        }
        #expect(request.target == "http://example.com:8080/a/b?x=1")
        #expect(request.path == "/a/b")
        #expect(request.query == ["x": "1"])
        #expect(HTTPRequest(method: "GET", target: "HTTPS://h").path == "/")
        #expect(HTTPRequest(method: "GET", target: "http://h?q=2").query == ["q": "2"])
    }

    @Test func asteriskForm() {
        #expect(requests(parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")) == 1)
        #expect(errorStatus("GET * HTTP/1.1\r\nHost: h\r\n\r\n") == 400)
    }

    @Test func queryDecoding() {
        let request = HTTPRequest(method: "GET", target: "/p?a=1&b=x%20y&a=2&c&d=%zz+q&&e=%E2%9C%93")
        #expect(request.path == "/p")
        #expect(request.query == ["a": "2", "b": "x y", "c": "", "d": "%zz q", "e": "✓"])
    }

    @Test func leadingEmptyLinesAreIgnored() {
        #expect(requests(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")) == 1)
    }

    @Test func headerLimit() {
        let limits = HTTPParserLimits(maxHeaderBytes: 64, maxBodyBytes: 1024)
        let head = "GET / HTTP/1.1\r\nHost: h\r\nX: "
        let fill = 64 - head.utf8.count - 4
        let exact = head + String(repeating: "a", count: fill) + "\r\n\r\n"
        #expect(exact.utf8.count == 64)
        #expect(requests(parse(exact, limits: limits)) == 1)
        let over = head + String(repeating: "a", count: fill + 1) + "\r\n\r\n"
        #expect(parse(over, limits: limits) == [.error(431)])
        // An endless head is refused as soon as it passes the limit.
        var parser = HTTPRequestParser(limits: limits)
        parser.append(Array((head + String(repeating: "a", count: 40)).utf8))
        #expect(drain(&parser) == [.error(431)])
        expectSplitInvariant(Array(over.utf8), limits: limits)
    }

    @Test func bodyLimits() {
        let limits = HTTPParserLimits(maxHeaderBytes: 1024, maxBodyBytes: 10)
        #expect(requests(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits)) == 1)
        #expect(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", limits: limits) == [.error(413)])
        let chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n"
        #expect(parse(chunked, limits: limits) == [.error(413)])
        let chunkedOK = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n"
        #expect(requests(parse(chunkedOK, limits: limits)) == 1)
        let trailers = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + String(repeating: "t", count: 2000) + "\r\n\r\n"
        #expect(parse(trailers, limits: limits) == [.error(431)])
    }

    @Test(arguments: [
        // Framing
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n", 400),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        // Head syntax
        ("GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
        ("GET / HTTP/1.1\rHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: h\n\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\n\n", 400),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX(y): 1\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n: empty\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nNoColon\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: nul\u{0}here\r\n\r\n", 400),
        ("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GÉT / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400),
        ("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET /\r\n\r\n", 400),
        (" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        // Targets
        ("GET abc HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400),
        ("GET http:///path HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET ftp://h/path HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        // Versions
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        ("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ("GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/11\r\nHost: h\r\n\r\n", 400),
        ("GET / http/1.1\r\nHost: h\r\n\r\n", 400),
        // Chunks
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\u{1}\r\nabc\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n", 400),
    ])
    func rejects(request: String, status: Int) {
        let events = parse(request)
        #expect(events.last == .error(status), "\(request.debugDescription) -> \(events)")
        #expect(requests(events) == 0, "\(request.debugDescription) -> \(events)")
        expectSplitInvariant(Array(request.utf8))
    }

    @Test(arguments: [
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 003\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Obs: caf\u{E9}\r\n\r\n",
        "GET /a?b=c&d HTTP/1.1\r\nHost:h\r\n\r\n",
    ])
    func accepts(request: String) {
        let events = parse(request)
        #expect(requests(events) == 1, "\(request.debugDescription) -> \(events)")
        #expect(events.count == 1)
    }

    @Test func garbageIsRejectedWithoutWaitingForALineEnd() {
        // The start of a TLS ClientHello.
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]
        #expect(parse(hello) == [.error(400)])
        #expect(parse(Array("GET /\u{1}".utf8)) == [.error(400)])
    }

    @Test func failedParserStaysFailed() {
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        parser.append(Array("BAD\r\n\r\n".utf8))
        #expect(drain(&parser) == [.error(400)])
        #expect(parser.isFailed)
        parser.append(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        #expect(parser.next() == nil)
        #expect(parser.isFailed)
    }

    @Test func partialState() {
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        #expect(!parser.hasPartialRequest)
        parser.append(Array("GET / HT".utf8))
        #expect(parser.next() == nil)
        #expect(parser.isReceivingHead)
        parser.append(Array("TP/1.1\r\nHost: h\r\n\r\nPOST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\na".utf8))
        #expect(requests(drain(&parser)) == 1)
        #expect(parser.hasPartialRequest)
        #expect(!parser.isReceivingHead)
        parser.append(Array("b".utf8))
        #expect(requests(drain(&parser)) == 1)
        #expect(!parser.hasPartialRequest)
    }

    @Test func largeBodyInManyPieces() {
        let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let bytes = Array("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n".utf8) + body
        let events = parse(bytes, pieces: Array(repeating: 7_777, count: 40))
        #expect(events.count == 1)
        if case .request(_, _, _, _, _, _, let received) = events.first {
            #expect(received == body)
        }
    }

    @Test func mutatedInputNeverTrapsAndSplitsAgree() {
        let seeds = [
            "POST /p?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nbodyGET / HTTP/1.0\r\n\r\n",
            "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b\r\nab\r\n0\r\nT: 1\r\n\r\n",
            "GET http://x/y HTTP/1.1\r\nHost: x\r\nA:  b \r\n\r\n",
        ].map { Array($0.utf8) }
        let alphabet: [UInt8] = Array("\r\n :;,0123456789abcdefHTP/.\t\u{0}\u{7F}".utf8) + [0x80, 0xFF]
        var seed: UInt64 = 7
        func random(_ bound: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(bound))
        }
        let limits = HTTPParserLimits(maxHeaderBytes: 96, maxBodyBytes: 8)
        for round in 0..<3000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<(1 + random(4)) {
                let position = random(bytes.count)
                switch random(3) {
                case 0: bytes[position] = alphabet[random(alphabet.count)]
                case 1: bytes.insert(alphabet[random(alphabet.count)], at: position)
                default: bytes.remove(at: position)
                }
            }
            let whole = parse(bytes, limits: limits)
            let pieces = (0..<4).map { _ in 1 + random(12) }
            #expect(parse(bytes, pieces: pieces, limits: limits) == whole, "\(bytes)")
        }
    }

    @Test func pseudoRandomSplits() {
        // Many requests of all kinds back to back, cut at pseudo-random places.
        var text = ""
        for index in 0..<30 {
            switch index % 3 {
            case 0: text += "GET /g\(index) HTTP/1.1\r\nHost: h\r\n\r\n"
            case 1: text += "POST /p\(index) HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody"
            default: text += "POST /c\(index) HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3;x=y\r\ncde\r\n0\r\nT: 1\r\n\r\n"
            }
        }
        let bytes = Array(text.utf8)
        let whole = parse(bytes)
        #expect(requests(whole) == 30)
        var seed: UInt64 = 42
        for _ in 0..<200 {
            var pieces: [Int] = []
            var total = 0
            while total < bytes.count {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                let size = Int(seed >> 59) + 1
                pieces.append(size)
                total += size
            }
            #expect(parse(bytes, pieces: pieces) == whole)
        }
    }
}
