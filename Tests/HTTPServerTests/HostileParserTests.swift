import HTTPServer
import Testing

/// Answers the hostile-request corpus (Tests/IntegrationTests/HostileTests.swift) showed wrong,
/// pinned at the parser.
@Suite struct HostileParserTests {
    /// RFC 9110 §2.5: a higher minor version of HTTP/1 is served as HTTP/1.1, not refused.
    @Test func higherMinorVersionIsServedAsHTTP11() {
        #expect(parse("GET / HTTP/1.2\r\nHost: h\r\n\r\n") == [
            .request(method: "GET", target: "/", path: "/", query: [:], minor: 1, headers: ["Host: h"], body: []),
        ])
        #expect(requests(parse("GET / HTTP/1.9\r\nHost: h\r\nConnection: close\r\n\r\n")) == 1)
        // HTTP/1.x rules still apply: a Host is required.
        #expect(errorStatus("GET / HTTP/1.2\r\n\r\n") == 400)
        #expect(errorStatus("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505)
        #expect(errorStatus("GET / HTTP/0.9\r\nHost: h\r\n\r\n") == 505)
    }

    /// RFC 9112 §3: a request-target longer than the server parses is a 414; a long header
    /// section stays a 431.
    @Test func overlongTargetIs414() {
        let limits = HTTPParserLimits(maxHeaderBytes: 64, maxBodyBytes: 16)
        let long = "GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\nHost: h\r\n\r\n"
        #expect(parse(long, limits: limits) == [.error(414)])
        expectSplitInvariant(Array(long.utf8), limits: limits)
        // A target that fits, with headers that do not: 431.
        let headers = "GET /" + String(repeating: "a", count: 30) + " HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "b", count: 40) + "\r\n\r\n"
        #expect(parse(headers, limits: limits) == [.error(431)])
        // A long method is no target.
        #expect(parse(String(repeating: "G", count: 100) + " / HTTP/1.1\r\n\r\n", limits: limits) == [.error(431)])
    }
}
