import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `snapshotd forward` run as the real binary, as a serf agent runs it (the agent's environment;
/// stdin is empty: user events and queries, the member lines are the live serf test's): against
/// the real server (recorded, the token file), and against a scripted server (503 with
/// Retry-After retried, then 2xx; a 4xx not retried; giving up at --timeout; refused connections).
@Suite struct ForwardTests {
    static func user(_ name: String, ltime: UInt64, self selfName: String = "agent-1") -> [String: String] {
        ["SERF_EVENT": "user", "SERF_SELF_NAME": selfName, "SERF_USER_EVENT": name, "SERF_USER_LTIME": String(ltime)]
    }

    static func forward(_ url: String, _ arguments: [String] = [], environment: [String: String]) throws -> ToolTests.ToolRun {
        try ToolTests.run(["forward", "--url", url] + arguments, timeout: 30, environment: environment)
    }

    @Test func recordsIntoTheNamedSnapshot() throws {
        let (process, client, _) = try ServiceTests.start()
        defer { process.kill9() }
        let user = try Self.forward(process.baseURL, environment: Self.user("deploy", ltime: 41))
        #expect(user.exited && user.status == 0, "\(user)")
        #expect(user.stdout.isEmpty && user.stderr.isEmpty, "a handler's output is a query's response: \(user)")
        let query = try Self.forward(process.baseURL, ["--snapshot", "other"], environment: [
            "SERF_EVENT": "query", "SERF_SELF_NAME": "agent-1", "SERF_QUERY_NAME": "uptime", "SERF_QUERY_LTIME": "7",
        ])
        #expect(query.exited && query.status == 0 && query.stdout.isEmpty && query.stderr.isEmpty, "\(query)")
        let first = try client.get("/v1/snapshots/agent-1").json()
        #expect(first["event_clock"] as? Int == 41)
        let other = try client.get("/v1/snapshots/other").json()
        #expect(other["query_clock"] as? Int == 7)
    }

    @Test func tokenFile() throws {
        let token = "s3cret-forward"
        let file = try AuthTests.tokenFile(token)
        let (process, client, _) = try ServiceTests.start(nil, ["--token-file", file])
        defer { process.kill9() }
        let without = try Self.forward(process.baseURL, environment: Self.user("deploy", ltime: 3))
        #expect(without.exited && without.status == 1, "\(without)")
        #expect(without.stderr.contains("401"), "\(without)")
        #expect(!without.stderr.contains(token))
        let with = try Self.forward(process.baseURL, ["--token-file", file], environment: Self.user("deploy", ltime: 3))
        #expect(with.exited && with.status == 0, "\(with)")
        #expect(try client.get("/v1/snapshots/agent-1").json()["event_clock"] as? Int == 3)
        let missing = try Self.forward(process.baseURL, ["--token-file", file + ".missing"], environment: Self.user("deploy", ltime: 4))
        #expect(missing.exited && missing.status == 1 && missing.stderr.contains("token file"), "\(missing)")
    }

    @Test func retriesA503AfterItsRetryAfter() throws {
        let server = try ScriptedServer(["503 Service Unavailable\r\nRetry-After: 1", "200 OK"])
        let run = try Self.forward(server.url, environment: Self.user("deploy", ltime: 5))
        #expect(run.exited && run.status == 0, "\(run)")
        let requests = server.requests
        try #require(requests.count == 2, "\(requests.count) requests")
        #expect(requests[1].at - requests[0].at >= 0.95, "retried \(requests[1].at - requests[0].at) s after a Retry-After: 1")
        #expect(requests[0].head.hasPrefix("POST /v1/snapshots/agent-1/events HTTP/1.1\r\n"))
        #expect(requests[0].body == #"{"type":"user","ltime":5,"name":"deploy"}"#)
        #expect(requests[1].body == requests[0].body)
    }

    @Test func aClientErrorIsNotRetried() throws {
        let server = try ScriptedServer([#"409 Conflict\#r\#nContent-Type: application/json\#r\#n\#r\#n{"error":"the agent left"}"#])
        let run = try Self.forward(server.url + "/prefix/", environment: Self.user("deploy", ltime: 5))
        #expect(run.exited && run.status == 1, "\(run)")
        #expect(run.stderr.contains("409") && run.stderr.contains("the agent left"), "\(run)")
        #expect(server.requests.count == 1)
        #expect(server.requests.first?.head.hasPrefix("POST /prefix/v1/snapshots/agent-1/events ") == true)
    }

    @Test func givesUpAtItsTimeout() throws {
        let server = try ScriptedServer(Array(repeating: "503 Service Unavailable", count: 200))
        let start = Date()
        let run = try Self.forward(server.url, ["--timeout", "1.5"], environment: Self.user("deploy", ltime: 5))
        let took = Date().timeIntervalSince(start)
        #expect(run.exited && run.status == 1, "\(run)")
        #expect(run.stderr.contains("not recorded, gave up after") && run.stderr.contains("last: 503"), "\(run)")
        #expect(server.requests.count >= 3, "\(server.requests.count) attempts")
        #expect(took >= 1.0 && took < 5, "took \(took) s")
    }

    @Test func refusedConnectionsAreRetriedThenGivenUp() throws {
        let port = try ScriptedServer.unusedPort()
        let start = Date()
        let run = try Self.forward("http://127.0.0.1:\(port)", ["--timeout", "1"], environment: Self.user("deploy", ltime: 5))
        let took = Date().timeIntervalSince(start)
        #expect(run.exited && run.status == 1, "\(run)")
        #expect(run.stderr.contains("Connection refused") && run.stderr.contains("attempts"), "\(run)")
        #expect(took >= 0.7 && took < 5, "took \(took) s")
    }

    @Test(arguments: [
        (["--url", "https://127.0.0.1:1"], "--url"), (["--url", "http://127.0.0.1:1", "--snapshot", "../x"], "--snapshot"),
        (["--url", "http://127.0.0.1:1", "--member-port", "0"], "--member-port"), (["--url", "http://127.0.0.1:1", "--timeout", "0"], "--timeout"),
    ])
    func wrongCommandLine(arguments: [String], names: String) throws {
        let run = try ToolTests.run(["forward"] + arguments, environment: Self.user("deploy", ltime: 1))
        #expect(run.exited && run.status == 64, "\(run)")
        #expect(run.stderr.contains(names), "\(run)")
    }

    @Test func notRunByAnAgent() throws {
        let run = try ToolTests.run(["forward", "--url", "http://127.0.0.1:1"], environment: ["SERF_EVENT": "user"])
        #expect(run.exited && run.status == 1 && run.stderr.contains("SERF_SELF_NAME is not set"), "\(run)")
        let badName = try ToolTests.run(["forward", "--url", "http://127.0.0.1:1"], environment: Self.user("d", ltime: 1, self: "host:7946"))
        #expect(badName.exited && badName.status == 1 && badName.stderr.contains("is not a snapshot name"), "\(badName)")
    }
}

/// A loopback HTTP server that answers its script, one response a connection ("STATUS
/// REASON\r\nHeaders…", a body after a blank line), then closes; it records when each request
/// came and what it was.
final class ScriptedServer: Sendable {
    struct Request: Sendable {
        var at: TimeInterval
        var head: String
        var body: String
    }

    let url: String
    private let fd: Int32
    private final class Recorded: Sendable {
        let requests = Mutex<[Request]>([])
    }

    /// Shared with the accepting thread, which does not keep the server alive: its deinit
    /// closes the listener, which ends the thread.
    private let recorded = Recorded()

    var requests: [Request] { recorded.requests.withLock { $0 } }

    init(_ script: [String]) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        fd = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard bound else { throw ToolTests.ToolError(description: "ScriptedServer: bind: errno \(errno)") }
        url = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        let recorded = recorded
        Thread.detachNewThread {
            for answer in script {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                let request = Self.read(client)
                recorded.requests.withLock { $0.append(request) }
                let parts = answer.components(separatedBy: "\r\n\r\n")
                let body = parts.count > 1 ? parts[1...].joined(separator: "\r\n\r\n") : ""
                let response = Array("HTTP/1.1 \(parts[0])\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)
                _ = response.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(client)
            }
        }
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// A head and its Content-Length body.
    private static func read(_ client: Int32) -> Request {
        let at = Date().timeIntervalSinceReferenceDate
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let text = String(decoding: bytes, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let head = String(text[..<end.upperBound])
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                let body = String(text[end.upperBound...])
                if body.utf8.count >= length { return Request(at: at, head: head, body: body) }
            }
            let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return Request(at: at, head: text, body: "") }
            bytes += chunk[0..<count]
        }
    }

    /// A loopback port nothing listens on (bound, then closed).
    static func unusedPort() throws -> UInt16 {
        let probe = try ScriptedServer([])
        return UInt16(probe.url.split(separator: ":").last ?? "") ?? 1
    }
}
